import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { Actor, createTunnelManager, isTunnelError, loadConfig, type TunnelError } from '../../src/index.js';
import { container, onHost, snapshot } from '../topology/fixtures.js';
import {
  INSTANCE_ID,
  managedRules,
  mark,
  observe,
  recordsNamed,
  startWorld,
  TUNNEL_TARGET,
  type World,
  ZONE,
} from './helpers.js';

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});
async function world(options: Parameters<typeof startWorld>[0] = {}): Promise<World> {
  const w = await startWorld(options);
  worlds.push(w);
  return w;
}

const shop = Actor.project('shop');
const blog = Actor.project('blog');
const admin = Actor.admin();

async function expectCode(promise: Promise<unknown>, code: string): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    expect(isTunnelError(error), String(error)).toBe(true);
    expect((error as TunnelError).code, (error as TunnelError).message).toBe(code);
    expect((error as TunnelError).hint.length).toBeGreaterThan(0);
    return error as TunnelError;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

describe('TunnelManager against the Cloudflare emulator', () => {
  it('creates a CNAME: route active, proxied marked record, managed rule, restart queued, audited', async () => {
    const w = await world();
    const result = await w.manager.requestCname(shop, {
      hostname: 'App.Example.com',
      service: { container: 'web', port: 8080 },
    });
    expect(result.outcome).toBe('created');
    expect(result.publicUrl).toBe('https://app.example.com');
    expect(result.target).toBe('http://localhost:18080');
    expect(result.restartPending).toBe(true);
    expect(result.restartDetail).toContain('waitForRestart');
    expect(result.steps.map((s) => s.step)).toEqual(['reserve', 'write_ingress', 'create_dns', 'restart', 'activate']);

    const [route] = await w.db.routes.list({ hostname: 'app.example.com' });
    expect(route).toMatchObject({
      state: 'active',
      owner: 'shop',
      zoneId: ZONE.com.id,
      target: 'http://localhost:18080',
    });
    const records = recordsNamed(w, 'app.example.com');
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      type: 'CNAME',
      content: TUNNEL_TARGET,
      proxied: true,
      comment: mark('shop'),
    });
    expect(route?.dnsRecordId).toBe(records[0]?.id);
    expect(await managedRules(w)).toEqual([
      {
        hostname: 'app.example.com',
        service: 'http://localhost:18080',
        managed: { owner: 'shop', instance: INSTANCE_ID },
      },
    ]);
    expect(await w.db.restarts.pending()).toBe(1);
    const [entry] = await w.db.audit.query({ action: 'cname.request' });
    expect(entry).toMatchObject({ actor: 'project:shop', project: 'shop', target: 'app.example.com', outcome: 'ok' });
    expect(entry?.params).toMatchObject({ outcome: 'created', target: 'http://localhost:18080' });
  });

  it('repeats idempotently, updates the target for its owner, and deletes everything', async () => {
    const w = await world();
    await w.manager.requestCname(shop, {
      subdomain: 'app',
      domain: 'example.com',
      service: { container: 'web', port: 8080 },
    });
    const before = await observe(w);

    const again = await w.manager.requestCname(shop, {
      hostname: 'app.example.com',
      service: { container: 'web', port: 8080 },
    });
    expect(again.outcome).toBe('unchanged');
    const after = await observe(w);
    expect(after).toEqual(before);

    const moved = await w.manager.requestCname(shop, {
      hostname: 'app.example.com',
      service: { container: 'api', port: 9000 },
    });
    expect(moved.outcome).toBe('updated');
    expect(moved.target).toBe('http://localhost:19000');
    expect(await managedRules(w)).toEqual([
      {
        hostname: 'app.example.com',
        service: 'http://localhost:19000',
        managed: { owner: 'shop', instance: INSTANCE_ID },
      },
    ]);
    const [route] = await w.db.routes.list({ hostname: 'app.example.com' });
    expect(route).toMatchObject({
      state: 'active',
      target: 'http://localhost:19000',
      service: { container: 'api', port: 9000 },
    });
    expect(recordsNamed(w, 'app.example.com')).toHaveLength(1);

    const deleted = await w.manager.deleteCname(shop, 'app.example.com');
    expect(deleted.route.state).toBe('deleted');
    expect(deleted.restartPending).toBe(true);
    expect(recordsNamed(w, 'app.example.com')).toEqual([]);
    expect(await managedRules(w)).toEqual([]);
    expect(await w.db.routes.findLive('app.example.com')).toBeNull();
    const actions = (await w.db.audit.query({ actor: 'project:shop' })).map((e) => `${e.action}:${e.outcome}`);
    expect(actions.sort()).toEqual(['cname.delete:ok', 'cname.request:ok', 'cname.request:ok', 'cname.request:ok']);
  });

  it('lists, reports status and domains per caller, and keeps projects to their own audit entries', async () => {
    const w = await world();
    await w.manager.requestCname(shop, { hostname: 'a.example.com', service: { port: 3000 } });
    await w.manager.requestCname(blog, { hostname: 'b.example.org', service: { port: 3001 } });

    expect((await w.manager.listCnames(shop)).map((r) => r.hostname)).toEqual(['a.example.com']);
    expect((await w.manager.listCnames(admin)).map((r) => r.hostname)).toEqual(['a.example.com', 'b.example.org']);
    expect((await w.manager.listCnames(admin, { project: 'blog' })).map((r) => r.hostname)).toEqual(['b.example.org']);
    expect((await w.manager.listCnames(admin, { zone: 'example.org' })).map((r) => r.hostname)).toEqual([
      'b.example.org',
    ]);
    await expectCode(w.manager.listCnames(shop, { project: 'blog' }), 'NOT_OWNER');

    const status = await w.manager.getStatus(shop);
    expect(status.tunnel.status).toBe('unknown');
    expect(status.routes.active).toBe(1);
    expect(status.restartPending).toBe(true);
    expect((await w.manager.getStatus(admin)).routes.active).toBe(2);

    const domains = await w.manager.listDomains(shop);
    expect(domains.map((d) => [d.name, d.usable])).toEqual([
      ['dev.example.com', true],
      ['example.com', true],
      ['example.org', true],
      ['pending.test', false],
    ]);

    expect((await w.manager.queryAudit(shop)).map((e) => e.target)).toEqual(['a.example.com']);
    expect((await w.manager.queryAudit(admin, { action: 'cname.request' })).length).toBe(2);
    await expectCode(w.manager.queryAudit(shop, { project: 'blog' }), 'NOT_OWNER');
  });

  it('plans a dry run without touching the database, DNS or the ingress file', async () => {
    const w = await world();
    await w.manager.listDomains(admin);
    const before = await observe(w);
    const auditBefore = (await w.db.audit.query()).length;
    const plan = await w.manager.requestCname(shop, {
      hostname: 'plan.example.com',
      service: { container: 'web', port: 8080 },
      dryRun: true,
    });
    expect(plan.outcome).toBe('planned');
    expect(plan.steps.map((s) => s.step)).toEqual(['reserve', 'write_ingress', 'create_dns', 'restart', 'activate']);
    expect(plan.steps[2]?.summary).toContain(TUNNEL_TARGET);
    expect(await observe(w)).toEqual(before);
    expect((await w.db.audit.query()).length).toBe(auditBefore);
    const adopt = await w.manager.requestCname(admin, {
      hostname: 'legacy.example.com',
      service: { port: 80 },
      dryRun: true,
      adopt: true,
    });
    expect(adopt.steps.find((s) => s.step === 'replace_dns')?.summary).toContain('A 203.0.113.10');
    expect(await observe(w)).toEqual(before);
  });

  it('refuses a name another project holds; an admin acting for the owner may change it', async () => {
    const w = await world();
    await w.manager.requestCname(shop, { hostname: 'shared.example.com', service: { port: 3000 } });
    const taken = await expectCode(
      w.manager.requestCname(blog, { hostname: 'shared.example.com', service: { port: 4000 } }),
      'HOSTNAME_TAKEN',
    );
    expect(taken.details?.owner).toBeUndefined();
    await expectCode(
      w.manager.requestCname(admin, { hostname: 'shared.example.com', service: { port: 4000 } }),
      'HOSTNAME_TAKEN',
    );
    const updated = await w.manager.requestCname(admin, {
      hostname: 'shared.example.com',
      project: 'shop',
      service: { port: 4000 },
    });
    expect(updated.outcome).toBe('updated');
    expect(updated.route.owner).toBe('shop');
    const notOwner = await expectCode(w.manager.deleteCname(blog, 'shared.example.com'), 'NOT_OWNER');
    // Nor does a refused delete tell blog who holds the name.
    expect(JSON.stringify(notOwner.toJSON())).not.toContain('shop');
    await expectCode(w.manager.deleteCname(blog, 'nothing.example.com'), 'NOT_FOUND');
    expect((await w.manager.deleteCname(admin, 'shared.example.com')).route.state).toBe('deleted');
  });

  it('refuses names held by records it does not own, says what holds them, and lets an admin adopt', async () => {
    const w = await world();
    const conflict = await expectCode(
      w.manager.requestCname(shop, { hostname: 'legacy.example.com', service: { port: 3000 } }),
      'RECORD_CONFLICT',
    );
    expect(conflict.details).toMatchObject({ type: 'A', content: '203.0.113.10', owner: null });
    const ghost = await expectCode(
      w.manager.requestCname(shop, { hostname: 'ghost.example.com', service: { port: 3000 } }),
      'RECORD_CONFLICT',
    );
    expect(ghost.details).toMatchObject({ type: 'CNAME', owner: 'ghost' });

    const adopted = await w.manager.requestCname(admin, {
      hostname: 'legacy.example.com',
      project: 'shop',
      adopt: true,
      service: { port: 3000 },
    });
    expect(adopted.outcome).toBe('created');
    expect(adopted.steps.map((s) => s.step)).toContain('replace_dns');
    const records = recordsNamed(w, 'legacy.example.com');
    expect(records.map((r) => [r.type, r.content, r.comment])).toEqual([['CNAME', TUNNEL_TARGET, mark('shop')]]);
    expect(w.cf.requestsTo({ method: 'POST', path: '/dns_records/batch' })).toHaveLength(1);
  });

  it('reuses a record marked for the same owner that a crash left behind', async () => {
    const w = await world({
      records: [
        {
          zone: 'example.com',
          type: 'CNAME',
          name: 'left.example.com',
          content: TUNNEL_TARGET,
          proxied: true,
          comment: 'tunnel-manager:shop',
        },
      ],
    });
    const [left] = recordsNamed(w, 'left.example.com');
    const result = await w.manager.requestCname(shop, { hostname: 'left.example.com', service: { port: 3000 } });
    expect(result.route.dnsRecordId).toBe(left?.id);
    // Reused as it was, but its legacy mark now names this instance.
    const [after] = recordsNamed(w, 'left.example.com');
    expect(recordsNamed(w, 'left.example.com')).toHaveLength(1);
    expect(after).toEqual({
      ...left,
      comment: mark('shop'),
      comment_modified_on: after?.comment_modified_on,
      modified_on: after?.modified_on,
    });
  });

  it('puts a name in the most specific zone, and enforces the quota per project', async () => {
    const w = await world({ config: { policy: { quotaPerProject: 2 } } });
    const deep = await w.manager.requestCname(shop, { hostname: 'x.dev.example.com', service: { port: 3000 } });
    expect(deep.route.zoneId).toBe(ZONE.dev.id);
    await w.manager.requestCname(shop, { hostname: 'y.example.com', service: { port: 3000 } });
    await expectCode(
      w.manager.requestCname(shop, { hostname: 'z.example.com', service: { port: 3000 } }),
      'QUOTA_EXCEEDED',
    );
    expect(recordsNamed(w, 'z.example.com')).toEqual([]);
    // Admins have no quota, even acting for a project.
    await w.manager.requestCname(admin, { hostname: 'z.example.com', project: 'shop', service: { port: 3000 } });
    expect((await w.manager.listCnames(shop)).length).toBe(3);
  });

  it('rolls a failed create back: no record, no rule, the route failed with the error, the step audited', async () => {
    const w = await world();
    await w.manager.listDomains(admin);
    const rulesBefore = await managedRules(w);
    w.cf.injectFault({
      method: 'POST',
      path: '/dns_records',
      status: 403,
      code: 10000,
      message: 'Authentication error',
    });
    await expectCode(
      w.manager.requestCname(shop, { hostname: 'boom.example.com', service: { port: 3000 } }),
      'AUTH_FAILED',
    );
    expect(recordsNamed(w, 'boom.example.com')).toEqual([]);
    expect(await managedRules(w)).toEqual(rulesBefore);
    const [route] = await w.db.routes.list({ hostname: 'boom.example.com', states: ['failed'] });
    expect(route?.lastError?.code).toBe('AUTH_FAILED');
    const [step] = await w.db.audit.query({ action: 'cname.step_failed' });
    expect(step).toMatchObject({ target: 'boom.example.com', errorCode: 'AUTH_FAILED', outcome: 'error' });
    expect(step?.params.step).toBe('create_dns');
    // The name is free again.
    expect(
      (await w.manager.requestCname(shop, { hostname: 'boom.example.com', service: { port: 3000 } })).outcome,
    ).toBe('created');
  });

  it('puts a delete whose DNS call fails back to active, and a retry finishes it', async () => {
    const w = await world();
    await w.manager.requestCname(shop, { hostname: 'keep.example.com', service: { port: 3000 } });
    w.cf.injectFault({ method: 'DELETE', path: '/dns_records/', status: 503, times: 5 });
    await expectCode(w.manager.deleteCname(shop, 'keep.example.com'), 'PROVIDER_UNAVAILABLE');
    expect((await w.db.routes.findLive('keep.example.com'))?.state).toBe('active');
    expect(recordsNamed(w, 'keep.example.com')).toHaveLength(1);
    expect(await managedRules(w)).toHaveLength(1);
    w.cf.clearFaults();
    expect((await w.manager.deleteCname(shop, 'keep.example.com')).route.state).toBe('deleted');
    expect(recordsNamed(w, 'keep.example.com')).toEqual([]);
  });

  it('without a Topology: host services only when docker is off, CONFIG_INVALID when it is on', async () => {
    const off = await world({ topology: null, config: { docker: { enabled: false } } });
    const result = await off.manager.requestCname(shop, { hostname: 'host.example.com', service: { port: 5000 } });
    expect(result.target).toBe('http://localhost:5000');
    await expectCode(
      off.manager.requestCname(shop, { hostname: 'c.example.com', service: { container: 'web', port: 80 } }),
      'TARGET_UNREACHABLE',
    );
    const on = await world({ topology: null });
    await expectCode(
      on.manager.requestCname(shop, { hostname: 'host.example.com', service: { port: 5000 } }),
      'CONFIG_INVALID',
    );
  });

  it('selects container targets from the topology (shared network by name)', async () => {
    const w = await world({
      topology: snapshot({ kind: 'container', containerId: '', detail: '' }, []),
    });
    w.topology.set(
      snapshot({ kind: 'container', containerId: container('cloudflared').id, detail: 'container cloudflared' }, [
        container('cloudflared', { networks: [['edge']] }),
        container('shopweb', { networks: [['edge']], ports: [[8000]] }),
      ]),
    );
    const result = await w.manager.requestCname(shop, {
      hostname: 'c.example.com',
      service: { container: 'shopweb', port: 8000 },
    });
    expect(result.target).toBe('http://shopweb:8000');
    expect(result.targetReason).toContain('edge');
    expect(onHost.kind).toBe('host');
  });

  it('does not wait for a restart when no daemon has checked the tunnel lately: pending, naming `tunnel daemon`', async () => {
    const w = await world({ config: { restart: { waitForRestart: true } } });
    const result = await w.manager.requestCname(shop, { hostname: 'alone.example.com', service: { port: 3000 } });
    expect(result.route.state).toBe('active');
    expect(result.restartPending).toBe(true);
    expect(result.restartDetail).toContain('`tunnel daemon`');
    // Queued for whichever daemon starts next.
    expect(await w.db.restarts.pending()).toBeGreaterThan(0);
  });

  it('waits for the restart after releasing the lock when restart.waitForRestart is on', async () => {
    const w = await world({ config: { restart: { waitForRestart: true } } });
    await w.manager.listDomains(admin);
    // A daemon runs: it has just checked the tunnel (without one, nobody waits — see below).
    await w.db.health.insert({
      at: Date.now(),
      status: 'healthy',
      processState: 'running',
      readyConnections: 4,
      latencyMs: 1,
      apiStatus: null,
      failingCheck: null,
      detail: null,
    });
    const pending = w.manager.requestCname(shop, { hostname: 'live.example.com', service: { port: 3000 } });
    // The request queues a restart under the lock, then waits for the daemon with the lock released.
    const deadline = Date.now() + 30_000;
    while ((await w.db.restarts.pending()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    // One change, one request (regression: the wait used to queue a second one with another reason).
    expect(await w.db.restarts.pending()).toBe(1);
    expect((await w.db.routes.findLive('live.example.com'))?.state).toBe('active');
    // Another process gets the lock meanwhile: its route goes active while the first still waits.
    const other = w.another().requestCname(blog, { hostname: 'other.example.com', service: { port: 3000 } });
    while ((await w.db.routes.findLive('other.example.com'))?.state !== 'active' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect((await w.db.routes.findLive('other.example.com'))?.state).toBe('active');
    // Both now wait, each for the one request it queued under its lock.
    expect(await w.db.restarts.pending()).toBe(2);
    const queued = await w.db.restarts.take();
    expect(queued.map((r) => r.reason).sort()).toEqual([
      'ingress rule added for live.example.com',
      'ingress rule added for other.example.com',
    ]);
    // The daemon's restart, as it records it.
    await w.db.audit.append({
      at: Date.now(),
      actor: 'system',
      project: null,
      action: 'tunnel.restart',
      target: 'cloudflared',
      params: { reason: 'ingress rule added', scope: 'all' },
      outcome: 'ok',
      errorCode: null,
      message: null,
      durationMs: 5,
    });
    const result = await pending;
    expect(result.restartPending).toBe(false);
    expect(result.restartDetail).toBeUndefined();
    expect((await other).restartPending).toBe(false);
    expect((await w.manager.getStatus(admin)).lastRestart).toMatchObject({
      reason: 'ingress rule added',
      outcome: 'ok',
    });
  });

  const sample = (status: 'healthy' | 'down', at: number, detail: string | null = null) => ({
    at,
    status,
    processState: 'running' as const,
    readyConnections: status === 'healthy' ? 4 : 0,
    latencyMs: 1,
    apiStatus: null,
    failingCheck: status === 'healthy' ? null : ('ready' as const),
    detail,
  });

  it('answers at once, pending, when cloudflared is down: the change is stored and the next successful restart applies it', async () => {
    const w = await world({ config: { restart: { waitForRestart: true } } });
    // Three failed checks in a row and a failed restart (down checks alone may be a daemon
    // starting up or a restart under way, which the caller then waits for).
    for (const ago of [3_000, 2_000, 1_000]) {
      await w.db.health.insert(sample('down', Date.now() - ago, '/ready answered 503'));
    }
    await w.db.audit.append({
      at: Date.now() - 500,
      actor: 'system',
      project: null,
      action: 'tunnel.restart',
      target: 'cloudflared',
      params: { reason: 'cloudflared is down', scope: 'all' },
      outcome: 'error',
      errorCode: 'PROVIDER_UNAVAILABLE',
      message: 'cloudflared was not ready within 20000 ms of the restart',
      durationMs: 20_000,
    });
    const result = await w.manager.requestCname(shop, { hostname: 'down.example.com', service: { port: 3000 } });
    expect(result.outcome).toBe('created');
    expect(result.restartPending).toBe(true);
    expect(result.restartDetail).toContain('next successful restart');
    expect(result.restartDetail).toContain('/ready answered 503');
    expect(result.restartDetail).toContain('not ready within 20000 ms');
    expect((await w.db.routes.findLive('down.example.com'))?.state).toBe('active');
    const queued = await w.db.restarts.take();
    expect(queued.map((r) => r.reason)).toEqual(['ingress rule added for down.example.com']);
  });

  it('answers as soon as the daemon records a failed restart, and within restart.waitTimeoutMs at the latest (manual clock)', async () => {
    const clock = new ManualClock(Date.now());
    const w = await world({
      config: { restart: { waitForRestart: true, startTimeoutMs: 60_000, waitTimeoutMs: 10_000 } },
      manager: { overrides: { Clock: clock } },
    });
    await w.db.health.insert(sample('healthy', clock.now() - 1_000));
    let settled = false;
    const first = w.manager.requestCname(shop, { hostname: 'fail.example.com', service: { port: 3000 } });
    void first.finally(() => {
      settled = true;
    });
    while ((await w.db.restarts.pending()) < 1) await new Promise((r) => setTimeout(r, 10));
    await clock.advance(500);
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    await w.db.audit.append({
      at: clock.now(),
      actor: 'system',
      project: null,
      action: 'tunnel.restart',
      target: 'cloudflared',
      params: { reason: 'ingress rule added for fail.example.com', scope: 'all' },
      outcome: 'error',
      errorCode: 'PROVIDER_UNAVAILABLE',
      message: 'cloudflared was not ready within 60000 ms of the restart',
      durationMs: 60_000,
    });
    for (let i = 0; i < 50 && !settled; i++) {
      await clock.advance(250);
      await new Promise((r) => setTimeout(r, 10));
    }
    const failed = await first;
    expect(failed.restartPending).toBe(true);
    expect(failed.restartDetail).toContain('not ready within 60000 ms');
    expect(failed.restartDetail).toContain('next successful restart');

    // No answer from the daemon at all: the call still ends after waitTimeoutMs, not startTimeoutMs.
    await w.db.health.insert(sample('healthy', clock.now()));
    const startedAt = clock.now();
    settled = false;
    const second = w.manager.requestCname(shop, { hostname: 'slow.example.com', service: { port: 3000 } });
    void second.finally(() => {
      settled = true;
    });
    for (let i = 0; i < 400 && !settled; i++) {
      await clock.advance(250);
      await new Promise((r) => setTimeout(r, 5));
    }
    const slow = await second;
    expect(slow.restartPending).toBe(true);
    expect(slow.restartDetail).toContain('10000 ms');
    expect(clock.now() - startedAt).toBeLessThan(15_000);
  });

  it('refuses a bad deny list at construction, and marks zones a project cannot use', async () => {
    const w = await world({ config: { policy: { denyList: ['*.example.org'] } } });
    const views = await w.manager.listDomains(shop);
    expect(views.find((d) => d.name === 'example.org')).toMatchObject({ usable: false });
    expect(views.find((d) => d.name === 'example.org')?.reason).toContain('*.example.org');
    expect((await w.manager.listDomains(admin)).find((d) => d.name === 'example.org')?.usable).toBe(true);
    await expectCode(
      w.manager.requestCname(shop, { hostname: 'a.example.org', service: { port: 1 } }),
      'POLICY_DENIED',
    );
    expect(() => w.another({ overrides: {} })).not.toThrow();
    const bad = await startWorld({ config: { policy: { denyList: ['not a name'] } } }).catch((e: unknown) => e);
    expect(isTunnelError(bad, 'CONFIG_INVALID')).toBe(true);
  });

  it('builds the daemon’s health services in daemon mode, only a coordinator in client mode', async () => {
    const w = await world();
    expect(w.manager.health?.coordinator.mode).toBe('client');
    expect(w.manager.health?.monitor).toBeNull();
    const daemon = w.another({ mode: 'daemon' });
    expect(daemon.health?.coordinator.mode).toBe('daemon');
    expect(daemon.health?.monitor).not.toBeNull();
    expect(daemon.container).not.toBeNull();
  });

  it('serves reads without the DNS provider (no credentials needed to list or report)', async () => {
    const w = await world();
    await w.manager.requestCname(shop, { hostname: 'r.example.com', service: { port: 3000 } });
    w.cf.clearRequests();
    await w.manager.listCnames(admin);
    await w.manager.getStatus(shop);
    await w.manager.listDomains(shop);
    await w.manager.queryAudit(admin);
    expect(w.cf.requests).toEqual([]);
  });

  it('says why a restart it waited for is still pending when no daemon answers (manual clock)', async () => {
    const clock = new ManualClock(Date.now());
    const w = await world({
      config: { restart: { waitForRestart: true, coalesceWindowMs: 0, startTimeoutMs: 1_000 } },
      manager: { overrides: { Clock: clock } },
    });
    let settled = false;
    const pending = w.manager.requestCname(shop, { hostname: 'wait.example.com', service: { port: 3000 } });
    void pending.finally(() => {
      settled = true;
    });
    // The coordinator polls the audit log for the daemon's restart until its 11 s timeout.
    for (let i = 0; i < 200 && !settled; i++) {
      await new Promise((r) => setTimeout(r, 10));
      await clock.advance(250);
    }
    const result = await pending;
    expect(result.outcome).toBe('created');
    expect(result.restartPending).toBe(true);
    expect(result.restartDetail).toContain('daemon');
  });

  it('works as a library: loadConfig from a file and the Cloudflare plugin, services on the host', async () => {
    const w = await world({ topology: null, config: { docker: { enabled: false } } });
    const manager = createTunnelManager(loadConfig({ file: w.configFile, env: {} }), {
      plugins: [cloudflarePlugin],
    });
    try {
      const result = await manager.requestCname(shop, {
        subdomain: 'lib',
        domain: 'example.com',
        service: { port: 8080 },
      });
      expect(result.target).toBe('http://localhost:8080');
      expect(recordsNamed(w, 'lib.example.com')).toHaveLength(1);
      const docker = await manager
        .requestCname(shop, { hostname: 'lib2.example.com', service: { container: 'web', port: 80 } })
        .catch((e: unknown) => e);
      expect(isTunnelError(docker, 'TARGET_UNREACHABLE')).toBe(true);
    } finally {
      await manager.close();
    }
  });
});
