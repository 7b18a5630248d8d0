import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  type Clock,
  createHealthServices,
  createTunnelManagerContainer,
  type HealthServices,
  type IngressStore,
  type Logger,
  type ProcessController,
  type ProviderPlugin,
  resolvePort,
  type StateStore,
  TOKENS,
  type TunnelConfig,
  TunnelError,
  type TunnelStatusSource,
} from '@tunnel/core';
import lockfile from 'proper-lockfile';
import { loadProviderPlugins } from '../plugins.js';
import { type DaemonHttpServer, type RouteHandler, startDaemonHttpServer } from './http-server.js';
import { AuditTail, DaemonMetrics } from './metrics.js';
import { PeriodicJob } from './periodic.js';

const DAY_MS = 86_400_000;

export interface DaemonOptions {
  readonly config: TunnelConfig;
  readonly logger: Logger;
  /** @default the CLI's (Cloudflare, and Docker when enabled), metered */
  readonly plugins?: readonly ProviderPlugin[];
}

/** What `GET /healthz` answers. */
export interface DaemonHealthz {
  readonly ok: boolean;
  readonly startedAt: string;
  readonly tunnel: { status: string; lastCheckAt: string | null; detail: string | null };
}

type Container = ReturnType<typeof createTunnelManagerContainer>;

function optionalPort<T>(container: Container, token: symbol, build: () => T, logger: Logger, what: string): T | null {
  if (!container.isRegistered(token as never, true)) return null;
  try {
    return build();
  } catch (error) {
    logger.warn(`${what} is not available; continuing without it`, { error });
    return null;
  }
}

/**
 * The long-running job (`tunnel daemon`): holds the one-daemon-per-data-dir lock, starts (or
 * adopts) a cloudflared it supervises, runs the health monitor and restart manager, collects
 * the restart requests other processes queue, prunes the audit log, and serves `/healthz`,
 * `/metrics` (and the MCP endpoint) over HTTP. `stop()` is the clean shutdown: it waits for
 * the work in flight and leaves cloudflared running unless it is a child configured to stop.
 */
export class Daemon {
  readonly config: TunnelConfig;
  readonly logger: Logger;
  readonly metrics: DaemonMetrics;
  readonly store: StateStore;
  readonly container: Container;
  readonly health: HealthServices;
  readonly controller: ProcessController | null;
  readonly clock: Clock;
  readonly startedAt: number;
  #http: DaemonHttpServer | null = null;
  #jobs: PeriodicJob[] = [];
  #releaseLock: () => Promise<void>;
  #stopping: Promise<void> | null = null;

  private constructor(parts: {
    config: TunnelConfig;
    logger: Logger;
    metrics: DaemonMetrics;
    store: StateStore;
    container: Container;
    health: HealthServices;
    controller: ProcessController | null;
    clock: Clock;
    releaseLock: () => Promise<void>;
  }) {
    this.config = parts.config;
    this.logger = parts.logger;
    this.metrics = parts.metrics;
    this.store = parts.store;
    this.container = parts.container;
    this.health = parts.health;
    this.controller = parts.controller;
    this.clock = parts.clock;
    this.#releaseLock = parts.releaseLock;
    this.startedAt = parts.clock.now();
  }

  /** The HTTP endpoint, once started. */
  get http(): DaemonHttpServer {
    if (!this.#http) throw new Error('the daemon HTTP server is not started');
    return this.#http;
  }

  static async start(options: DaemonOptions): Promise<Daemon> {
    const { config } = options;
    const logger = options.logger;
    const releaseLock = await takeDaemonLock(config);
    let daemon: Daemon | undefined;
    try {
      const metricsRef: { current?: DaemonMetrics } = {};
      const plugins =
        options.plugins ??
        (await loadProviderPlugins(config, {
          observeProviderCalls: (provider, method, outcome, seconds) =>
            metricsRef.current?.observeProviderCall(provider, method, outcome, seconds),
        }));
      const container = createTunnelManagerContainer(config, { plugins, overrides: { Logger: logger } });
      const store = resolvePort(container, 'StateStore');
      const clock = resolvePort(container, 'Clock');
      const metrics = new DaemonMetrics({ state: store });
      metricsRef.current = metrics;
      const controller = optionalPort(
        container,
        TOKENS.ProcessController,
        () => resolvePort(container, 'ProcessController'),
        logger,
        'The cloudflared process controller',
      );
      const ingress = optionalPort<IngressStore>(
        container,
        TOKENS.IngressStore,
        () => resolvePort(container, 'IngressStore'),
        logger,
        'The ingress store',
      );
      const tunnelStatus =
        config.cloudflare.accountId && config.cloudflare.tunnelId
          ? optionalPort<TunnelStatusSource>(
              container,
              TOKENS.TunnelStatusSource,
              () => resolvePort(container, 'TunnelStatusSource'),
              logger,
              'The tunnel status from the Cloudflare API',
            )
          : null;
      const health = createHealthServices({
        config,
        store,
        clock,
        mode: 'daemon',
        controller,
        ingress,
        tunnelStatus,
        logger,
      });
      daemon = new Daemon({ config, logger, metrics, store, container, health, controller, clock, releaseLock });
      await daemon.#run();
      return daemon;
    } catch (error) {
      if (daemon) await daemon.stop().catch(() => undefined);
      else await releaseLock().catch(() => undefined);
      throw error;
    }
  }

  async #run(): Promise<void> {
    const { config, logger, metrics, health, controller, store } = this;
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
    health.start();

    this.#jobs.push(
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
    for (const job of this.#jobs) job.start(job.name === 'audit retention' ? 60_000 : undefined);

    this.#http = await startDaemonHttpServer({
      host: config.daemon.http.host,
      port: config.daemon.http.port,
      metrics,
      healthz: () => this.healthz(),
      routes: new Map<string, RouteHandler>(),
      logger,
    });
    logger.info('daemon started', {
      http: this.#http.origin,
      controller: controller?.kind ?? 'none',
      ingress: config.ingress.mode,
      dataDir: config.dataDir,
    });
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
    await this.#http?.close();
    await Promise.all(this.#jobs.map((job) => job.stop()));
    await this.health.stop();
    const closable = this.controller as (ProcessController & { close?: () => Promise<void> }) | null;
    if (closable?.close) {
      await closable.close().catch((error: unknown) => logger.warn('stopping cloudflared failed', { error }));
    }
    await this.store.close();
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
