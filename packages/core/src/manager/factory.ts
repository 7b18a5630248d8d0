import type { DependencyContainer } from 'tsyringe';
import type { TunnelConfig } from '../config/schema.js';
import {
  type ContainerOptions,
  createTunnelManagerContainer,
  type ProviderPlugin,
  resolvePort,
} from '../di/container.js';
import { TOKENS, type TokenName } from '../di/tokens.js';
import { isTunnelError } from '../errors.js';
import type { RestartCoordinatorMode } from '../health/restart-coordinator.js';
import { createHealthServices } from '../health/services.js';
import { type IngressListCreated, IngressManager } from '../ingress/ingress-manager.js';
import type { TunnelStatusSource } from '../ports/dns-provider.js';
import type { ProcessController } from '../ports/process-controller.js';
import { AUDIT_ACTIONS, AuditTrail } from './audit.js';
import type { PipelineHooks } from './pipeline.js';
import { TunnelManager } from './tunnel-manager.js';

export interface CreateTunnelManagerOptions {
  /** Provider plugins, e.g. `[cloudflarePlugin, dockerPlugin]`. */
  readonly plugins?: readonly ProviderPlugin[];
  /** Ready-made ports (tests, library users with their own); never closed by `close()`. */
  readonly overrides?: ContainerOptions['overrides'];
  /**
   * `daemon`: this process restarts cloudflared — the health monitor and restart manager are
   * built (start them with `manager.health.start()`). `client`: MCP servers, the CLI, library
   * users; restarts are queued for the daemon. @default 'client'
   */
  readonly mode?: RestartCoordinatorMode;
  /** Test seams (crash tests stop the process at a pipeline step). */
  readonly hooks?: PipelineHooks;
  /** @default tsyringe's root container */
  readonly parent?: DependencyContainer;
}

/**
 * Builds a {@link TunnelManager} from the configuration: the DI container (core's defaults, then
 * the plugins, then the overrides), the IngressManager over the configured IngressStore, the
 * health services (only the restart coordinator in `client` mode), and the Topology when one is
 * registered (the Docker plugin). The DNS provider is resolved on first use, so reads work
 * without Cloudflare credentials.
 *
 * Returns the manager itself; `manager.container` and `manager.health` expose what was built,
 * and `await manager.close()` stops and closes it. The daemon also runs `await manager.recover()`
 * and `manager.health?.start()` at start.
 *
 * @example
 * const manager = createTunnelManager(loadConfig(), { plugins: [cloudflarePlugin, dockerPlugin] });
 * await manager.requestCname(Actor.project('shop'), { subdomain: 'app', service: { container: 'web', port: 8080 } });
 * await manager.close();
 *
 * @throws TunnelError `CONFIG_INVALID` when a port the configuration needs has no provider, or
 * `policy.denyList` has an invalid entry.
 */
export function createTunnelManager(config: TunnelConfig, options: CreateTunnelManagerOptions = {}): TunnelManager {
  const mode = options.mode ?? 'client';
  const container = createTunnelManagerContainer(config, {
    ...(options.plugins ? { plugins: options.plugins } : {}),
    ...(options.overrides ? { overrides: options.overrides } : {}),
    ...(options.parent ? { parent: options.parent } : {}),
  });
  const overridden = new Set(Object.keys(options.overrides ?? {}) as TokenName[]);
  const clock = resolvePort(container, 'Clock');
  const logger = resolvePort(container, 'Logger');
  const store = resolvePort(container, 'StateStore');
  try {
    const ingressStore = resolvePort(container, 'IngressStore');
    const registered = (name: TokenName) => container.isRegistered(TOKENS[name], true);
    const controller =
      mode === 'daemon' && registered('ProcessController') ? resolvePort(container, 'ProcessController') : null;
    const tunnelStatus = mode === 'daemon' ? optionalTunnelStatus(container, logger) : null;
    const health = createHealthServices({
      config,
      store,
      clock,
      mode,
      controller: controller as ProcessController | null,
      ingress: ingressStore,
      tunnelStatus,
      logger,
    });
    const topology = registered('Topology') ? resolvePort(container, 'Topology') : null;
    return new TunnelManager({
      config,
      store,
      dns: () => resolvePort(container, 'DnsProvider'),
      ingress: new IngressManager(ingressStore, clock, logger, {
        onListCreated: auditListCreated(store, clock, logger),
      }),
      restarts: health.coordinator,
      topology,
      clock,
      logger,
      ...(options.hooks ? { hooks: options.hooks } : {}),
      container,
      health,
      onClose: async () => {
        await health.stop();
        if (topology && !overridden.has('Topology')) await topology.close?.();
        const settled = (ingressStore as { settled?: () => Promise<void> }).settled;
        if (typeof settled === 'function') await settled.call(ingressStore);
        if (!overridden.has('StateStore')) await store.close();
      },
    });
  } catch (error) {
    if (!overridden.has('StateStore')) void store.close();
    throw error;
  }
}

/**
 * Audits the creation of the ingress list by a first rule on a configuration that had none
 * (a first run): the operator sees when and by whose route the catch-all appeared.
 */
function auditListCreated(
  store: ConstructorParameters<typeof AuditTrail>[0],
  clock: ConstructorParameters<typeof AuditTrail>[1],
  logger: ConstructorParameters<typeof AuditTrail>[2],
): (event: IngressListCreated) => Promise<void> {
  const audit = new AuditTrail(store, clock, logger);
  return async (event) => {
    await audit.record({
      actor: event.owner,
      project: event.owner,
      action: AUDIT_ACTIONS.ingressListCreated,
      target: event.hostname,
      params: { catchAll: event.catchAll, version: event.version },
      startedAt: clock.now(),
      message: `no ingress rules yet: created the list with ${event.hostname} and the catch-all ${event.catchAll}`,
    });
  };
}

/** The daemon's tunnel status source; a missing account or tunnel id only loses the API check. */
function optionalTunnelStatus(
  container: DependencyContainer,
  logger: ReturnType<typeof resolvePort<'Logger'>>,
): TunnelStatusSource | null {
  if (!container.isRegistered(TOKENS.TunnelStatusSource, true)) return null;
  try {
    return resolvePort(container, 'TunnelStatusSource');
  } catch (error) {
    if (!isTunnelError(error, 'CONFIG_INVALID')) throw error;
    logger.warn('the tunnel status check is off', { reason: error.message });
    return null;
  }
}
