import { formatOwnerMark } from '@tunnel/core';
import { type CloudflareEmulator, ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { PERMISSIONS } from '../src/index.js';
import { ACCOUNT, api, dns, drive, emulator, failureOf, TARGET, TOKEN } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const running: CloudflareEmulator[] = [];
async function setup(options: Parameters<typeof emulator>[0] = {}) {
  const started = await emulator(options);
  running.push(started.cf);
  return started;
}
afterEach(async () => {
  for (const cf of running.splice(0)) await cf.close();
});

const cname = (name: string, owner = 'alpha') => ({ name: `${name}.example.com`, target: TARGET, owner, instance: ME });

describe('CloudflareDnsProvider: conflicts', () => {
  it('refuses a CNAME on a name an A record holds: RECORD_CONFLICT naming the record, nothing changed', async () => {
    const { cf, zoneId } = await setup();
    const held = cf.addRecord({ zoneId, type: 'A', name: 'shop', content: '192.0.2.10', comment: 'web server' });
    const error = await failureOf(dns(cf).createCname(zoneId, cname('shop')));
    expect(error.code).toBe('RECORD_CONFLICT');
    expect(error.message).toContain('shop.example.com already has a A record (192.0.2.10)');
    expect(error.hint).toContain('not created by Tunnel Manager');
    expect(error.details).toMatchObject({
      recordId: held.id,
      type: 'A',
      content: '192.0.2.10',
      owner: null,
      cloudflareCodes: [81053],
    });
    expect(cf.records(zoneId)).toEqual([held]);
  });

  it('names the owner when another project holds the name', async () => {
    const { cf, zoneId } = await setup();
    const provider = dns(cf);
    await provider.createCname(zoneId, cname('app', 'beta'));
    const error = await failureOf(provider.createCname(zoneId, cname('app', 'alpha')));
    expect(error.code).toBe('RECORD_CONFLICT');
    expect(error.details?.owner).toBe('beta');
    expect(error.hint).toContain('owned by beta');
  });

  it('refuses an owner that would not make a valid mark before sending anything', async () => {
    const { cf, zoneId } = await setup();
    const error = await failureOf(dns(cf).createCname(zoneId, cname('x', 'Not A Project')));
    expect(error.code).toBe('INVALID_INPUT');
    const batch = await failureOf(
      dns(cf).applyBatch(zoneId, { deletes: [], creates: [cname('y'), cname('z', 'x'.repeat(90))] }),
    );
    expect(batch.code).toBe('INVALID_INPUT');
    expect(cf.requests).toHaveLength(0);
  });
});

describe('CloudflareDnsProvider: error mapping', () => {
  it('maps 10000 (unknown token) to AUTH_FAILED naming the permission the call needs', async () => {
    const { cf, zoneId } = await setup();
    cf.removeToken(TOKEN);
    const error = await failureOf(dns(cf).createCname(zoneId, cname('a')));
    expect(error.code).toBe('AUTH_FAILED');
    expect(error.retryable).toBe(false);
    expect(error.hint).toContain(PERMISSIONS.dnsEdit);
    expect(error.details).toMatchObject({ status: 403, cloudflareCodes: [10000], permission: PERMISSIONS.dnsEdit });
  });

  it('maps 9109 (permission missing) to AUTH_FAILED with the missing permission in the hint', async () => {
    const { cf, zoneId } = await setup();
    cf.removeToken(TOKEN);
    cf.addToken({ value: TOKEN, permissions: ['dns:read'] });
    const zones = await failureOf(dns(cf).listZones());
    expect(zones.code).toBe('AUTH_FAILED');
    expect(zones.hint).toContain(PERMISSIONS.zoneRead);
    const create = await failureOf(dns(cf).createCname(zoneId, cname('a')));
    expect(create.code).toBe('AUTH_FAILED');
    expect(create.hint).toContain(`grant "${PERMISSIONS.dnsEdit}"`);
    expect(create.details?.cloudflareCodes).toEqual([9109]);
  });

  it('maps 81044 to NOT_FOUND and an unknown zone to ZONE_NOT_FOUND', async () => {
    const { cf, zoneId } = await setup();
    const missing = await failureOf(dns(cf).deleteRecord(zoneId, 'f'.repeat(32)));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.details?.cloudflareCodes).toEqual([81044]);
    const zone = await failureOf(dns(cf).listRecords('0'.repeat(32)));
    expect(zone.code).toBe('ZONE_NOT_FOUND');
  });

  it('maps 429 to RATE_LIMITED with details.retryAfterMs once the budget stops resending', async () => {
    const clock = new ManualClock();
    const { cf, zoneId } = await setup({ clock });
    const provider = dns(cf, { clock });
    cf.injectFault({ path: '/dns_records', status: 429, code: 971, retryAfterSeconds: 42, times: 10 });
    const error = await drive(clock, failureOf(provider.listRecords(zoneId)));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.retryable).toBe(true);
    expect(error.details?.retryAfterMs).toBe(42_000);
    // The first answer plus five resends, each after the full pause.
    expect(cf.requests.map((r) => r.at - (cf.requests[0]?.at ?? 0))).toEqual(
      [0, 42, 84, 126, 168, 210].map((s) => s * 1000),
    );
  });

  it('maps 5xx, dropped connections and timeouts to PROVIDER_UNAVAILABLE', async () => {
    const { cf, zoneId } = await setup();
    const provider = dns(cf, { maxRetries: 0 });
    cf.injectFault({ path: '/zones', status: 502 });
    const fiveHundred = await failureOf(provider.listZones());
    expect([fiveHundred.code, fiveHundred.retryable, fiveHundred.details?.status]).toEqual([
      'PROVIDER_UNAVAILABLE',
      true,
      502,
    ]);
    cf.injectFault({ path: '/zones', drop: 'before' });
    const dropped = await failureOf(provider.listZones());
    expect([dropped.code, dropped.details?.reason]).toEqual(['PROVIDER_UNAVAILABLE', 'connection']);
    cf.injectFault({ path: '/dns_records', delayMs: 30_000 });
    const slow = await failureOf(dns(cf, { maxRetries: 0, timeoutMs: 1_000 }).listRecords(zoneId));
    expect([slow.code, slow.details?.reason]).toEqual(['PROVIDER_UNAVAILABLE', 'timeout']);
    await cf.close();
    const gone = await failureOf(provider.listZones());
    expect(gone.code).toBe('PROVIDER_UNAVAILABLE');
  });

  it('retries an idempotent read after a 5xx, on the injected clock', async () => {
    const { cf } = await setup();
    const clock = new ManualClock();
    cf.injectFault({ path: '/zones', status: 503, times: 2 });
    const zones = await drive(clock, dns(cf, { clock }).listZones());
    expect(zones.map((z) => z.name)).toEqual(['example.com']);
    expect(cf.requests.map((r) => r.status)).toEqual([503, 503, 200]);
  });
});

describe('CloudflareDnsProvider: lists', () => {
  it('reads every zone across pages and maps them', async () => {
    const { cf } = await setup({
      seed: { zones: Array.from({ length: 120 }, (_, i) => ({ name: `Z${i}.Example` })) },
    });
    const zones = await dns(cf).listZones();
    expect(zones).toHaveLength(121);
    expect(zones.find((z) => z.name === 'z7.example')).toMatchObject({ status: 'active', accountId: ACCOUNT });
    expect(cf.requests).toHaveLength(3);
  });

  it('reads every record with server-side filters, stopping at the last page', async () => {
    const { cf, zoneId } = await setup();
    cf.addRecordsUnchecked(
      zoneId,
      Array.from({ length: 12 }, (_, i) => ({
        type: 'CNAME',
        name: `r${i}`,
        content: TARGET,
        proxied: true,
        comment: i % 3 === 0 ? formatOwnerMark(`p${i}`, null) : i % 3 === 1 ? 'TUNNEL-MANAGER:Not A Mark' : null,
      })),
    );
    const provider = dns(cf, { recordsPerPage: 5 });
    const all = await provider.listRecords(zoneId);
    expect(all.map((r) => r.name)).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}.example.com`));
    expect(cf.requests.map((r) => r.query.page)).toEqual(['1', '2', '3']);
    cf.clearRequests();
    const managed = await provider.listRecords(zoneId, { managedOnly: true });
    // The server's comment filter is case-insensitive; only valid marks count.
    expect(managed.map((r) => [r.name, r.owner])).toEqual([
      ['r0.example.com', 'p0'],
      ['r3.example.com', 'p3'],
      ['r6.example.com', 'p6'],
      ['r9.example.com', 'p9'],
    ]);
    expect(cf.requests[0]?.query).toMatchObject({ 'comment.startswith': 'tunnel-manager:', match: 'all' });
    cf.clearRequests();
    const one = await provider.listRecords(zoneId, { type: 'CNAME', name: 'R4.example.com' });
    expect(one.map((r) => r.name)).toEqual(['r4.example.com']);
    expect(cf.requests[0]?.query).toMatchObject({ type: 'CNAME', 'name.exact': 'R4.example.com' });
  });
});

describe('CloudflareDnsProvider: lost answers and rate limits', () => {
  it('leaves no duplicate when the connection drops after a create landed', async () => {
    const { cf, zoneId } = await setup();
    const clock = new ManualClock();
    const provider = dns(cf, { clock });
    cf.injectFault({ method: 'POST', path: '/dns_records', drop: 'after' });
    const record = await drive(clock, provider.createCname(zoneId, cname('lost')));
    expect(record).toMatchObject({ name: 'lost.example.com', content: TARGET, owner: 'alpha', proxied: true });
    expect(cf.records(zoneId).map((r) => r.id)).toEqual([record.id]);
    // One create, then a look-up by name found it: no second create.
    expect(cf.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST dropped', 'GET 200']);
    expect(cf.requests[1]?.query).toMatchObject({ 'name.exact': 'lost.example.com' });
  });

  it('creates once more when the connection dropped before the create landed', async () => {
    const { cf, zoneId } = await setup();
    const clock = new ManualClock();
    cf.injectFault({ method: 'POST', path: '/dns_records', drop: 'before' });
    const record = await drive(clock, dns(cf, { clock }).createCname(zoneId, cname('retry')));
    expect(cf.records(zoneId).map((r) => r.id)).toEqual([record.id]);
    expect(cf.requests.map((r) => `${r.method} ${r.status}`)).toEqual(['POST dropped', 'GET 200', 'POST 200']);
  });

  it('treats a delete whose answer was lost as done', async () => {
    const { cf, zoneId } = await setup();
    const clock = new ManualClock();
    const provider = dns(cf, { clock });
    const record = await provider.createCname(zoneId, cname('gone'));
    cf.injectFault({ method: 'DELETE', drop: 'after' });
    await drive(clock, provider.deleteRecord(zoneId, record.id));
    expect(cf.records(zoneId)).toEqual([]);
  });

  it('rides out a 429 storm: every record created once, and no request inside a retry-after wait', async () => {
    const clock = new ManualClock();
    const window = 60_000;
    const { cf, zoneId } = await setup({ clock, rateLimit: { requests: 10, windowMs: window } });
    const provider = dns(cf, { clock });
    const names = Array.from({ length: 30 }, (_, i) => `storm-${i}`);
    const start = clock.now();
    const created = await drive(
      clock,
      Promise.all(names.map((n) => provider.createCname(zoneId, cname(n, `p${n.length}`)))),
    );
    expect(created).toHaveLength(30);
    const records = cf.records(zoneId);
    expect(records.map((r) => r.name).sort()).toEqual(names.map((n) => `${n}.example.com`).sort());
    expect(new Set(records.map((r) => r.name)).size).toBe(30);
    expect(cf.requestsTo({ method: 'GET' })).toHaveLength(0);
    const limited = cf.requests.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    // After each 429 the whole provider waited out the window: requests arrive only at window starts.
    expect(new Set(cf.requests.map((r) => (r.at - start) % window))).toEqual(new Set([0]));
    expect(cf.requests.filter((r) => r.status === 200)).toHaveLength(30);
  });

  it('stays under requestsPerFiveMinutes by waiting, not by failing', async () => {
    const clock = new ManualClock();
    const { cf } = await setup({ clock });
    const provider = dns(cf, { clock, requestsPerFiveMinutes: 5 });
    const start = clock.now();
    const lists = await drive(clock, Promise.all(Array.from({ length: 8 }, () => provider.listZones())));
    expect(lists.every((zones) => zones.length === 1)).toBe(true);
    expect(cf.requests.map((r) => r.at - start)).toEqual([0, 0, 0, 0, 0, 300_000, 300_000, 300_000]);
  });
});

describe('CloudflareDnsProvider: batches', () => {
  it('sends chunks of at most batchLimit changes, deletes before creates', async () => {
    const { cf, zoneId } = await setup();
    const provider = dns(cf, { batchLimit: 200 });
    const first = await provider.applyBatch(zoneId, {
      deletes: [],
      creates: Array.from({ length: 450 }, (_, i) => cname(`b${i}`)),
    });
    expect(first.created).toHaveLength(450);
    expect(cf.requestsTo({ path: '/batch' }).map((r) => (r.body as { posts: unknown[] }).posts.length)).toEqual([
      200, 200, 50,
    ]);
    cf.clearRequests();
    const second = await provider.applyBatch(zoneId, {
      deletes: first.created.slice(0, 250).map((r) => r.id),
      creates: [cname('b0', 'beta')],
    });
    expect(second.deleted).toHaveLength(250);
    const bodies = cf.requestsTo({ path: '/batch' }).map((r) => r.body as { deletes?: unknown[]; posts?: unknown[] });
    expect(bodies.map((b) => [b.deletes?.length ?? 0, b.posts?.length ?? 0])).toEqual([
      [200, 0],
      [50, 1],
    ]);
    expect(cf.records(zoneId).find((r) => r.name === 'b0.example.com')?.comment).toBe(formatOwnerMark('beta', ME));
    expect(cf.records(zoneId)).toHaveLength(201);
  });

  it('falls back to single calls when a chunk is refused: only the conflicting change fails', async () => {
    const { cf, zoneId } = await setup();
    const foreign = cf.addRecord({ zoneId, type: 'A', name: 'taken', content: '192.0.2.3' });
    const old = await dns(cf).createCname(zoneId, cname('old'));
    const error = await failureOf(
      dns(cf).applyBatch(zoneId, {
        deletes: [old.id],
        creates: [cname('ok1'), cname('taken'), cname('ok2')],
      }),
    );
    expect(error.code).toBe('RECORD_CONFLICT');
    expect(error.details).toMatchObject({
      recordId: foreign.id,
      applied: { deleted: [old.id], created: [{ name: 'ok1.example.com' }, { name: 'ok2.example.com' }] },
      failed: [{ change: 'create taken.example.com', code: 'RECORD_CONFLICT', recordId: foreign.id }],
    });
    expect(
      cf
        .records(zoneId)
        .map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(['A taken.example.com', 'CNAME ok1.example.com', 'CNAME ok2.example.com']);
  });

  it('falls back to single calls when the zone allows fewer changes per batch than configured', async () => {
    const { cf, zoneId } = await setup({ batchLimit: 2 });
    const result = await dns(cf, { batchLimit: 5 }).applyBatch(zoneId, {
      deletes: [],
      creates: Array.from({ length: 4 }, (_, i) => cname(`s${i}`)),
    });
    expect(result.created.map((r) => r.name)).toEqual(['s0', 's1', 's2', 's3'].map((n) => `${n}.example.com`));
    expect(cf.requests.map((r) => `${r.method} ${r.status}`)).toEqual([
      'POST 400',
      'POST 200',
      'POST 200',
      'POST 200',
      'POST 200',
    ]);
  });

  it('does not resend a batch whose answer was lost after it landed', async () => {
    const { cf, zoneId } = await setup();
    const clock = new ManualClock();
    cf.injectFault({ path: '/batch', drop: 'after' });
    const result = await drive(
      clock,
      dns(cf, { clock }).applyBatch(zoneId, { deletes: [], creates: [cname('x1'), cname('x2')] }),
    );
    expect(result.created.map((r) => r.name)).toEqual(['x1.example.com', 'x2.example.com']);
    expect(cf.records(zoneId)).toHaveLength(2);
    expect(cf.requestsTo({ path: '/batch' })).toHaveLength(1);
  });

  it('resends a batch that was lost before it landed, once', async () => {
    const { cf, zoneId } = await setup();
    const clock = new ManualClock();
    cf.injectFault({ path: '/batch', drop: 'before' });
    const result = await drive(
      clock,
      dns(cf, { clock }).applyBatch(zoneId, { deletes: [], creates: [cname('y1'), cname('y2')] }),
    );
    expect(result.created).toHaveLength(2);
    expect(cf.records(zoneId)).toHaveLength(2);
    expect(cf.requestsTo({ path: '/batch' }).map((r) => r.status)).toEqual(['dropped', 200]);
  });

  it('reports what was applied when a later chunk fails for a reason that stops the batch', async () => {
    const { cf, zoneId } = await setup();
    // The first chunk goes through; the second meets a 500, and retries are off.
    cf.injectFault({ path: '/batch', status: 500, skip: 1 });
    const provider = dns(cf, { batchLimit: 2, maxRetries: 0 });
    const error = await failureOf(
      provider.applyBatch(zoneId, { deletes: [], creates: [cname('c1'), cname('c2'), cname('c3')] }),
    );
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(error.details?.applied).toEqual({
      deleted: [],
      remarked: [],
      created: cf.records(zoneId).map((r) => ({ id: r.id, name: r.name })),
      restored: [],
    });
    expect(cf.records(zoneId).map((r) => r.name)).toEqual(['c1.example.com', 'c2.example.com']);
  });

  it('uses one shared budget when several ports share one CloudflareApi', async () => {
    const clock = new ManualClock();
    const { cf } = await setup({ clock });
    const shared = api(cf, { clock, requestsPerFiveMinutes: 2 });
    const { CloudflareDnsProvider } = await import('../src/index.js');
    const a = new CloudflareDnsProvider(shared);
    const b = new CloudflareDnsProvider(shared);
    const start = clock.now();
    await drive(clock, Promise.all([a.listZones(), b.listZones(), a.listZones()]));
    expect(cf.requests.map((r) => r.at - start)).toEqual([0, 0, 300_000]);
  });
});
