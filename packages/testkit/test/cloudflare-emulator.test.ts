import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Cloudflare from 'cloudflare';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CloudflareEmulator, ManualClock, startCloudflareEmulator } from '../src/index.js';

const TOKEN = 'all-permissions-token';
const ACCOUNT = 'a'.repeat(32);

/** The official SDK against an emulator; SDK retries off so every error surfaces. */
const sdk = (cf: CloudflareEmulator, apiToken = TOKEN, options: { timeout?: number } = {}) =>
  new Cloudflare({
    apiToken,
    apiKey: null,
    apiEmail: null,
    baseURL: cf.url,
    maxRetries: 0,
    logLevel: 'off',
    ...options,
  });

/** The Cloudflare error codes and HTTP status of a failed SDK call. */
async function failure(call: Promise<unknown>): Promise<{ status: number | undefined; codes: number[]; error: Error }> {
  try {
    await call;
  } catch (error) {
    expect(error).toBeInstanceOf(Cloudflare.APIError);
    const e = error as InstanceType<typeof Cloudflare.APIError>;
    return { status: e.status, codes: e.errors.map((x) => x.code as number), error: e };
  }
  throw new Error('expected the call to fail');
}

describe('Cloudflare emulator: zones and pagination', () => {
  let cf: CloudflareEmulator;
  let client: Cloudflare;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: {
        accounts: [
          { id: ACCOUNT, name: 'Main' },
          { id: 'b'.repeat(32), name: 'Other' },
        ],
        zones: [
          ...Array.from({ length: 119 }, (_, i) => ({ name: `zone-${String(i).padStart(3, '0')}.example` })),
          { name: 'pending.example', status: 'pending' as const, accountId: 'b'.repeat(32) },
        ],
        tokens: [{ value: TOKEN, permissions: 'all' }],
      },
    });
    client = sdk(cf);
  });
  afterAll(() => cf.close());
  afterEach(() => cf.clearRequests());

  it('lets the SDK page through every zone and stop on the empty page past the last', async () => {
    const names: string[] = [];
    for await (const zone of client.zones.list({ per_page: 50 })) names.push(zone.name);
    expect(names).toHaveLength(120);
    expect(new Set(names).size).toBe(120);
    const pages = cf.requestsTo({ method: 'GET', path: '/zones' });
    expect(pages.map((r) => r.query.page ?? '1')).toEqual(['1', '2', '3', '4']);
    const last = await client.zones.list({ per_page: 50, page: 4 });
    expect(last.result).toEqual([]);
    expect(last.result_info).toMatchObject({ page: 4, per_page: 50, count: 0, total_count: 120, total_pages: 3 });
  });

  it('defaults per_page to 20 and refuses per_page outside 5–50', async () => {
    const first = await client.zones.list();
    expect(first.result).toHaveLength(20);
    expect(first.result_info).toMatchObject({ page: 1, per_page: 20, total_pages: 6 });
    for (const per_page of [4, 51]) {
      const { status } = await failure(client.zones.list({ per_page }));
      expect(status).toBe(400);
    }
  });

  it('filters zones by name, status and account id', async () => {
    const byName = await client.zones.list({ name: 'zone-007.example' });
    expect(byName.result.map((z) => z.name)).toEqual(['zone-007.example']);
    const pending = await client.zones.list({ status: 'pending' });
    expect(pending.result.map((z) => z.name)).toEqual(['pending.example']);
    const other = await client.zones.list({ account: { id: 'b'.repeat(32) } });
    expect(other.result.map((z) => z.account.id)).toEqual(['b'.repeat(32)]);
    expect(cf.requests.at(-1)?.query).toMatchObject({ 'account.id': 'b'.repeat(32) });
  });

  it('gets one zone, and answers 404 / 7003 for an unknown one', async () => {
    const zone = cf.data.zones[3];
    const got = await client.zones.get({ zone_id: zone?.id ?? '' });
    expect(got).toMatchObject({ id: zone?.id, name: zone?.name, status: 'active', account: { id: ACCOUNT } });
    const { status, codes } = await failure(client.zones.get({ zone_id: 'f'.repeat(32) }));
    expect(status).toBe(404);
    expect(codes).toEqual([7003]);
  });
});

describe('Cloudflare emulator: auth and permissions', () => {
  let cf: CloudflareEmulator;
  let zoneId: string;
  let otherZoneId: string;
  let tunnelId: string;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: {
        accounts: [{ id: ACCOUNT, name: 'Main' }],
        zones: [{ name: 'example.com' }, { name: 'example.org' }],
        tunnels: [{ name: 't', config: { ingress: [{ service: 'http_status:404' }] } }],
      },
    });
    zoneId = cf.data.zones[0]?.id ?? '';
    otherZoneId = cf.data.zones[1]?.id ?? '';
    tunnelId = cf.data.tunnels[0]?.id ?? '';
    cf.seed({
      tokens: [
        { value: 'dns-read', permissions: ['zone:read', 'dns:read'] },
        { value: 'one-zone', permissions: ['zone:read', 'dns:edit'], zoneIds: [zoneId] },
        { value: 'tunnel-read', permissions: ['tunnel:read'] },
      ],
    });
  });
  afterAll(() => cf.close());

  it('answers 403 / 10000 without a token and for an unknown one', async () => {
    const anonymous = await fetch(`${cf.url}/zones`);
    expect(anonymous.status).toBe(403);
    expect(await anonymous.json()).toEqual({
      success: false,
      errors: [{ code: 10000, message: 'Authentication error' }],
      messages: [],
      result: null,
    });
    const { status, codes, error } = await failure(sdk(cf, 'nope').zones.list());
    expect(error).toBeInstanceOf(Cloudflare.PermissionDeniedError);
    expect([status, codes]).toEqual([403, [10000]]);
  });

  it('answers 9109 when the token lacks the permission, and changes nothing', async () => {
    const reader = sdk(cf, 'dns-read');
    const { status, codes } = await failure(
      reader.dns.records.create({ zone_id: zoneId, type: 'A', name: 'x', content: '192.0.2.1', ttl: 1 }),
    );
    expect([status, codes]).toEqual([403, [9109]]);
    expect(cf.records(zoneId)).toEqual([]);
    expect((await reader.dns.records.list({ zone_id: zoneId })).result).toEqual([]);
    const tunnels = sdk(cf, 'tunnel-read');
    expect((await failure(tunnels.zones.list())).codes).toEqual([9109]);
    const put = await failure(
      tunnels.zeroTrust.tunnels.cloudflared.configurations.update(tunnelId, {
        account_id: ACCOUNT,
        config: { ingress: [{ service: 'http_status:503' } as never] },
      }),
    );
    expect(put.codes).toEqual([9109]);
    expect(cf.tunnel(tunnelId)?.config_version).toBe(1);
  });

  it('limits a zone-scoped token to its zones', async () => {
    const scoped = sdk(cf, 'one-zone');
    const zones = await scoped.zones.list();
    expect(zones.result.map((z) => z.id)).toEqual([zoneId]);
    const { codes } = await failure(scoped.dns.records.list({ zone_id: otherZoneId }));
    expect(codes).toEqual([9109]);
  });
});

describe('Cloudflare emulator: DNS records', () => {
  let cf: CloudflareEmulator;
  let client: Cloudflare;
  let zoneId: string;
  let proZoneId: string;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: {
        zones: [{ name: 'example.com' }, { name: 'pro.example', plan: 'pro' }, { name: 'big.example' }],
        tokens: [{ value: TOKEN, permissions: 'all' }],
      },
    });
    client = sdk(cf);
    zoneId = cf.data.zones[0]?.id ?? '';
    proZoneId = cf.data.zones[1]?.id ?? '';
  });
  afterAll(() => cf.close());

  it('creates, gets, patches, puts and deletes a record in the v4 shapes', async () => {
    const created = await client.dns.records.create({
      zone_id: zoneId,
      type: 'CNAME',
      name: 'app',
      content: 'Tunnel.cfargotunnel.com.',
      proxied: true,
      ttl: 1,
      comment: 'tunnel-manager:alpha',
    });
    expect(created).toMatchObject({
      id: expect.stringMatching(/^[0-9a-f]{32}$/),
      name: 'app.example.com',
      type: 'CNAME',
      content: 'tunnel.cfargotunnel.com',
      proxied: true,
      proxiable: true,
      ttl: 1,
      comment: 'tunnel-manager:alpha',
      tags: [],
      created_on: expect.any(String),
      modified_on: expect.any(String),
    });
    expect(await client.dns.records.get(created.id, { zone_id: zoneId })).toEqual(created);
    const patched = await client.dns.records.edit(created.id, {
      zone_id: zoneId,
      type: 'CNAME',
      name: 'app.example.com',
      ttl: 1,
      comment: 'changed',
    });
    expect(patched).toMatchObject({ content: 'tunnel.cfargotunnel.com', comment: 'changed' });
    const put = await client.dns.records.update(created.id, {
      zone_id: zoneId,
      type: 'CNAME',
      name: 'app.example.com',
      content: 'other.cfargotunnel.com',
      ttl: 300,
    });
    expect(put).toMatchObject({ content: 'other.cfargotunnel.com', proxied: false, ttl: 300, comment: null });
    expect(await client.dns.records.delete(created.id, { zone_id: zoneId })).toEqual({ id: created.id });
    expect(cf.records(zoneId)).toEqual([]);
  });

  it('refuses a CNAME beside any record (81053), any record beside a CNAME (81054), an identical record (81058)', async () => {
    cf.addRecord({ zoneId, type: 'A', name: 'held', content: '192.0.2.1' });
    cf.addRecord({ zoneId, type: 'CNAME', name: 'alias', content: 'target.example.net' });
    const cname = await failure(
      client.dns.records.create({ zone_id: zoneId, type: 'CNAME', name: 'held', content: 'x.example.net', ttl: 1 }),
    );
    expect([cname.status, cname.codes]).toEqual([400, [81053]]);
    expect(cname.error).toBeInstanceOf(Cloudflare.BadRequestError);
    const beside = await failure(
      client.dns.records.create({ zone_id: zoneId, type: 'TXT', name: 'alias', content: 'hello', ttl: 1 }),
    );
    expect(beside.codes).toEqual([81054]);
    const identical = await failure(
      client.dns.records.create({ zone_id: zoneId, type: 'A', name: 'held', content: '192.0.2.1', ttl: 1 }),
    );
    expect(identical.codes).toEqual([81058]);
    const sameCname = await failure(
      client.dns.records.create({
        zone_id: zoneId,
        type: 'CNAME',
        name: 'alias',
        content: 'TARGET.example.net',
        ttl: 1,
      }),
    );
    expect(sameCname.codes).toEqual([81058]);
    // A second A record on a name is fine: only CNAMEs are exclusive.
    await client.dns.records.create({ zone_id: zoneId, type: 'A', name: 'held', content: '192.0.2.2', ttl: 1 });
    expect(cf.records(zoneId).filter((r) => r.name === 'held.example.com')).toHaveLength(2);
  });

  it('answers 81044 for an unknown record id on get, patch, put and delete', async () => {
    const id = 'e'.repeat(32);
    const calls = [
      () => client.dns.records.get(id, { zone_id: zoneId }),
      () => client.dns.records.edit(id, { zone_id: zoneId, type: 'A', name: 'x', ttl: 1 }),
      () => client.dns.records.update(id, { zone_id: zoneId, type: 'A', name: 'x', content: '192.0.2.9', ttl: 1 }),
      () => client.dns.records.delete(id, { zone_id: zoneId }),
    ];
    for (const call of calls) {
      const { status, codes, error } = await failure(call());
      expect([status, codes]).toEqual([404, [81044]]);
      expect(error).toBeInstanceOf(Cloudflare.NotFoundError);
    }
  });

  it('limits comments to 100 characters on free zones (500 on paid) and refuses newlines', async () => {
    const create = (zone: string, name: string, comment: string) =>
      client.dns.records.create({ zone_id: zone, type: 'TXT', name, content: 'v', ttl: 1, comment });
    await create(zoneId, 'c100', 'x'.repeat(100));
    expect((await failure(create(zoneId, 'c101', 'x'.repeat(101)))).codes).toEqual([1004]);
    expect((await failure(create(zoneId, 'cnl', 'a\nb'))).codes).toEqual([1004]);
    await create(proZoneId, 'c500', 'x'.repeat(500));
    expect(cf.records(zoneId).some((r) => r.name === 'c101.example.com')).toBe(false);
  });

  it('validates content, proxying and TTL', async () => {
    const make = (body: Record<string, unknown>) =>
      client.dns.records.create({ zone_id: zoneId, ttl: 1, ...body } as never);
    expect((await failure(make({ type: 'A', name: 'bad-a', content: 'not-an-ip' }))).codes).toEqual([9005]);
    expect((await failure(make({ type: 'TXT', name: 'px', content: 'x', proxied: true }))).codes).toEqual([9004]);
    expect((await failure(make({ type: 'A', name: 'ttl', content: '192.0.2.1', ttl: 5 }))).codes).toEqual([9021]);
    const proxied = await make({ type: 'A', name: 'auto', content: '192.0.2.1', proxied: true, ttl: 300 });
    expect(proxied.ttl).toBe(1);
  });

  it('answers 400 / 7003 for a malformed zone id and 404 / 7003 for an unknown one', async () => {
    const malformed = await failure(client.dns.records.list({ zone_id: 'nope' }));
    expect([malformed.status, malformed.codes]).toEqual([400, [7003]]);
    const unknown = await failure(client.dns.records.list({ zone_id: 'd'.repeat(32) }));
    expect([unknown.status, unknown.codes]).toEqual([404, [7003]]);
  });

  it('lists with the dotted filters, match=any, and per_page 100 by default', async () => {
    const zone = cf.data.zones[2]?.id ?? '';
    cf.addRecordsUnchecked(
      zone,
      Array.from({ length: 150 }, (_, i) => ({
        type: i % 3 === 0 ? 'TXT' : 'CNAME',
        name: `r${i}`,
        content: i % 3 === 0 ? `"t${i}"` : `t${i % 5}.cfargotunnel.com`,
        comment: i % 2 === 0 ? `tunnel-manager:p${i % 4}` : i % 5 === 0 ? 'hand made' : null,
      })),
    );
    const first = await client.dns.records.list({ zone_id: zone });
    expect(first.result).toHaveLength(100);
    expect(first.result_info).toMatchObject({ per_page: 100, total_count: 150, total_pages: 2 });
    let all = 0;
    for await (const _ of client.dns.records.list({ zone_id: zone, per_page: 5000 })) all++;
    expect(all).toBe(150);

    const list = async (query: Record<string, unknown>) => {
      const names: string[] = [];
      for await (const r of client.dns.records.list({ zone_id: zone, per_page: 5000, ...query } as never)) {
        names.push((r as { name: string }).name);
      }
      return names;
    };
    expect(await list({ type: 'TXT' })).toHaveLength(50);
    expect(await list({ name: { exact: 'R7.big.example' } })).toEqual(['r7.big.example']);
    expect(await list({ content: { exact: 't2.cfargotunnel.com' } })).toHaveLength(
      Array.from({ length: 150 }, (_, i) => i).filter((i) => i % 3 !== 0 && i % 5 === 2).length,
    );
    expect(await list({ comment: { startswith: 'TUNNEL-MANAGER:' } })).toHaveLength(75);
    expect(await list({ comment: { present: '' } })).toHaveLength(75 + 15);
    expect(await list({ comment: { absent: '' } })).toHaveLength(150 - 90);
    const both = await list({ type: 'TXT', comment: { startswith: 'tunnel-manager:' } });
    const either = await list({ type: 'TXT', comment: { startswith: 'tunnel-manager:' }, match: 'any' });
    expect(both).toHaveLength(25);
    expect(either).toHaveLength(50 + 75 - 25);
    expect(cf.requests.at(-1)?.query).toMatchObject({
      type: 'TXT',
      'comment.startswith': 'tunnel-manager:',
      match: 'any',
    });
  });
});

describe('Cloudflare emulator: batch', () => {
  let cf: CloudflareEmulator;
  let client: Cloudflare;
  let zoneId: string;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: { zones: [{ name: 'example.com' }], tokens: [{ value: TOKEN, permissions: 'all' }] },
    });
    client = sdk(cf);
    zoneId = cf.data.zones[0]?.id ?? '';
  });
  afterAll(() => cf.close());

  it('runs deletes, then patches, then puts, then posts, in one call', async () => {
    const old = cf.addRecord({ zoneId, type: 'CNAME', name: 'swap', content: 'old.cfargotunnel.com' });
    const a = cf.addRecord({ zoneId, type: 'A', name: 'a', content: '192.0.2.1' });
    const b = cf.addRecord({ zoneId, type: 'A', name: 'b', content: '192.0.2.2' });
    const result = await client.dns.records.batch({
      zone_id: zoneId,
      // The post reuses the name the delete frees: valid only because deletes run first.
      posts: [{ type: 'CNAME', name: 'swap', content: 'new.cfargotunnel.com', proxied: true, ttl: 1 }],
      puts: [{ id: b.id, type: 'A', name: 'b', content: '192.0.2.20', ttl: 1 }],
      patches: [{ id: a.id, comment: 'patched' } as never],
      deletes: [{ id: old.id }],
    });
    expect(result.deletes?.map((r) => r.id)).toEqual([old.id]);
    expect(result.patches?.map((r) => r.comment)).toEqual(['patched']);
    expect(result.puts?.map((r) => r.content)).toEqual(['192.0.2.20']);
    expect(result.posts?.map((r) => r.content)).toEqual(['new.cfargotunnel.com']);
    expect(cf.records(zoneId).find((r) => r.name === 'swap.example.com')?.content).toBe('new.cfargotunnel.com');
  });

  it('is all or nothing: one failing post leaves every record as it was', async () => {
    const victim = cf.addRecord({ zoneId, type: 'CNAME', name: 'victim', content: 'v.cfargotunnel.com' });
    cf.addRecord({ zoneId, type: 'A', name: 'foreign', content: '192.0.2.50' });
    const before = cf.records(zoneId);
    const { status, codes } = await failure(
      client.dns.records.batch({
        zone_id: zoneId,
        deletes: [{ id: victim.id }],
        posts: [
          { type: 'CNAME', name: 'fresh1', content: 't.cfargotunnel.com', proxied: true, ttl: 1 },
          { type: 'CNAME', name: 'foreign', content: 't.cfargotunnel.com', proxied: true, ttl: 1 },
        ],
      }),
    );
    expect([status, codes]).toEqual([400, [81053]]);
    expect(cf.records(zoneId)).toEqual(before);
  });

  it('refuses a batch deleting an unknown record with 81044, changing nothing', async () => {
    const before = cf.records(zoneId);
    const { codes } = await failure(
      client.dns.records.batch({
        zone_id: zoneId,
        deletes: [{ id: '0'.repeat(32) }],
        posts: [{ type: 'CNAME', name: 'never', content: 't.cfargotunnel.com', proxied: true, ttl: 1 }],
      }),
    );
    expect(codes).toEqual([81044]);
    expect(cf.records(zoneId)).toEqual(before);
  });

  it('refuses more changes than the limit (200 by default, configurable), changing nothing', async () => {
    const posts = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({
        type: 'CNAME' as const,
        name: `${prefix}${i}`,
        content: 't.cfargotunnel.com',
        proxied: true,
        ttl: 1 as const,
      }));
    const before = cf.records(zoneId).length;
    expect((await failure(client.dns.records.batch({ zone_id: zoneId, posts: posts(201, 'over') }))).codes).toEqual([
      1004,
    ]);
    expect(cf.records(zoneId)).toHaveLength(before);
    await client.dns.records.batch({ zone_id: zoneId, posts: posts(200, 'full') });
    expect(cf.records(zoneId)).toHaveLength(before + 200);
    cf.setBatchLimit(3);
    expect((await failure(client.dns.records.batch({ zone_id: zoneId, posts: posts(4, 'small') }))).codes).toEqual([
      1004,
    ]);
    cf.setBatchLimit(200);
  });
});

describe('Cloudflare emulator: tunnels', () => {
  let cf: CloudflareEmulator;
  let client: Cloudflare;
  let tunnelId: string;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: {
        accounts: [{ id: ACCOUNT, name: 'Main' }],
        tunnels: [{ name: 'prod', connectors: [{ connections: 4, pendingReconnect: 1 }, { connections: 4 }] }],
        tokens: [{ value: TOKEN, permissions: 'all' }],
      },
    });
    client = sdk(cf);
    tunnelId = cf.data.tunnels[0]?.id ?? '';
  });
  afterAll(() => cf.close());

  it('reports status, config_src and connections as the SDK types them', async () => {
    const tunnel = await client.zeroTrust.tunnels.cloudflared.get(tunnelId, { account_id: ACCOUNT });
    expect(tunnel).toMatchObject({
      id: tunnelId,
      name: 'prod',
      status: 'healthy',
      config_src: 'local',
      remote_config: false,
      tun_type: 'cfd_tunnel',
    });
    const connectors = [];
    for await (const c of client.zeroTrust.tunnels.cloudflared.connections.get(tunnelId, { account_id: ACCOUNT })) {
      connectors.push(c);
    }
    expect(connectors).toHaveLength(2);
    expect(connectors.flatMap((c) => c.conns ?? []).filter((c) => !c.is_pending_reconnect)).toHaveLength(7);
  });

  it('follows what a test sets: degraded, then down when the connectors go away', async () => {
    cf.setTunnel(tunnelId, { status: 'degraded' });
    expect((await client.zeroTrust.tunnels.cloudflared.get(tunnelId, { account_id: ACCOUNT })).status).toBe('degraded');
    cf.setTunnel(tunnelId, { connectors: 0 });
    const down = await client.zeroTrust.tunnels.cloudflared.get(tunnelId, { account_id: ACCOUNT });
    expect(down.status).toBe('down');
    expect(down.conns_inactive_at).toEqual(expect.any(String));
    cf.setTunnel(tunnelId, { connectors: 1 });
    expect((await client.zeroTrust.tunnels.cloudflared.get(tunnelId, { account_id: ACCOUNT })).status).toBe('healthy');
  });

  it('serves configurations with a version that increments on every PUT', async () => {
    const configs = client.zeroTrust.tunnels.cloudflared.configurations;
    const empty = await configs.get(tunnelId, { account_id: ACCOUNT });
    expect(empty).toMatchObject({ tunnel_id: tunnelId, version: 0, config: null });
    const put = (ingress: unknown[], extra: Record<string, unknown> = {}) =>
      configs.update(tunnelId, { account_id: ACCOUNT, config: { ingress, ...extra } as never });
    const v1 = await put(
      [
        { hostname: 'a.example.com', service: 'http://localhost:1', comment: 'dropped' },
        { service: 'http_status:404' },
      ],
      {
        originRequest: { connectTimeout: 10 },
      },
    );
    expect(v1.version).toBe(1);
    expect(v1.config).toEqual({
      ingress: [{ hostname: 'a.example.com', service: 'http://localhost:1' }, { service: 'http_status:404' }],
      originRequest: { connectTimeout: 10 },
      'warp-routing': { enabled: false },
    });
    const v2 = await put([{ service: 'http_status:503' }]);
    expect(v2.version).toBe(2);
    expect((await configs.get(tunnelId, { account_id: ACCOUNT })).version).toBe(2);
  });

  it('refuses an invalid configuration with 1056 and keeps the version', async () => {
    const configs = client.zeroTrust.tunnels.cloudflared.configurations;
    const before = await configs.get(tunnelId, { account_id: ACCOUNT });
    for (const ingress of [
      [],
      [{ hostname: 'a.example.com', service: 'http://localhost:1' }],
      [{ service: 'x' }, { service: 'y' }],
    ]) {
      const { status, codes } = await failure(
        configs.update(tunnelId, { account_id: ACCOUNT, config: { ingress } as never }),
      );
      expect([status, codes]).toEqual([400, [1056]]);
    }
    expect(await configs.get(tunnelId, { account_id: ACCOUNT })).toEqual(before);
  });

  it('answers 404 for an unknown tunnel', async () => {
    const { status, error } = await failure(
      client.zeroTrust.tunnels.cloudflared.get('00000000-0000-4000-8000-000000000000', { account_id: ACCOUNT }),
    );
    expect(status).toBe(404);
    expect(error).toBeInstanceOf(Cloudflare.NotFoundError);
  });
});

describe('Cloudflare emulator: rate limiter', () => {
  it('is off by default', async () => {
    const cf = await startCloudflareEmulator({
      seed: { zones: [{ name: 'example.com' }], tokens: [{ value: TOKEN, permissions: 'all' }] },
    });
    try {
      const client = sdk(cf);
      for (let i = 0; i < 60; i++) await client.zones.list();
      expect(cf.requests.every((r) => r.status === 200)).toBe(true);
    } finally {
      await cf.close();
    }
  });

  it('answers 429 with retry-after for the rest of the window, per token', async () => {
    const clock = new ManualClock();
    const cf = await startCloudflareEmulator({
      clock,
      rateLimit: { requests: 3, windowMs: 60_000 },
      seed: {
        zones: [{ name: 'example.com' }],
        tokens: [
          { value: TOKEN, permissions: 'all' },
          { value: 'second', permissions: 'all' },
        ],
      },
    });
    try {
      const client = sdk(cf);
      for (let i = 0; i < 3; i++) await client.zones.list();
      const limited = await failure(client.zones.list());
      expect(limited.error).toBeInstanceOf(Cloudflare.RateLimitError);
      expect([limited.status, limited.codes]).toEqual([429, [971]]);
      expect((limited.error as InstanceType<typeof Cloudflare.APIError>).headers?.get('retry-after')).toBe('60');
      // Another token has its own budget.
      await sdk(cf, 'second').zones.list();
      await clock.advance(40_500);
      const later = await failure(client.zones.list());
      expect((later.error as InstanceType<typeof Cloudflare.APIError>).headers?.get('retry-after')).toBe('20');
      await clock.advance(19_500);
      await client.zones.list();
      expect(cf.requests.map((r) => r.status)).toEqual([200, 200, 200, 429, 200, 429, 200]);
    } finally {
      await cf.close();
    }
  });
});

describe('Cloudflare emulator: faults and the request log', () => {
  let cf: CloudflareEmulator;
  let client: Cloudflare;
  let zoneId: string;
  beforeAll(async () => {
    cf = await startCloudflareEmulator({
      seed: { zones: [{ name: 'example.com' }], tokens: [{ value: TOKEN, permissions: 'all' }] },
    });
    client = sdk(cf);
    zoneId = cf.data.zones[0]?.id ?? '';
  });
  afterAll(() => cf.close());
  afterEach(() => {
    cf.clearFaults();
    cf.clearRequests();
  });

  it('fails the next N requests matching a path with a status, leaving others alone', async () => {
    cf.injectFault({ path: '/dns_records', status: 503, times: 2, retryAfterSeconds: 7 });
    await client.zones.list();
    for (let i = 0; i < 2; i++) {
      const { status, error } = await failure(client.dns.records.list({ zone_id: zoneId }));
      expect(status).toBe(503);
      expect(error).toBeInstanceOf(Cloudflare.InternalServerError);
      expect((error as InstanceType<typeof Cloudflare.APIError>).headers?.get('retry-after')).toBe('7');
    }
    expect(cf.pendingFaults()).toBe(0);
    expect((await client.dns.records.list({ zone_id: zoneId })).result).toEqual([]);
  });

  it('drops the connection before handling (nothing applied) or after (applied, answer lost)', async () => {
    const create = (name: string) =>
      client.dns.records.create({ zone_id: zoneId, type: 'A', name, content: '192.0.2.1', ttl: 1 });
    cf.injectFault({ method: 'POST', path: '/dns_records', drop: 'before' });
    await expect(create('before')).rejects.toBeInstanceOf(Cloudflare.APIConnectionError);
    expect(cf.records(zoneId).map((r) => r.name)).not.toContain('before.example.com');
    cf.injectFault({ method: 'POST', path: '/dns_records', drop: 'after' });
    await expect(create('after')).rejects.toBeInstanceOf(Cloudflare.APIConnectionError);
    expect(cf.records(zoneId).map((r) => r.name)).toContain('after.example.com');
    expect(cf.requests.map((r) => r.status)).toEqual(['dropped', 'dropped']);
  });

  it('delays an answer past the client timeout', async () => {
    cf.injectFault({ path: '/zones', delayMs: 2_000 });
    await expect(sdk(cf, TOKEN, { timeout: 100 }).zones.list()).rejects.toBeInstanceOf(
      Cloudflare.APIConnectionTimeoutError,
    );
  });

  it('logs method, path, query, body, token and status', async () => {
    await client.dns.records.create({
      zone_id: zoneId,
      type: 'TXT',
      name: 'logged',
      content: 'hello',
      ttl: 1,
      comment: 'c',
    });
    await client.dns.records.list({ zone_id: zoneId, type: 'TXT', name: { exact: 'logged.example.com' } });
    await sdk(cf, 'wrong')
      .zones.list()
      .catch(() => undefined);
    expect(cf.requests).toEqual([
      expect.objectContaining({
        method: 'POST',
        path: `/zones/${zoneId}/dns_records`,
        query: {},
        body: { type: 'TXT', name: 'logged', content: 'hello', ttl: 1, comment: 'c' },
        token: TOKEN,
        status: 200,
      }),
      expect.objectContaining({
        method: 'GET',
        path: `/zones/${zoneId}/dns_records`,
        query: { type: 'TXT', 'name.exact': 'logged.example.com' },
        body: null,
        token: TOKEN,
        status: 200,
      }),
      expect.objectContaining({ method: 'GET', path: '/zones', token: 'wrong', status: 403 }),
    ]);
  });

  it('serves the control API to other processes', async () => {
    const tunnel = cf.addTunnel({ name: 'ctl' });
    const post = (path: string, body: unknown) =>
      fetch(`${cf.origin}/__emulator${path}`, { method: 'POST', body: JSON.stringify(body) });
    expect((await post(`/tunnels/${tunnel.id}`, { connectors: 2 })).status).toBe(200);
    expect(cf.tunnel(tunnel.id)?.status).toBe('healthy');
    expect((await post('/faults', { path: '/zones', status: 502 })).status).toBe(200);
    expect((await failure(client.zones.list())).status).toBe(502);
    const seeded = (await (await post('/seed', { zones: [{ name: 'seeded.example' }] })).json()) as {
      result: { zones: Array<{ id: string }> };
    };
    expect(cf.data.zones.map((z) => z.id)).toContain(seeded.result.zones[0]?.id);
    const log = (await (await fetch(`${cf.origin}/__emulator/requests`)).json()) as { result: unknown[] };
    expect(log.result).toHaveLength(cf.requests.length);
  });
});

describe('Cloudflare emulator: persistence', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-cf-emu-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps records, tunnels and configuration versions across a restart', async () => {
    const statePath = join(dir, 'state', 'cloudflare.json');
    const seed = {
      accounts: [{ id: ACCOUNT, name: 'Main' }],
      zones: [{ name: 'example.com' }],
      tunnels: [{ id: '11111111-2222-4333-8444-555555555555', config: { ingress: [{ service: 'http_status:404' }] } }],
      tokens: [{ value: TOKEN, permissions: 'all' as const }],
    };
    const first = await startCloudflareEmulator({ statePath, seed });
    const zoneId = first.data.zones[0]?.id ?? '';
    const record = await sdk(first).dns.records.create({
      zone_id: zoneId,
      type: 'CNAME',
      name: 'kept',
      content: 't.cfargotunnel.com',
      proxied: true,
      ttl: 1,
    });
    await sdk(first).zeroTrust.tunnels.cloudflared.configurations.update(seed.tunnels[0]?.id ?? '', {
      account_id: ACCOUNT,
      config: { ingress: [{ service: 'http_status:503' } as never] },
    });
    await first.close();

    // The seed is skipped when the state file exists: the zone keeps its id, nothing doubles.
    const second = await startCloudflareEmulator({ statePath, seed });
    try {
      expect(second.data.zones.map((z) => z.id)).toEqual([zoneId]);
      const again = await sdk(second).dns.records.get(record.id, { zone_id: zoneId });
      expect(again).toEqual(record);
      const config = await sdk(second).zeroTrust.tunnels.cloudflared.configurations.get(seed.tunnels[0]?.id ?? '', {
        account_id: ACCOUNT,
      });
      expect(config.version).toBe(2);
    } finally {
      await second.close();
    }
  });
});
