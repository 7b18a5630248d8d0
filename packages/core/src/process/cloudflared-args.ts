/**
 * Builds each replica's cloudflared command line from the configured one, so that every
 * replica has its own metrics server (and so its own `/ready`), and cloudflared's grace period
 * matches the one the controller waits for.
 */

/** cloudflared's first fixed metrics port. */
export const FIRST_METRICS_PORT = 20241;

/**
 * The default arguments: `tunnel --config <configPath> --metrics 127.0.0.1:20241 run` (the
 * controller adds `--no-autoupdate`, see {@link ReplicaArgsOptions}).
 */
export function defaultCloudflaredArgs(configPath: string): string[] {
  return ['tunnel', '--config', configPath, '--metrics', `127.0.0.1:${FIRST_METRICS_PORT}`, 'run'];
}

/** Formats milliseconds as a Go duration (`30s`, `1500ms`), which `--grace-period` expects. */
export function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;
}

interface FlagPosition {
  /** Index of the flag itself. */
  readonly index: number;
  /** Index of its value (the same as `index` for `--flag=value`). */
  readonly valueIndex: number;
  readonly value: string;
}

function findFlag(args: readonly string[], name: string): FlagPosition | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === `--${name}` || arg === `-${name}`) {
      const value = args[i + 1];
      return value === undefined ? null : { index: i, valueIndex: i + 1, value };
    }
    for (const prefix of [`--${name}=`, `-${name}=`]) {
      if (arg.startsWith(prefix)) return { index: i, valueIndex: i, value: arg.slice(prefix.length) };
    }
  }
  return null;
}

/** Whether a boolean flag is given (`--name`, `-name`, `--name=…`), whatever its value. */
function hasBooleanFlag(args: readonly string[], name: string): boolean {
  return args.some(
    (arg) => arg === `--${name}` || arg === `-${name}` || arg.startsWith(`--${name}=`) || arg.startsWith(`-${name}=`),
  );
}

/**
 * Whether a cloudflared command line turns auto-update off: `--no-autoupdate` (not `=false`) or
 * `--autoupdate-freq 0`. `tunnel doctor` reads it from a running cloudflared's `/proc/<pid>/cmdline`,
 * whatever started it (systemd unit, container, the daemon).
 */
export function autoupdateDisabled(args: readonly string[]): boolean {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const flag = /^--?no-autoupdate(?:=(.*))?$/.exec(arg);
    if (flag) return flag[1] === undefined || /^(1|t|true)$/i.test(flag[1]);
  }
  const freq = findFlag(args, 'autoupdate-freq');
  return freq !== null && /^0+(?:s|m|h|ms)?$/.test(freq.value);
}

/** Where tunnel flags go: right after the `tunnel` word, or first when there is none. */
function insertAt(args: readonly string[]): number {
  const tunnel = args.indexOf('tunnel');
  return tunnel === -1 ? 0 : tunnel + 1;
}

export interface MetricsAddress {
  readonly host: string;
  /** 0 when the OS (or cloudflared) picks. */
  readonly port: number;
}

export function parseMetricsAddress(address: string): MetricsAddress | null {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address);
  if (!match) return null;
  const port = Number(match[3]);
  return port > 65_535 ? null : { host: match[1] ?? match[2] ?? '', port };
}

/** The URL a client uses to reach a metrics server bound to `address` (wildcards become loopback). */
export function metricsUrlFor(address: MetricsAddress): string {
  const host =
    address.host === '' || address.host === '0.0.0.0' || address.host === 'localhost'
      ? '127.0.0.1'
      : address.host === '::'
        ? '::1'
        : address.host;
  return host.includes(':') ? `http://[${host}]:${address.port}` : `http://${host}:${address.port}`;
}

export interface ReplicaArgsOptions {
  /**
   * Add `--no-autoupdate` unless the arguments already say something about auto-update
   * (`--no-autoupdate[=…]` or `--autoupdate-freq`). A supervised cloudflared must not replace
   * its own binary and restart once a day behind the supervisor's back. @default true
   */
  readonly noAutoupdate?: boolean;
}

export interface ReplicaPlan {
  /** The metrics address as configured (port 0 means "allocate one"). */
  readonly metrics: MetricsAddress;
  /** Builds the final arguments once the port is known. */
  build(port: number): string[];
}

/**
 * Plans replica `index`'s (0-based) arguments from the configured ones:
 * - `--metrics host:P` with a fixed port becomes `host:P+index`;
 * - `--metrics host:0` gets a free port chosen by the controller (cloudflared would pick one we
 *   could not know);
 * - no `--metrics` gets `127.0.0.1:<20241+index>`;
 * - no `--grace-period` gets the controller's grace period;
 * - `--no-autoupdate` is added (see {@link ReplicaArgsOptions.noAutoupdate}).
 */
export function planReplicaArgs(
  args: readonly string[],
  index: number,
  gracePeriodMs: number,
  options: ReplicaArgsOptions = {},
): ReplicaPlan {
  const found = findFlag(args, 'metrics');
  const parsed = found ? parseMetricsAddress(found.value) : null;
  if (found && !parsed) {
    throw new Error(`--metrics ${found.value} is not host:port`);
  }
  const metrics: MetricsAddress = parsed
    ? parsed.port === 0
      ? parsed
      : { host: parsed.host, port: parsed.port + index }
    : { host: '127.0.0.1', port: FIRST_METRICS_PORT + index };
  return {
    metrics,
    build(port: number): string[] {
      const out = [...args];
      const host = metrics.host.includes(':') ? `[${metrics.host}]` : metrics.host;
      const rendered = `${host}:${port}`;
      if (found) {
        if (found.valueIndex === found.index) out[found.index] = `--metrics=${rendered}`;
        else out[found.valueIndex] = rendered;
      }
      const extra: string[] = [];
      if (!found) extra.push('--metrics', rendered);
      if (!findFlag(args, 'grace-period')) extra.push('--grace-period', goDuration(gracePeriodMs));
      const saysAutoupdate = hasBooleanFlag(args, 'no-autoupdate') || findFlag(args, 'autoupdate-freq') !== null;
      if ((options.noAutoupdate ?? true) && !saysAutoupdate) extra.push('--no-autoupdate');
      out.splice(insertAt(args), 0, ...extra);
      return out;
    },
  };
}
