/**
 * The event-stream bookkeeping, which a real engine cannot be made to misbehave for on demand:
 * a small engine on a Unix socket that serves recorded JSON and an `/events` stream the test
 * writes to, splits, and ends. Time is a ManualClock, so only events (never the TTL) refresh.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { DockerTopology } from '../src/index.js';
import { type SocketServer, startSocketServer } from './support/socket.js';

const ID = 'a'.repeat(64);

interface FakeEngine {
  readonly server: SocketServer;
  /** The open `/events` responses, oldest first. */
  readonly streams: ServerResponse[];
  count(prefix: string): number;
}

async function fakeEngine(): Promise<FakeEngine> {
  const streams: ServerResponse[] = [];
  const server = await startSocketServer((req, res) => {
    const url = req.url ?? '';
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url === '/version') return json({ ApiVersion: '1.41' });
    if (url.startsWith('/v1.41/containers/json')) {
      return json([{ Id: ID, Names: ['/web'], State: 'running', NetworkSettings: { Networks: {} } }]);
    }
    if (url.startsWith('/v1.41/networks')) return json([]);
    if (url.startsWith(`/v1.41/containers/${ID}/json`)) {
      return json({ Id: ID, Name: '/web', State: { Status: 'running' }, Config: { Image: 'web:1' } });
    }
    if (url.startsWith('/v1.41/events')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      streams.push(res);
      return;
    }
    res.writeHead(404).end();
  });
  return { server, streams, count: (prefix) => server.requests.filter((r) => r.startsWith(`GET ${prefix}`)).length };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
});

async function eventually(probe: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function setup() {
  const engine = await fakeEngine();
  cleanups.push(() => engine.server.close());
  const procRoot = mkdtempSync(join(tmpdir(), 'tm-noproc-'));
  cleanups.push(async () => rmSync(procRoot, { recursive: true, force: true }));
  const clock = new ManualClock(Date.now());
  const topology = new DockerTopology({ socketPath: engine.server.path, clock, ttlMs: 3_600_000, procRoot });
  cleanups.push(() => topology.close());
  const first = await topology.snapshot();
  await eventually(() => engine.streams.length === 1, 'the event stream');
  // Connecting makes the snapshot stale once (events before it were missed): settle that.
  const settled = await topology.snapshot();
  return { engine, clock, topology, first, settled };
}

describe('DockerTopology event stream', () => {
  it('asks for container and network events only, on the versioned path', async () => {
    const { engine, first, settled } = await setup();
    const events = engine.server.requests.find((r) => r.startsWith('GET /v1.41/events'));
    expect(decodeURIComponent(events ?? '')).toContain('filters={"type":["container","network"]}');
    expect(first.containers.map((c) => c.name)).toEqual(['web']);
    expect(settled).not.toBe(first);
  });

  it('refreshes on a relevant event, split across chunks, and inspects that container again', async () => {
    const { engine, topology, settled } = await setup();
    const inspects = engine.count(`/v1.41/containers/${ID}/json`);
    expect(await topology.snapshot()).toBe(settled);
    const line = JSON.stringify({ Type: 'container', Action: 'start', Actor: { ID } });
    engine.streams[0]?.write(line.slice(0, 10));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await topology.snapshot()).toBe(settled);
    engine.streams[0]?.write(`${line.slice(10)}\n`);
    await eventually(async () => (await topology.snapshot()) !== settled, 'a refresh');
    expect(engine.count(`/v1.41/containers/${ID}/json`)).toBe(inspects + 1);
  });

  it('ignores events that change nothing it reports', async () => {
    const { engine, topology, settled } = await setup();
    engine.streams[0]?.write(`${JSON.stringify({ Type: 'container', Action: 'exec_start: sh', Actor: { ID } })}\n`);
    engine.streams[0]?.write('not json\n\n');
    engine.streams[0]?.write(
      `${JSON.stringify({ Type: 'container', Action: 'health_status: healthy', Actor: { ID } })}\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await topology.snapshot()).toBe(settled);
  });

  it('treats a network event as a change', async () => {
    const { engine, topology, settled } = await setup();
    engine.streams[0]?.write(
      `${JSON.stringify({ Type: 'network', Action: 'connect', Actor: { ID: 'n', Attributes: { container: ID } } })}\n`,
    );
    await eventually(async () => (await topology.snapshot()) !== settled, 'a refresh');
  });

  it('when the stream ends: the snapshot is stale, and it reconnects after a doubling backoff', async () => {
    const { engine, clock, topology, settled } = await setup();
    engine.streams[0]?.end();
    await eventually(async () => (await topology.snapshot()) !== settled, 'a refresh after the stream ended');
    // Snapshots do not reconnect by themselves while the backoff runs.
    await topology.snapshot({ maxAgeMs: 0 });
    await clock.advance(999);
    expect(engine.streams).toHaveLength(1);
    await clock.advance(1);
    await eventually(() => engine.streams.length === 2, 'the first reconnect');

    const beforeSecondDrop = await topology.snapshot();
    engine.streams[1]?.end();
    // The stale snapshot shows the drop was seen, and the reconnect timer set in the same step.
    await eventually(async () => (await topology.snapshot()) !== beforeSecondDrop, 'a refresh');
    await clock.advance(1_999);
    expect(engine.streams).toHaveLength(2);
    await clock.advance(1);
    await eventually(() => engine.streams.length === 3, 'the second reconnect');
  });

  it('close() ends the stream and its timers', async () => {
    const { engine, topology } = await setup();
    const stream = engine.streams[0];
    const closed = new Promise((resolve) => stream?.on('close', resolve));
    await topology.close();
    await closed;
  });
});
