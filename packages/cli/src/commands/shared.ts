import {
  Actor,
  createTunnelManager,
  createTunnelManagerContainer,
  type IngressStore,
  resolvePort,
  type StateStore,
  type TunnelConfig,
  type TunnelManager,
} from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { loadProviderPlugins } from '../plugins.js';

export type ManagerContainer = ReturnType<typeof createTunnelManagerContainer>;

/**
 * A DI container for a command that uses ports directly. `providers` says which provider
 * plugins to load: none (local files and the database only), Cloudflare, or all of them.
 */
export async function commandContainer(
  cx: CommandContext,
  providers: 'none' | 'cloudflare' | 'all',
): Promise<{ config: TunnelConfig; container: ManagerContainer }> {
  const config = await cx.config();
  const plugins = providers === 'none' ? [] : await loadProviderPlugins(config, { docker: providers === 'all' });
  const container = createTunnelManagerContainer(config, { plugins, overrides: { Logger: await cx.logger() } });
  return { config, container };
}

/** The state store, closed when the command ends. */
export function openStore(cx: CommandContext, container: ManagerContainer): StateStore {
  const store = resolvePort(container, 'StateStore');
  cx.defer(() => store.close());
  return store;
}

/** The configured ingress store (the Cloudflare plugin provides the remote one). */
export async function openIngressStore(
  cx: CommandContext,
): Promise<{ config: TunnelConfig; container: ManagerContainer; ingress: IngressStore }> {
  const config = await cx.config();
  const { container } = await commandContainer(cx, config.ingress.mode === 'remote' ? 'cloudflare' : 'none');
  return { config, container, ingress: resolvePort(container, 'IngressStore') };
}

/**
 * What a command needs from the providers: `store` (the database and the ingress store only —
 * no provider SDK is loaded unless the ingress is remote), `dns` (Cloudflare too), `all`
 * (Cloudflare and, when enabled, Docker for target selection).
 */
export type ManagerNeeds = 'store' | 'dns' | 'all';

/** The TunnelManager for a command (client mode: restarts are queued for the daemon); closed when it ends. */
export async function openManager(cx: CommandContext, needs: ManagerNeeds): Promise<TunnelManager> {
  const config = await cx.config();
  const plugins =
    needs === 'store' && config.ingress.mode === 'local'
      ? []
      : await loadProviderPlugins(config, { docker: needs === 'all' });
  const manager = createTunnelManager(config, { plugins, overrides: { Logger: await cx.logger() } });
  cx.defer(() => manager.close());
  return manager;
}

/** The CLI acts as the operator: admin, or a project's admin-made route with `--project`. */
export const operator = (): Actor => Actor.admin();
