import type { TunnelConfig } from '../config/schema.js';
import type { HealthCheckName, HealthSample, HealthStatus, TunnelApiStatus } from '../domain/health.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { TunnelStatusSource } from '../ports/dns-provider.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessController, ProcessStatus } from '../ports/process-controller.js';
import type { StateStore } from '../ports/state-store.js';
import { NoopLogger } from '../runtime/loggers.js';
import type { ReplicaReadiness, TunnelReadiness } from './readiness.js';
import type { RestartManager } from './restart-manager.js';

const DAY_MS = 86_400_000;

export interface HealthMonitorOptions {
  readonly store: Pick<StateStore, 'health'>;
  readonly clock: Clock;
  readonly readiness: TunnelReadiness;
  /** `health.intervalMs`, `health.strikes`, `health.retentionDays`. */
  readonly health: Pick<TunnelConfig['health'], 'intervalMs' | 'strikes' | 'retentionDays'>;
  /** Without one (controller `none`), the process is not checked and nothing is restarted. */
  readonly controller?: ProcessController | null;
  /** The tunnel's status from the provider API, when one is configured. */
  readonly tunnelStatus?: TunnelStatusSource | null;
  /** Who restarts; without one the monitor only records. */
  readonly restarts?: RestartManager | null;
  readonly logger?: Logger;
  /** How often samples older than the retention are pruned. @default 1 h */
  readonly pruneEveryMs?: number;
}

interface ApiResult {
  readonly status: TunnelApiStatus | null;
  readonly error: string | null;
}

/**
 * Checks the tunnel every `health.intervalMs` (30 s by default): the process state from the
 * controller, `GET /ready` on each replica's metrics server (or the configured / discovered
 * one), and the tunnel's API status when a source is configured. Each check becomes a sample
 * in `tunnel_health` (status, latency, the failing check) — `healthy` when all pass,
 * `degraded` when the tunnel serves but something is off (a replica, the API view), `down`
 * when it does not serve.
 *
 * Restarts: a process that has exited is restarted at once (no strikes to wait for). A live
 * process (or replica) whose `/ready` fails `health.strikes` checks in a row (3) is restarted;
 * the strikes guard against transient blips. A stopped process (stopped on purpose) is reported
 * `down` but not restarted. While a restart runs or waits, strikes are not counted.
 */
export class HealthMonitor {
  readonly #store: Pick<StateStore, 'health'>;
  readonly #clock: Clock;
  readonly #readiness: TunnelReadiness;
  readonly #health: HealthMonitorOptions['health'];
  readonly #controller: ProcessController | null;
  readonly #tunnelStatus: TunnelStatusSource | null;
  readonly #restarts: RestartManager | null;
  readonly #logger: Logger;
  readonly #pruneEveryMs: number;
  readonly #strikes = new Map<string, number>();
  readonly #listeners = new Set<(sample: HealthSample) => void>();
  #timer: TimerHandle | null = null;
  #running = false;
  #inFlight: Promise<HealthSample> | null = null;
  #lastSample: HealthSample | null = null;
  #lastPruneAt: number | null = null;

  constructor(options: HealthMonitorOptions) {
    this.#store = options.store;
    this.#clock = options.clock;
    this.#readiness = options.readiness;
    this.#health = options.health;
    this.#controller = options.controller ?? null;
    this.#tunnelStatus = options.tunnelStatus ?? null;
    this.#restarts = options.restarts ?? null;
    this.#logger = options.logger ?? new NoopLogger();
    this.#pruneEveryMs = options.pruneEveryMs ?? 3_600_000;
  }

  get lastSample(): HealthSample | null {
    return this.#lastSample;
  }

  /** Consecutive failed `/ready` checks per replica (`tunnel` without replicas). */
  strikes(): ReadonlyMap<string, number> {
    return new Map(this.#strikes);
  }

  /** Called with every sample (for metrics and the status page). Returns the unsubscribe function. */
  subscribe(listener: (sample: HealthSample) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Checks now, then every interval. Each interval starts when the previous check has finished. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#tick();
  }

  /** Stops checking; waits for a check in progress. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = null;
    await this.#inFlight?.catch(() => undefined);
  }

  /** Runs one check (also between scheduled ones); concurrent calls share it. */
  checkNow(): Promise<HealthSample> {
    if (this.#inFlight) return this.#inFlight;
    const run = this.#check().finally(() => {
      this.#inFlight = null;
    });
    this.#inFlight = run;
    return run;
  }

  #tick(): void {
    this.checkNow()
      .catch((error) => this.#logger.error('health check failed', { error }))
      .finally(() => {
        if (this.#running) this.#timer = this.#clock.setTimer(this.#health.intervalMs, () => this.#tick());
      });
  }

  async #check(): Promise<HealthSample> {
    const at = this.#clock.now();
    // A restart already under way when the check begins (not one this check is about to ask for).
    const restarting = this.#restarts?.busy ?? false;
    let status: ProcessStatus | null = null;
    let processError: string | null = null;
    if (this.#controller) {
      try {
        status = await this.#controller.status();
      } catch (error) {
        processError = `cannot read the process state: ${(error as Error).message}`;
      }
    }
    const observed =
      status && this.#processDown(status)
        ? this.#downSample(at, status)
        : await this.#fullCheck(at, status, processError);
    // Said in the sample, so that `tunnel status` and tunnel_get_status explain a planned outage.
    const sample =
      restarting && observed.status !== 'healthy'
        ? { ...observed, detail: `${observed.detail ?? 'not serving'} (cloudflared is restarting)` }
        : observed;
    await this.#record(sample, restarting);
    return sample;
  }

  /** True when no cloudflared process runs at all. */
  #processDown(status: ProcessStatus): boolean {
    if (status.state === 'running' || status.state === 'starting' || status.state === 'unknown') return false;
    return !(status.replicas ?? []).some((r) => r.state === 'running');
  }

  /** Nothing runs: down at once; an exit is restarted at once, a deliberate stop is not. */
  #downSample(at: number, status: ProcessStatus): HealthSample {
    this.#strikes.clear();
    const detail = status.detail ?? `cloudflared is ${status.state}`;
    if (status.state === 'exited' && this.#restarts) {
      const result = this.#restarts.recover({ reason: `cloudflared exited: ${detail}` });
      if (result !== 'busy') this.#logger.warn('cloudflared has exited; restarting', { detail, restart: result });
    }
    return {
      at,
      status: 'down',
      processState: status.state,
      readyConnections: null,
      latencyMs: null,
      apiStatus: null,
      failingCheck: 'process',
      detail: status.state === 'stopped' ? `${detail} (stopped on purpose: not restarted)` : detail,
    };
  }

  async #fullCheck(at: number, status: ProcessStatus | null, processError: string | null): Promise<HealthSample> {
    const [ready, api] = await Promise.all([this.#readiness.check(status), this.#checkApi()]);
    const exited = (status?.replicas ?? []).filter((r) => r.state === 'exited').map((r) => r.id);
    this.#countStrikes(ready, exited, status);
    const answered = ready.filter((r) => r.answered);
    const okCount = ready.filter((r) => r.ok).length;
    const firstFailure = ready.find((r) => !r.ok);
    let outcome: { status: HealthStatus; failingCheck: HealthCheckName | null; detail: string | null };
    if (okCount === 0) {
      outcome = {
        status: 'down',
        failingCheck: 'ready',
        detail: firstFailure?.error ?? (status ? `cloudflared is ${status.state}` : 'no /ready answer'),
      };
    } else if (exited.length > 0) {
      outcome = {
        status: 'degraded',
        failingCheck: 'process',
        detail: status?.detail ?? `${exited.join(', ')} exited`,
      };
    } else if (okCount < ready.length) {
      outcome = {
        status: 'degraded',
        failingCheck: 'ready',
        detail: `${okCount} of ${ready.length} replicas ready; ${firstFailure?.id}: ${firstFailure?.error}`,
      };
    } else if (processError) {
      outcome = { status: 'degraded', failingCheck: 'process', detail: processError };
    } else if (api.error) {
      outcome = { status: 'degraded', failingCheck: 'api', detail: api.error };
    } else if (api.status !== null && api.status !== 'healthy') {
      outcome = {
        status: 'degraded',
        failingCheck: 'api',
        detail: `/ready is 200 but the Cloudflare API reports the tunnel ${api.status}`,
      };
    } else {
      outcome = { status: 'healthy', failingCheck: null, detail: null };
    }
    const latencies = answered.map((r) => r.latencyMs).filter((l): l is number => l !== null);
    return {
      at,
      status: outcome.status,
      processState: status?.state ?? 'unknown',
      readyConnections: answered.some((r) => r.readyConnections !== null)
        ? answered.reduce((sum, r) => sum + (r.readyConnections ?? 0), 0)
        : null,
      latencyMs: latencies.length > 0 ? Math.round(Math.max(...latencies) * 1000) / 1000 : null,
      apiStatus: api.status,
      failingCheck: outcome.failingCheck,
      detail: outcome.detail,
    };
  }

  /**
   * One strike per failed `/ready` of a live replica; at `health.strikes`, restart the struck
   * replicas (all of them, when every one is struck). Exited replicas are restarted at once.
   */
  #countStrikes(ready: readonly ReplicaReadiness[], exited: readonly string[], status: ProcessStatus | null): void {
    if (this.#restarts?.busy) {
      this.#strikes.clear();
      return;
    }
    for (const r of ready) {
      if (r.ok) this.#strikes.delete(r.id);
      else this.#strikes.set(r.id, (this.#strikes.get(r.id) ?? 0) + 1);
    }
    // Forget replicas that were not checked this time (exited, restarted elsewhere).
    for (const id of [...this.#strikes.keys()]) if (!ready.some((r) => r.id === id)) this.#strikes.delete(id);
    const struck = [...this.#strikes].filter(([, n]) => n >= this.#health.strikes).map(([id]) => id);
    if (!this.#restarts || (struck.length === 0 && exited.length === 0)) {
      if (struck.length > 0) this.#logger.warn('cloudflared is not ready and nothing can restart it', { struck });
      return;
    }
    const targets = [...new Set([...exited, ...struck])];
    const all = status?.replicas?.map((r) => r.id) ?? [];
    const everyReplica = targets.includes('tunnel') || (all.length > 0 && all.every((id) => targets.includes(id)));
    const failure = ready.find((r) => struck.includes(r.id));
    const reason =
      struck.length > 0
        ? `/ready failed ${this.#health.strikes} checks in a row${failure?.error ? `: ${failure.error}` : ''}`
        : `replica exited: ${exited.join(', ')}`;
    const result = this.#restarts.recover(everyReplica ? { reason } : { reason, replicaIds: targets });
    this.#logger.warn('cloudflared is down; restarting', { replicas: targets, reason, restart: result });
    for (const id of struck) this.#strikes.delete(id);
  }

  async #checkApi(): Promise<ApiResult> {
    if (!this.#tunnelStatus) return { status: null, error: null };
    try {
      const tunnel = await this.#tunnelStatus.getTunnel();
      return { status: tunnel.status, error: null };
    } catch (error) {
      return { status: null, error: `cannot read the tunnel status from the API: ${(error as Error).message}` };
    }
  }

  async #record(sample: HealthSample, restarting: boolean): Promise<void> {
    const previous = this.#lastSample;
    this.#lastSample = sample;
    if (previous?.status !== sample.status) {
      // The sample is what was observed (a restarting cloudflared does not serve), but a restart
      // already running — for an ingress change, say — is expected, not an alert. (A crash or
      // strikes found by this very check are warned about where the restart is asked for.)
      const planned = restarting && sample.status !== 'healthy';
      const log = sample.status === 'healthy' || planned ? this.#logger.info : this.#logger.warn;
      log.call(this.#logger, `tunnel is ${sample.status}${planned ? ' while cloudflared restarts' : ''}`, {
        failingCheck: sample.failingCheck,
        detail: sample.detail,
        was: previous?.status ?? null,
      });
    }
    this.#restarts?.noteHealth(sample.status, sample.at);
    try {
      await this.#store.health.insert(sample);
    } catch (error) {
      this.#logger.error('cannot store a health sample', { error });
    }
    if (this.#lastPruneAt === null || sample.at - this.#lastPruneAt >= this.#pruneEveryMs) {
      this.#lastPruneAt = sample.at;
      try {
        const pruned = await this.#store.health.prune(sample.at - this.#health.retentionDays * DAY_MS);
        if (pruned > 0) this.#logger.debug('pruned old health samples', { pruned });
      } catch (error) {
        this.#logger.error('cannot prune health samples', { error });
      }
    }
    for (const listener of this.#listeners) {
      try {
        listener(sample);
      } catch (error) {
        this.#logger.warn('health listener failed', { error });
      }
    }
  }
}
