/**
 * Issue 18, "answers that are true now", on the real engine. A "daemon" DockerTopology watches
 * the engine's events and keeps the topology cache in a SQLite file; a "client" (its own
 * DockerTopology and its own connection to that file, as a CLI or MCP process has) answers from
 * that cache through selectCurrentTarget, which rechecks the container against the engine before
 * answering and refreshes before refusing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  Actor,
  isTunnelError,
  SqliteStateStore,
  selectCurrentTarget,
  type TopologySnapshot,
  type TunnelError,
} from '@tunnel/core';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerTopology } from '../src/index.js';
import { httpd, requireDocker, TestDocker } from './support/engine.js';

const SLOW = { timeout: 180_000 };
const admin = Actor.admin();

let docker: Docker;
let t: TestDocker;
let dir: string;
let net: string;
let cfName: string;
let daemonStore: SqliteStateStore;
let clientStore: SqliteStateStore;
let daemonTopology: DockerTopology;
const undo: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  docker = await requireDocker();
  t = new TestDocker(docker);
  dir = mkdtempSync(join(tmpdir(), 'tm-fresh-'));
  net = await t.network('fresh');
  cfName = t.name('cf');
  await t.container('cf', { cmd: ['cloudflared', 'tunnel', 'run'], networks: [{ name: net }] });
  daemonStore = SqliteStateStore.open({ path: join(dir, 'state.db') });
  clientStore = SqliteStateStore.open({ path: join(dir, 'state.db') });
  daemonTopology = new DockerTopology({ cache: daemonStore.topology, cloudflared: { container: cfName } });
  undo.push(() => daemonTopology.close());
  await daemonTopology.refresh();
}, 240_000);

afterAll(async () => {
  for (const fn of undo.reverse()) await fn().catch(() => undefined);
  await t?.cleanup();
  await daemonStore?.close();
  await clientStore?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

/** A client process's topology: no event stream, a long TTL, the cache the daemon keeps. */
function clientTopology(): DockerTopology {
  const tp = new DockerTopology({
    cache: clientStore.topology,
    watch: false,
    ttlMs: 600_000,
    cloudflared: { container: cfName },
  });
  undo.push(() => tp.close());
  return tp;
}

async function refusal(promise: Promise<unknown>): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal, got a target');
}

/** Polls `probe` until it holds or `boundMs` passes (the bound is the requirement under test). */
async function within(boundMs: number, probe: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`${what} was not seen within ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

const stateIn = (snapshot: TopologySnapshot | null, name: string) =>
  snapshot?.containers.find((c) => c.name === name)?.state ?? null;

describe('fresh answers on the real engine', () => {
  it('a container started a moment ago is found, though the cached snapshot predates it', SLOW, async () => {
    const client = clientTopology();
    const before = await client.snapshot();
    const name = t.name('just-started');
    expect(stateIn(before, name)).toBeNull();

    await t.container('just-started', { cmd: httpd('fresh', 8080), networks: [{ name: net }] });
    // At once: the client's snapshot (and maybe the cache) still lacks it.
    const target = await selectCurrentTarget(client, { actor: admin, container: name, port: 8080 });
    expect(target.url).toBe(`http://${name}:8080`);
    expect(target.via).toBe('shared-network');
    expect(await t.wgetFrom(cfName, target.url)).toBe('fresh');
  });

  it('a container stopped a moment ago is refused as exited, though the snapshot says running', SLOW, async () => {
    const name = t.name('soon-stopped');
    const c = await t.container('soon-stopped', { cmd: httpd('stop', 8080), networks: [{ name: net }] });
    const client = clientTopology();
    const running = await client.refresh();
    expect(stateIn(running, name)).toBe('running');
    await selectCurrentTarget(client, { actor: admin, container: name, port: 8080 });

    await c.stop({ t: 0 });
    const error = await refusal(selectCurrentTarget(client, { actor: admin, container: name, port: 8080 }));
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.message).toMatch(new RegExp(`Container ${name} is exited`));
    expect(error.hint).toContain(`docker start ${name}`);

    // And started again: found running at once, not "is exited" from the snapshot just taken.
    await c.start();
    const target = await selectCurrentTarget(client, { actor: admin, container: name, port: 8080 });
    expect(target.url).toBe(`http://${name}:8080`);
  });

  it('a change is in the cache a second process reads within 1 s (the daemon watches events)', SLOW, async () => {
    const name = t.name('seen-by-others');
    const c = await t.container('seen-by-others', { cmd: ['sleep', '3600'], networks: [{ name: net }] });
    await within(1_000, async () => stateIn(await clientStore.topology.load(), name) === 'running', `${name} running`);
    await c.stop({ t: 0 });
    await within(1_000, async () => stateIn(await clientStore.topology.load(), name) === 'exited', `${name} exited`);
    await c.remove({ force: true });
    await within(
      1_000,
      async () => {
        const cached = await clientStore.topology.load();
        return cached !== null && stateIn(cached, name) === null;
      },
      `${name} removed`,
    );
  });

  it('a name that never existed is still refused, after one refresh', SLOW, async () => {
    const client = clientTopology();
    await client.snapshot();
    const error = await refusal(
      selectCurrentTarget(client, { actor: admin, container: t.name('never-was'), port: 80 }),
    );
    expect(error.message).toMatch(/No container named .*never-was exists\./);
  });
});
