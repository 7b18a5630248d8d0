import { mkdirSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import {
  Actor,
  type AlertTransport,
  ApiTokenService,
  type Clock,
  createTunnelManager,
  type HealthServices,
  instanceIdOf,
  LabelPublisher,
  type Logger,
  type ProcessController,
  type ProviderPlugin,
  type ReconcileChangeKind,
  resolvePort,
  type StateStore,
  TOKENS,
  type TopologySnapshot,
  type TunnelConfig,
  TunnelError,
  type TunnelManager,
} from '@tunnel/core';
import { createMcpHttpHandler } from '@tunnel/mcp';
import lockfile from 'proper-lockfile';
import { loadProviderPlugins } from '../plugins.js';
import { DaemonAlerts } from './alerts.js';
import { type DaemonHttpServer, type RouteHandler, startDaemonHttpServer } from './http-server.js';
import { AuditTail, DaemonMetrics } from './metrics.js';
import { PeriodicJob } from './periodic.js';

const DAY_MS = 86_400_000;
const RECONCILE_KINDS: readonly ReconcileChangeKind[] = [
  'create_dns',
  'delete_dns',
  'relink',
  'add_rule',
  'update_rule',
  'remove_rule',
];

export interface DaemonOptions {
  readonly config: TunnelConfig;
  readonly logger: Logger;
  /** @default the CLI's (Cloudflare, and Docker when enabled), metered */
  readonly plugins?: readonly ProviderPlugin[];
  /** More routes on the daemon's HTTP server (e.g. the MCP endpoint), by path. */
  readonly routes?: (daemon: Daemon) => Promise<ReadonlyMap<string, RouteHandler>>;
  /** Where alert webhook URLs given as `urlEnv` are read. @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How alerts are delivered. @default WebhookAlertTransport (HTTP POST) */
  readonly alertTransport?: AlertTransport;
}

/** What `GET /healthz` answers. */
export interface DaemonHealthz {
  readonly ok: boolean;
  readonly startedAt: string;
  readonly tunnel: { status: string; lastCheckAt: string | null; detail: string | null };
}

/**
 * The long-running job (`tunnel daemon`): holds the one-daemon-per-data-dir lock, builds the
 * TunnelManager in daemon mode, starts (or adopts) a cloudflared it supervises, recovers what a
 * crash left half-done, runs the health monitor and restart manager, collects the restart
 * requests other processes queue, refreshes the zones, plans a reconciliation periodically
 * (alerts in the log; applied only with `reconcile.autoApply`), prunes the audit log, and serves
 * `/healthz`, `/metrics` and the MCP endpoint over HTTP. `stop()` is the clean shutdown: it
 * waits for the work in flight and leaves cloudflared running unless it is a child configured
 * to stop with the daemon.
 */
export class Daemon {
  readonly config: TunnelConfig;
  readonly logger: Logger;
  readonly metrics: DaemonMetrics;
  /** Alerts to the configured webhooks (null until started). */
  alerts: DaemonAlerts | null = null;
  readonly manager: TunnelManager;
  readonly store: StateStore;
  readonly health: HealthServices;
  readonly controller: ProcessController | null;
  readonly clock: Clock;
  readonly startedAt: number;
  #http: DaemonHttpServer | null = null;
  /** The MCP endpoint's own server, when `mcp.http` is not `daemon.http`'s host and port. */
  #mcpHttp: DaemonHttpServer | null = null;
  #mcpUrl: string | null = null;
  #jobs: PeriodicJob[] = [];
  #releaseLock: () => Promise<void>;
  #stopping: Promise<void> | null = null;
  #unsubscribe: (() => void) | null = null;

  private constructor(parts: {
    config: TunnelConfig;
    logger: Logger;
    metrics: DaemonMetrics;
    manager: TunnelManager;
    releaseLock: () => Promise<void>;
  }) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.manager = parts.manager;
    const container = parts.manager.container;
    const health = parts.manager.health;
    if (!container || !health) throw new Error('the TunnelManager was not built by createTunnelManager');
    this.store = resolvePort(container, 'StateStore');
    this.clock = resolvePort(container, 'Clock');
    this.health = health;
    this.controller = container.isRegistered(TOKENS.ProcessController, true)
      ? resolvePort(container, 'ProcessController')
      : null;
    this.#releaseLock = parts.releaseLock;
    this.startedAt = this.clock.now();
  }

  /** The MCP Streamable HTTP endpoint's URL, or null when `mcp.http.enabled` is false. */
  get mcpUrl(): string | null {
    return this.#mcpUrl;
  }

  /** The HTTP endpoint, once started. */
  get http(): DaemonHttpServer {
    if (!this.#http) throw new Error('the daemon HTTP server is not started');
    return this.#http;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config, logger } = options;
    const releaseLock = await takeDaemonLock(config);
    let daemon: Daemon | undefined;
    let manager: TunnelManager | undefined;
    try {
      const metricsRef: { current?: DaemonMetrics } = {};
      const plugins =
        options.plugins ??
        (await loadProviderPlugins(config, {
          observeProviderCalls: (provider, method, outcome, seconds) =>
            metricsRef.current?.observeProviderCall(provider, method, outcome, seconds),
        }));
      manager = createTunnelManager(config, { plugins, overrides: { Logger: logger }, mode: 'daemon' });
      const container = manager.container;
      if (!container) throw new Error('createTunnelManager built no container');
      const metrics = new DaemonMetrics({
        state: resolvePort(container, 'StateStore'),
        instance: instanceIdOf(config),
      });
      metricsRef.current = metrics;
      daemon = new Daemon({ config, logger, metrics, manager, releaseLock });
      await daemon.#run(options);
      return daemon;
    } catch (error) {
      if (daemon) await daemon.stop().catch(() => undefined);
      else {
        await manager?.close().catch(() => undefined);
        await releaseLock().catch(() => undefined);
      }
      throw error;
    }
  }

  async #run(options: DaemonOptions): Promise<void> {
    const { config, logger, metrics, health, controller, store, manager } = this;
    health.monitor?.subscribe((sample) => metrics.observeSample(sample));
    health.restartManager?.onRestart((outcome) => metrics.observeRestart(outcome));
    const auditTail = new AuditTail(store.audit);
    await auditTail.start();
    metrics.onScrape(async () => {
      for (const entry of await auditTail.poll()) metrics.observeOperation(entry);
    });

    if (controller?.kind === 'child' && controller.start) {
      // Starts cloudflared, or adopts the one a previous daemon left running (pidfile).
      await controller.start();
      logger.info('cloudflared is supervised as a child', { command: config.cloudflared.child.command });
    }
    // Routes a crash left half-way are rolled back (creates) or finished (deletes) before anything else.
    try {
      const report = await manager.recover();
      if (report.routes.length > 0) {
        logger.warn('recovered routes left half-done by a crash', {
          routes: report.routes.map((r) => ({ hostname: r.hostname, from: r.from, to: r.to, problems: r.problems })),
        });
      }
    } catch (error) {
      logger.error('recovery failed; the next start (or `tunnel reconcile`) will retry', { error });
    }
    health.start();
    this.alerts = new DaemonAlerts({
      config,
      env: options.env ?? process.env,
      store,
      health,
      clock: this.clock,
      logger,
      metrics,
      ...(options.alertTransport ? { transport: options.alertTransport } : {}),
    });
    await this.alerts.start();

    const admin = Actor.admin();
    this.#jobs.push(
      new PeriodicJob({
        name: 'zone refresh',
        clock: this.clock,
        intervalMs: config.cloudflare.zoneRefreshIntervalMs,
        logger,
        run: async () => {
          const zones = await manager.listDomains(admin, { refresh: true });
          logger.debug('zones refreshed', { zones: zones.map((z) => z.name) });
        },
      }),
      new PeriodicJob({
        name: 'reconcile',
        clock: this.clock,
        intervalMs: config.reconcile.intervalMs,
        logger,
        run: () => this.#reconcile(),
      }),
      new PeriodicJob({
        name: 'audit retention',
        clock: this.clock,
        intervalMs: DAY_MS / 4,
        logger,
        run: async () => {
          const removed = await store.audit.prune(this.clock.now() - config.audit.retentionDays * DAY_MS);
          if (removed > 0) logger.info('pruned old audit entries', { removed });
        },
      }),
    );
    const [zones, reconcile, retention] = this.#jobs as [PeriodicJob, PeriodicJob, PeriodicJob];
    zones.start(0);
    reconcile.start();
    retention.start(60_000);
    await this.#watchTopology();

    const routes = new Map<string, RouteHandler>(options.routes ? await options.routes(this) : []);
    const mcp = config.mcp.http;
    // One server when MCP shares the daemon's host and port; a second one otherwise.
    const shared = mcp.host === config.daemon.http.host && mcp.port === config.daemon.http.port;
    const mcpHandler = mcp.enabled ? this.#mcpHandler() : null;
    if (mcpHandler && shared) routes.set(mcp.path, mcpHandler);
    this.#http = await startDaemonHttpServer({
      host: config.daemon.http.host,
      port: config.daemon.http.port,
      metrics,
      healthz: () => this.healthz(),
      routes,
      logger,
    });
    if (mcpHandler && !shared) {
      this.#mcpHttp = await startDaemonHttpServer({
        host: mcp.host,
        port: mcp.port,
        metrics,
        routes: new Map([[mcp.path, mcpHandler]]),
        logger,
      });
    }
    this.#mcpUrl = mcpHandler ? `${(this.#mcpHttp ?? this.#http).origin}${mcp.path}` : null;
    logger.info('daemon started', {
      http: this.#http.origin,
      mcp: this.#mcpUrl,
      controller: controller?.kind ?? 'none',
      ingress: config.ingress.mode,
      dataDir: config.dataDir,
    });
  }

  /**
   * Takes the first topology snapshot, which starts the Topology's watch on Docker's events: from
   * then on every container or network change refreshes the snapshot in the state store within
   * a debounce (~250 ms), so every other process (CLI, MCP servers) reads a current cache.
   */
  async #watchTopology(): Promise<void> {
    const container = this.manager.container;
    if (!container?.isRegistered(TOKENS.Topology, true)) return;
    const topology = resolvePort(container, 'Topology');
    const labels = this.config.docker.labels;
    if (labels.enabled) {
      // Label publishing: every snapshot the topology takes (events, TTL) is a pass; a periodic
      // pass ends grace periods on a quiet engine.
      const publisher = new LabelPublisher({
        manager: this.manager,
        store: this.store,
        clock: this.clock,
        logger: this.logger,
        gracePeriodMs: labels.gracePeriodMs,
        projects: labels.projects,
        routeOptions: { caPoolDirs: this.config.policy.caPoolDirs ?? [] },
      });
      const pass = (snapshot: TopologySnapshot) =>
        publisher.sync(snapshot).catch((error: unknown) => this.logger.error('label publishing failed', { error }));
      this.#unsubscribe = topology.onChange?.((snapshot) => void pass(snapshot)) ?? null;
      const job = new PeriodicJob({
        name: 'label publishing',
        clock: this.clock,
        intervalMs: Math.max(1_000, Math.min(30_000, labels.gracePeriodMs / 10)),
        logger: this.logger,
        run: async () => {
          await pass(await topology.snapshot());
        },
      });
      this.#jobs.push(job);
      job.start();
    }
    try {
      const snapshot = await topology.refresh();
      this.logger.info('watching the Docker topology', {
        docker: snapshot.docker.available ? 'available' : snapshot.docker.reason,
        containers: snapshot.containers.length,
        labels: labels.enabled,
      });
    } catch (error) {
      this.logger.warn('first topology snapshot failed; it is retried on the next request', { error });
    }
  }

  /** The MCP Streamable HTTP endpoint: bearer tokens from the database, a rate limit per token. */
  #mcpHandler(): RouteHandler {
    const { config, manager, store, clock, logger } = this;
    const handle = createMcpHttpHandler({
      manager,
      tokens: new ApiTokenService({ store, clock }),
      rateLimit: config.mcp.rateLimitPerMinute,
      path: config.mcp.http.path,
      defaultDomain: config.policy.defaultDomain ?? null,
      clock,
      logger: logger.child({ component: 'mcp' }),
    });
    return async (req: IncomingMessage, res: ServerResponse) => {
      if (await handle(req, res)) return;
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
    };
  }

  /** One periodic reconciliation: plan, report drift (log + metrics), apply only with `reconcile.autoApply`. */
  async #reconcile(): Promise<void> {
    const { logger, metrics, manager, config } = this;
    let plan: Awaited<ReturnType<TunnelManager['reconcilePlan']>>;
    try {
      plan = await manager.reconcilePlan(Actor.admin());
    } catch (error) {
      metrics.observeReconcileRun('error');
      throw error;
    }
    const counts: Record<string, number> = {};
    for (const change of plan.changes) counts[change.kind] = (counts[change.kind] ?? 0) + 1;
    metrics.setDrift(counts, RECONCILE_KINDS);
    this.alerts?.reportDrift(plan.changes.length, plan.summary);
    if (plan.changes.length === 0) {
      metrics.observeReconcileRun('in_sync');
      return;
    }
    logger.warn('drift between database, DNS and ingress', {
      changes: plan.summary,
      autoApply: config.reconcile.autoApply,
    });
    if (!config.reconcile.autoApply) {
      metrics.observeReconcileRun('drift');
      return;
    }
    try {
      const result = await manager.reconcileApply(plan, { actor: Actor.admin() });
      metrics.observeReconcileRun(result.failed.length === 0 ? 'applied' : 'error');
      logger.info('reconciliation applied', {
        applied: result.applied.length,
        failed: result.failed.map((f) => `${f.change.summary}: ${f.code}`),
      });
    } catch (error) {
      metrics.observeReconcileRun('error');
      throw error;
    }
  }

  healthz(): DaemonHealthz {
    const sample = this.health.monitor?.lastSample ?? null;
    return {
      ok: this.#stopping === null,
      startedAt: new Date(this.startedAt).toISOString(),
      tunnel: {
        status: sample?.status ?? 'unknown',
        lastCheckAt: sample ? new Date(sample.at).toISOString() : null,
        detail: sample?.detail ?? null,
      },
    };
  }

  /** The clean shutdown; safe to call twice (the second call waits for the first). */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown();
    return this.#stopping;
  }

  async #shutdown(): Promise<void> {
    const { logger } = this;
    logger.info('daemon stopping');
    // No new requests; those in flight (an MCP tool call) finish first.
    await Promise.all([this.#http?.close(), this.#mcpHttp?.close()]);
    this.#unsubscribe?.();
    await Promise.all(this.#jobs.map((job) => job.stop()));
    await this.alerts?.stop().catch((error: unknown) => logger.warn('stopping alerts failed', { error }));
    // Stops the health services (a restart under way completes) and closes the store.
    await this.manager.close();
    const closable = this.controller as (ProcessController & { close?: () => Promise<void> }) | null;
    if (closable?.close) {
      await closable.close().catch((error: unknown) => logger.warn('stopping cloudflared failed', { error }));
    }
    await this.#releaseLock().catch(() => undefined);
    logger.info('daemon stopped');
  }
}

/** One daemon per data directory: a second one would restart cloudflared behind the first one's back. */
async function takeDaemonLock(config: TunnelConfig): Promise<() => Promise<void>> {
  mkdirSync(config.dataDir, { recursive: true });
  const path = join(config.dataDir, 'daemon');
  try {
    return await lockfile.lock(path, { realpath: false, stale: config.locks.staleMs, retries: 0 });
  } catch (error) {
    throw new TunnelError(
      'LOCK_TIMEOUT',
      `Another tunnel-manager daemon already runs with the data directory ${config.dataDir}.`,
      {
        hint: `Run one daemon per VM (check \`systemctl status tunnel-manager\`); the lock is ${path}.lock and is taken over by itself once its holder has been dead for ${config.locks.staleMs} ms.`,
        cause: error,
      },
    );
  }
}
