import type { TunnelConfig } from '../config/schema.js';
import type { Clock } from '../ports/clock.js';
import type { TunnelStatusSource } from '../ports/dns-provider.js';
import type { IngressStore } from '../ports/ingress-store.js';
import type { Logger } from '../ports/logger.js';
import type { ProcessController } from '../ports/process-controller.js';
import type { StateStore } from '../ports/state-store.js';
import { NoopLogger } from '../runtime/loggers.js';
import { HealthMonitor } from './health-monitor.js';
import { type ReadinessProbe, TunnelReadiness } from './readiness.js';
import { RestartCoordinator, type RestartCoordinatorMode } from './restart-coordinator.js';
import { RestartManager } from './restart-manager.js';

export interface HealthServicesOptions {
  readonly config: TunnelConfig;
  readonly store: StateStore;
  readonly clock: Clock;
  /** `daemon` builds the monitor and the restart manager; `client` only the coordinator. */
  readonly mode: RestartCoordinatorMode;
  /** null for `cloudflared.controller: none` (monitor only). */
  readonly controller?: ProcessController | null;
  readonly ingress?: Pick<IngressStore, 'capabilities'> | null;
  readonly tunnelStatus?: TunnelStatusSource | null;
  readonly logger?: Logger;
  /** @default HttpReadinessProbe */
  readonly probe?: ReadinessProbe;
  /** Jitter source. @default Math.random */
  readonly random?: () => number;
}

export interface HealthServices {
  readonly readiness: TunnelReadiness;
  /** Daemon mode with a controller that can restart; null otherwise. */
  readonly restartManager: RestartManager | null;
  /** Daemon mode; null otherwise. */
  readonly monitor: HealthMonitor | null;
  readonly coordinator: RestartCoordinator;
  /** Starts the monitor and the coordinator's queue collection (daemon mode). */
  start(): void;
  /** Stops them, waiting for a check or restart in progress. */
  stop(): Promise<void>;
}

/**
 * Wires the health monitor, the restart manager and the restart coordinator from the
 * configuration, sharing one readiness checker. The daemon uses `mode: 'daemon'`; MCP servers
 * and the CLI use `mode: 'client'` and only get a coordinator that queues requests.
 */
export function createHealthServices(options: HealthServicesOptions): HealthServices {
  const { config, store, clock } = options;
  const logger = options.logger ?? new NoopLogger();
  const controller = options.controller ?? null;
  const readiness = new TunnelReadiness({
    ...(options.probe ? { probe: options.probe } : {}),
    metricsUrl: config.cloudflared.metricsUrl,
    timeoutMs: config.health.readyTimeoutMs,
  });
  const daemon = options.mode === 'daemon';
  const restartManager =
    daemon && controller?.capabilities.canRestart
      ? new RestartManager({
          controller,
          readiness,
          store,
          clock,
          restart: config.restart,
          logger: logger.child({ component: 'restart-manager' }),
          ...(options.random ? { random: options.random } : {}),
        })
      : null;
  const monitor = daemon
    ? new HealthMonitor({
        store,
        clock,
        readiness,
        health: config.health,
        controller,
        tunnelStatus: options.tunnelStatus ?? null,
        restarts: restartManager,
        logger: logger.child({ component: 'health-monitor' }),
      })
    : null;
  const coordinator = new RestartCoordinator({
    mode: options.mode,
    store,
    clock,
    restart: config.restart,
    ingress: options.ingress ?? null,
    manager: restartManager,
    controller,
    logger: logger.child({ component: 'restart-coordinator' }),
    // A client does not wait for a restart no daemon will make.
    daemonHealthIntervalMs: options.mode === 'client' ? config.health.intervalMs : null,
  });
  return {
    readiness,
    restartManager,
    monitor,
    coordinator,
    start() {
      monitor?.start();
      coordinator.start();
    },
    async stop() {
      await coordinator.stop();
      await monitor?.stop();
      await restartManager?.close();
    },
  };
}
