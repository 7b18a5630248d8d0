import type { CloudflareEmulator } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudflareTunnelStatus, PERMISSIONS } from '../src/index.js';
import { ACCOUNT, api, emulator, failureOf, TOKEN, TUNNEL } from './helpers.js';

const running: CloudflareEmulator[] = [];
afterEach(async () => {
  for (const cf of running.splice(0)) await cf.close();
});

async function setup() {
  const { cf } = await emulator({
    seed: {
      tunnels: [
        { id: TUNNEL, name: 'vm-tunnel', connectors: [{ connections: 4 }, { connections: 4, pendingReconnect: 3 }] },
      ],
    },
  });
  running.push(cf);
  return { cf, status: new CloudflareTunnelStatus(api(cf), { accountId: ACCOUNT, tunnelId: TUNNEL }) };
}

describe('CloudflareTunnelStatus', () => {
  it('reports status, config source and the connections that are up', async () => {
    const { cf, status } = await setup();
    expect(await status.getTunnel()).toEqual({
      id: TUNNEL,
      name: 'vm-tunnel',
      status: 'healthy',
      configSource: 'local',
      activeConnections: 5,
    });
    expect(cf.requests.map((r) => r.path)).toEqual([
      `/accounts/${ACCOUNT}/cfd_tunnel/${TUNNEL}`,
      `/accounts/${ACCOUNT}/cfd_tunnel/${TUNNEL}/connections`,
    ]);
  });

  it('follows the tunnel as it degrades, moves to remote config and goes down (no caching)', async () => {
    const { cf, status } = await setup();
    cf.setTunnel(TUNNEL, { status: 'degraded', configSrc: 'cloudflare', connectors: [{ connections: 1 }] });
    expect(await status.getTunnel()).toMatchObject({
      status: 'degraded',
      configSource: 'cloudflare',
      activeConnections: 1,
    });
    cf.setTunnel(TUNNEL, { connectors: 0 });
    expect(await status.getTunnel()).toMatchObject({ status: 'down', activeConnections: 0 });
  });

  it('answers NOT_FOUND for an unknown tunnel and AUTH_FAILED without tunnel read', async () => {
    const { cf } = await setup();
    const unknown = new CloudflareTunnelStatus(api(cf), {
      accountId: ACCOUNT,
      tunnelId: '00000000-0000-4000-8000-000000000000',
    });
    const missing = await failureOf(unknown.getTunnel());
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.hint).toContain('cloudflare.tunnelId');
    cf.removeToken(TOKEN);
    cf.addToken({ value: TOKEN, permissions: ['zone:read', 'dns:edit'] });
    const denied = await failureOf(
      new CloudflareTunnelStatus(api(cf), { accountId: ACCOUNT, tunnelId: TUNNEL }).getTunnel(),
    );
    expect(denied.code).toBe('AUTH_FAILED');
    expect(denied.hint).toContain(PERMISSIONS.tunnelRead);
  });
});
