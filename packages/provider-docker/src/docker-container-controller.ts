import {
  type ProcessController,
  type ProcessControllerCapabilities,
  type ProcessState,
  type ProcessStatus,
  type RestartOptions,
  TunnelError,
} from '@tunnel/core';
import type Docker from 'dockerode';
import { DockerEngine, type DockerEngineOptions, dockerCallError, isDockerTransportError } from './docker-engine.js';

export interface DockerContainerControllerOptions extends DockerEngineOptions {
  /** `cloudflared.docker.container`: the container's name (or id). */
  readonly container: string;
  /** `cloudflared.gracePeriodMs`: how long a graceful stop waits after SIGTERM before SIGKILL. */
  readonly gracePeriodMs: number;
}

interface RawState {
  Status?: string;
  Running?: boolean;
  Paused?: boolean;
  Restarting?: boolean;
  OOMKilled?: boolean;
  Pid?: number;
  ExitCode?: number;
  Error?: string;
  StartedAt?: string;
  Health?: { Status?: string } | null;
}

/** Docker's "never" timestamp. */
const NEVER = '0001-01-01T00:00:00Z';
/** Time the engine may take beyond the grace period to stop and start a container. */
const RESTART_SLACK_MS = 60_000;

function stateOf(s: RawState): ProcessState {
  if (s.Restarting) return 'starting';
  if (s.Paused) return 'stopped';
  if (s.Running) return 'running';
  if (s.Status === 'exited' || s.Status === 'dead') return 'exited';
  if (s.Status === 'created' || s.Status === 'removing') return 'stopped';
  return 'unknown';
}

/**
 * The ProcessController for cloudflared running in a Docker container. `status()` reads the
 * container's state on every call. A graceful restart or stop goes through the engine's own
 * restart/stop with a timeout of the grace period: the engine sends the container's stop
 * signal (SIGTERM, unless the image sets another `StopSignal`) and SIGKILL only once the grace
 * period is over. Operations are serialised, so two restarts never run at once, and a start of
 * a running container does nothing.
 */
export class DockerContainerController implements ProcessController {
  readonly kind = 'docker';
  readonly capabilities: ProcessControllerCapabilities = {
    canRestart: true,
    restartReloadsConfig: true,
    supportsReplicas: false,
    canStartStop: true,
    reasons: {
      supportsReplicas: 'One container runs one cloudflared; run replicas as separate containers.',
    },
  };
  readonly container: string;
  readonly #engine: DockerEngine;
  readonly #graceSeconds: number;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: DockerContainerControllerOptions) {
    this.container = options.container;
    this.#engine = new DockerEngine(options);
    this.#graceSeconds = Math.ceil(Math.max(0, options.gracePeriodMs) / 1000);
  }

  async status(): Promise<ProcessStatus> {
    let raw: { State?: RawState };
    try {
      const { docker } = await this.#engine.connect();
      raw = (await docker.getContainer(this.container).inspect({ abortSignal: this.#engine.timeout() } as object)) as {
        State?: RawState;
      };
    } catch (error) {
      if (!isDockerTransportError(error)) throw error;
      const missing = (error as { statusCode?: unknown }).statusCode === 404;
      const detail = missing
        ? `no container named ${this.container} exists`
        : dockerCallError(error, this.#engine, 'read the container state').message;
      return { state: 'unknown', pid: null, startedAt: null, exitCode: null, detail };
    }
    const s = raw.State ?? {};
    const state = stateOf(s);
    const running = state === 'running';
    const startedAt = s.StartedAt && s.StartedAt !== NEVER ? Date.parse(s.StartedAt) : Number.NaN;
    const notes = [
      s.Health?.Status ? `health ${s.Health.Status}` : null,
      s.OOMKilled ? 'killed for lack of memory' : null,
      s.Error ? s.Error : null,
      !running && s.Status !== 'created' && s.ExitCode !== undefined ? `exit code ${s.ExitCode}` : null,
    ].filter((n): n is string => n !== null);
    return {
      state,
      pid: running && s.Pid ? s.Pid : null,
      startedAt: Number.isFinite(startedAt) ? startedAt : null,
      exitCode: running || s.Status === 'created' ? null : (s.ExitCode ?? null),
      detail: `container ${this.container} ${s.Status ?? 'unknown'}${notes.length > 0 ? ` (${notes.join(', ')})` : ''}`,
    };
  }

  restart(options: RestartOptions): Promise<void> {
    if (options.replicaId !== undefined) {
      return Promise.reject(
        new TunnelError('INVALID_INPUT', 'The Docker controller has no replicas to restart one by one.', {
          hint: 'Restart without a replicaId; this controller runs one container.',
        }),
      );
    }
    return this.#serial(async () => {
      const t = options.graceful ? this.#graceSeconds : 0;
      await this.#call('restart', (c) =>
        c.restart({ t, abortSignal: this.#engine.timeout(t * 1000 + RESTART_SLACK_MS) } as object),
      );
      const after = await this.status();
      if (after.state !== 'running' && after.state !== 'starting') {
        throw new TunnelError(
          'PROVIDER_UNAVAILABLE',
          `Container ${this.container} did not start again: ${after.detail}.`,
          {
            hint: `Read \`docker logs ${this.container}\` for why cloudflared exits, fix it, then restart.`,
            details: { state: after.state, exitCode: after.exitCode },
          },
        );
      }
    });
  }

  start(): Promise<void> {
    return this.#serial(async () => {
      // The engine answers 304 for a running container: starting twice starts nothing.
      await this.#call(
        'start',
        (c) => c.start({ abortSignal: this.#engine.timeout(RESTART_SLACK_MS) } as object),
        [304],
      );
    });
  }

  stop(options: { graceful: boolean }): Promise<void> {
    return this.#serial(async () => {
      const t = options.graceful ? this.#graceSeconds : 0;
      await this.#call(
        'stop',
        (c) => c.stop({ t, abortSignal: this.#engine.timeout(t * 1000 + RESTART_SLACK_MS) } as object),
        [304],
      );
    });
  }

  #serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #call(
    what: string,
    fn: (container: Docker.Container) => Promise<unknown>,
    okStatuses: readonly number[] = [],
  ): Promise<void> {
    try {
      const { docker } = await this.#engine.connect();
      await fn(docker.getContainer(this.container));
    } catch (error) {
      const status = (error as { statusCode?: unknown }).statusCode;
      if (typeof status === 'number' && okStatuses.includes(status)) return;
      if (status === 404) {
        throw new TunnelError(
          'PROVIDER_UNAVAILABLE',
          `Cannot ${what} cloudflared: no container named ${this.container} exists.`,
          {
            hint: 'Create the cloudflared container, or set cloudflared.docker.container to its name, then retry.',
            cause: error,
          },
        );
      }
      if (!isDockerTransportError(error)) throw error;
      throw dockerCallError(error, this.#engine, `${what} container ${this.container}`);
    }
  }
}
