import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { uptime } from 'node:os';
import type { TunnelConfig } from '../config/schema.js';
import type { ProcessState } from '../domain/health.js';
import { TunnelError } from '../errors.js';
import type { Logger } from '../ports/logger.js';
import type {
  ProcessController,
  ProcessControllerCapabilities,
  ProcessStatus,
  RestartOptions,
} from '../ports/process-controller.js';
import { NoopLogger } from '../runtime/loggers.js';

export interface SystemdControllerOptions {
  /** e.g. `cloudflared.service`. */
  readonly unit: string;
  /** @default 'systemctl' (looked up on PATH) */
  readonly systemctlPath?: string;
  /** The environment systemctl runs with. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** One systemctl call may take this long (a restart waits for the unit's stop and start). @default 120000 */
  readonly timeoutMs?: number;
  /** Epoch ms now, for start times. @default Date.now */
  readonly now?: () => number;
  readonly logger?: Logger;
}

interface SystemctlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The `systemctl show` properties the controller reads. */
const SHOW_PROPERTIES = [
  'LoadState',
  'ActiveState',
  'SubState',
  'MainPID',
  'ExecMainStatus',
  'ExecMainCode',
  'ExecMainStartTimestampMonotonic',
  'Result',
];

/** systemd's `ExecMainCode` values (siginfo `si_code`): 1 exited, 2 killed, 3 dumped core. */
const CLD_EXITED = 1;

/** systemctl's exit status for a unit that is not installed (LSB "not installed"). */
const EXIT_NOT_INSTALLED = 5;

const UNIT_NAME = /^[a-zA-Z0-9@._\\:-]+$/;

function parseShow(stdout: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return props;
}

function secondsSinceBoot(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return uptime();
  }
}

const firstLine = (text: string) => text.trim().split('\n')[0] ?? '';

/**
 * cloudflared as a systemd unit, driven through `systemctl`: `show` for the state, `restart`
 * (systemd sends SIGTERM and waits the unit's `TimeoutStopSec` before SIGKILL — set it to at
 * least cloudflared's `--grace-period`), `is-active` to confirm. One unit is one process: no
 * replicas. Failures are told apart by systemctl's exit status and the unit's `LoadState`.
 */
export class SystemdController implements ProcessController {
  readonly kind = 'systemd';
  readonly capabilities: ProcessControllerCapabilities = {
    canRestart: true,
    restartReloadsConfig: true,
    supportsReplicas: false,
    canStartStop: true,
    reasons: {
      supportsReplicas: 'One systemd unit runs one cloudflared; use a template unit per replica and a controller each.',
    },
  };
  readonly unit: string;
  readonly #systemctl: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #timeoutMs: number;
  readonly #now: () => number;
  readonly #logger: Logger;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: SystemdControllerOptions) {
    if (!UNIT_NAME.test(options.unit)) {
      throw new TunnelError('CONFIG_INVALID', `${JSON.stringify(options.unit)} is not a systemd unit name.`, {
        hint: 'Set cloudflared.systemd.unit to a unit name such as cloudflared.service.',
      });
    }
    this.unit = options.unit;
    this.#systemctl = options.systemctlPath ?? 'systemctl';
    this.#env = options.env ?? process.env;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger ?? new NoopLogger();
  }

  static fromConfig(config: TunnelConfig, deps: { logger?: Logger; env?: NodeJS.ProcessEnv } = {}): SystemdController {
    return new SystemdController({
      unit: config.cloudflared.systemd.unit,
      systemctlPath: config.cloudflared.systemd.systemctlPath,
      ...(deps.logger ? { logger: deps.logger } : {}),
      ...(deps.env ? { env: deps.env } : {}),
    });
  }

  async status(): Promise<ProcessStatus> {
    const result = await this.#run(['show', this.unit, '--no-pager', `--property=${SHOW_PROPERTIES.join(',')}`]);
    if (result.code !== 0) throw this.#unavailable('show', result);
    const props = parseShow(result.stdout);
    const load = props.get('LoadState') ?? '';
    const active = props.get('ActiveState') ?? '';
    const sub = props.get('SubState') ?? '';
    const pid = Number(props.get('MainPID') ?? '0');
    if (load === 'not-found' || load === 'masked' || load === 'bad-setting' || load === 'error') {
      return {
        state: 'unknown',
        pid: null,
        startedAt: null,
        exitCode: null,
        detail: `unit ${this.unit} is ${load}`,
      };
    }
    const state: ProcessState =
      active === 'active' || active === 'reloading' || active === 'deactivating'
        ? 'running'
        : active === 'activating'
          ? 'starting'
          : active === 'failed'
            ? 'exited'
            : active === 'inactive'
              ? 'stopped'
              : 'unknown';
    const running = state === 'running' || state === 'starting';
    const monotonicUs = Number(props.get('ExecMainStartTimestampMonotonic') ?? '0');
    const startedAt =
      running && monotonicUs > 0 ? Math.round(this.#now() - (secondsSinceBoot() * 1000 - monotonicUs / 1000)) : null;
    const code = Number(props.get('ExecMainCode') ?? '0');
    const status = Number(props.get('ExecMainStatus') ?? '0');
    const result_ = props.get('Result');
    return {
      state,
      pid: running && pid > 0 ? pid : null,
      startedAt,
      // ExecMainStatus is an exit code only when the process exited; otherwise it is a signal number.
      exitCode: running || code !== CLD_EXITED ? null : status,
      detail: `${active}/${sub}${result_ && result_ !== 'success' ? ` (result: ${result_})` : ''}${
        !running && code > CLD_EXITED && status > 0 ? `, killed by signal ${status}` : ''
      }`,
    };
  }

  async restart(options: RestartOptions): Promise<void> {
    if (options.replicaId !== undefined) {
      throw new TunnelError('INVALID_INPUT', 'The systemd controller has no replicas to restart one by one.', {
        hint: this.capabilities.reasons?.supportsReplicas ?? 'Restart the whole unit.',
      });
    }
    await this.#serialized(async () => {
      this.#logger.info('restarting cloudflared unit', {
        unit: this.unit,
        graceful: options.graceful,
        reason: options.reason,
      });
      if (!options.graceful) {
        // Best effort: a unit that is not running has nothing to kill.
        await this.#run(['kill', '--signal=SIGKILL', this.unit]);
      }
      await this.#command('restart');
    });
  }

  async start(): Promise<void> {
    await this.#serialized(() => this.#command('start'));
  }

  async stop(_options: { graceful: boolean }): Promise<void> {
    await this.#serialized(async () => {
      const result = await this.#run(['stop', this.unit]);
      if (result.code !== 0) throw await this.#failure('stop', result);
    });
  }

  /** `systemctl is-active <unit>`: its one-word answer (`active`, `activating`, `failed`, …). */
  async isActive(): Promise<string> {
    const result = await this.#run(['is-active', this.unit]);
    const word = firstLine(result.stdout);
    if (result.code !== 0 && !/^[a-z-]+$/.test(word)) throw this.#unavailable('is-active', result);
    return word;
  }

  /** `start` or `restart`, then `is-active` to confirm systemd really runs it. */
  async #command(verb: 'start' | 'restart'): Promise<void> {
    const result = await this.#run([verb, this.unit]);
    if (result.code !== 0) throw await this.#failure(verb, result);
    const active = await this.isActive();
    if (active !== 'active' && active !== 'activating' && active !== 'reloading') {
      throw new TunnelError(
        'PROVIDER_UNAVAILABLE',
        `systemctl ${verb} ${this.unit} returned, but the unit is ${active}.`,
        {
          hint: `cloudflared stopped right after starting; see \`journalctl -u ${this.unit} -n 50\` (an invalid config.yml is the usual cause).`,
          details: { unit: this.unit, activeState: active },
        },
      );
    }
  }

  async #failure(verb: string, result: SystemctlResult): Promise<TunnelError> {
    const message = firstLine(result.stderr) || firstLine(result.stdout) || `exit status ${result.code}`;
    if (result.code === EXIT_NOT_INSTALLED) {
      return new TunnelError('CONFIG_INVALID', `systemctl ${verb} ${this.unit} failed: ${message}`, {
        hint: `No unit ${this.unit} is installed: set cloudflared.systemd.unit to cloudflared's unit (\`systemctl list-units 'cloudflared*'\`), or install it with \`cloudflared service install\`.`,
        details: { unit: this.unit, exitStatus: result.code },
      });
    }
    // Ask systemd what it knows about the unit; when that fails too, systemd itself is unreachable.
    const show = await this.#run(['show', this.unit, '--no-pager', '--property=LoadState,ActiveState']);
    if (show.code !== 0) return this.#unavailable(verb, result);
    const props = parseShow(show.stdout);
    if (props.get('LoadState') === 'not-found') {
      return new TunnelError('CONFIG_INVALID', `systemctl ${verb} ${this.unit} failed: ${message}`, {
        hint: `No unit ${this.unit} is installed: set cloudflared.systemd.unit to cloudflared's unit.`,
        details: { unit: this.unit, exitStatus: result.code },
      });
    }
    return new TunnelError('PROVIDER_UNAVAILABLE', `systemctl ${verb} ${this.unit} failed: ${message}`, {
      hint: `See \`journalctl -u ${this.unit} -n 50\` for why it did not start, and check that the daemon's user may ${verb} the unit (a polkit rule or sudoers entry).`,
      details: {
        unit: this.unit,
        exitStatus: result.code,
        activeState: props.get('ActiveState') ?? null,
      },
    });
  }

  #unavailable(verb: string, result: SystemctlResult): TunnelError {
    const message = firstLine(result.stderr) || firstLine(result.stdout) || `exit status ${result.code}`;
    return new TunnelError('PROVIDER_UNAVAILABLE', `systemctl ${verb} ${this.unit} failed: ${message}`, {
      hint: 'systemd does not answer here (not booted with systemd, or no D-Bus access). Set cloudflared.controller to `child` (the daemon runs cloudflared) or `none` (monitor only).',
      details: { unit: this.unit, exitStatus: result.code },
    });
  }

  #serialized<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #run(args: readonly string[]): Promise<SystemctlResult> {
    return new Promise((resolve, reject) => {
      execFile(
        this.#systemctl,
        args,
        { env: this.#env, timeout: this.#timeoutMs, maxBuffer: 1024 * 1024, encoding: 'utf8' },
        (error, stdout, stderr) => {
          if (!error) {
            resolve({ code: 0, stdout, stderr });
            return;
          }
          const errno = (error as NodeJS.ErrnoException).code;
          if (typeof errno === 'string') {
            reject(
              new TunnelError('PROVIDER_UNAVAILABLE', `Cannot run ${this.#systemctl}: ${error.message}.`, {
                hint:
                  errno === 'ENOENT'
                    ? 'systemctl is not installed here: set cloudflared.controller to `child` or `none`, or cloudflared.systemd.systemctlPath.'
                    : 'Check cloudflared.systemd.systemctlPath.',
                details: { errno },
                cause: error,
              }),
            );
            return;
          }
          if ((error as { killed?: boolean }).killed) {
            reject(
              new TunnelError(
                'PROVIDER_UNAVAILABLE',
                `systemctl ${args.join(' ')} did not finish in ${this.#timeoutMs} ms.`,
                {
                  hint: `systemd may be waiting for the unit's stop timeout; see \`systemctl status ${this.unit}\`.`,
                  cause: error,
                },
              ),
            );
            return;
          }
          resolve({ code: typeof errno === 'number' ? errno : 1, stdout, stderr });
        },
      );
    });
  }
}
