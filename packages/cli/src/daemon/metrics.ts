import type { AuditEntry, AuditRepository, HealthSample, RestartOutcome, RouteState, StateStore } from '@tunnel/core';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

const HEALTH_STATES = ['healthy', 'degraded', 'down', 'unknown'] as const;
const DURATION_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** Where a scrape reads what other processes did: routes by state, pending restarts, zones. */
export interface MetricsStateSource {
  readonly routes: Pick<StateStore['routes'], 'countByState'>;
  readonly restarts: Pick<StateStore['restarts'], 'pending'>;
  readonly domains: Pick<StateStore['domains'], 'list'>;
}

/**
 * The daemon's Prometheus metrics, in a registry of its own (no global state). Health samples
 * and restart outcomes are pushed by the daemon as they happen; routes, pending restarts, zones
 * and the operations of every process (the audit log is the one record all of them write) are
 * read at scrape time, so `/metrics` also counts what the CLI and MCP servers did.
 */
export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #status: Gauge<'status'>;
  readonly #readyConnections: Gauge;
  readonly #lastCheck: Gauge;
  readonly #checks: Counter<'status'>;
  readonly #checkFailures: Counter<'check'>;
  readonly #restarts: Counter<'trigger' | 'outcome'>;
  readonly #restartDuration: Histogram<'trigger'>;
  readonly #operations: Counter<'action' | 'outcome' | 'code'>;
  readonly #operationDuration: Histogram<'action'>;
  readonly #providerRequests: Counter<'provider' | 'method' | 'outcome'>;
  readonly #providerDuration: Histogram<'provider' | 'method'>;
  readonly #http: Counter<'route' | 'status'>;
  readonly #drift: Gauge<'kind'>;
  readonly #reconcileRuns: Counter<'outcome'>;
  readonly #scrapeHooks: Array<() => Promise<void>> = [];

  constructor(
    options: {
      state?: MetricsStateSource;
      defaultMetrics?: boolean;
      /** This manager's instance id, exported as `tunnel_manager_instance_info{instance}` 1. */
      instance?: string | null;
    } = {},
  ) {
    const registers = [this.registry];
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'tunnel_manager_' });
    if (options.instance) {
      // An info metric (value 1): join on it to tell several VMs' managers apart in one Prometheus.
      new Gauge({
        name: 'tunnel_manager_instance_info',
        help: "This Tunnel Manager's instance id (instance.id, or derived from the tunnel id).",
        labelNames: ['instance'],
        registers,
      }).set({ instance: options.instance }, 1);
    }
    this.#status = new Gauge({
      name: 'tunnel_status',
      help: 'The tunnel status from the last health check (1 for the current status, 0 for the others).',
      labelNames: ['status'],
      registers,
    });
    for (const status of HEALTH_STATES) this.#status.set({ status }, status === 'unknown' ? 1 : 0);
    this.#readyConnections = new Gauge({
      name: 'tunnel_ready_connections',
      help: 'Edge connections cloudflared reported ready at the last check.',
      registers,
    });
    this.#lastCheck = new Gauge({
      name: 'tunnel_last_check_timestamp_seconds',
      help: 'When the last health check started (Unix time).',
      registers,
    });
    this.#checks = new Counter({
      name: 'tunnel_health_checks_total',
      help: 'Health checks, by the status they found.',
      labelNames: ['status'],
      registers,
    });
    this.#checkFailures = new Counter({
      name: 'tunnel_health_check_failures_total',
      help: 'Failed health checks, by the first check that failed (process, ready, api).',
      labelNames: ['check'],
      registers,
    });
    this.#restarts = new Counter({
      name: 'tunnel_restarts_total',
      help: 'cloudflared restarts, by trigger (health, config) and outcome (ok, error).',
      labelNames: ['trigger', 'outcome'],
      registers,
    });
    this.#restartDuration = new Histogram({
      name: 'tunnel_restart_duration_seconds',
      help: 'From the start of a restart until cloudflared was ready again (or the attempt failed).',
      labelNames: ['trigger'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#operations = new Counter({
      name: 'tunnel_operations_total',
      help: 'Operations recorded in the audit log by any process (CLI, MCP, daemon), by action, outcome and error code.',
      labelNames: ['action', 'outcome', 'code'],
      registers,
    });
    this.#operationDuration = new Histogram({
      name: 'tunnel_operation_duration_seconds',
      help: 'Duration of the operations recorded in the audit log, by action.',
      labelNames: ['action'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#providerRequests = new Counter({
      name: 'tunnel_provider_requests_total',
      help: "Calls this daemon made to a provider's API (e.g. Cloudflare), by method and outcome (ok or the error code).",
      labelNames: ['provider', 'method', 'outcome'],
      registers,
    });
    this.#providerDuration = new Histogram({
      name: 'tunnel_provider_request_duration_seconds',
      help: "Duration of this daemon's provider API calls.",
      labelNames: ['provider', 'method'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.#http = new Counter({
      name: 'tunnel_http_requests_total',
      help: "Requests to the daemon's HTTP endpoint (MCP, /metrics, /healthz), by route and status code.",
      labelNames: ['route', 'status'],
      registers,
    });
    this.#drift = new Gauge({
      name: 'tunnel_reconcile_drift',
      help: 'Changes the last reconcile plan found, by kind (create_dns, delete_dns, add_rule, …).',
      labelNames: ['kind'],
      registers,
    });
    this.#reconcileRuns = new Counter({
      name: 'tunnel_reconcile_runs_total',
      help: 'Periodic reconcile runs, by outcome (in_sync, drift, applied, error).',
      labelNames: ['outcome'],
      registers,
    });
    const state = options.state;
    if (state) {
      const routes = new Gauge({
        name: 'tunnel_routes',
        help: 'CNAME routes in the database, by lifecycle state.',
        labelNames: ['state'],
        registers,
        async collect() {
          const counts = await state.routes.countByState();
          for (const [routeState, n] of Object.entries(counts) as Array<[RouteState, number]>) {
            this.set({ state: routeState }, n);
          }
        },
      });
      void routes;
      new Gauge({
        name: 'tunnel_restart_requests_pending',
        help: 'Restart requests queued by other processes and not yet collected.',
        registers,
        async collect() {
          this.set(await state.restarts.pending());
        },
      });
      new Gauge({
        name: 'tunnel_zones',
        help: 'Zones discovered at the DNS provider.',
        registers,
        async collect() {
          this.set((await state.domains.list()).length);
        },
      });
    }
  }

  /** Runs before every scrape (e.g. reading the audit log). */
  onScrape(hook: () => Promise<void>): void {
    this.#scrapeHooks.push(hook);
  }

  observeSample(sample: HealthSample): void {
    for (const status of HEALTH_STATES) this.#status.set({ status }, status === sample.status ? 1 : 0);
    this.#readyConnections.set(sample.readyConnections ?? 0);
    this.#lastCheck.set(sample.at / 1000);
    this.#checks.inc({ status: sample.status });
    if (sample.failingCheck) this.#checkFailures.inc({ check: sample.failingCheck });
  }

  observeRestart(outcome: RestartOutcome): void {
    this.#restarts.inc({ trigger: outcome.trigger, outcome: outcome.ok ? 'ok' : 'error' });
    this.#restartDuration.observe({ trigger: outcome.trigger }, (outcome.finishedAt - outcome.startedAt) / 1000);
  }

  observeOperation(entry: Pick<AuditEntry, 'action' | 'outcome' | 'errorCode' | 'durationMs'>): void {
    this.#operations.inc({ action: entry.action, outcome: entry.outcome, code: entry.errorCode ?? '' });
    this.#operationDuration.observe({ action: entry.action }, entry.durationMs / 1000);
  }

  observeProviderCall(provider: string, method: string, outcome: string, seconds: number): void {
    this.#providerRequests.inc({ provider, method, outcome });
    this.#providerDuration.observe({ provider, method }, seconds);
  }

  observeHttp(route: string, status: number): void {
    this.#http.inc({ route, status: String(status) });
  }

  /** The counts of the last reconcile plan, by change kind; kinds not given are set to 0. */
  setDrift(counts: Readonly<Record<string, number>>, kinds: readonly string[]): void {
    for (const kind of new Set([...kinds, ...Object.keys(counts)])) this.#drift.set({ kind }, counts[kind] ?? 0);
  }

  observeReconcileRun(outcome: 'in_sync' | 'drift' | 'applied' | 'error'): void {
    this.#reconcileRuns.inc({ outcome });
  }

  /** The Prometheus text exposition (after the scrape hooks ran). */
  async render(): Promise<{ contentType: string; body: string }> {
    for (const hook of this.#scrapeHooks) await hook().catch(() => undefined);
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Follows the audit log by id: each `poll()` returns the entries appended since the previous
 * one, oldest first. It starts at the newest entry present when `start()` runs, so a daemon's
 * counters cover what happened while it ran (Prometheus counters start over at a restart).
 */
export class AuditTail {
  readonly #audit: Pick<AuditRepository, 'query'>;
  #lastId = 0;
  #lastAt = 0;
  #started = false;
  /** An operation is audited when it ends, with `at` = when it began: look back this far. */
  readonly #lookBackMs: number;

  constructor(audit: Pick<AuditRepository, 'query'>, options: { lookBackMs?: number } = {}) {
    this.#audit = audit;
    this.#lookBackMs = options.lookBackMs ?? 3_600_000;
  }

  async start(): Promise<void> {
    const [newest] = await this.#audit.query({ limit: 1 });
    this.#lastId = newest?.id ?? 0;
    this.#lastAt = newest?.at ?? 0;
    this.#started = true;
  }

  async poll(): Promise<AuditEntry[]> {
    if (!this.#started) await this.start();
    const fresh: AuditEntry[] = [];
    const seen = new Set<number>();
    let until: number | undefined;
    for (let page = 0; page < 100; page++) {
      const batch = await this.#audit.query({
        since: Math.max(0, this.#lastAt - this.#lookBackMs),
        ...(until === undefined ? {} : { until }),
        limit: 1000,
      });
      const newer = batch.filter((e) => e.id > this.#lastId && !seen.has(e.id));
      for (const entry of newer) {
        seen.add(entry.id);
        fresh.push(entry);
      }
      if (batch.length < 1000 || newer.length === 0) break;
      until = (batch[batch.length - 1] as AuditEntry).at + 1;
    }
    fresh.sort((a, b) => a.id - b.id);
    const last = fresh[fresh.length - 1];
    if (last) {
      this.#lastId = last.id;
      this.#lastAt = Math.max(this.#lastAt, ...fresh.map((e) => e.at));
    }
    return fresh;
  }
}
