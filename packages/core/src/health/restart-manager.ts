import type { TunnelConfig } from '../config/schema.js';
import type { HealthStatus } from '../domain/health.js';
import { TunnelError, toTunnelError } from '../errors.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessController, ProcessStatus } from '../ports/process-controller.js';
import type { StateStore } from '../ports/state-store.js';
import { NoopLogger } from '../runtime/loggers.js';
import { backoffDelay, withJitter } from './backoff.js';
import type { TunnelReadiness } from './readiness.js';

/** What made a restart happen. */
export type RestartTrigger = 'health' | 'config';

/** The audit action every restart is recorded under. */
export const RESTART_AUDIT_ACTION = 'tunnel.restart';

export interface RestartOutcome {
  readonly ok: boolean;
  readonly trigger: RestartTrigger;
  /** Epoch ms the restart began (after any backoff wait). */
  readonly startedAt: number;
  readonly finishedAt: number;
  /** Attempts since the backoff was last reset, this one included when it counted. */
  readonly attempts: number;
  /** The replicas restarted; null means all of them (or the one process). */
  readonly replicaIds: readonly string[] | null;
  readonly rolling: boolean;
  readonly reasons: readonly string[];
  readonly error: TunnelError | null;
}

export interface RestartManagerState {
  /** `waiting`: a backoff wait runs before the next attempt; `restarting`: an attempt is under way. */
  readonly phase: 'idle' | 'waiting' | 'restarting';
  /** Attempts since the backoff was last reset; the next wait is `backoffDelay(attempts)`. */
  readonly attempts: number;
  readonly nextAttemptAt: number | null;
  /** The wait that was scheduled (after jitter). */
  readonly scheduledDelayMs: number | null;
  readonly lastOutcome: RestartOutcome | null;
}

export interface RecoveryRequest {
  readonly reason: string;
  /** Only these replicas; omitted means every replica (the whole tunnel is down). */
  readonly replicaIds?: readonly string[];
}

export interface ConfigRestartRequest {
  readonly reasons: readonly string[];
  readonly requestedBy: readonly string[];
}

export interface RestartManagerOptions {
  readonly controller: ProcessController;
  readonly readiness: TunnelReadiness;
  readonly store: Pick<StateStore, 'audit'>;
  readonly clock: Clock;
  readonly restart: Pick<
    TunnelConfig['restart'],
    'initialBackoffMs' | 'maxBackoffMs' | 'jitterRatio' | 'healthyResetMs' | 'startTimeoutMs'
  >;
  readonly logger?: Logger;
  /** @default Math.random */
  readonly random?: () => number;
  /** How often readiness is polled while waiting for a restarted tunnel. @default 250 */
  readonly readyPollMs?: number;
}

interface Job {
  trigger: RestartTrigger;
  reasons: string[];
  requestedBy: string[];
  /** null: all replicas. */
  replicaIds: string[] | null;
  waiters: Array<(outcome: RestartOutcome) => void>;
  /** The backoff wait that preceded it. */
  waitedMs: number;
}

const merge = (a: string[] | null, b: readonly string[] | undefined): string[] | null =>
  a === null || b === undefined ? null : [...new Set([...a, ...b])];

/**
 * Restarts cloudflared, one restart at a time, with backoff. Lives in the daemon only (other
 * processes go through the RestartCoordinator's queue), so "never two restarts at once" holds
 * across processes too.
 *
 * - `recover()` (from the HealthMonitor): the first attempt after a healthy period runs at once;
 *   an attempt whose tunnel is not ready within `startTimeoutMs` (or whose process exits) is
 *   failed, and the next one follows after 5 s, 10 s, 20 s … capped at 5 min, with jitter,
 *   forever. Requests while an attempt runs are ignored; while a wait runs they join it.
 * - `restartNow()` (from the RestartCoordinator, after a config change): runs at once — cutting
 *   a backoff wait short, since the change may be the fix — or right after the attempt in
 *   progress. With replicas it restarts them one by one, each after the previous is ready.
 * - `noteHealth()`: healthy for `healthyResetMs` resets the backoff.
 *
 * Every attempt is written to the audit log (`tunnel.restart`) with its reason and outcome.
 */
export class RestartManager {
  readonly #controller: ProcessController;
  readonly #readiness: TunnelReadiness;
  readonly #store: Pick<StateStore, 'audit'>;
  readonly #clock: Clock;
  readonly #policy: RestartManagerOptions['restart'];
  readonly #logger: Logger;
  readonly #random: () => number;
  readonly #readyPollMs: number;
  #attempts = 0;
  #running: Job | null = null;
  #runningDone: Promise<void> | null = null;
  #waiting: { job: Job; timer: TimerHandle; at: number; delayMs: number } | null = null;
  #queued: Job | null = null;
  #healthySince: number | null = null;
  #lastOutcome: RestartOutcome | null = null;
  #closed = false;
  readonly #listeners = new Set<(outcome: RestartOutcome) => void>();

  constructor(options: RestartManagerOptions) {
    this.#controller = options.controller;
    this.#readiness = options.readiness;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#policy = options.restart;
    this.#logger = options.logger ?? new NoopLogger();
    this.#random = options.random ?? Math.random;
    this.#readyPollMs = options.readyPollMs ?? 250;
  }

  /** A restart is running or scheduled: health checks should not count strikes now. */
  get busy(): boolean {
    return this.#running !== null || this.#waiting !== null;
  }

  state(): RestartManagerState {
    return {
      phase: this.#running ? 'restarting' : this.#waiting ? 'waiting' : 'idle',
      attempts: this.#attempts,
      nextAttemptAt: this.#waiting?.at ?? null,
      scheduledDelayMs: this.#waiting?.delayMs ?? null,
      lastOutcome: this.#lastOutcome,
    };
  }

  /** Called with every finished attempt (for metrics). Returns the unsubscribe function. */
  onRestart(listener: (outcome: RestartOutcome) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * The tunnel (or some replicas) is down: restart it, now or after the backoff wait. Returns
   * `busy` when an attempt is already under way (the request is dropped: that attempt, or the
   * health checks after it, will tell).
   */
  recover(request: RecoveryRequest): 'started' | 'scheduled' | 'busy' {
    if (this.#closed || this.#running) return 'busy';
    if (this.#waiting) {
      const job = this.#waiting.job;
      job.replicaIds = merge(job.replicaIds, request.replicaIds);
      if (!job.reasons.includes(request.reason)) job.reasons.push(request.reason);
      return 'scheduled';
    }
    const job: Job = {
      trigger: 'health',
      reasons: [request.reason],
      requestedBy: ['health-monitor'],
      replicaIds: request.replicaIds ? [...request.replicaIds] : null,
      waiters: [],
      waitedMs: 0,
    };
    return this.#schedule(job) ? 'started' : 'scheduled';
  }

  /** Restarts for a configuration change; resolves when that restart has finished. */
  restartNow(request: ConfigRestartRequest): Promise<RestartOutcome> {
    return new Promise((resolve) => {
      if (this.#closed) {
        resolve(this.#refused(request, 'the restart manager is shut down'));
        return;
      }
      const job: Job = {
        trigger: 'config',
        reasons: [...request.reasons],
        requestedBy: [...request.requestedBy],
        replicaIds: null,
        waiters: [resolve],
        waitedMs: 0,
      };
      if (this.#running) {
        // Runs right after the current attempt: that one may have read the old config.
        if (this.#queued) {
          this.#queued.reasons.push(...job.reasons);
          this.#queued.requestedBy.push(...job.requestedBy);
          this.#queued.waiters.push(resolve);
        } else this.#queued = job;
        return;
      }
      if (this.#waiting) {
        const waiting = this.#waiting;
        waiting.timer.cancel();
        this.#waiting = null;
        job.reasons.unshift(...waiting.job.reasons);
        job.waiters.push(...waiting.job.waiters);
        job.waitedMs = this.#clock.now() - (waiting.at - waiting.delayMs);
      }
      this.#start(job);
    });
  }

  /** The HealthMonitor reports each check here; a long enough healthy run resets the backoff. */
  noteHealth(status: HealthStatus, at: number): void {
    if (this.busy || status !== 'healthy') {
      this.#healthySince = null;
      return;
    }
    this.#healthySince ??= at;
    if (this.#attempts > 0 && at - this.#healthySince >= this.#policy.healthyResetMs) {
      this.#logger.info('cloudflared stayed healthy; restart backoff reset', {
        attempts: this.#attempts,
        healthyForMs: at - this.#healthySince,
      });
      this.#attempts = 0;
    }
  }

  /** Cancels a scheduled attempt and waits for the running one to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#waiting) {
      this.#waiting.timer.cancel();
      const job = this.#waiting.job;
      this.#waiting = null;
      for (const w of job.waiters)
        w(this.#refused({ reasons: job.reasons, requestedBy: job.requestedBy }, 'shut down'));
    }
    if (this.#queued) {
      const job = this.#queued;
      this.#queued = null;
      for (const w of job.waiters)
        w(this.#refused({ reasons: job.reasons, requestedBy: job.requestedBy }, 'shut down'));
    }
    await this.#runningDone;
  }

  /** Runs `job` now or after the backoff wait; returns true when it started at once. */
  #schedule(job: Job): boolean {
    const baseDelay = backoffDelay(this.#attempts, {
      initialMs: this.#policy.initialBackoffMs,
      maxMs: this.#policy.maxBackoffMs,
    });
    const delayMs = withJitter(baseDelay, this.#policy.jitterRatio, this.#random);
    if (delayMs === 0) {
      this.#start(job);
      return true;
    }
    job.waitedMs = delayMs;
    const at = this.#clock.now() + delayMs;
    this.#logger.info('cloudflared restart scheduled', { inMs: delayMs, attempts: this.#attempts });
    const timer = this.#clock.setTimer(delayMs, () => {
      if (this.#waiting?.job !== job) return;
      this.#waiting = null;
      this.#start(job);
    });
    this.#waiting = { job, timer, at, delayMs };
    return false;
  }

  #start(job: Job): void {
    this.#running = job;
    this.#healthySince = null;
    this.#runningDone = this.#run(job).catch((error) => {
      // #run handles its own failures; this is a bug guard.
      this.#logger.error('restart manager failed', { error });
    });
  }

  async #run(job: Job): Promise<void> {
    const startedAt = this.#clock.now();
    let rolling = false;
    let error: TunnelError | null = null;
    try {
      const before = await this.#controller.status();
      const replicaIds = before.replicas?.map((r) => r.id) ?? [];
      rolling =
        job.trigger === 'config' &&
        job.replicaIds === null &&
        this.#controller.capabilities.supportsReplicas &&
        replicaIds.length > 1;
      const reason = job.reasons.join('; ');
      if (rolling) {
        // One replica at a time, each only after the previous one is ready again, so at
        // least one keeps serving throughout.
        for (const id of replicaIds) {
          await this.#controller.restart({ graceful: true, reason, replicaId: id });
          await this.#waitReady([id]);
        }
      } else if (job.replicaIds !== null && this.#controller.capabilities.supportsReplicas) {
        for (const id of job.replicaIds) {
          await this.#controller.restart({ graceful: true, reason, replicaId: id });
        }
        await this.#waitReady(job.replicaIds);
      } else {
        await this.#controller.restart({ graceful: true, reason });
        await this.#waitReady(null);
      }
    } catch (e) {
      error = toTunnelError(e);
    }
    const finishedAt = this.#clock.now();
    // A health restart always counts towards the backoff; a config restart only when it failed.
    if (job.trigger === 'health' || error) this.#attempts += 1;
    const outcome: RestartOutcome = {
      ok: error === null,
      trigger: job.trigger,
      startedAt,
      finishedAt,
      attempts: this.#attempts,
      replicaIds: job.replicaIds,
      rolling,
      reasons: job.reasons,
      error,
    };
    this.#lastOutcome = outcome;
    if (error) {
      this.#logger.warn('cloudflared restart failed', { reasons: job.reasons, error, attempts: this.#attempts });
    } else {
      this.#logger.info('cloudflared restarted', { reasons: job.reasons, trigger: job.trigger, rolling });
    }
    await this.#audit(job, outcome);
    this.#running = null;
    for (const waiter of job.waiters) waiter(outcome);
    for (const listener of this.#listeners) {
      try {
        listener(outcome);
      } catch (e) {
        this.#logger.warn('restart listener failed', { error: e });
      }
    }
    if (this.#closed) return;
    const queued = this.#queued;
    this.#queued = null;
    if (queued) {
      // A config change arrived meanwhile: restart again now, whatever this attempt did.
      this.#start(queued);
    } else if (error) {
      this.#schedule({
        trigger: 'health',
        reasons: [`retry after a failed restart: ${error.message}`],
        requestedBy: ['restart-manager'],
        replicaIds: job.replicaIds,
        waiters: [],
        waitedMs: 0,
      });
    }
  }

  /** Polls until the replicas (or the tunnel) answer `/ready` 200; throws on exit or timeout. */
  async #waitReady(replicaIds: readonly string[] | null): Promise<void> {
    const timeoutMs = this.#policy.startTimeoutMs;
    const deadline = this.#clock.now() + timeoutMs;
    let lastProblem = 'no answer yet';
    for (;;) {
      const status: ProcessStatus = await this.#controller.status();
      const dead = this.#deadTargets(status, replicaIds);
      if (dead) {
        throw new TunnelError('PROVIDER_UNAVAILABLE', `cloudflared ${dead} right after the restart.`, {
          hint: 'Check its log (an invalid config.yml or a taken metrics port are the usual causes). The manager keeps retrying with backoff.',
          details: { replicaIds },
        });
      }
      const results = await this.#readiness.check(status, replicaIds ?? undefined);
      // Without per-replica metrics URLs there is one answer for the whole tunnel.
      const covered =
        replicaIds === null ||
        results.every((r) => r.id === 'tunnel') ||
        replicaIds.every((id) => results.some((r) => r.id === id));
      if (results.length > 0 && covered && results.every((r) => r.ok)) return;
      lastProblem = results.find((r) => !r.ok)?.error ?? `cloudflared is ${status.state}`;
      const now = this.#clock.now();
      if (now >= deadline) {
        throw new TunnelError(
          'PROVIDER_UNAVAILABLE',
          `cloudflared was not ready within ${timeoutMs} ms of the restart: ${lastProblem}.`,
          {
            hint: 'It may not reach the Cloudflare edge (network, credentials) or may be overloaded; check its log. The manager keeps retrying with backoff.',
            details: { replicaIds, startTimeoutMs: timeoutMs },
          },
        );
      }
      await this.#clock.sleep(Math.min(this.#readyPollMs, deadline - now));
    }
  }

  /** Describes why the restarted process(es) cannot become ready, or null while they still can. */
  #deadTargets(status: ProcessStatus, replicaIds: readonly string[] | null): string | null {
    const replicas = status.replicas;
    if (replicas && replicas.length > 0) {
      const relevant = replicaIds === null ? replicas : replicas.filter((r) => replicaIds.includes(r.id));
      const dead = relevant.filter((r) => r.state === 'exited' || r.state === 'stopped');
      if (dead.length === 0) return null;
      return `${dead.map((r) => r.id).join(', ')} ${dead.length === 1 ? 'is' : 'are'} ${dead[0]?.state}${
        status.detail ? ` (${status.detail})` : ''
      }`;
    }
    if (status.state === 'exited' || status.state === 'stopped') {
      return `is ${status.state}${status.detail ? ` (${status.detail})` : ''}`;
    }
    return null;
  }

  async #audit(job: Job, outcome: RestartOutcome): Promise<void> {
    try {
      await this.#store.audit.append({
        at: outcome.startedAt,
        actor: 'system',
        project: null,
        action: RESTART_AUDIT_ACTION,
        target: job.replicaIds?.join(',') ?? 'cloudflared',
        params: {
          reason: job.reasons.join('; '),
          trigger: job.trigger,
          requestedBy: [...new Set(job.requestedBy)],
          // `all`: every replica now runs the configuration as of `at` (what waiting clients need).
          scope: job.replicaIds === null ? 'all' : 'replicas',
          replicas: job.replicaIds,
          rolling: outcome.rolling,
          attempts: outcome.attempts,
          backoffWaitMs: job.waitedMs,
          controller: this.#controller.kind,
        },
        outcome: outcome.ok ? 'ok' : 'error',
        errorCode: outcome.error?.code ?? null,
        message: outcome.error ? outcome.error.message : `restarted: ${job.reasons.join('; ')}`,
        durationMs: outcome.finishedAt - outcome.startedAt,
      });
    } catch (error) {
      this.#logger.error('cannot write the restart to the audit log', { error });
    }
  }

  #refused(request: ConfigRestartRequest, why: string): RestartOutcome {
    const now = this.#clock.now();
    return {
      ok: false,
      trigger: 'config',
      startedAt: now,
      finishedAt: now,
      attempts: this.#attempts,
      replicaIds: null,
      rolling: false,
      reasons: request.reasons,
      error: new TunnelError('PROVIDER_UNAVAILABLE', `No restart: ${why}.`, {
        hint: 'The daemon is shutting down; the next daemon applies the pending change.',
      }),
    };
  }
}
