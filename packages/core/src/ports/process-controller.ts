import type { ProcessState } from '../domain/health.js';

/** One cloudflared process of several running the same tunnel. */
export interface ReplicaStatus {
  readonly id: string;
  readonly state: ProcessState;
  readonly pid: number | null;
  /** Its metrics server, e.g. `http://127.0.0.1:20241`, where `/ready` is served. */
  readonly metricsUrl: string | null;
}

export interface ProcessStatus {
  /** `running` if at least one replica runs. */
  readonly state: ProcessState;
  readonly pid: number | null;
  /** Epoch ms. */
  readonly startedAt: number | null;
  readonly exitCode: number | null;
  /** A short explanation (the unit's SubState, the container status, the exit signal…). */
  readonly detail: string | null;
  /** Present when the controller supports replicas. */
  readonly replicas?: readonly ReplicaStatus[];
}

/**
 * What a controller can do, as data: the RestartCoordinator reads this instead of asking
 * "is this systemd?". `reasons` explains each `false` for operators.
 */
export interface ProcessControllerCapabilities {
  readonly canRestart: boolean;
  /** A restart makes cloudflared read `config.yml` again. */
  readonly restartReloadsConfig: boolean;
  /** Replicas can be restarted one at a time (rolling restart). */
  readonly supportsReplicas: boolean;
  /** `start()` and `stop()` exist. */
  readonly canStartStop: boolean;
  readonly reasons?: Readonly<
    Partial<Record<'canRestart' | 'restartReloadsConfig' | 'supportsReplicas' | 'canStartStop', string>>
  >;
}

export interface RestartOptions {
  /** SIGTERM and wait for the grace period before SIGKILL. */
  readonly graceful: boolean;
  /** Why, for logs and audit. */
  readonly reason: string;
  /** Restart only this replica (when `supportsReplicas`). */
  readonly replicaId?: string;
}

/**
 * Starts, stops and restarts cloudflared: a systemd unit, a child process, a container.
 *
 * Implementations:
 * - must report the real state on every `status()` call (no caching beyond one call);
 * - must, on `restart({graceful: true})`, send SIGTERM (or the manager's equivalent), wait up to
 *   the configured grace period, and only then force-kill;
 * - must not return from `restart` before the new process has been started (it need not be
 *   ready) and must throw `PROVIDER_UNAVAILABLE` if it could not be;
 * - must never run a second copy of a process they already run;
 * - must throw `INVALID_INPUT` for an operation their capabilities say they cannot do.
 */
export interface ProcessController {
  /** e.g. `systemd`, `child`, `docker`, `memory`. */
  readonly kind: string;
  readonly capabilities: ProcessControllerCapabilities;
  status(): Promise<ProcessStatus>;
  restart(options: RestartOptions): Promise<void>;
  start?(): Promise<void>;
  stop?(options: { graceful: boolean }): Promise<void>;
}
