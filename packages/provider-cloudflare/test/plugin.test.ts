import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import {
  createTunnelManagerContainer,
  JsonLogger,
  parseConfig,
  resolvePort,
  type TunnelConfigInput,
} from '@tunnel/core';
import { type CloudflareEmulator, ManualClock } from '@tunnel/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { CloudflareDnsProvider, CloudflareTunnelStatus, cloudflarePlugin, RemoteIngressStore } from '../src/index.js';
import { ACCOUNT, drive, emulator, failureOf, TOKEN, TUNNEL } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const dir = mkdtempSync(join(tmpdir(), 'tm-cf-plugin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const running: CloudflareEmulator[] = [];
afterEach(async () => {
  for (const cf of running.splice(0)) await cf.close();
});

let n = 0;
async function setup(
  cloudflare: TunnelConfigInput['cloudflare'] = {},
  ingress: TunnelConfigInput['ingress'] = {},
  clock?: ManualClock,
) {
  const { cf } = await emulator({
    ...(clock ? { clock } : {}),
    seed: { tunnels: [{ id: TUNNEL, connectors: 1, config: { ingress: [{ service: 'http_status:404' }] } }] },
  });
  running.push(cf);
  const config = parseConfig({
    dataDir: join(dir, `data-${n++}`),
    cloudflare: { apiToken: TOKEN, baseUrl: cf.url, accountId: ACCOUNT, tunnelId: TUNNEL, ...cloudflare },
    ingress,
  });
  return { cf, config };
}

describe('cloudflarePlugin', () => {
  it('registers the DNS provider and tunnel status as singletons; local ingress stays core’s', async () => {
    const { config } = await setup();
    const c = createTunnelManagerContainer(config, { plugins: [cloudflarePlugin] });
    const provider = resolvePort(c, 'DnsProvider');
    expect(provider).toBeInstanceOf(CloudflareDnsProvider);
    expect(resolvePort(c, 'DnsProvider')).toBe(provider);
    expect((await provider.listZones()).map((z) => z.name)).toEqual(['example.com']);
    const status = resolvePort(c, 'TunnelStatusSource');
    expect(status).toBeInstanceOf(CloudflareTunnelStatus);
    expect(await status.getTunnel()).toMatchObject({ id: TUNNEL, status: 'healthy', activeConnections: 4 });
    // Local mode: the IngressStore is core's config.yml store, not the remote one.
    expect(resolvePort(c, 'IngressStore')).not.toBeInstanceOf(RemoteIngressStore);
    expect(resolvePort(c, 'IngressStore').capabilities.requiresRestart).toBe(true);
  });

  it('registers the remote ingress store in remote mode, keeping marks under dataDir', async () => {
    const { cf, config } = await setup({}, { mode: 'remote' });
    const store = resolvePort(createTunnelManagerContainer(config, { plugins: [cloudflarePlugin] }), 'IngressStore');
    expect(store).toBeInstanceOf(RemoteIngressStore);
    const v = await store.read();
    await store.write(
      [
        { hostname: 'a.example.com', service: 'http://localhost:1', managed: { owner: 'alpha', instance: ME } },
        { service: 'http_status:404' },
      ],
      v.version,
    );
    expect(cf.tunnel(TUNNEL)?.config_version).toBe(2);
    const again = resolvePort(createTunnelManagerContainer(config, { plugins: [cloudflarePlugin] }), 'IngressStore');
    expect((await again.read()).rules[0]?.managed).toEqual({ owner: 'alpha', instance: ME });
  });

  it('shares one request budget, on the container’s clock, across the ports', async () => {
    const clock = new ManualClock();
    const { cf, config } = await setup({ requestsPerFiveMinutes: 3 }, {}, clock);
    const c = createTunnelManagerContainer(config, { plugins: [cloudflarePlugin], overrides: { Clock: clock } });
    const start = clock.now();
    await drive(
      clock,
      Promise.all([
        resolvePort(c, 'DnsProvider').listZones(),
        resolvePort(c, 'TunnelStatusSource').getTunnel(),
        resolvePort(c, 'DnsProvider').listZones(),
      ]),
    );
    expect(cf.requests.map((r) => r.at - start)).toEqual([0, 0, 0, 300_000]);
  });

  it('fails on resolve with CONFIG_INVALID when a setting is missing, naming it', async () => {
    const noToken = parseConfig({ dataDir: join(dir, 'none') });
    const c = createTunnelManagerContainer(noToken, { plugins: [cloudflarePlugin] });
    expect(() => resolvePort(c, 'DnsProvider')).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', hint: expect.stringContaining('CLOUDFLARE_API_TOKEN') }),
    );
    const noTunnel = parseConfig({ dataDir: join(dir, 'none'), cloudflare: { apiToken: 'x' } });
    const c2 = createTunnelManagerContainer(noTunnel, { plugins: [cloudflarePlugin] });
    expect(() => resolvePort(c2, 'TunnelStatusSource')).toThrow(
      expect.objectContaining({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('cloudflare.accountId and cloudflare.tunnelId'),
      }),
    );
  });

  it('never writes the API token into logs or errors', async () => {
    const secret = 'sEcReT-tOkEn-1234567890';
    const { cf, config } = await setup({ apiToken: secret, maxRetries: 1 });
    cf.addToken({ value: secret, permissions: ['zone:read'] });
    const lines: string[] = [];
    const clock = new ManualClock();
    const c = createTunnelManagerContainer(config, {
      plugins: [cloudflarePlugin],
      overrides: { Clock: clock, Logger: new JsonLogger({ level: 'debug', write: (line) => lines.push(line) }) },
    });
    const provider = resolvePort(c, 'DnsProvider');
    cf.injectFault({ path: '/zones', status: 503 });
    await drive(clock, provider.listZones());
    const zoneId = cf.data.zones[0]?.id ?? '';
    const denied = await failureOf(
      provider.createCname(zoneId, {
        name: 'a.example.com',
        target: 'x.cfargotunnel.com',
        owner: 'alpha',
        instance: ME,
      }),
    );
    expect(denied.code).toBe('AUTH_FAILED');
    expect(lines.length).toBeGreaterThan(0);
    const everything = [
      ...lines,
      JSON.stringify(denied),
      inspect(denied, { depth: 20 }),
      inspect(config, { depth: 20 }),
    ].join('\n');
    expect(everything).not.toContain(secret);
    expect(cf.requests.every((r) => r.token === secret)).toBe(true);
  });
});
