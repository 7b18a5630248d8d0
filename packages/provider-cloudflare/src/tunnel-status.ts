import type { TunnelInfo, TunnelStatusSource } from '@tunnel/core';
import type { CloudflareApi } from './api.js';
import { type ApiOperation, PERMISSIONS } from './errors.js';

export interface CloudflareTunnelRef {
  readonly accountId: string;
  readonly tunnelId: string;
}

interface ApiTunnel {
  readonly id: string;
  readonly name?: string;
  readonly status?: string;
  readonly config_src?: string;
  readonly remote_config?: boolean;
}

interface ApiConnector {
  readonly conns?: ReadonlyArray<{ readonly is_pending_reconnect?: boolean }>;
}

const STATUSES: ReadonlySet<string> = new Set(['inactive', 'degraded', 'healthy', 'down']);

/**
 * The tunnel as Cloudflare's edge sees it: `cfd_tunnel/{id}` for the status and where its
 * configuration lives, `cfd_tunnel/{id}/connections` for the connections that are up (the
 * tunnel object's own `connections` field is being retired by Cloudflare). Two requests per
 * call, no caching: the health monitor calls it once per check.
 */
export class CloudflareTunnelStatus implements TunnelStatusSource {
  readonly #api: CloudflareApi;
  readonly #ref: CloudflareTunnelRef;

  constructor(api: CloudflareApi, ref: CloudflareTunnelRef) {
    this.#api = api;
    this.#ref = ref;
  }

  async getTunnel(): Promise<TunnelInfo> {
    const { accountId, tunnelId } = this.#ref;
    const op = (action: string): ApiOperation => ({
      action,
      permission: PERMISSIONS.tunnelRead,
      subject: 'tunnel',
      subjectId: tunnelId,
    });
    const tunnel = (await this.#api.call(
      op(`read the status of tunnel ${tunnelId}`),
      (client) => client.zeroTrust.tunnels.cloudflared.get(tunnelId, { account_id: accountId }),
      { idempotent: true },
    )) as ApiTunnel;
    const page = (await this.#api.call(
      op(`list the connections of tunnel ${tunnelId}`),
      async (client) =>
        (
          await client.zeroTrust.tunnels.cloudflared.connections.get(tunnelId, { account_id: accountId })
        ).result,
      { idempotent: true },
    )) as ApiConnector[];
    const activeConnections = page.reduce(
      (n, connector) => n + (connector.conns ?? []).filter((c) => c.is_pending_reconnect !== true).length,
      0,
    );
    return {
      id: tunnel.id,
      name: tunnel.name ?? tunnel.id,
      // An unknown status is reported as down: the monitor must not read it as healthy.
      status: STATUSES.has(tunnel.status ?? '') ? (tunnel.status as TunnelInfo['status']) : 'down',
      configSource:
        tunnel.config_src === 'cloudflare' || (tunnel.config_src === undefined && tunnel.remote_config === true)
          ? 'cloudflare'
          : 'local',
      activeConnections,
    };
  }
}
