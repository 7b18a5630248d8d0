import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Actor, isTunnelError, type ReconcileProgress } from '../../src/index.js';
import {
  disagreements,
  managedRules,
  recordsNamed,
  startWorld,
  TOKEN,
  TUNNEL_TARGET,
  type World,
  ZONE,
} from './helpers.js';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

const shop = Actor.project('shop');
const admin = Actor.admin();

async function world(config: Parameters<typeof startWorld>[0] = {}): Promise<World> {
  const w = await startWorld(config);
  worlds.push(w);
  return w;
}

/** Drift made behind the manager's back, as someone with the API token would. */
async function deleteRecordBehindItsBack(w: World, zoneId: string, id: string): Promise<void> {
  const res = await fetch(`${w.cf.url}/zones/${zoneId}/dns_records/${id}`, {
    method: 'DELETE',
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  expect(res.status).toBe(200);
}

async function editRules(w: World, edit: (rules: Awaited<ReturnType<World['ingress']['read']>>['rules']) => unknown[]) {
  const snapshot = await w.ingress.read();
  await w.ingress.write(edit(snapshot.rules) as never, snapshot.version);
}

async function seedRoutes(w: World, names: string[]): Promise<void> {
  for (const name of names) await w.manager.requestCname(shop, { hostname: name, service: { port: 3000 } });
}

describe('reconciler', () => {
  it('plans nothing when the three places agree', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['a.example.com', 'b.example.org']);
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes).toEqual([]);
    expect(plan.managedRoutes).toBe(2);
  });

  it('repairs drift in DNS: a missing record is created, an orphan marked record deleted, unmarked ones never', async () => {
    const w = await world();
    await seedRoutes(w, ['a.example.com', 'b.example.com']);
    const [a] = recordsNamed(w, 'a.example.com');
    await deleteRecordBehindItsBack(w, ZONE.com.id, a?.id as string);
    w.cf.addRecord({
      zone: 'example.com',
      type: 'CNAME',
      name: 'orphan.example.com',
      content: TUNNEL_TARGET,
      comment: 'tunnel-manager:shop',
    });

    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname}`)).toEqual([
      'delete_dns ghost.example.com',
      'delete_dns orphan.example.com',
      'create_dns a.example.com',
    ]);
    expect(plan.summary.every((line) => line.length > 10)).toBe(true);
    expect(JSON.parse(JSON.stringify(plan))).toEqual(plan);

    w.cf.clearRequests();
    const seen: ReconcileProgress[] = [];
    const result = await w.manager.reconcileApply(plan, { onProgress: (p) => seen.push(p) });
    expect(result.failed).toEqual([]);
    expect(result.applied).toHaveLength(3);
    expect(seen.map((p) => p.done)).toEqual([1, 2, 3]);
    // One batch call for the zone, deletes and creates together.
    expect(w.cf.requestsTo({ method: 'POST', path: '/dns_records/batch' })).toHaveLength(1);
    expect(w.cf.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/batch'))).toEqual([]);

    expect(recordsNamed(w, 'orphan.example.com')).toEqual([]);
    expect(recordsNamed(w, 'ghost.example.com')).toEqual([]);
    expect(recordsNamed(w, 'legacy.example.com')).toHaveLength(1);
    expect(recordsNamed(w, 'www.example.com')).toHaveLength(1);
    expect(recordsNamed(w, 'txt.example.com')).toHaveLength(1);
    expect(await disagreements(w)).toEqual([]);
    expect((await w.manager.reconcilePlan()).changes).toEqual([]);
    const [audit] = await w.db.audit.query({ action: 'reconcile.apply' });
    expect(audit).toMatchObject({ actor: 'admin', outcome: 'ok' });
  });

  it('repairs drift in the ingress file: missing, stale and orphan managed rules; hand-written rules stay', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['a.example.com', 'b.example.com', 'c.example.com']);
    await editRules(w, (rules) => [
      ...rules
        .filter((r) => r.hostname !== 'a.example.com')
        .map((r) => (r.hostname === 'b.example.com' ? { ...r, service: 'http://localhost:6666' } : r))
        .slice(0, -1),
      { hostname: 'stray.example.com', service: 'http://localhost:1', managed: { owner: 'gone' } },
      { service: 'http_status:404' },
    ]);
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname}`)).toEqual([
      'remove_rule stray.example.com',
      'add_rule a.example.com',
      'update_rule b.example.com',
    ]);
    const result = await w.manager.reconcileApply(plan);
    expect(result.failed).toEqual([]);
    expect(result.restartPending).toBe(true);
    expect(await disagreements(w)).toEqual([]);
    const snapshot = await w.ingress.read();
    expect(snapshot.rules.some((r) => r.hostname === 'www.example.com' && !r.managed)).toBe(true);
  });

  it('repairs drift in the database: a lost record id is relinked, a lost route’s record and rule removed', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['a.example.com', 'b.example.com']);
    const [a] = await w.db.routes.list({ hostname: 'a.example.com' });
    const sqlite = new Database(w.config.database.path);
    try {
      sqlite.prepare('UPDATE cnames SET dns_record_id = NULL WHERE hostname = ?').run('a.example.com');
      sqlite.prepare('DELETE FROM cnames WHERE hostname = ?').run('b.example.com');
    } finally {
      sqlite.close();
    }
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname}`)).toEqual([
      'delete_dns b.example.com',
      'relink a.example.com',
      'remove_rule b.example.com',
    ]);
    await w.manager.reconcileApply(plan);
    expect((await w.db.routes.get(a?.id as string))?.dnsRecordId).toBe(recordsNamed(w, 'a.example.com')[0]?.id);
    expect(recordsNamed(w, 'b.example.com')).toEqual([]);
    expect((await managedRules(w)).map((r) => r.hostname)).toEqual(['a.example.com']);
    expect(await disagreements(w)).toEqual([]);
  });

  it('refuses a plan that deletes more than the threshold, changing nothing; force applies it', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['keep.example.com']);
    for (let i = 0; i < 11; i++) {
      w.cf.addRecord({
        zone: 'example.org',
        type: 'CNAME',
        name: `old${i}.example.org`,
        content: TUNNEL_TARGET,
        comment: 'tunnel-manager:shop',
      });
    }
    const plan = await w.manager.reconcilePlan();
    expect(plan.deletes).toBe(11);
    expect(plan.deleteThreshold).toBe(10);
    w.cf.clearRequests();
    const refused = await w.manager.reconcileApply(plan).catch((e: unknown) => e);
    expect(isTunnelError(refused, 'POLICY_DENIED')).toBe(true);
    expect((refused as { hint: string }).hint).toContain('--force');
    expect(w.cf.requests.filter((r) => r.method !== 'GET')).toEqual([]);
    const [denied] = await w.db.audit.query({ action: 'reconcile.apply' });
    expect(denied).toMatchObject({ outcome: 'error', errorCode: 'POLICY_DENIED' });

    const forced = await w.manager.reconcileApply(plan, { force: true });
    expect(forced.applied).toHaveLength(11);
    expect(w.cf.records(ZONE.org.id)).toEqual([]);
    expect(await disagreements(w)).toEqual([]);
  });

  it('applies only what fresh state still needs from a stale plan', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['a.example.com']);
    w.cf.addRecord({
      zone: 'example.com',
      type: 'CNAME',
      name: 'orphan.example.com',
      content: TUNNEL_TARGET,
      comment: 'tunnel-manager:shop',
    });
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => c.kind)).toEqual(['delete_dns']);
    // Since the plan: the orphan became a real route again (its owner asked for it).
    await w.manager.requestCname(shop, { hostname: 'orphan.example.com', service: { port: 3000 } });
    const result = await w.manager.reconcileApply(plan);
    expect(result.applied).toEqual([]);
    expect(result.skipped.map((c) => c.hostname)).toEqual(['orphan.example.com']);
    expect(recordsNamed(w, 'orphan.example.com')).toHaveLength(1);
    expect(await disagreements(w)).toEqual([]);
  });

  it('reports a record it cannot create because an unmarked record took the name, and leaves that record alone', async () => {
    const w = await world({ records: [] });
    await seedRoutes(w, ['a.example.com']);
    const [a] = recordsNamed(w, 'a.example.com');
    await deleteRecordBehindItsBack(w, ZONE.com.id, a?.id as string);
    w.cf.addRecord({ zone: 'example.com', type: 'A', name: 'a.example.com', content: '198.51.100.9' });
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname}`)).toEqual(['create_dns a.example.com']);
    const result = await w.manager.reconcileApply(plan);
    expect(result.applied).toEqual([]);
    expect(result.failed.map((f) => [f.change.kind, f.code])).toEqual([['create_dns', 'RECORD_CONFLICT']]);
    expect(recordsNamed(w, 'a.example.com').map((r) => [r.type, r.content])).toEqual([['A', '198.51.100.9']]);
    const [audit] = await w.db.audit.query({ action: 'reconcile.apply' });
    expect(audit?.params.failed).toEqual(['create_dns a.example.com: RECORD_CONFLICT']);
  });

  it('is for admins only', async () => {
    const w = await world();
    const error = await w.manager.reconcilePlan(shop).catch((e: unknown) => e);
    expect(isTunnelError(error, 'NOT_OWNER')).toBe(true);
    const apply = await w.manager.reconcileApply(null, { actor: shop }).catch((e: unknown) => e);
    expect(isTunnelError(apply, 'NOT_OWNER')).toBe(true);
    expect((await w.manager.reconcilePlan(admin)).changes.map((c) => c.hostname)).toEqual(['ghost.example.com']);
  });
});
