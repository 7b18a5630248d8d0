import { join } from 'node:path';
import {
  asInjectionToken,
  type Clock,
  type Logger,
  type ProviderPlugin,
  TOKENS,
  type Token,
  type TunnelConfig,
  TunnelError,
} from '@tunnel/core';
import { CloudflareApi } from './api.js';
import { CloudflareDnsProvider } from './dns-provider.js';
import { RemoteIngressStore } from './remote-ingress-store.js';
import { importingOwners } from './remote-owners-import.js';
import { CloudflareTunnelStatus } from './tunnel-status.js';

type Container = Parameters<ProviderPlugin['register']>[0];

/**
 * Where older releases kept the remote ingress owner marks; imported into the state store once
 * (then renamed `.imported`), see `importLegacyOwnersFile`.
 */
export const remoteIngressOwnersPath = (config: TunnelConfig): string =>
  join(config.dataDir, 'remote-ingress-owners.json');

/** The API client for a configuration; throws CONFIG_INVALID when no token is set. */
export function createCloudflareApi(
  config: TunnelConfig,
  deps: { clock?: Clock; logger?: Logger } = {},
): CloudflareApi {
  const cf = config.cloudflare;
  if (!cf.apiToken) {
    throw new TunnelError('CONFIG_INVALID', 'No Cloudflare API token is configured.', {
      hint: 'Set cloudflare.apiToken or cloudflare.apiTokenFile, or the env var CLOUDFLARE_API_TOKEN.',
    });
  }
  return new CloudflareApi({
    apiToken: cf.apiToken,
    baseUrl: cf.baseUrl,
    timeoutMs: cf.timeoutMs,
    maxRetries: cf.maxRetries,
    requestsPerFiveMinutes: cf.requestsPerFiveMinutes,
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.logger ? { logger: deps.logger.child({ provider: 'cloudflare' }) } : {}),
  });
}

function tunnelRef(config: TunnelConfig, port: string): { accountId: string; tunnelId: string } {
  const { accountId, tunnelId } = config.cloudflare;
  if (!accountId || !tunnelId) {
    const missing = [accountId ? null : 'cloudflare.accountId', tunnelId ? null : 'cloudflare.tunnelId'].filter(
      Boolean,
    );
    throw new TunnelError('CONFIG_INVALID', `${port} needs ${missing.join(' and ')}.`, {
      hint: 'Set them in the config file (`cloudflared tunnel list` shows the tunnel id; the account id is in the dashboard URL).',
    });
  }
  return { accountId, tunnelId };
}

/**
 * Registers the Cloudflare implementations: DnsProvider and TunnelStatusSource always, and
 * IngressStore when `ingress.mode` is `remote` (local mode keeps core's file store). All three
 * share one API client and so one request budget per container. Nothing is built (and the SDK
 * is not loaded) until a port is resolved; a missing setting fails then, with CONFIG_INVALID.
 */
export const cloudflarePlugin: ProviderPlugin = {
  name: 'cloudflare',
  register(container: Container, config: TunnelConfig): void {
    let api: CloudflareApi | undefined;
    const shared = (c: Container) => {
      api ??= createCloudflareApi(config, {
        clock: c.resolve(asInjectionToken(TOKENS.Clock)),
        logger: c.resolve(asInjectionToken(TOKENS.Logger)),
      });
      return api;
    };
    const single = <T>(token: Token<T>, make: (c: Container) => T) => {
      let instance: T | undefined;
      container.register(asInjectionToken(token), { useFactory: (c) => (instance ??= make(c)) });
    };
    single(
      TOKENS.DnsProvider,
      (c) => new CloudflareDnsProvider(shared(c), { batchLimit: config.cloudflare.batchLimit }),
    );
    single(
      TOKENS.TunnelStatusSource,
      (c) => new CloudflareTunnelStatus(shared(c), tunnelRef(config, 'The Cloudflare tunnel status source')),
    );
    if (config.ingress.mode === 'remote') {
      single(TOKENS.IngressStore, (c) => {
        const ref = tunnelRef(config, 'The remote ingress store');
        const store = c.resolve(asInjectionToken(TOKENS.StateStore));
        const logger = c.resolve(asInjectionToken(TOKENS.Logger));
        return new RemoteIngressStore(shared(c), {
          ...ref,
          owners: importingOwners(store.ingressOwners, remoteIngressOwnersPath(config), ref.tunnelId, logger),
        });
      });
    }
  },
};
