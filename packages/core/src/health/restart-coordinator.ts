import type { TunnelConfig } from '../config/schema.js';
import type { AuditEntry } from '../domain/audit.js';
import { TunnelError } from '../errors.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { IngressStore } from '../ports/ingress-store.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessController } from '../ports/process-controller.js';
import type { StateStore } from '../ports/state-store.js';
import { NoopLogger } from '../runtime/loggers.js';
import { RESTART_AUDIT_ACTION, type RestartManager } from './restart-manager.js';

/**
 * `daemon`: this process restarts cloudflared (through its RestartManager) and serves the
 * requests other processes queue. `client`: an MCP server, the CLI, a library user without a
 * daemon of its own — it queues a request in the state store for the daemon.
 */
export type RestartCoordinatorMode = 'daemon' | 'client';

export interface RestartRequestInput {
  /** Why, for the log and the audit entry (e.g. `ingress rule added for app.example.com`). */
  readonly reason: string;
  /** Who asked (`project:<name>`, `admin`, `system`). */
  readonly requestedBy: string;
  /** Return only when the restart is done (the change is live). @default restart.waitForRestart */
  readonly wait?: boolean;
  /** Give up waiting after this long (the restart itself goes on). @default coalesce window + start timeout + 10 s */
  readonly timeoutMs?: number;
}

export interface RestartRequestResult {
  /** A restart that began after this request has completed: the change is live. */
  readonly restarted: boolean;
  /** The change still waits for a restart (not awaited, timed out, failed, or nothing can restart). */
  readonly pending: boolean;
  /** Why, when not restarted. */
  readonly detail?: string;
  /**
   * Epoch ms the request was recorded (when it was queued): hand it to `awaitRestart` to wait
   * for this request's restart without queuing another one.
   */
  readonly requestedAt?: number;
}

export interface AwaitRestartInput {
  /** The `requestedAt` of the queued request: any full restart that began since applies it. */
  readonly since: number;
  /** Give up waiting after this long (the restart itself goes on). @default restart.waitTimeoutMs */
  readonly timeoutMs?: number;
}

export interface RestartCoordinatorOptions {
  readonly mode: RestartCoordinatorMode;
  readonly store: Pick<StateStore, 'restarts' | 'audit' | 'health'>;
  readonly clock: Clock;
  /** `restart.coalesceWindowMs`, `restart.startTimeoutMs`, `restart.waitForRestart`, `restart.waitTimeoutMs`. */
  readonly restart: Pick<TunnelConfig['restart'], 'coalesceWindowMs' | 'startTimeoutMs' | 'waitForRestart'> &
    Partial<Pick<TunnelConfig['restart'], 'waitTimeoutMs'>>;
  /** Its capabilities say whether a written config needs a restart at all (remote config does not). */
  readonly ingress?: Pick<IngressStore, 'capabilities'> | null;
  /** Daemon mode: who restarts. */
  readonly manager?: RestartManager | null;
  /** Daemon mode: whether restarting is possible at all (`capabilities.canRestart`). */
  readonly controller?: Pick<ProcessController, 'capabilities' | 'kind'> | null;
  readonly logger?: Logger;
  /** Daemon mode: how often requests queued by other processes are collected. @default 1000 */
  readonly drainIntervalMs?: number;
  /** Client mode: how often the audit log is read while waiting. @default 250 */
  readonly pollIntervalMs?: number;
  /**
   * Client mode: `health.intervalMs` of the daemon. When given, a client does not wait for a
   * restart when no health check has been recorded for two intervals and 10 s: no daemon is
   * running to restart cloudflared, so waiting would only end in the timeout (the request stays
   * queued for the next daemon). @default null (always wait)
   */
  readonly daemonHealthIntervalMs?: number | null;
}

/** Consecutive failed health checks that mean "down, not just restarting" to a waiting caller. */
const NOT_SERVING_CHECKS = 3;

interface Batch {
  reasons: string[];
  requestedBy: string[];
  waiters: Array<(result: RestartRequestResult) => void>;
  timer: TimerHandle;
}

/**
 * Turns "the ingress changed" into restarts: many changes within `restart.coalesceWindowMs`
 * (2 s) become one restart, rolling over the replicas when there are several; a remotely
 * managed ingress needs none. Only the daemon restarts; other processes record a request in
 * the state store, which the daemon collects, and (when they wait) read the audit log until a
 * restart that began after their request has completed.
 *
 * `requestRestart` is the one call for both modes.
 */
export class RestartCoordinator {
  readonly mode: RestartCoordinatorMode;
  readonly #store: Pick<StateStore, 'restarts' | 'audit' | 'health'>;
  readonly #clock: Clock;
  readonly #restart: RestartCoordinatorOptions['restart'];
  readonly #ingress: Pick<IngressStore, 'capabilities'> | null;
  readonly #manager: RestartManager | null;
  readonly #controller: Pick<ProcessController, 'capabilities' | 'kind'> | null;
  readonly #logger: Logger;
  readonly #drainIntervalMs: number;
  readonly #pollIntervalMs: number;
  readonly #daemonHealthIntervalMs: number | null;
  #batch: Batch | null = null;
  #drainTimer: TimerHandle | null = null;
  #draining: Promise<void> | null = null;
  #flushing = new Set<Promise<void>>();
  #started = false;

  constructor(options: RestartCoordinatorOptions) {
    if (options.mode === 'daemon' && !options.manager && options.controller?.capabilities.canRestart) {
      throw new TunnelError('INTERNAL', 'A daemon-mode RestartCoordinator needs the RestartManager.', {
        hint: 'Build the services with createHealthServices, which wires them together.',
      });
    }
    this.mode = options.mode;
    this.#store = options.store;
    this.#clock = options.clock;
    this.#restart = options.restart;
    this.#ingress = options.ingress ?? null;
    this.#manager = options.manager ?? null;
    this.#controller = options.controller ?? null;
    this.#logger = options.logger ?? new NoopLogger();
    this.#drainIntervalMs = options.drainIntervalMs ?? 1000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 250;
    this.#daemonHealthIntervalMs = options.daemonHealthIntervalMs ?? null;
  }

  /** A written ingress takes effect only after a restart (local `config.yml`). */
  get restartNeeded(): boolean {
    return this.#ingress?.capabilities.requiresRestart ?? true;
  }

  /**
   * Asks for a restart so a changed ingress takes effect. Resolves `{restarted: true}` once a
   * restart that began after the request has finished with cloudflared ready; `{pending: true}`
   * when not waiting, on timeout, or when the restart failed (the daemon keeps retrying).
   * `{restarted: false, pending: false}`: no restart is needed (remote configuration).
   */
  async requestRestart(input: RestartRequestInput): Promise<RestartRequestResult> {
    if (typeof input.reason !== 'string' || input.reason.trim() === '') {
      throw new TunnelError('INVALID_INPUT', 'A restart request needs a reason.', {
        hint: 'Say why, e.g. "ingress rule added for app.example.com".',
      });
    }
    if (!this.restartNeeded) {
      return {
        restarted: false,
        pending: false,
        detail: 'The ingress is remotely managed: cloudflared applies it live.',
      };
    }
    const wait = input.wait ?? this.#restart.waitForRestart;
    const timeoutMs = input.timeoutMs ?? this.#restart.coalesceWindowMs + this.#restart.startTimeoutMs + 10_000;
    return this.mode === 'daemon' ? this.#inDaemon(input, wait, timeoutMs) : this.#inClient(input, wait, timeoutMs);
  }

  /** Daemon mode: starts collecting the requests other processes queue. */
  start(): void {
    if (this.mode !== 'daemon' || this.#started) return;
    this.#started = true;
    const tick = () => {
      this.#draining = this.#drain().finally(() => {
        this.#draining = null;
        if (this.#started) this.#drainTimer = this.#clock.setTimer(this.#drainIntervalMs, tick);
      });
    };
    tick();
  }

  /**
   * Stops collecting and waits for a restart already under way. Requests still inside their
   * coalescing window get no restart from this process: their waiters are told it is pending
   * (the next daemon's first health checks, or a new request, take it from there).
   */
  async stop(): Promise<void> {
    this.#started = false;
    this.#drainTimer?.cancel();
    this.#drainTimer = null;
    const batch = this.#batch;
    this.#batch = null;
    if (batch) {
      batch.timer.cancel();
      for (const waiter of batch.waiters) {
        waiter({ restarted: false, pending: true, detail: 'The daemon is shutting down; the restart did not run.' });
      }
    }
    await this.#draining;
    await Promise.all(this.#flushing);
  }

  async #inDaemon(input: RestartRequestInput, wait: boolean, timeoutMs: number): Promise<RestartRequestResult> {
    if (!this.#manager || !this.#controller?.capabilities.canRestart) {
      const why =
        this.#controller?.capabilities.reasons?.canRestart ??
        'no process controller can restart cloudflared here (cloudflared.controller is `none`)';
      this.#logger.warn('a config change needs a cloudflared restart, but none is possible', { reason: input.reason });
      return { restarted: false, pending: true, detail: `Restart cloudflared by hand: ${why}.` };
    }
    const requestedAt = this.#clock.now();
    const done = this.#join([input.reason], [input.requestedBy], wait);
    if (!wait || !done) return { restarted: false, pending: true, detail: 'The restart was not awaited.', requestedAt };
    const timeout = new AbortController();
    const timedOut = this.#clock
      .sleep(timeoutMs, timeout.signal)
      .then(
        (): RestartRequestResult => ({
          restarted: false,
          pending: true,
          detail: `The restart did not finish within ${timeoutMs} ms; it goes on.`,
        }),
      )
      .catch(() => null);
    const result = await Promise.race([done, timedOut]);
    timeout.abort();
    return result ?? (await done);
  }

  /** Adds to the current coalescing window (opening one if needed). */
  #join(reasons: string[], requestedBy: string[], wait: boolean): Promise<RestartRequestResult> | null {
    if (!this.#batch) {
      const batch: Batch = {
        reasons: [],
        requestedBy: [],
        waiters: [],
        // The window is fixed from its first request, so a steady stream of changes cannot
        // postpone the restart forever.
        timer: this.#clock.setTimer(this.#restart.coalesceWindowMs, () => this.#flush(batch)),
      };
      this.#batch = batch;
    }
    const batch = this.#batch;
    batch.reasons.push(...reasons);
    batch.requestedBy.push(...requestedBy);
    if (!wait) return null;
    return new Promise((resolve) => batch.waiters.push(resolve));
  }

  #flush(batch: Batch): void {
    if (this.#batch === batch) this.#batch = null;
    const manager = this.#manager as RestartManager;
    const run = manager
      .restartNow({ reasons: [...new Set(batch.reasons)], requestedBy: [...new Set(batch.requestedBy)] })
      .then((outcome) => {
        const result: RestartRequestResult = outcome.ok
          ? { restarted: true, pending: false }
          : {
              restarted: false,
              pending: true,
              detail: `The restart failed (${outcome.error?.message ?? 'unknown'}); the daemon keeps retrying.`,
            };
        for (const waiter of batch.waiters) waiter(result);
      });
    this.#flushing.add(run);
    void run.finally(() => this.#flushing.delete(run));
  }

  async #drain(): Promise<void> {
    try {
      const requests = await this.#store.restarts.take();
      if (requests.length === 0) return;
      if (!this.restartNeeded) return;
      this.#logger.info('restart requested by other processes', { count: requests.length });
      if (!this.#manager || !this.#controller?.capabilities.canRestart) {
        this.#logger.warn('restart requests dropped: nothing can restart cloudflared here', {
          reasons: requests.map((r) => r.reason),
        });
        return;
      }
      this.#join(
        requests.map((r) => r.reason),
        requests.map((r) => r.requestedBy),
        false,
      );
    } catch (error) {
      this.#logger.error('cannot read queued restart requests', { error });
    }
  }

  async #inClient(input: RestartRequestInput, wait: boolean, timeoutMs: number): Promise<RestartRequestResult> {
    const requestedAt = this.#clock.now();
    await this.#store.restarts.add({ at: requestedAt, reason: input.reason, requestedBy: input.requestedBy });
    if (!wait) return { restarted: false, pending: true, detail: 'Queued for the daemon; not awaited.', requestedAt };
    const silence = await this.#daemonSilence(requestedAt);
    if (silence !== null) return { restarted: false, pending: true, detail: silence };
    return this.#pollAudit(requestedAt, timeoutMs, false);
  }

  /**
   * Waits for the restart a request queued earlier (`requestRestart({wait: false})`, under the
   * mutation lock) asked for, without queuing another: resolves `{restarted: true}` once a full
   * restart that began at or after `since` is done. Answers pending at once when no daemon runs,
   * when the tunnel is not serving now (it cannot become ready on this restart either; the change
   * is stored and applied by the next successful restart), as soon as a restart since then failed,
   * and after `restart.waitTimeoutMs` (10 s) at the latest — a caller never waits for cloudflared's
   * whole start timeout.
   */
  async awaitRestart(input: AwaitRestartInput): Promise<RestartRequestResult> {
    if (!this.restartNeeded) return { restarted: false, pending: false };
    const timeoutMs = input.timeoutMs ?? this.#restart.waitTimeoutMs ?? 10_000;
    if (this.mode === 'client') {
      const silence = await this.#daemonSilence(this.#clock.now());
      if (silence !== null) return { restarted: false, pending: true, detail: silence };
    } else if (!this.#manager || !this.#controller?.capabilities.canRestart) {
      const why =
        this.#controller?.capabilities.reasons?.canRestart ??
        'no process controller can restart cloudflared here (cloudflared.controller is `none`)';
      return { restarted: false, pending: true, detail: `Restart cloudflared by hand: ${why}.` };
    }
    return this.#pollAudit(input.since, timeoutMs, true);
  }

  /** Reads the audit log until a full restart since `since` completed, one failed (when `failFast`), or the timeout. */
  async #pollAudit(since: number, timeoutMs: number, failFast: boolean): Promise<RestartRequestResult> {
    const deadline = this.#clock.now() + timeoutMs;
    let lastFailure: AuditEntry | undefined;
    let checkedHealth = !failFast;
    for (;;) {
      const entries = await this.#store.audit.query({ action: RESTART_AUDIT_ACTION, since, limit: 50 });
      // Any full restart that began after the request reloaded the config written before it.
      const done = entries.find((e) => e.outcome === 'ok' && e.params.scope === 'all');
      if (done) return { restarted: true, pending: false };
      lastFailure = entries.find((e) => e.outcome === 'error') ?? lastFailure;
      if (failFast && lastFailure) {
        return {
          restarted: false,
          pending: true,
          detail: `The restart failed (${lastFailure.message}). The change is stored; the next successful restart applies it.`,
        };
      }
      if (!checkedHealth) {
        checkedHealth = true;
        const down = await this.#notServing(since);
        if (down !== null) return { restarted: false, pending: true, detail: down };
      }
      if (this.#clock.now() >= deadline) {
        return {
          restarted: false,
          pending: true,
          detail: lastFailure
            ? `The daemon's restart failed (${lastFailure.message}); it keeps retrying.`
            : failFast
              ? `The restart did not finish within ${timeoutMs} ms; it goes on and applies the stored change.`
              : `No restart completed within ${timeoutMs} ms. Is the tunnel-manager daemon running?`,
        };
      }
      await this.#clock.sleep(Math.min(this.#pollIntervalMs, Math.max(1, deadline - this.#clock.now())));
    }
  }

  /**
   * Why the tunnel is not serving right now, or null when it may be: its last three health checks
   * before `before` found it down and the daemon's last restart failed (it is backing off). Down
   * checks alone are not enough — a daemon starting up, or a restart under way, has them too, and
   * then the restart this caller waits for may well succeed.
   */
  async #notServing(before: number): Promise<string | null> {
    const recent = await this.#store.health.list({ limit: NOT_SERVING_CHECKS });
    if (recent.length < NOT_SERVING_CHECKS || recent.some((s) => s.at > before || s.status !== 'down')) return null;
    const [lastRestart] = await this.#store.audit.query({ action: RESTART_AUDIT_ACTION, limit: 1 });
    if (lastRestart?.outcome !== 'error') return null;
    const latest = recent[0] as (typeof recent)[number];
    return `cloudflared is down (${latest.detail ?? 'not ready'}; the last restart failed: ${lastRestart.message}), so the change is not live yet: it is stored and the next successful restart applies it.`;
  }

  /** Why no daemon seems to run (its health checks have stopped), or null when one does or when not asked to tell. */
  async #daemonSilence(now: number): Promise<string | null> {
    if (this.#daemonHealthIntervalMs === null) return null;
    const quietMs = 2 * this.#daemonHealthIntervalMs + 10_000;
    const [latest] = await this.#store.health.list({ since: now - quietMs, limit: 1 });
    if (latest) return null;
    return `Queued for the daemon, but none seems to run (no health check in the last ${Math.round(quietMs / 1000)} s): the change is live once \`tunnel daemon\` runs and restarts cloudflared.`;
  }
}
