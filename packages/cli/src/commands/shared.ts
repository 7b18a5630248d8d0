import {
  createTunnelManagerContainer,
  type IngressStore,
  resolvePort,
  type StateStore,
  type TunnelConfig,
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
