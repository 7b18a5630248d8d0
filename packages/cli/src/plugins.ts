import type { ProviderPlugin, TunnelConfig } from '@tunnel/core';
import { meteredPlugin, type ProviderCallObserver } from './daemon/metered-plugin.js';

/**
 * The CLI's composition root for providers: the Cloudflare plugin always, the Docker plugin
 * when Docker is in use (`docker.enabled`, or cloudflared runs in a container). Imported here,
 * when a command needs them, never at start-up: `tunnel --help` loads neither SDK.
 */
export async function loadProviderPlugins(
  config: TunnelConfig,
  options: { observeProviderCalls?: ProviderCallObserver; docker?: boolean } = {},
): Promise<ProviderPlugin[]> {
  const { cloudflarePlugin } = await import('@tunnel/provider-cloudflare');
  const plugins: ProviderPlugin[] = [
    options.observeProviderCalls ? meteredPlugin(cloudflarePlugin, options.observeProviderCalls) : cloudflarePlugin,
  ];
  if (options.docker !== false && (config.docker.enabled || config.cloudflared.controller === 'docker')) {
    const { dockerPlugin } = await import('@tunnel/provider-docker');
    plugins.push(dockerPlugin);
  }
  return plugins;
}
