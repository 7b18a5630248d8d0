/**
 * Issue 18, "every topology right", on the real engine: the default bridge, two networks,
 * `container:` mode, `none`, host mode, macvlan, a just-created container, aliases, replicas and
 * EXPOSE. Each refusal's hint is applied as written and the target then checked from where
 * cloudflared runs (wget inside the stand-in), so a hint that does not work fails here.
 *
 * With RECORD_TOPOLOGY=1 the snapshots are written to packages/core/test/topology/recorded/,
 * where the core table test (recorded-topologies.test.ts) replays them without an engine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer as createTcpServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Actor, isTunnelError, selectTarget, type TargetRequest, type TopologySnapshot } from '@tunnel/core';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerTopology } from '../src/index.js';
import { httpd, requireDocker, TestDocker } from './support/engine.js';
import { serveOnHost } from './support/host.js';

const SLOW = { timeout: 180_000 };
const admin = Actor.admin();
const sleeper = ['sleep', '3600'];
const RECORD = process.env.RECORD_TOPOLOGY === '1';
const RECORDED = fileURLToPath(new URL('../../core/test/topology/recorded/', import.meta.url));

let docker: Docker;
let t: TestDocker;
let edge: string;
let cf: string;
const undo: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  docker = await requireDocker();
  t = new TestDocker(docker);
  edge = await t.network('edge');
  cf = t.name('cf');
  await t.container('cf', { cmd: sleeper, networks: [{ name: edge }] });
}, 240_000);

afterAll(async () => {
  for (const fn of undo.reverse()) await fn().catch(() => undefined);
  await t?.cleanup();
}, 120_000);

/** A fresh snapshot with cloudflared in `container`; recorded under `name` when asked to. */
async function snap(name: string, container = cf, facts: Record<string, unknown> = {}): Promise<TopologySnapshot> {
  const tp = new DockerTopology({ watch: false, cloudflared: { container } });
  undo.push(() => tp.close());
  const s = await tp.snapshot({ maxAgeMs: 0 });
  if (RECORD) {
    mkdirSync(RECORDED, { recursive: true });
    // Only this run's containers and networks (and the predefined ones): a replay needs no more.
    const mine = (n: string) => n.startsWith(t.run) || ['bridge', 'host', 'none'].includes(n);
    const kept = {
      ...s,
      containers: s.containers.filter((c) => mine(c.name)),
      networks: s.networks.filter((n) => mine(n.name)),
    };
    writeFileSync(`${RECORDED}${name}.json`, `${JSON.stringify({ run: t.run, facts, snapshot: kept }, null, 2)}\n`);
  }
  return s;
}

const pick = (s: TopologySnapshot, request: Omit<TargetRequest, 'actor'>) =>
  selectTarget(s, { actor: admin, ...request });

function refusal(fn: () => unknown) {
  try {
    fn();
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal, got a target');
}

/** A TCP port free on every host address right now. */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('the topologies of issue 18 on the real engine', () => {
  it('default bridge: refused, and the hint (connect to cloudflared network) works as written', SLOW, async () => {
    const name = t.name('bridged');
    const error = refusal(() => pick(s1, { container: name, port: 8080 }));
    expect(error.message).toContain(`shares no user-defined network with container ${name}`);
    expect(error.hint).toContain(`docker network connect ${edge} ${name}`);
    await docker.getNetwork(edge).connect({ Container: name });
    const target = pick(await snap('default-bridge-fixed'), { container: name, port: 8080 });
    expect(target.url).toBe(`http://${name}:8080`);
    expect(await t.wgetFrom(cf, target.url)).toBe('bridged');
  });

  let s1: TopologySnapshot;
  beforeAll(async () => {
    // Everything the table replays, created before the first recorded snapshot.
    await t.container('bridged', { cmd: httpd('bridged', 8080), expose: [8080] });
    await t.network('other');
    await t.network('second');
    await docker.getNetwork(t.name('second')).connect({ Container: cf });
    await t.container('two-nets', {
      cmd: httpd('two-nets', 8080),
      networks: [{ name: t.name('other') }, { name: t.name('second') }],
    });
    await t.container('ns-owner', { cmd: httpd('ns-owner', 8080), networks: [{ name: edge }] });
    await t.container('sidecar', { cmd: sleeper, networkMode: `container:${t.name('ns-owner')}` });
    await t.container('isolated', { cmd: httpd('isolated', 8080), networkMode: 'none' });
    await t.container('created', { cmd: httpd('created', 8080), networks: [{ name: edge }], start: false });
    await t.container('alias-here', {
      cmd: httpd('alias-here', 8080),
      networks: [{ name: edge, aliases: ['shared'] }],
    });
    await t.container('alias-there', {
      cmd: httpd('alias-there', 8080),
      networks: [{ name: t.name('other'), aliases: ['shared'] }],
    });
    await t.container('replica-1', {
      cmd: httpd('replica', 8080),
      networks: [{ name: edge, aliases: ['replicated'] }],
    });
    await t.container('replica-2', {
      cmd: httpd('replica', 8080),
      networks: [{ name: edge, aliases: ['replicated'] }],
    });
    await t.container('undeclared', { cmd: httpd('undeclared', 8140), networks: [{ name: edge }], expose: [9999] });
    s1 = await snap('edge');
  }, 240_000);

  it('two networks: the one cloudflared shares, and cloudflared reaches it there', SLOW, async () => {
    const target = pick(s1, { container: t.name('two-nets'), port: 8080 });
    expect(target.reason).toContain(`network ${t.name('second')}`);
    expect(await t.wgetFrom(cf, target.url)).toBe('two-nets');
  });

  it('container: mode — the sidecar is reached through the namespace owner', SLOW, async () => {
    const target = pick(s1, { container: t.name('sidecar'), port: 8080 });
    expect(target.url).toBe(`http://${t.name('ns-owner')}:8080`);
    expect(target.reason).toContain(`through container ${t.name('ns-owner')}`);
    expect(await t.wgetFrom(cf, target.url)).toBe('ns-owner');
  });

  it('--network none: refused, and the hint (disconnect none, then connect) works as written', SLOW, async () => {
    const name = t.name('isolated');
    const error = refusal(() => pick(s1, { container: name, port: 8080 }));
    expect(error.message).toContain('runs with --network none');
    expect(error.hint).toContain(`docker network disconnect none ${name} && docker network connect ${edge} ${name}`);
    // What the issue saw: connecting first fails.
    await expect(docker.getNetwork(edge).connect({ Container: name })).rejects.toThrow(/none/);
    await docker.getNetwork('none').disconnect({ Container: name });
    await docker.getNetwork(edge).connect({ Container: name });
    const target = pick(await snap('none-fixed'), { container: name, port: 8080 });
    expect(target.url).toBe(`http://${name}:8080`);
    expect(await t.wgetFrom(cf, target.url)).toBe('isolated');
  });

  it('a just-created container: refused as created (retryable), found once started', SLOW, async () => {
    const name = t.name('created');
    const error = refusal(() => pick(s1, { container: name, port: 8080 }));
    expect(error.message).toContain(`Container ${name} is created`);
    expect(error.retryable).toBe(true);
    await docker.getContainer(name).start();
    const target = pick(await snap('created-started'), { container: name, port: 8080 });
    expect(await t.wgetFrom(cf, target.url)).toBe('created');
  });

  it('an alias two containers carry, only one on cloudflared networks: that one', SLOW, async () => {
    const target = pick(s1, { container: 'shared', port: 8080 });
    expect(target.url).toBe(`http://${t.name('alias-here')}:8080`);
    expect(await t.wgetFrom(cf, target.url)).toBe('alias-here');
  });

  it('replicas behind one alias: the alias, which Docker DNS answers with the replicas', SLOW, async () => {
    const target = pick(s1, { container: 'replicated', port: 8080 });
    expect(target.url).toBe('http://replicated:8080');
    expect(target.reason).toContain(`2 running: ${t.name('replica-1')}, ${t.name('replica-2')}`);
    expect(await t.wgetFrom(cf, target.url)).toBe('replica');
  });

  it('EXPOSE is advisory: a port the image does not declare is accepted, and answers', SLOW, async () => {
    const target = pick(s1, { container: t.name('undeclared'), port: 8140 });
    expect(target.reason).toContain('EXPOSE is only advisory');
    expect(await t.wgetFrom(cf, target.url)).toBe('undeclared');
  });

  it('host mode: reached through the bridge gateway when it listens on every address', SLOW, async () => {
    const port = await freePort();
    const name = t.name('hostnet');
    await t.container('hostnet', { cmd: httpd('hostnet', port), networkMode: 'host' });
    const gateway = (await docker.getNetwork(edge).inspect()).IPAM?.Config?.[0]?.Gateway as string;
    let target = pick(await snap('host-mode', cf, { port, gateway }), { container: name, port });
    for (let i = 0; i < 50 && target.reason.includes('nothing listens'); i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      target = pick(await snap('host-mode', cf, { port, gateway }), { container: name, port });
    }
    expect(target.url).toBe(`http://${gateway}:${port}`);
    expect(target.reason).toMatch(/it listens on (0\.0\.0\.0|\[::\]):/);
    expect(await t.wgetFrom(cf, target.url)).toBe('hostnet');
  });

  it('a host service on 127.0.0.1 only, cloudflared in a container: refused with the fix', SLOW, async () => {
    const service = await serveOnHost('127.0.0.1', 'loopback');
    undo.push(() => service.close());
    const fresh = await snap('host-loopback', cf, { port: service.port });
    const e = refusal(() => pick(fresh, { port: service.port }));
    expect(e.message).toContain(`listens only on 127.0.0.1:${service.port} (loopback)`);
    expect(e.hint).toContain(`0.0.0.0:${service.port}`);
    // The proof: the gateway does not answer on that port.
    const gateway = (await docker.getNetwork(edge).inspect()).IPAM?.Config?.[0]?.Gateway as string;
    const attempt = await t.exec(cf, ['timeout', '5', 'wget', '-q', '-O', '-', `http://${gateway}:${service.port}`]);
    expect(attempt.exitCode).not.toBe(0);
  });

  it('macvlan: its gateway is not the host — no route, instead of a dead gateway URL', SLOW, async () => {
    const macvlan = t.name('macvlan');
    await docker.createNetwork({
      Name: macvlan,
      Driver: 'macvlan',
      Labels: t.labels,
      IPAM: { Config: [{ Subnet: '10.199.0.0/24', Gateway: '10.199.0.1' }] },
      Options: { parent: 'eth0' },
    });
    await t.container('cf-macvlan', { cmd: sleeper, networks: [{ name: macvlan }] });
    const s = await snap('macvlan', t.name('cf-macvlan'));
    expect(s.networks.find((n) => n.name === macvlan)?.driver).toBe('macvlan');
    const error = refusal(() => pick(s, { port: 3000 }));
    expect(error.message).toContain('no bridge network with a gateway');
    expect(error.hint).toContain('--add-host host.docker.internal:host-gateway');
  });
});
