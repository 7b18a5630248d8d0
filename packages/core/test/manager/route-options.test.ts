import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Actor,
  type IngressRule,
  isTunnelError,
  matchIngressRule,
  ROUTE_STATES,
  type TunnelError,
} from '../../src/index.js';
import {
  disagreements,
  INSTANCE_ID,
  managedRules,
  observe,
  recordsNamed,
  startWorld,
  TOKEN,
  type World,
  ZONE,
} from './helpers.js';

/*
 * Routes with a path, origin settings and wildcards, through the library façade against a real
 * SQLite file, a real config.yml and the Cloudflare emulator.
 */

const shop = Actor.project('shop');
const blog = Actor.project('blog');
const admin = Actor.admin();
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

async function failure(promise: Promise<unknown>): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a TunnelError');
}

const rulesOf = async (w: World) => (await w.ingress.read()).rules;
/** The reconciler's plan, without the seeded orphan record (ghost.example.com) every world has. */
const drift = async (w: World) =>
  (await w.manager.reconcilePlan()).changes.filter((c) => c.hostname !== 'ghost.example.com').map((c) => c.summary);
const dnsWrites = (w: World) => w.cf.requests.filter((r) => r.method !== 'GET').length;

let world: World | null = null;
const cleanup: string[] = [];
/** Starts a world that afterEach closes. */
async function open(options?: Parameters<typeof startWorld>[0]): Promise<World> {
  world = await startWorld(options);
  return world;
}
afterEach(async () => {
  await world?.close();
  world = null;
  for (const dir of cleanup.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('paths: several routes on one hostname', () => {
  it('gives each path its own rule, most specific first, all on one DNS record of one owner', async () => {
    const w = await open();
    const add = (port: number, path?: string) =>
      w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port }, ...(path ? { path } : {}) });
    // Added least specific first: placement must still put the most specific first.
    await add(3000);
    await add(3001, '^/api/');
    const writesAfterTwo = dnsWrites(w);
    const third = await add(3002, '^/api/v2/');
    expect(third.outcome).toBe('created');
    expect(dnsWrites(w)).toBe(writesAfterTwo);
    expect(third.steps.map((s) => s.summary).join('\n')).toContain('no DNS change');

    const records = recordsNamed(w, 'app.example.com');
    expect(records).toHaveLength(1);
    const routes = await w.manager.listCnames(shop);
    expect(routes.map((r) => [r.path, r.dnsRecordId])).toEqual([
      [null, records[0]?.id],
      ['^/api/', records[0]?.id],
      ['^/api/v2/', records[0]?.id],
    ]);
    const rules = (await managedRules(w)).filter((r) => r.hostname === 'app.example.com');
    expect(rules.map((r) => [r.path ?? null, r.service])).toEqual([
      ['^/api/v2/', 'http://localhost:3002'],
      ['^/api/', 'http://localhost:3001'],
      [null, 'http://localhost:3000'],
    ]);
    const all = await rulesOf(w);
    expect(matchIngressRule(all, 'https://app.example.com/api/v2/users').rule.service).toBe('http://localhost:3002');
    expect(matchIngressRule(all, 'https://app.example.com/api/v1').rule.service).toBe('http://localhost:3001');
    expect(matchIngressRule(all, 'https://app.example.com/').rule.service).toBe('http://localhost:3000');
    expect(await disagreements(w)).toEqual([]);
    // The reconciler sees no drift in a hostname with several path rules.
    expect(await drift(w)).toEqual([]);
  });

  it('refuses a path on a name another project holds, changing nothing', async () => {
    const w = await open();
    await w.manager.requestCname(blog, { hostname: 'blog.example.com', service: { port: 3000 } });
    const before = await observe(w);
    const error = await failure(
      w.manager.requestCname(shop, { hostname: 'blog.example.com', path: '^/shop/', service: { port: 3001 } }),
    );
    expect(error.code).toBe('HOSTNAME_TAKEN');
    expect(error.message).not.toContain('blog'.concat(' ')); // does not name the other project
    expect(await observe(w)).toEqual(before);
    // Nor the other way round: a path route first makes the whole name its owner's.
    await w.manager.requestCname(blog, { hostname: 'api.example.com', path: '^/v1/', service: { port: 3002 } });
    const error2 = await failure(
      w.manager.requestCname(shop, { hostname: 'api.example.com', service: { port: 3003 } }),
    );
    expect(error2.code).toBe('HOSTNAME_TAKEN');
    // A project cannot delete another's path route either.
    const error3 = await failure(w.manager.deleteCname(shop, 'api.example.com', { path: '^/v1/' }));
    expect(error3.code).toBe('NOT_OWNER');
  });

  it('deleting a path removes only its rule; the record goes with the last route', async () => {
    const w = await open();
    await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, { hostname: 'app.example.com', path: '^/api/', service: { port: 3001 } });
    const first = await w.manager.deleteCname(shop, 'app.example.com');
    expect(first).toMatchObject({ path: null, dnsRecordDeleted: false });
    expect(recordsNamed(w, 'app.example.com')).toHaveLength(1);
    expect((await managedRules(w)).map((r) => [r.hostname, r.path])).toEqual([['app.example.com', '^/api/']]);
    expect(await disagreements(w)).toEqual([]);
    const missing = await failure(w.manager.deleteCname(shop, 'app.example.com', { path: '^/nope/' }));
    expect(missing.code).toBe('NOT_FOUND');
    const last = await w.manager.deleteCname(shop, 'app.example.com', { path: '^/api/' });
    expect(last).toMatchObject({ path: '^/api/', dnsRecordDeleted: true });
    expect(recordsNamed(w, 'app.example.com')).toHaveLength(0);
    expect(await managedRules(w)).toEqual([]);
  });

  it('a failed second path rolls back its rule only, keeping the shared record', async () => {
    let fail = false;
    const w = await open({
      manager: {
        hooks: {
          afterStep(checkpoint) {
            if (fail && checkpoint === 'record_stored') throw new Error('injected failure');
          },
        },
      },
    });
    await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    fail = true;
    await failure(
      w.manager.requestCname(shop, { hostname: 'app.example.com', path: '^/api/', service: { port: 3001 } }),
    );
    fail = false;
    expect(recordsNamed(w, 'app.example.com')).toHaveLength(1);
    expect((await managedRules(w)).map((r) => r.path ?? null)).toEqual([null]);
    expect(await disagreements(w)).toEqual([]);
  });

  it('recovery of a path route a crash left behind keeps the record its siblings use', async () => {
    const w = await open();
    const { route } = await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    // What a process killed right after storing the shared record id leaves behind.
    const stuck = await w.db.routes.reserve(
      {
        id: 'stuck-1',
        hostname: 'app.example.com',
        path: '^/api/',
        zoneId: route.zoneId,
        zoneName: route.zoneName,
        owner: 'shop',
        service: { container: null, port: 3001, scheme: 'http' },
        target: 'http://localhost:3001',
        targetReason: 'test',
        createdAt: 1,
      },
      { quota: null },
    );
    await w.db.routes.update(stuck.id, { state: 'ingress_written', updatedAt: 2 });
    await w.ingress.write(
      [
        ...(await rulesOf(w)).slice(0, -1).flatMap((r) =>
          r.hostname === 'app.example.com'
            ? [
                {
                  hostname: 'app.example.com',
                  path: '^/api/',
                  service: 'http://localhost:3001',
                  managed: { owner: 'shop', instance: INSTANCE_ID },
                },
                r,
              ]
            : [r],
        ),
        { service: 'http_status:404' },
      ],
      (await w.ingress.read()).version,
    );
    await w.db.routes.update(stuck.id, { state: 'dns_created', dnsRecordId: route.dnsRecordId, updatedAt: 3 });
    const report = await w.manager.recover();
    expect(report.routes.map((r) => [r.hostname, r.from, r.to])).toEqual([
      ['app.example.com', 'dns_created', 'failed'],
    ]);
    expect(recordsNamed(w, 'app.example.com')).toHaveLength(1);
    expect((await managedRules(w)).map((r) => r.path ?? null)).toEqual([null]);
    expect(await disagreements(w)).toEqual([]);
  });
});

describe('re-targeting your own route in place', () => {
  it('changes one rule with one restart and no DNS change; the same request again changes nothing', async () => {
    const w = await open();
    await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, { hostname: 'app.example.com', path: '^/api/', service: { port: 3001 } });
    await w.db.restarts.take();
    const writes = dnsWrites(w);
    const rulesBefore = await rulesOf(w);
    const request = {
      hostname: 'app.example.com',
      path: '^/api/',
      service: { port: 4001, scheme: 'https' as const },
      originRequest: { noTLSVerify: true, connectTimeout: '1m' },
    };
    const updated = await w.manager.requestCname(shop, request);
    expect(updated.outcome).toBe('updated');
    expect(updated.route.originRequest).toEqual({ noTLSVerify: true, connectTimeout: '60s' });
    const rulesAfter = await rulesOf(w);
    const changed = rulesAfter.filter((r, i) => JSON.stringify(r) !== JSON.stringify(rulesBefore[i]));
    expect(changed).toEqual([
      {
        hostname: 'app.example.com',
        path: '^/api/',
        service: 'https://localhost:4001',
        originRequest: { noTLSVerify: true, connectTimeout: '60s' },
        managed: { owner: 'shop', instance: INSTANCE_ID },
      },
    ]);
    expect(rulesAfter).toHaveLength(rulesBefore.length);
    expect(dnsWrites(w)).toBe(writes);
    expect(await w.db.restarts.pending()).toBe(1);
    expect(readFileSync(w.ingressPath, 'utf8')).toContain('connectTimeout: 60s');

    await w.db.restarts.take();
    const bytes = readFileSync(w.ingressPath, 'utf8');
    const again = await w.manager.requestCname(shop, request);
    expect(again.outcome).toBe('unchanged');
    expect(readFileSync(w.ingressPath, 'utf8')).toBe(bytes);
    expect(await w.db.restarts.pending()).toBe(0);
    expect(dnsWrites(w)).toBe(writes);
    // Dropping the settings is a change too.
    const plain = await w.manager.requestCname(shop, { ...request, originRequest: null });
    expect(plain.outcome).toBe('updated');
    expect((await managedRules(w)).find((r) => r.path === '^/api/')?.originRequest).toBeUndefined();
    expect(await disagreements(w)).toEqual([]);
  });

  it('moves a route to another path with fromPath: the rule moves to its place, DNS stays', async () => {
    const w = await open();
    await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, { hostname: 'app.example.com', path: '^/a/', service: { port: 3001 } });
    const writes = dnsWrites(w);
    const moved = await w.manager.requestCname(shop, {
      hostname: 'app.example.com',
      fromPath: '^/a/',
      path: '^/assets/',
      service: { port: 3001 },
    });
    expect(moved.outcome).toBe('updated');
    expect(moved.route.path).toBe('^/assets/');
    expect((await managedRules(w)).map((r) => r.path ?? null)).toEqual(['^/assets/', null]);
    expect(dnsWrites(w)).toBe(writes);
    expect((await w.db.routes.list({ states: ROUTE_STATES })).map((r) => r.path)).toEqual([null, '^/assets/']);
    // The path-less route can move to a path too, and back.
    await w.manager.requestCname(shop, {
      hostname: 'app.example.com',
      fromPath: null,
      path: '^/',
      service: { port: 3000 },
    });
    expect((await managedRules(w)).map((r) => r.path ?? null)).toEqual(['^/assets/', '^/']);
    expect(await disagreements(w)).toEqual([]);
    const clash = await failure(
      w.manager.requestCname(shop, {
        hostname: 'app.example.com',
        fromPath: '^/',
        path: '^/assets/',
        service: { port: 1 },
      }),
    );
    expect(clash.code).toBe('HOSTNAME_TAKEN');
  });
});

describe('origin settings', () => {
  it('writes allow-listed settings as the rule originRequest, and a caPool only from an allowed directory', async () => {
    const base = mkdtempSync(join(tmpdir(), 'tm-ca-'));
    cleanup.push(base);
    const dir = join(base, 'ca');
    mkdirSync(dir);
    mkdirSync(join(base, 'out'));
    writeFileSync(join(dir, 'origin.pem'), PEM);
    writeFileSync(join(dir, 'not-pem.txt'), 'hello');
    writeFileSync(join(base, 'out', 'origin.pem'), PEM);
    symlinkSync(join(base, 'out', 'origin.pem'), join(dir, 'link.pem'));
    const x = await open({ config: { policy: { caPoolDirs: [dir] } } });

    const ok = await x.manager.requestCname(shop, {
      hostname: 'tls.example.com',
      service: { port: 8443, scheme: 'https' },
      originRequest: { caPool: join(dir, 'origin.pem'), originServerName: 'origin.internal', http2Origin: true },
    });
    expect(ok.route.originRequest).toEqual({
      caPool: join(dir, 'origin.pem'),
      originServerName: 'origin.internal',
      http2Origin: true,
    });
    const rule = (await managedRules(x)).find((r) => r.hostname === 'tls.example.com');
    expect(rule?.originRequest).toEqual({
      originServerName: 'origin.internal',
      caPool: join(dir, 'origin.pem'),
      http2Origin: true,
    });
    const before = await observe(x);
    for (const [caPool, code] of [
      [join(base, 'out', 'origin.pem'), 'POLICY_DENIED'],
      [join(dir, 'link.pem'), 'POLICY_DENIED'],
      [`${dir}/../out/origin.pem`, 'INVALID_INPUT'],
      [join(dir, 'not-pem.txt'), 'INVALID_INPUT'],
      [join(dir, 'missing.pem'), 'INVALID_INPUT'],
    ] as const) {
      const error = await failure(
        x.manager.requestCname(shop, { hostname: 'tls2.example.com', service: { port: 1 }, originRequest: { caPool } }),
      );
      expect(error.code, caPool).toBe(code);
    }
    expect((await observe(x)).routes).toEqual(before.routes);
    expect((await observe(x)).ingressBytes).toBe(before.ingressBytes);
  });
});

describe('wildcards', () => {
  it('an admin wildcard gets the DNS wildcard record and a rule after the exact names it covers', async () => {
    const w = await open();
    await w.manager.requestCname(shop, { hostname: 'a.team.example.com', service: { port: 3001 } });
    const wild = await w.manager.requestCname(admin, { hostname: '*.team.example.com', service: { port: 3000 } });
    expect(wild.outcome).toBe('created');
    expect(recordsNamed(w, '*.team.example.com')).toHaveLength(1);
    await w.manager.requestCname(blog, { hostname: 'b.team.example.com', service: { port: 3002 } });
    const rules = await rulesOf(w);
    const names = rules.map((r) => r.hostname ?? '(catch-all)');
    expect(names.indexOf('*.team.example.com')).toBeGreaterThan(names.indexOf('a.team.example.com'));
    expect(names.indexOf('*.team.example.com')).toBeGreaterThan(names.indexOf('b.team.example.com'));
    expect(matchIngressRule(rules, 'https://a.team.example.com/').rule.service).toBe('http://localhost:3001');
    expect(matchIngressRule(rules, 'https://b.team.example.com/').rule.service).toBe('http://localhost:3002');
    expect(matchIngressRule(rules, 'https://zzz.team.example.com/').rule.service).toBe('http://localhost:3000');
    expect(await disagreements(w)).toEqual([]);
    expect(await drift(w)).toEqual([]);
    await w.manager.deleteCname(admin, '*.team.example.com');
    expect(recordsNamed(w, '*.team.example.com')).toHaveLength(0);
  });

  it('a project takes a wildcard only in a zone policy.wildcardZones names, and owns the names below it', async () => {
    const w = await open({ config: { policy: { wildcardZones: ['example.com'] } } });
    const apex = await failure(w.manager.requestCname(shop, { hostname: '*.example.com', service: { port: 1 } }));
    expect(apex.code).toBe('POLICY_DENIED');
    const otherZone = await failure(
      w.manager.requestCname(shop, { hostname: '*.x.example.org', service: { port: 1 } }),
    );
    expect(otherZone.code).toBe('POLICY_DENIED');
    await w.manager.requestCname(shop, { hostname: '*.shop.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, { hostname: 'api.shop.example.com', service: { port: 3001 } });
    const below = await failure(w.manager.requestCname(blog, { hostname: 'x.shop.example.com', service: { port: 1 } }));
    expect(below.code).toBe('HOSTNAME_TAKEN');
    await w.manager.requestCname(blog, { hostname: 'y.blog.example.com', service: { port: 3002 } });
    const over = await failure(w.manager.requestCname(shop, { hostname: '*.blog.example.com', service: { port: 1 } }));
    expect(over.code).toBe('HOSTNAME_TAKEN');
    expect(await disagreements(w)).toEqual([]);
  });
});

describe('reconcile understands path routes', () => {
  const setup = async () => {
    const w = await open();
    await w.manager.requestCname(shop, { hostname: 'app.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, {
      hostname: 'app.example.com',
      path: '^/api/',
      service: { port: 3001 },
      originRequest: { noTLSVerify: true },
    });
    return w;
  };
  const rewrite = async (w: World, change: (rules: readonly IngressRule[]) => IngressRule[]) => {
    const snapshot = await w.ingress.read();
    await w.ingress.write(change(snapshot.rules), snapshot.version);
  };

  it('re-adds a missing path rule with its origin settings, and rewrites settings edited away', async () => {
    const w = await setup();
    await rewrite(w, (rules) => rules.filter((r) => r.path !== '^/api/'));
    expect(await drift(w)).toEqual(['add ingress rule app.example.com path ^/api/ → http://localhost:3001 for shop']);
    await w.manager.reconcileApply(null);
    expect(await disagreements(w)).toEqual([]);
    expect((await managedRules(w)).find((r) => r.path === '^/api/')?.originRequest).toEqual({ noTLSVerify: true });

    await rewrite(w, (rules) =>
      rules.map((r) => (r.path === '^/api/' ? { ...r, originRequest: { noTLSVerify: false } } : r)),
    );
    expect(await drift(w)).toEqual([
      'rewrite ingress rule app.example.com path ^/api/ → http://localhost:3001 with its stored origin settings',
    ]);
    await w.manager.reconcileApply(null);
    expect((await managedRules(w)).find((r) => r.path === '^/api/')?.originRequest).toEqual({ noTLSVerify: true });
    expect(await drift(w)).toEqual([]);
  });

  it('removes an orphan path rule alone, and re-creates a lost record once for all paths', async () => {
    const w = await setup();
    await rewrite(w, (rules) => [
      {
        hostname: 'app.example.com',
        path: '^/old/',
        service: 'http://localhost:9',
        managed: { owner: 'shop', instance: INSTANCE_ID },
      },
      ...rules,
    ]);
    const plan = await drift(w);
    expect(plan).toEqual([
      'remove ingress rule app.example.com path ^/old/ → http://localhost:9 (marked for shop): no route holds it',
    ]);
    await w.manager.reconcileApply(null, { force: true });
    expect((await managedRules(w)).map((r) => r.path ?? null)).toEqual(['^/api/', null]);

    // The record deleted behind the manager's back, as someone with the token would.
    const [record] = recordsNamed(w, 'app.example.com');
    const res = await fetch(`${w.cf.url}/zones/${ZONE.com.id}/dns_records/${record?.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.status).toBe(200);
    const lost = await drift(w);
    expect(lost.filter((s) => s.startsWith('create CNAME'))).toHaveLength(1);
    await w.manager.reconcileApply(null);
    const [fresh] = recordsNamed(w, 'app.example.com');
    expect((await w.manager.listCnames(shop)).map((r) => r.dnsRecordId)).toEqual([fresh?.id, fresh?.id]);
    expect(await disagreements(w)).toEqual([]);
  });
});
