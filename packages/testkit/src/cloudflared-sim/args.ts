import { parseGoDuration } from './duration.js';
import { applyFault, FaultSpecError, NO_FAULTS, parseFaultList, SIM_FAULTS_ENV, type SimFaults } from './faults.js';

/** What a command line asks the simulated cloudflared to do. */
export interface SimCommand {
  readonly action: 'run' | 'ingress-validate' | 'version';
  /** `--config`; null when none was given (cloudflared then looks in its default places). */
  readonly configPath: string | null;
  /** `--metrics`. @default 'localhost:0' (cloudflared's default: ports 20241–20245, then random) */
  readonly metrics: string;
  /** `--grace-period`. @default 30 s */
  readonly gracePeriodMs: number;
  /** The tunnel named on the command line (`run <TUNNEL>`), if any. */
  readonly tunnel: string | null;
  /** `--token`: a tunnel token; its `t` field names the tunnel. */
  readonly token: string | null;
  /** `--pidfile`: written once the first edge connection is up, as cloudflared does. */
  readonly pidfile: string | null;
  /** `--credentials-file` / `--cred-file` / `TUNNEL_CRED_FILE` (wins over the config file's key). */
  readonly credentialsFile: string | null;
  /** `--cred-contents` / `TUNNEL_CRED_CONTENTS`. */
  readonly credContents: string | null;
  /** `--origincert` / `TUNNEL_ORIGIN_CERT`. */
  readonly originCert: string | null;
  /** `--no-autoupdate` / `NO_AUTOUPDATE`; null when neither says (the config file may). */
  readonly noAutoupdate: boolean | null;
  /** `--autoupdate-freq` in ms; null when not given. */
  readonly autoupdateFreqMs: number | null;
  readonly faults: SimFaults;
}

export class UsageError extends Error {}

/** cloudflared's default metrics address on a host. */
export const DEFAULT_METRICS_ADDRESS = 'localhost:0';

/** Flags that take a value. Real cloudflared flags the manager or operators pass, plus the sim's own. */
const VALUE_FLAGS = new Set([
  'config',
  'metrics',
  'grace-period',
  'loglevel',
  'transport-loglevel',
  'logfile',
  'log-directory',
  'pidfile',
  'protocol',
  'edge-ip-version',
  'region',
  'retries',
  'token',
  'token-file',
  'credentials-file',
  'cred-file',
  'cred-contents',
  'autoupdate-freq',
  'origincert',
  'tag',
  'ha-connections',
  'edge-bind-address',
  'management-diagnostics',
  'sim-crash-after',
  'sim-slow-start',
  'sim-flap',
  'sim-drain',
]);
/** Boolean flags whose explicit `false` matters (the others only count when on). */
const TRI_STATE_FLAGS = new Set(['no-autoupdate']);
const BOOLEAN_FLAGS = new Set([
  'no-autoupdate',
  'post-quantum',
  'sim-hang',
  'sim-no-http',
  'sim-edge-unreachable',
  'help',
  'version',
]);

interface Parsed {
  positionals: string[];
  values: Map<string, string>;
  booleans: Set<string>;
  /** Tri-state booleans given as false. */
  negated: Set<string>;
  faults: SimFaults;
}

function parseFlags(argv: readonly string[], faults: SimFaults): Parsed {
  const out: Parsed = { positionals: [], values: new Map(), booleans: new Set(), negated: new Set(), faults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('-') || arg === '-') {
      out.positionals.push(arg);
      continue;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq === -1 ? body : body.slice(0, eq);
    let value = eq === -1 ? undefined : body.slice(eq + 1);
    if (VALUE_FLAGS.has(name)) {
      if (value === undefined) {
        value = argv[i + 1];
        i += 1;
        if (value === undefined) throw new UsageError(`flag needs an argument: -${name}`);
      }
      if (name.startsWith('sim-')) out.faults = applyFault(out.faults, name.slice(4), value);
      else out.values.set(name, value);
    } else if (BOOLEAN_FLAGS.has(name)) {
      if (value !== undefined && !/^(true|false|1|0)$/.test(value)) {
        throw new UsageError(`invalid boolean value "${value}" for -${name}`);
      }
      const on = value === undefined || value === 'true' || value === '1';
      if (name.startsWith('sim-')) out.faults = applyFault(out.faults, name.slice(4), String(on));
      else if (on) out.booleans.add(name);
      else if (TRI_STATE_FLAGS.has(name)) out.negated.add(name);
    } else {
      throw new UsageError(`flag provided but not defined: -${name}`);
    }
  }
  return out;
}

function tunnelFromToken(token: string): string | null {
  try {
    const decoded = JSON.parse(Buffer.from(token, 'base64').toString('utf8')) as { t?: unknown };
    return typeof decoded.t === 'string' ? decoded.t : null;
  } catch {
    return null;
  }
}

/**
 * Parses `cloudflared [flags] tunnel [flags] run [flags] [TUNNEL]` (and `tunnel ingress
 * validate`, `version`). Flags may come before or after the subcommand, as urfave/cli allows
 * for cloudflared's tunnel flags. Unknown flags are a usage error, as they are for cloudflared.
 */
export function parseSimCommand(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): SimCommand {
  let faults = NO_FAULTS;
  const envFaults = env[SIM_FAULTS_ENV];
  try {
    if (envFaults) faults = parseFaultList(envFaults);
  } catch (error) {
    throw new UsageError(`${SIM_FAULTS_ENV}: ${(error as Error).message}`);
  }
  let parsed: Parsed;
  try {
    parsed = parseFlags(argv, faults);
  } catch (error) {
    if (error instanceof FaultSpecError) throw new UsageError(error.message);
    throw error;
  }
  const [first, second, third, ...rest] = parsed.positionals;
  const common = () => {
    const graceText = parsed.values.get('grace-period') ?? '30s';
    const gracePeriodMs = parseGoDuration(graceText);
    if (gracePeriodMs === null) {
      throw new UsageError(`invalid value "${graceText}" for flag -grace-period: parse error`);
    }
    const token = parsed.values.get('token') ?? env.TUNNEL_TOKEN ?? null;
    const freqText = parsed.values.get('autoupdate-freq');
    const autoupdateFreqMs = freqText === undefined ? null : parseGoDuration(freqText);
    if (freqText !== undefined && autoupdateFreqMs === null) {
      throw new UsageError(`invalid value "${freqText}" for flag -autoupdate-freq: parse error`);
    }
    const envNoAutoupdate = env.NO_AUTOUPDATE;
    const noAutoupdate = parsed.booleans.has('no-autoupdate')
      ? true
      : parsed.negated.has('no-autoupdate')
        ? false
        : envNoAutoupdate !== undefined && envNoAutoupdate !== ''
          ? /^(1|t|true)$/i.test(envNoAutoupdate)
          : null;
    return {
      credentialsFile:
        parsed.values.get('credentials-file') ?? parsed.values.get('cred-file') ?? env.TUNNEL_CRED_FILE ?? null,
      credContents: parsed.values.get('cred-contents') ?? env.TUNNEL_CRED_CONTENTS ?? null,
      originCert: parsed.values.get('origincert') ?? env.TUNNEL_ORIGIN_CERT ?? null,
      noAutoupdate,
      autoupdateFreqMs,
      configPath: parsed.values.get('config') ?? null,
      metrics: parsed.values.get('metrics') ?? env.TUNNEL_METRICS ?? DEFAULT_METRICS_ADDRESS,
      gracePeriodMs,
      token,
      pidfile: parsed.values.get('pidfile') ?? env.TUNNEL_PIDFILE ?? null,
      faults: parsed.faults,
    };
  };
  if (parsed.booleans.has('version') || first === 'version') {
    return { action: 'version', ...common(), tunnel: null };
  }
  if (first !== 'tunnel') {
    throw new UsageError(
      first === undefined
        ? 'the simulated cloudflared runs named tunnels only: cloudflared tunnel --config FILE run'
        : `unknown command ${first}`,
    );
  }
  if (second === 'run') {
    if (rest.length > 0) throw new UsageError(`too many arguments: ${[third, ...rest].join(' ')}`);
    const c = common();
    return { action: 'run', ...c, tunnel: third ?? (c.token ? tunnelFromToken(c.token) : null) };
  }
  if (second === 'ingress' && third === 'validate') {
    return { action: 'ingress-validate', ...common(), tunnel: null };
  }
  throw new UsageError(`unsupported tunnel subcommand: ${[second, third].filter(Boolean).join(' ') || '(none)'}`);
}
