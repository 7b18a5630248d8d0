/**
 * Label publishing (docker.labels) through the real façade: a TunnelManager on a SQLite file, a
 * real config.yml and the Cloudflare emulator; the topology is a snapshot the test sets; time
 * (the grace period) is a ManualClock.
 */
import { ManualClock } from '@tunnel/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  Actor,
  type ContainerInfo,
  isTunnelError,
  LABELS_ACTOR,
  LabelPublisher,
  NoopLogger,
  parseContainerLabels,
  type TopologySnapshot,
} from '../../src/index.js';
import { recordsNamed, startWorld, type World } from '../manager/helpers.js';
import { container, inContainer, onHost, snapshot } from '../topology/fixtures.js';

const GRACE = 600_000;
const labelled = (name: string, labels: Record<string, string>, extra: Parameters<typeof container>[1] = {}) =>
  container(name, { networks: [['apps']], ports: [[8080, ['127.0.0.1:18080']]], ...extra, labels });
const webLabels = { 'tunnel.hostname': 'web.example.com', 'tunnel.port': '8080', 'tunnel.project': 'shop' };

let world: World;
let clock: ManualClock;
let publisher: LabelPublisher;

function publisherFor(projects: string[] = []): LabelPublisher {
  return new LabelPublisher({
    manager: world.manager,
    store: world.db,
    clock,
    logger: new NoopLogger(),
    gracePeriodMs: GRACE,
    projects,
  });
}

const hostSnap = (...containers: ContainerInfo[]): TopologySnapshot => snapshot(onHost, containers);
const live = async (hostname: string) => world.db.routes.findLive(hostname);

beforeEach(async () => {
  world = await startWorld({ config: { docker: { ownershipGuard: true } } });
  clock = new ManualClock();
  // "shop" is known: the operator gave it a token. "blog" too.
  for (const project of ['shop', 'blog']) {
    await world.db.tokens.insert({
      id: `t-${project}`,
      hash: `hash-${project}`,
      actor: Actor.project(project),
      label: project,
      createdAt: 1,
    });
  }
  publisher = publisherFor();
});
afterEach(async () => {
  await world?.close();
});

async function sync(s: TopologySnapshot) {
  world.topology.set(s);
  return publisher.sync(s);
}

describe('LabelPublisher', () => {
  it('publishes a labelled container for its project, audited as docker-labels', async () => {
    const report = await sync(hostSnap(labelled('web', webLabels)));
    expect(report.published).toEqual(['web.example.com']);
    const route = await live('web.example.com');
    expect(route?.owner).toBe('shop');
    expect(route?.state).toBe('active');
    expect(route?.target).toBe('http://localhost:18080');
    const audit = await world.db.audit.query({ project: 'shop', limit: 5 });
    expect(audit.find((e) => e.target === 'web.example.com')?.actor).toBe(LABELS_ACTOR);
    // A second pass changes nothing and audits nothing.
    const again = await sync(hostSnap(labelled('web', webLabels)));
    expect(again.published).toEqual([]);
    expect((await world.db.audit.query({ project: 'shop', limit: 10 })).length).toBe(audit.length);
  });

  it('keeps a stopped container published', async () => {
    await sync(hostSnap(labelled('web', webLabels)));
    const report = await sync(hostSnap(labelled('web', webLabels, { state: 'exited' })));
    expect(report.unpublished).toEqual([]);
    expect((await live('web.example.com'))?.state).toBe('active');
  });

  it('unpublishes a removed container only after the grace period', async () => {
    await sync(hostSnap(labelled('web', webLabels)));
    await sync(hostSnap());
    await clock.advance(GRACE - 1);
    expect((await sync(hostSnap())).unpublished).toEqual([]);
    expect((await live('web.example.com'))?.state).toBe('active');
    await clock.advance(1);
    expect((await sync(hostSnap())).unpublished).toEqual(['web.example.com']);
    expect(await live('web.example.com')).toBeNull();
    expect(await world.db.labels.listPublications()).toEqual([]);
    const deleted = await world.db.audit.query({ project: 'shop', action: 'cname.delete', limit: 1 });
    expect(deleted[0]?.actor).toBe(LABELS_ACTOR);
  });

  it('survives a redeploy (removed, then recreated with a new id) within the grace period', async () => {
    await sync(hostSnap(labelled('web', webLabels)));
    await sync(hostSnap());
    await clock.advance(GRACE / 2);
    const redeployed = { ...labelled('web', webLabels), id: 'f'.repeat(64) };
    await sync(hostSnap(redeployed));
    expect((await world.db.labels.listPublications())[0]?.missingSince).toBeNull();
    await clock.advance(GRACE);
    expect((await sync(hostSnap(redeployed))).unpublished).toEqual([]);
    expect((await live('web.example.com'))?.state).toBe('active');
  });

  it('reports bad labels (never throws), counts them, and shows them in the status', async () => {
    const bad = [
      labelled('no-port', { 'tunnel.hostname': 'a.example.com', 'tunnel.project': 'shop' }),
      labelled('bad-port', { ...webLabels, 'tunnel.hostname': 'b.example.com', 'tunnel.port': 'http' }),
      labelled('bad-host', { ...webLabels, 'tunnel.hostname': 'not a host' }),
      labelled('stranger', { ...webLabels, 'tunnel.hostname': 'c.example.com', 'tunnel.project': 'nobody' }),
      labelled('pathy', { ...webLabels, 'tunnel.hostname': 'd.example.com', 'tunnel.path': '(?=x)' }),
      labelled('typo', { ...webLabels, 'tunnel.hostname': 'e.example.com', 'tunnel.prot': '80' }),
      labelled('scheme', { ...webLabels, 'tunnel.hostname': 'f.example.com', 'tunnel.scheme': 'gopher' }),
    ];
    const report = await sync(hostSnap(...bad, labelled('web', webLabels)));
    expect(report.published).toEqual(['web.example.com']);
    const byName = new Map(report.problems.map((p) => [p.containerName, p]));
    expect([...byName.keys()].sort()).toEqual([
      'bad-host',
      'bad-port',
      'no-port',
      'pathy',
      'scheme',
      'stranger',
      'typo',
    ]);
    expect(byName.get('no-port')?.message).toContain('no tunnel.port');
    expect(byName.get('bad-port')?.message).toMatch(/Invalid port "http"/);
    expect(byName.get('bad-host')?.code).toBe('INVALID_HOSTNAME');
    expect(byName.get('stranger')?.message).toContain('project nobody, which is not a known project');
    expect(byName.get('pathy')?.message).toContain('invalid label tunnel.path');
    expect(byName.get('pathy')?.message).toContain('not a valid RE2 regular expression');
    expect(byName.get('typo')?.message).toContain('unknown label tunnel.prot');
    expect(byName.get('scheme')?.message).toContain('not a service scheme');
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) expect(await live(`${name}.example.com`)).toBeNull();

    await sync(hostSnap(...bad));
    const status = await world.manager.getStatus(Actor.admin());
    expect(status.labelProblems.map((p) => [p.containerName, p.count])).toContainEqual(['typo', 2]);
    const shop = await world.manager.getStatus(Actor.project('shop'));
    expect(shop.labelProblems.every((p) => p.project === 'shop')).toBe(true);
    expect(shop.labelProblems.some((p) => p.containerName === 'stranger')).toBe(false);
  });

  it('a known project is one with a token or a route, or the configured list when set', async () => {
    const s = hostSnap(labelled('web', { ...webLabels, 'tunnel.project': 'blog' }));
    world.topology.set(s);
    expect((await publisherFor(['shop']).sync(s)).problems[0]?.message).toContain('Add it to docker.labels.projects');
    expect((await publisherFor(['blog']).sync(s)).published).toEqual(['web.example.com']);
  });

  it('a name published by label is HOSTNAME_TAKEN for another project, and the reverse', async () => {
    await sync(hostSnap(labelled('web', webLabels)));
    const asked = world.manager.requestCname(Actor.project('blog'), {
      hostname: 'web.example.com',
      service: { port: 9000 },
    });
    await expect(asked).rejects.toSatisfy((e) => isTunnelError(e, 'HOSTNAME_TAKEN'));
    await world.manager.requestCname(Actor.project('blog'), { hostname: 'blog.example.com', service: { port: 9000 } });
    const report = await sync(
      hostSnap(
        labelled('web', webLabels),
        labelled('copycat', { ...webLabels, 'tunnel.hostname': 'blog.example.com' }),
      ),
    );
    expect(report.problems.find((p) => p.containerName === 'copycat')?.code).toBe('HOSTNAME_TAKEN');
    expect((await live('blog.example.com'))?.owner).toBe('blog');
  });

  it("another project's container is refused by the ownership guard, labels or not", async () => {
    await sync(hostSnap(labelled('web', webLabels)));
    const asked = world.manager.requestCname(Actor.project('blog'), {
      hostname: 'other.example.com',
      service: { container: 'web', port: 8080 },
    });
    await expect(asked).rejects.toSatisfy((e) => isTunnelError(e, 'NOT_OWNER'));
  });

  it('replicas labelled alike are one name, targeted by their shared alias', async () => {
    const labels = { ...webLabels, 'com.docker.compose.service': 'websvc' };
    const replica = (n: number) =>
      container(`shop-websvc-${n}`, { networks: [['edge', ['websvc']]], ports: [[8080]], labels });
    const s = snapshot(inContainer('cf'), [container('cf', { networks: [['edge']] }), replica(1), replica(2)]);
    const report = await sync(s);
    expect(report.problems).toEqual([]);
    expect((await live('web.example.com'))?.target).toBe('http://websvc:8080');
  });

  it('parseContainerLabels takes the scheme, the path and origin settings, read as their types', () => {
    const ok = parseContainerLabels({ name: 'x', labels: { ...webLabels, 'tunnel.scheme': 'https' } });
    expect(ok).toEqual({
      ok: true,
      request: {
        hostname: 'web.example.com',
        project: 'shop',
        port: 8080,
        scheme: 'https',
        path: null,
        originRequest: null,
      },
    });
    const full = parseContainerLabels({
      name: 'x',
      labels: {
        ...webLabels,
        'tunnel.path': '^/api/',
        'tunnel.origin.noTLSVerify': 'true',
        'tunnel.origin.http2Origin': 'false',
        'tunnel.origin.originServerName': 'api.internal',
        'tunnel.origin.httpHostHeader': 'api.internal:8443',
        'tunnel.origin.connectTimeout': '1m',
        'tunnel.origin.keepAliveConnections': '50',
      },
    });
    expect(full.ok && full.request.path).toBe('^/api/');
    // Canonicalised by the façade's parser: "1m" is 60s.
    expect(full.ok && full.request.originRequest).toEqual({
      noTLSVerify: true,
      http2Origin: false,
      originServerName: 'api.internal',
      httpHostHeader: 'api.internal:8443',
      connectTimeout: '60s',
      keepAliveConnections: 50,
    });
  });

  describe('paths and origin settings', () => {
    const ports: NonNullable<Parameters<typeof container>[1]>['ports'] = [
      [8080, ['127.0.0.1:18080']],
      [9090, ['127.0.0.1:19090']],
    ];
    const api = (labels: Record<string, string> = {}, name = 'api') =>
      labelled(name, { ...webLabels, 'tunnel.path': '^/api/', ...labels }, { ports });
    const dnsWrites = () => world.cf.requests.filter((r) => r.method !== 'GET').length;

    it('publishes a path route with origin settings, next to the path-less one, on one DNS record', async () => {
      const report = await sync(
        hostSnap(
          labelled('web', webLabels),
          api({ 'tunnel.origin.noTLSVerify': 'true', 'tunnel.origin.connectTimeout': '30s' }),
        ),
      );
      expect(report.problems).toEqual([]);
      expect([...report.published].sort()).toEqual(['web.example.com', 'web.example.com ^/api/']);
      const route = await world.db.routes.findLive('web.example.com', '^/api/');
      expect(route?.owner).toBe('shop');
      expect(route?.state).toBe('active');
      expect(route?.originRequest).toEqual({ noTLSVerify: true, connectTimeout: '30s' });
      expect((await world.db.routes.findLive('web.example.com'))?.path).toBeNull();
      const rule = (await world.ingress.read()).rules.find(
        (r) => r.hostname === 'web.example.com' && r.path === '^/api/',
      );
      expect(rule?.originRequest).toEqual({ noTLSVerify: true, connectTimeout: '30s' });
      expect(recordsNamed(world, 'web.example.com')).toHaveLength(1);
      const kept = await world.db.labels.listPublications();
      expect(kept.map((p) => [p.hostname, p.path])).toEqual([
        ['web.example.com', null],
        ['web.example.com', '^/api/'],
      ]);
    });

    it('a changed port or origin label re-targets the route in place: one rule change, no DNS change', async () => {
      await sync(hostSnap(labelled('web', webLabels), api()));
      const writes = dnsWrites();
      const id = (await world.db.routes.findLive('web.example.com', '^/api/'))?.id;
      // Recreated with new labels (labels cannot change on a running container): a new id.
      const changed = {
        ...api({ 'tunnel.port': '9090', 'tunnel.origin.originServerName': 'api.internal' }),
        id: 'e'.repeat(64),
      };
      const report = await sync(hostSnap(labelled('web', webLabels), changed));
      expect(report.problems).toEqual([]);
      expect(report.published).toEqual(['web.example.com ^/api/']);
      const route = await world.db.routes.findLive('web.example.com', '^/api/');
      expect(route?.id).toBe(id);
      expect(route?.target).toBe('http://localhost:19090');
      expect(route?.originRequest).toEqual({ originServerName: 'api.internal' });
      expect(dnsWrites()).toBe(writes);
      const updated = await world.db.audit.query({ project: 'shop', limit: 1 });
      expect(updated[0]?.actor).toBe(LABELS_ACTOR);
      // The same labels again: nothing to do.
      expect((await sync(hostSnap(labelled('web', webLabels), changed))).published).toEqual([]);
    });

    it('a changed path label moves the route (fromPath), with no DNS change and nothing left behind', async () => {
      await sync(hostSnap(labelled('web', webLabels), api()));
      const writes = dnsWrites();
      const moved = { ...api({ 'tunnel.path': '^/v2/' }), id: 'd'.repeat(64) };
      const report = await sync(hostSnap(labelled('web', webLabels), moved));
      expect(report.problems).toEqual([]);
      expect(report.published).toEqual(['web.example.com ^/v2/']);
      expect(await world.db.routes.findLive('web.example.com', '^/api/')).toBeNull();
      expect((await world.db.routes.findLive('web.example.com', '^/v2/'))?.state).toBe('active');
      expect(dnsWrites()).toBe(writes);
      expect((await world.db.labels.listPublications()).map((p) => p.path)).toEqual([null, '^/v2/']);
      // No grace-period delete of the old path is pending.
      await clock.advance(GRACE);
      expect((await sync(hostSnap(labelled('web', webLabels), moved))).unpublished).toEqual([]);
      expect((await world.db.routes.findLive('web.example.com', '^/v2/'))?.state).toBe('active');
    });

    it('a changed path label creates the new path when the old route was deleted by hand', async () => {
      await sync(hostSnap(labelled('web', webLabels), api()));
      await world.manager.deleteCname(Actor.project('shop'), 'web.example.com', { path: '^/api/' });
      const moved = { ...api({ 'tunnel.path': '^/v2/' }), id: 'd'.repeat(64) };
      const report = await sync(hostSnap(labelled('web', webLabels), moved));
      expect(report.problems).toEqual([]);
      expect(report.published).toEqual(['web.example.com ^/v2/']);
      expect((await world.db.routes.findLive('web.example.com', '^/v2/'))?.state).toBe('active');
      // The forgotten publication of ^/api/ goes when its grace period ends (already gone: NOT_FOUND).
      await clock.advance(GRACE);
      await sync(hostSnap(labelled('web', webLabels), moved));
      expect((await world.db.labels.listPublications()).map((p) => p.path)).toEqual([null, '^/v2/']);
    });

    it('a removed container unpublishes exactly its path after the grace period', async () => {
      const other = labelled('static', { ...webLabels, 'tunnel.path': '^/static/' });
      await sync(hostSnap(labelled('web', webLabels), api(), other));
      await sync(hostSnap(labelled('web', webLabels), other));
      await clock.advance(GRACE - 1);
      expect((await sync(hostSnap(labelled('web', webLabels), other))).unpublished).toEqual([]);
      await clock.advance(1);
      expect((await sync(hostSnap(labelled('web', webLabels), other))).unpublished).toEqual(['web.example.com ^/api/']);
      expect(await world.db.routes.findLive('web.example.com', '^/api/')).toBeNull();
      expect((await world.db.routes.findLive('web.example.com', '^/static/'))?.state).toBe('active');
      expect((await world.db.routes.findLive('web.example.com'))?.state).toBe('active');
      expect(recordsNamed(world, 'web.example.com')).toHaveLength(1);
      const deleted = await world.db.audit.query({ project: 'shop', action: 'cname.delete', limit: 1 });
      expect(deleted[0]?.actor).toBe(LABELS_ACTOR);
      expect((await world.db.labels.listPublications()).map((p) => p.path)).toEqual([null, '^/static/']);
    });

    it('another project publishing a path of a hostname it does not hold is HOSTNAME_TAKEN, reported', async () => {
      const report = await sync(
        hostSnap(
          api(),
          labelled('static', { ...webLabels, 'tunnel.path': '^/static/' }),
          labelled('blogweb', { ...webLabels, 'tunnel.project': 'blog', 'tunnel.path': '^/blog/' }),
        ),
      );
      expect([...report.published].sort()).toEqual(['web.example.com ^/api/', 'web.example.com ^/static/']);
      const refused = report.problems.find((p) => p.containerName === 'blogweb');
      expect(refused?.code).toBe('HOSTNAME_TAKEN');
      expect(refused?.message).toContain('(path ^/blog/)');
      expect(await world.db.routes.findLive('web.example.com', '^/blog/')).toBeNull();
      const status = await world.manager.getStatus(Actor.admin());
      expect(status.labelProblems.find((p) => p.containerName === 'blogweb')?.code).toBe('HOSTNAME_TAKEN');
    });

    it('bad origin labels are reported with the label named, never thrown, and publish nothing', async () => {
      const bad = {
        yes: { 'tunnel.origin.noTLSVerify': 'yes' },
        slow: { 'tunnel.origin.connectTimeout': '500ms' },
        never: { 'tunnel.origin.tlsTimeout': 'soon' },
        many: { 'tunnel.origin.keepAliveConnections': '-1' },
        host: { 'tunnel.origin.httpHostHeader': 'a b' },
        ca: { 'tunnel.origin.caPool': '/etc/ssl/ca.pem' },
        bastion: { 'tunnel.origin.bastionMode': 'true' },
      };
      const containers = Object.entries(bad).map(([name, labels], i) =>
        labelled(name, { ...webLabels, 'tunnel.hostname': `bad${i}.example.com`, ...labels }),
      );
      const report = await sync(hostSnap(...containers));
      expect(report.published).toEqual([]);
      const byName = new Map(report.problems.map((p) => [p.containerName, p]));
      expect([...byName.keys()].sort()).toEqual(Object.keys(bad).sort());
      expect(byName.get('yes')?.message).toContain('invalid label tunnel.origin.noTLSVerify');
      expect(byName.get('yes')?.message).toContain('must be true or false, got "yes"');
      expect(byName.get('slow')?.message).toContain('whole seconds');
      expect(byName.get('never')?.message).toContain('is not a duration');
      expect(byName.get('many')?.message).toContain('must be an integer');
      expect(byName.get('host')?.message).toContain('must be a host name');
      expect(byName.get('ca')?.code).toBe('POLICY_DENIED');
      expect(byName.get('bastion')?.message).toContain('unknown label tunnel.origin.bastionMode');
      expect(await world.db.routes.list({})).toEqual([]);
    });
  });
});
