import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStateStore, type TopologySnapshot } from '@tunnel/core';
import { ManualClock } from '@tunnel/testkit';
import { describeTopologyConformance } from '@tunnel/testkit/conformance';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerTopology, type DockerTopologyOptions } from '../src/index.js';
import { fetchFromHost, httpd, requireDocker, TestDocker } from './support/engine.js';
import { freeLoopbackPort, startHostCloudflared } from './support/host.js';
import { denyAll, startSocketServer } from './support/socket.js';

const SLOW = { timeout: 180_000 };
let docker: Docker;
let t: TestDocker;
const undo: (() => Promise<unknown>)[] = [];
const later = (fn: () => Promise<unknown>) => undo.push(fn);

beforeAll(async () => {
  docker = await requireDocker();
  t = new TestDocker(docker);
}, 240_000);

afterAll(async () => {
  for (const fn of undo.reverse()) await fn().catch(() => undefined);
  await t?.cleanup();
}, 120_000);

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  later(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function store(): SqliteStateStore {
  const s = SqliteStateStore.open({ path: join(tempDir('tm-topo-db-'), 'state.db') });
  later(() => s.close());
  return s;
}

function topology(options: DockerTopologyOptions): DockerTopology {
  // An empty /proc keeps cloudflared processes elsewhere on the machine out of these tests.
  const tp = new DockerTopology({ watch: false, procRoot: tempDir('tm-noproc-'), ...options });
  later(() => tp.close());
  return tp;
}

/** Polls `probe` until it returns true (real engines take a moment; the machine is shared). */
async function eventually(probe: () => Promise<boolean>, what: string, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Bindings in a fixed order, so two views of one snapshot compare equal. */
const normalised = (s: TopologySnapshot | null) =>
  s && {
    ...s,
    containers: s.containers.map((c) => ({
      ...c,
      ports: c.ports.map((p) => ({
        ...p,
        published: [...p.published].sort((a, b) =>
          `${a.hostIp}:${a.hostPort}`.localeCompare(`${b.hostIp}:${b.hostPort}`),
        ),
      })),
    })),
  };

describeTopologyConformance('DockerTopology (real engine)', async () => {
  const engine = await requireDocker();
  const mine = new TestDocker(engine);
  const net = await mine.network('conf');
  await mine.container('conf-web', {
    cmd: httpd('conf', 80),
    networks: [{ name: net, aliases: ['conf-alias'] }],
    expose: [80],
  });
  await mine.container('conf-stopped', { cmd: ['true'], networks: [{ name: net }], start: false });
  return {
    topology: new DockerTopology({ cloudflared: { container: mine.name('conf-web') } }),
    expected: {
      containerName: mine.name('conf-web'),
      networkName: net,
      alias: 'conf-alias',
      containerPort: 80,
      running: true,
    },
    cleanup: () => mine.cleanup(),
  };
});

describeTopologyConformance('DockerTopology (socket absent)', async () => ({
  topology: new DockerTopology({ socketPath: '/nonexistent/tm-test/docker.sock', watch: false }),
}));

describe('DockerTopology on the real engine', () => {
  it('reports what the engine runs: names, networks, aliases, ports, labels, state, extra hosts', SLOW, async () => {
    const net = await t.network('facts');
    const net2 = await t.network('facts2');
    const stoppedPort = await freeLoopbackPort();
    await t.container('facts-web', {
      cmd: httpd(`${t.run}-facts`, 80),
      networks: [{ name: net, aliases: ['webalias'] }, { name: net2 }],
      expose: [81],
      publish: [{ port: 80 }],
      extraHosts: ['host.docker.internal:host-gateway', 'db.local:10.9.8.7'],
      labels: { 'tunnel.project': 'alice', role: 'web' },
    });
    await t.container('facts-stopped', {
      cmd: ['true'],
      networks: [{ name: net }],
      publish: [{ port: 80, hostPort: stoppedPort }],
      start: false,
    });
    await t.container('facts-host', { cmd: ['sleep', '600'], networkMode: 'host' });

    const snap = await topology({ cloudflared: { container: t.name('facts-web') } }).snapshot({ maxAgeMs: 0 });
    expect(snap.docker).toEqual({ available: true, apiVersion: '1.41' });
    const netIds = {
      [net]: (await docker.getNetwork(net).inspect()).Id as string,
      [net2]: (await docker.getNetwork(net2).inspect()).Id as string,
    };

    const web = snap.containers.find((c) => c.name === t.name('facts-web'));
    expect(web).toBeDefined();
    if (!web) return;
    expect(web.state).toBe('running');
    expect(web.image).toBe('tunnel-test/busybox:1');
    expect(web.command).toMatch(/^sh -c mkdir -p \/www/);
    expect(web.labels).toMatchObject({ 'tunnel.project': 'alice', role: 'web', 'tunnel-manager.test': t.run });
    expect(web.extraHosts).toEqual(['host.docker.internal:host-gateway', 'db.local:10.9.8.7']);
    expect(web.networks.map((n) => n.networkName)).toEqual([net, net2].sort());
    const onNet = web.networks.find((n) => n.networkName === net);
    expect(onNet?.networkId).toBe(netIds[net]);
    expect(onNet?.aliases).toEqual(expect.arrayContaining([t.name('facts-web'), 'webalias']));
    expect(onNet?.ipAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(web.networks.find((n) => n.networkName === net2)?.aliases).toContain(t.name('facts-web'));
    const p80 = web.ports.find((p) => p.containerPort === 80);
    const p81 = web.ports.find((p) => p.containerPort === 81);
    expect(p81).toEqual({ containerPort: 81, protocol: 'tcp', exposed: true, published: [] });
    expect(p80?.published).toHaveLength(1);
    expect(p80?.published[0]?.hostIp).toBe('127.0.0.1');
    // The reported host port is the one that answers.
    expect(await fetchFromHost(`http://127.0.0.1:${p80?.published[0]?.hostPort}`)).toBe(`${t.run}-facts`);

    const stopped = snap.containers.find((c) => c.name === t.name('facts-stopped'));
    expect(stopped?.state).toBe('created');
    expect(stopped?.ports).toEqual([
      {
        containerPort: 80,
        protocol: 'tcp',
        exposed: true,
        published: [{ hostIp: '127.0.0.1', hostPort: stoppedPort }],
      },
    ]);
    expect(stopped?.networks).toEqual([
      { networkId: netIds[net], networkName: net, ipAddress: null, gateway: null, aliases: [t.name('facts-stopped')] },
    ]);

    const hostNet = snap.containers.find((c) => c.name === t.name('facts-host'));
    expect(hostNet?.networkMode).toBe('host');
    expect(hostNet?.networks.map((n) => n.networkName)).toEqual(['host']);
    expect(hostNet?.networks[0]?.aliases).toEqual([]);

    const network = snap.networks.find((n) => n.name === net);
    const truth = await docker.getNetwork(net).inspect();
    expect(network).toEqual({
      id: truth.Id,
      name: net,
      driver: 'bridge',
      internal: false,
      gateway: truth.IPAM?.Config?.[0]?.Gateway,
      subnet: truth.IPAM?.Config?.[0]?.Subnet,
    });
    expect(snap.cloudflared).toMatchObject({ kind: 'container', containerId: web.id });
  });

  it('keeps the snapshot in the state store, where another process reads it', SLOW, async () => {
    const db = store();
    const taken = await topology({ cache: db.topology }).snapshot({ maxAgeMs: 0 });
    expect(taken.containers.length).toBeGreaterThan(0);
    expect(normalised(await db.topology.load())).toEqual(normalised(taken));

    // A process the socket refuses (an MCP server running as a project's user) serves the
    // cache without touching the engine, and never overwrites it with its blind view.
    const refused = await startSocketServer(denyAll);
    later(() => refused.close());
    const reader = topology({ socketPath: refused.path, cache: db.topology });
    expect(normalised(await reader.snapshot())).toEqual(normalised(taken));
    expect(refused.requests).toEqual([]);
    const blind = await reader.snapshot({ maxAgeMs: 0 });
    expect(blind.docker).toEqual({
      available: false,
      reason: `the Docker engine at ${refused.path} refused access (HTTP 403: authorization denied by plugin tm-test)`,
    });
    expect(refused.requests.length).toBeGreaterThan(0);
    expect((await db.topology.load())?.docker.available).toBe(true);
  });

  it('takes a new snapshot after the TTL, not before', SLOW, async () => {
    const clock = new ManualClock(Date.now());
    const tp = topology({ clock, ttlMs: 30_000 });
    const first = await tp.snapshot();
    await t.container('ttl-new', { cmd: ['true'], start: false });
    const cached = await tp.snapshot();
    expect(cached).toBe(first);
    expect(cached.containers.some((c) => c.name === t.name('ttl-new'))).toBe(false);
    await clock.advance(29_999);
    expect(await tp.snapshot()).toBe(first);
    await clock.advance(1);
    const next = await tp.snapshot();
    expect(next.takenAt).toBe(first.takenAt + 30_000);
    expect(next.containers.some((c) => c.name === t.name('ttl-new'))).toBe(true);
  });

  it('follows the /events stream: a change on the engine invalidates the snapshot at once', SLOW, async () => {
    // A manual clock never reaches the TTL: only events can make these snapshots change.
    const clock = new ManualClock(Date.now());
    const db = store();
    const tp = topology({ clock, ttlMs: 3_600_000, watch: true, cache: db.topology });
    await tp.snapshot();
    const net = await t.network('events');
    const c = await t.container('events-new', { cmd: ['sleep', '600'] });
    const has = (s: TopologySnapshot) => s.containers.find((x) => x.name === t.name('events-new'));
    await eventually(async () => has(await tp.snapshot())?.state === 'running', 'the new container');
    await docker.getNetwork(net).connect({ Container: c.id, EndpointConfig: { Aliases: ['late-alias'] } });
    await eventually(
      async () =>
        has(await tp.snapshot())
          ?.networks.find((n) => n.networkName === net)
          ?.aliases.includes('late-alias') ?? false,
      'the network connect',
    );
    // The debounced background refresh writes the cache for other processes.
    await clock.advance(1_000);
    await eventually(async () => {
      const cached = await db.topology.load();
      return cached !== null && has(cached)?.networks.some((n) => n.networkName === net) === true;
    }, 'the cache to follow');
    await c.remove({ force: true });
    await eventually(async () => !has(await tp.snapshot()), 'the removal');
  });

  it('never runs two refreshes for one change', SLOW, async () => {
    const tp = topology({});
    const [a, b, c] = await Promise.all([tp.refresh(), tp.refresh(), tp.snapshot({ maxAgeMs: 0 })]);
    expect(b).toBe(a);
    expect(c).toBe(a);
  });
});

describe('DockerTopology without the engine (degraded, never throwing)', () => {
  it('a socket path that does not exist', SLOW, async () => {
    const path = join(tempDir('tm-nosock-'), 'docker.sock');
    const snap = await topology({ socketPath: path }).snapshot();
    expect(snap.docker).toEqual({ available: false, reason: `the Docker socket ${path} does not exist` });
    expect(snap.containers).toEqual([]);
    expect(snap.networks).toEqual([]);
    expect(snap.cloudflared).toEqual({
      kind: 'unknown',
      detail: `no cloudflared process was found, and the Docker socket ${path} does not exist`,
    });
  });

  it('still finds cloudflared on the host', SLOW, async () => {
    const cf = await startHostCloudflared();
    later(() => cf.stop());
    const snap = await new DockerTopology({ socketPath: '/nonexistent/docker.sock', watch: false }).snapshot();
    expect(snap.docker.available).toBe(false);
    expect(snap.cloudflared.kind).toBe('host');
    expect(snap.cloudflared.detail).toContain(String(cf.pid));
    await cf.stop();
  });

  it('a file that is not a socket', SLOW, async () => {
    const path = join(tempDir('tm-notsock-'), 'docker.sock');
    writeFileSync(path, '');
    const snap = await topology({ socketPath: path }).snapshot();
    expect(snap.docker.available).toBe(false);
    if (!snap.docker.available) expect(snap.docker.reason).toContain(path);
  });

  it('an engine that refuses access (an authorization plugin), reported and not cached', SLOW, async () => {
    const server = await startSocketServer(denyAll);
    later(() => server.close());
    const db = store();
    const snap = await topology({ socketPath: server.path, cache: db.topology }).snapshot();
    expect(snap.docker).toEqual({
      available: false,
      reason: `the Docker engine at ${server.path} refused access (HTTP 403: authorization denied by plugin tm-test)`,
    });
    expect(await db.topology.load()).toBeNull();
  });

  it('an engine that does not answer', SLOW, async () => {
    const server = await startSocketServer();
    later(() => server.close());
    const snap = await topology({ socketPath: server.path, requestTimeoutMs: 300 }).snapshot();
    expect(snap.docker).toEqual({
      available: false,
      reason: `the Docker engine at ${server.path} did not answer within 300 ms`,
    });
  });

  it('docker.enabled false: the socket is never touched', SLOW, async () => {
    const server = await startSocketServer(denyAll);
    later(() => server.close());
    const snap = await topology({
      socketPath: server.path,
      enabled: false,
      cloudflared: { expectOnHost: true },
    }).snapshot();
    expect(snap.docker).toEqual({
      available: false,
      reason: 'Docker is disabled in the configuration (docker.enabled: false)',
    });
    expect(snap.cloudflared.kind).toBe('host');
    expect(server.requests).toEqual([]);
  });
});
