import {
  Actor,
  type HealthSample,
  isTunnelError,
  type NewRoute,
  type StateStore,
  type TopologySnapshot,
} from '@tunnel/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './dns-provider.js';

export interface StateStoreHarness {
  /** An empty, migrated store. */
  readonly store: StateStore;
  cleanup?(): Promise<void>;
}

let seq = 0;
const T0 = Date.UTC(2026, 0, 1);

export function newRouteFixture(overrides: Partial<NewRoute> = {}): NewRoute {
  seq += 1;
  return {
    id: `route-${seq}-${Math.random().toString(36).slice(2, 8)}`,
    hostname: `app${seq}.example.com`,
    zoneId: 'zone-1',
    zoneName: 'example.com',
    owner: 'alpha',
    service: { container: null, port: 8080, scheme: 'http' },
    target: 'http://localhost:8080',
    targetReason: 'cloudflared and the service both run on the host',
    createdAt: T0,
    ...overrides,
  };
}

const sample = (at: number, status: HealthSample['status'] = 'healthy'): HealthSample => ({
  at,
  status,
  processState: 'running',
  readyConnections: status === 'healthy' ? 4 : 0,
  latencyMs: 3,
  apiStatus: null,
  failingCheck: status === 'healthy' ? null : 'ready',
  detail: status === 'healthy' ? null : '/ready answered 503',
});

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (!isTunnelError(error)) throw error;
    return error.code;
  }
}

/** The StateStore contract (see the port's duties). */
export function describeStateStoreConformance(
  name: string,
  factory: () => Promise<StateStoreHarness>,
  options: ConformanceOptions = {},
): void {
  if (options.skipReason) console.info(`[conformance] StateStore ${name} skipped: ${options.skipReason}`);
  describe.skipIf(Boolean(options.skipReason))(`StateStore conformance: ${name}`, () => {
    let h: StateStoreHarness;
    let store: StateStore;
    beforeEach(async () => {
      h = await factory();
      store = h.store;
    });
    afterEach(async () => {
      await store.close();
      await store.close(); // closing twice is allowed
      await h.cleanup?.();
    });

    describe('routes', () => {
      it('reserves a route in state "reserved" and finds it by id and hostname', async () => {
        const input = newRouteFixture();
        const route = await store.routes.reserve(input, { quota: null });
        expect(route).toMatchObject({
          id: input.id,
          hostname: input.hostname,
          owner: 'alpha',
          state: 'reserved',
          dnsRecordId: null,
          lastError: null,
        });
        expect(await store.routes.get(input.id)).toEqual(route);
        expect(await store.routes.findLive(input.hostname)).toEqual(route);
        expect(await store.routes.get('nope')).toBeNull();
      });

      it('allows one live route per hostname: HOSTNAME_TAKEN names the holder', async () => {
        const first = newRouteFixture();
        await store.routes.reserve(first, { quota: null });
        const clash = newRouteFixture({ hostname: first.hostname, owner: 'beta' });
        try {
          await store.routes.reserve(clash, { quota: null });
          throw new Error('expected HOSTNAME_TAKEN');
        } catch (error) {
          expect(isTunnelError(error, 'HOSTNAME_TAKEN')).toBe(true);
          expect((error as { details?: { owner?: string } }).details?.owner).toBe('alpha');
        }
        expect(await store.routes.get(clash.id)).toBeNull();
      });

      it('allows one live route per (hostname, path), all of one owner, and lists them', async () => {
        const root = newRouteFixture();
        await store.routes.reserve(root, { quota: null });
        const api = newRouteFixture({
          hostname: root.hostname,
          path: '^/api/',
          originRequest: { noTLSVerify: true },
          createdAt: T0 + 1,
        });
        const stored = await store.routes.reserve(api, { quota: null });
        expect(stored).toMatchObject({ path: '^/api/', originRequest: { noTLSVerify: true } });
        expect(await store.routes.findLive(root.hostname, '^/api/')).toEqual(stored);
        expect((await store.routes.findLive(root.hostname))?.id).toBe(root.id);
        expect((await store.routes.listLive(root.hostname)).map((r) => r.id)).toEqual([root.id, api.id]);
        // The same path again, or any path by another owner, is HOSTNAME_TAKEN.
        const again = newRouteFixture({ hostname: root.hostname, path: '^/api/' });
        expect(await codeOf(store.routes.reserve(again, { quota: null }))).toBe('HOSTNAME_TAKEN');
        const foreign = newRouteFixture({ hostname: root.hostname, owner: 'beta', path: '^/beta/' });
        expect(await codeOf(store.routes.reserve(foreign, { quota: null }))).toBe('HOSTNAME_TAKEN');
        expect(await store.routes.get(foreign.id)).toBeNull();
        // A route moves to another path and drops its settings in place.
        const moved = await store.routes.update(api.id, { path: '^/v2/', originRequest: null, updatedAt: T0 + 1 });
        expect(moved).toMatchObject({ path: '^/v2/', originRequest: null });
        expect(await store.routes.findLive(root.hostname, '^/api/')).toBeNull();
      });

      it('frees the hostname once the route is failed or deleted', async () => {
        const first = newRouteFixture();
        await store.routes.reserve(first, { quota: null });
        await store.routes.update(first.id, {
          state: 'failed',
          lastError: { code: 'TARGET_UNREACHABLE', message: 'x' },
          updatedAt: T0 + 1,
        });
        const second = await store.routes.reserve(newRouteFixture({ hostname: first.hostname, owner: 'beta' }), {
          quota: null,
        });
        expect(second.owner).toBe('beta');
        expect((await store.routes.get(first.id))?.lastError).toEqual({ code: 'TARGET_UNREACHABLE', message: 'x' });
      });

      it('enforces the quota on live routes only: QUOTA_EXCEEDED', async () => {
        const a = newRouteFixture({ owner: 'gamma' });
        await store.routes.reserve(a, { quota: 2 });
        await store.routes.reserve(newRouteFixture({ owner: 'gamma' }), { quota: 2 });
        const third = newRouteFixture({ owner: 'gamma' });
        expect(await codeOf(store.routes.reserve(third, { quota: 2 }))).toBe('QUOTA_EXCEEDED');
        expect(await store.routes.get(third.id)).toBeNull();
        await store.routes.update(a.id, { state: 'failed', updatedAt: T0 + 5 });
        await store.routes.reserve(third, { quota: 2 });
        // Another owner is not counted against gamma.
        await store.routes.reserve(newRouteFixture({ owner: 'delta' }), { quota: 1 });
      });

      it('moves along allowed transitions and records the update', async () => {
        const r = newRouteFixture();
        await store.routes.reserve(r, { quota: null });
        await store.routes.update(r.id, { state: 'ingress_written', updatedAt: T0 + 1 }, { expectState: 'reserved' });
        await store.routes.update(r.id, { state: 'dns_created', dnsRecordId: 'rec-1', updatedAt: T0 + 2 });
        const active = await store.routes.update(r.id, { state: 'active', updatedAt: T0 + 3 });
        expect(active).toMatchObject({ state: 'active', dnsRecordId: 'rec-1', updatedAt: T0 + 3, createdAt: T0 });
      });

      it('refuses an update whose expected state is stale (CONCURRENT_CHANGE), changing nothing', async () => {
        const r = newRouteFixture();
        await store.routes.reserve(r, { quota: null });
        expect(
          await codeOf(
            store.routes.update(r.id, { state: 'ingress_written', updatedAt: T0 + 1 }, { expectState: 'active' }),
          ),
        ).toBe('CONCURRENT_CHANGE');
        expect((await store.routes.get(r.id))?.state).toBe('reserved');
      });

      it('refuses a transition the lifecycle does not allow, and an unknown id', async () => {
        const r = newRouteFixture();
        await store.routes.reserve(r, { quota: null });
        expect(await codeOf(store.routes.update(r.id, { state: 'active', updatedAt: T0 + 1 }))).toBe('INTERNAL');
        expect((await store.routes.get(r.id))?.state).toBe('reserved');
        expect(await codeOf(store.routes.update('missing', { state: 'failed', updatedAt: T0 }))).toBe('NOT_FOUND');
      });

      it('lists by owner, state and hostname, ordered by hostname, without deleted ones by default', async () => {
        const names = ['c.example.com', 'a.example.com', 'b.example.com'];
        const ids: string[] = [];
        for (const hostname of names) {
          const r = newRouteFixture({ hostname, owner: hostname === 'b.example.com' ? 'beta' : 'alpha' });
          ids.push(r.id);
          await store.routes.reserve(r, { quota: null });
        }
        // Walk c.example.com to deleted.
        const cId = ids[0] as string;
        for (const state of [
          'ingress_written',
          'dns_created',
          'active',
          'deleting',
          'dns_deleted',
          'ingress_removed',
          'deleted',
        ] as const) {
          await store.routes.update(cId, { state, updatedAt: T0 + 10 });
        }
        expect((await store.routes.list()).map((r) => r.hostname)).toEqual(['a.example.com', 'b.example.com']);
        expect((await store.routes.list({ owner: 'alpha' })).map((r) => r.hostname)).toEqual(['a.example.com']);
        expect((await store.routes.list({ states: ['deleted'] })).map((r) => r.hostname)).toEqual(['c.example.com']);
        expect(await store.routes.list({ states: [] })).toEqual([]);
        expect((await store.routes.list({ hostname: 'b.example.com' }))[0]?.owner).toBe('beta');
        expect((await store.routes.list({ limit: 1, offset: 1 })).map((r) => r.hostname)).toEqual(['b.example.com']);
        const counts = await store.routes.countByState();
        expect(counts).toMatchObject({ reserved: 2, deleted: 1, active: 0 });
      });
    });

    it('replaces the domain set atomically, ordered by name', async () => {
      await store.domains.replaceAll(
        [
          { id: 'z2', name: 'b.example', status: 'active', accountId: 'acc' },
          { id: 'z1', name: 'a.example', status: 'pending', accountId: null },
        ],
        T0,
      );
      await store.domains.replaceAll(
        [{ id: 'z2', name: 'b.example', status: 'active', accountId: 'acc' }],
        T0 + 60_000,
      );
      expect(await store.domains.list()).toEqual([
        { id: 'z2', name: 'b.example', status: 'active', accountId: 'acc', refreshedAt: T0 + 60_000 },
      ]);
    });

    it('stores health samples newest first and prunes by age in batches', async () => {
      for (let i = 0; i < 25; i++) await store.health.insert(sample(T0 + i * 30_000, i % 5 === 0 ? 'down' : 'healthy'));
      const latest = await store.health.list({ limit: 3 });
      expect(latest.map((s) => s.at)).toEqual([T0 + 24 * 30_000, T0 + 23 * 30_000, T0 + 22 * 30_000]);
      expect((await store.health.list({ since: T0 + 20 * 30_000, limit: 100 })).length).toBe(5);
      const down = (await store.health.list({ limit: 100 })).filter((s) => s.status === 'down');
      expect(down[0]).toEqual(sample(T0 + 20 * 30_000, 'down'));
      const removed = await store.health.prune(T0 + 10 * 30_000, 3);
      expect(removed).toBe(10);
      const left = await store.health.list({ limit: 100 });
      expect(left).toHaveLength(15);
      expect(Math.min(...left.map((s) => s.at))).toBe(T0 + 10 * 30_000);
    });

    it('appends audit entries and queries them by project, action and time', async () => {
      const base = {
        actor: 'project:alpha',
        project: 'alpha',
        target: 'a.example.com',
        outcome: 'ok' as const,
        errorCode: null,
        message: null,
        durationMs: 12,
      };
      await store.audit.append({ ...base, at: T0, action: 'cname.request', params: { port: 8080 } });
      await store.audit.append({ ...base, at: T0 + 1000, action: 'cname.delete', params: {} });
      const failed = await store.audit.append({
        ...base,
        at: T0 + 2000,
        actor: 'project:beta',
        project: 'beta',
        action: 'cname.request',
        params: { port: 1 },
        outcome: 'error',
        errorCode: 'TARGET_UNREACHABLE',
        message: 'nope',
      });
      expect(failed.id).toBeGreaterThan(0);
      expect((await store.audit.query()).map((e) => e.at)).toEqual([T0 + 2000, T0 + 1000, T0]);
      expect((await store.audit.query({ project: 'alpha' })).map((e) => e.action)).toEqual([
        'cname.delete',
        'cname.request',
      ]);
      expect((await store.audit.query({ action: 'cname.request' })).map((e) => e.project)).toEqual(['beta', 'alpha']);
      expect((await store.audit.query({ since: T0 + 500, until: T0 + 2000 })).map((e) => e.at)).toEqual([T0 + 1000]);
      expect((await store.audit.query({ limit: 1 }))[0]).toEqual(failed);
      expect((await store.audit.query({ project: 'beta' }))[0]?.params).toEqual({ port: 1 });
      expect(await store.audit.prune(T0 + 1500)).toBe(2);
      expect(await store.audit.query()).toHaveLength(1);
    });

    it('round-trips a topology snapshot through the docker tables', async () => {
      expect(await store.topology.load()).toBeNull();
      const snapshot: TopologySnapshot = {
        takenAt: T0,
        docker: { available: true, apiVersion: '1.41' },
        cloudflared: { kind: 'container', containerId: 'c1', detail: 'image cloudflare/cloudflared' },
        networks: [
          { id: 'n1', name: 'apps', driver: 'bridge', internal: false, gateway: '172.20.0.1', subnet: '172.20.0.0/16' },
          {
            id: 'n0',
            name: 'bridge',
            driver: 'bridge',
            internal: false,
            gateway: '172.17.0.1',
            subnet: '172.17.0.0/16',
          },
        ],
        containers: [
          {
            id: 'c1',
            name: 'cloudflared',
            image: 'cloudflare/cloudflared:2026.8.0',
            command: 'cloudflared tunnel run',
            state: 'running',
            labels: { role: 'tunnel' },
            networkMode: 'apps',
            extraHosts: ['host.docker.internal:host-gateway'],
            networks: [
              {
                networkId: 'n1',
                networkName: 'apps',
                ipAddress: '172.20.0.2',
                gateway: '172.20.0.1',
                aliases: ['cloudflared', 'c1'],
              },
            ],
            ports: [],
          },
          {
            id: 'c2',
            name: 'web',
            image: 'nginx',
            command: 'nginx',
            state: 'exited',
            labels: {},
            networkMode: 'bridge',
            extraHosts: [],
            networks: [
              { networkId: 'n0', networkName: 'bridge', ipAddress: null, gateway: null, aliases: [] },
              {
                networkId: 'n1',
                networkName: 'apps',
                ipAddress: '172.20.0.3',
                gateway: '172.20.0.1',
                aliases: ['web', 'www'],
              },
            ],
            ports: [
              {
                containerPort: 80,
                protocol: 'tcp',
                exposed: true,
                published: [
                  { hostIp: '0.0.0.0', hostPort: 8080 },
                  { hostIp: '::', hostPort: 8080 },
                ],
              },
              { containerPort: 443, protocol: 'tcp', exposed: true, published: [] },
            ],
          },
        ],
      };
      await store.topology.save(snapshot);
      const loaded = await store.topology.load();
      expect(loaded?.takenAt).toBe(T0);
      expect(loaded?.cloudflared).toEqual(snapshot.cloudflared);
      expect(loaded?.docker).toEqual(snapshot.docker);
      expect(loaded?.networks).toEqual([...snapshot.networks].sort((a, b) => a.name.localeCompare(b.name)));
      const web = loaded?.containers.find((c) => c.name === 'web');
      expect(web?.ports).toEqual(snapshot.containers[1]?.ports);
      expect(web?.networks.map((n) => n.networkName).sort()).toEqual(['apps', 'bridge']);
      expect(loaded?.containers.find((c) => c.name === 'cloudflared')).toEqual(snapshot.containers[0]);
      // Saving again replaces, never accumulates.
      await store.topology.save({ ...snapshot, takenAt: T0 + 1, containers: [] });
      expect((await store.topology.load())?.containers).toEqual([]);
    });

    it('keeps only token hashes; revoked tokens are not found', async () => {
      await store.tokens.insert({
        id: 't1',
        hash: 'h1',
        actor: Actor.project('alpha'),
        label: 'alpha agent',
        createdAt: T0,
      });
      await store.tokens.insert({ id: 't2', hash: 'h2', actor: Actor.admin(), label: 'ops', createdAt: T0 + 1 });
      expect((await store.tokens.findByHash('h1'))?.actor).toEqual({ kind: 'project', project: 'alpha' });
      expect((await store.tokens.findByHash('h2'))?.actor).toEqual({ kind: 'admin' });
      await store.tokens.touch('t1', T0 + 5);
      expect((await store.tokens.findByHash('h1'))?.lastUsedAt).toBe(T0 + 5);
      expect(await store.tokens.revoke('t1', T0 + 10)).toBe(true);
      expect(await store.tokens.revoke('t1', T0 + 11)).toBe(false);
      expect(await store.tokens.findByHash('h1')).toBeNull();
      const listed = await store.tokens.list();
      expect(listed.map((t) => [t.id, t.revokedAt])).toEqual([
        ['t1', T0 + 10],
        ['t2', null],
      ]);
      expect(JSON.stringify(listed)).not.toContain('h1');
    });

    it('keeps remote rule owners per tunnel, replaced as a whole, in the order written', async () => {
      const entry = (hostname: string, owner: string, instance: string | null) => ({
        hostname,
        path: '',
        service: 'http://localhost:1',
        owner,
        instance,
      });
      expect(await store.ingressOwners.list('t1')).toEqual([]);
      await store.ingressOwners.replace('t1', [
        entry('b.example.com', 'beta', 'vm-1'),
        entry('a.example.com', 'alpha', null),
      ]);
      await store.ingressOwners.replace('t2', [entry('c.example.com', 'gamma', 'vm-2')]);
      expect(await store.ingressOwners.list('t1')).toEqual([
        entry('b.example.com', 'beta', 'vm-1'),
        entry('a.example.com', 'alpha', null),
      ]);
      await store.ingressOwners.replace('t1', [entry('a.example.com', 'alpha', 'vm-1')]);
      expect(await store.ingressOwners.list('t1')).toEqual([entry('a.example.com', 'alpha', 'vm-1')]);
      expect(await store.ingressOwners.list('t2')).toEqual([entry('c.example.com', 'gamma', 'vm-2')]);
    });

    it('stores the records an adopting route replaced, with the route', async () => {
      const route = await store.routes.reserve(newRouteFixture({ hostname: 'adopt.example.com' }), { quota: null });
      expect(await store.replaced.get(route.id)).toEqual([]);
      const replaced = [
        {
          recordId: 'r1',
          name: 'adopt.example.com',
          type: 'A',
          content: '192.0.2.1',
          proxied: false,
          ttl: 300,
          comment: 'by hand',
        },
        {
          recordId: 'r2',
          name: 'adopt.example.com',
          type: 'AAAA',
          content: '2001:db8::1',
          proxied: true,
          ttl: 1,
          comment: null,
        },
      ];
      await store.replaced.save(route.id, replaced);
      expect(await store.replaced.get(route.id)).toEqual(replaced);
    });

    it('hands each restart request to one taker', async () => {
      await store.restarts.add({ at: T0, reason: 'ingress changed', requestedBy: 'project:alpha' });
      await store.restarts.add({ at: T0 + 1, reason: 'ingress changed', requestedBy: 'project:beta' });
      expect(await store.restarts.pending()).toBe(2);
      const taken = await store.restarts.take();
      expect(taken.map((r) => r.requestedBy)).toEqual(['project:alpha', 'project:beta']);
      expect(await store.restarts.take()).toEqual([]);
      expect(await store.restarts.pending()).toBe(0);
    });
  });
}
