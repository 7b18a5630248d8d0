import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Actor, type ContainerInfo, RESTART_AUDIT_ACTION, type TopologySnapshot } from '@tunnel/core';
import { InMemoryTopology, ManualClock } from '@tunnel/testkit';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMcpHttpHandler, RateLimiter, type RunningMcpHttpServer, startMcpHttpServer } from '../src/index.js';
import { describeToolSuite } from './support/tool-suite.js';
import { BIN, type Connected, callError, callOk, connectHttp, startWorld, type World } from './support/world.js';

describeToolSuite('MCP over Streamable HTTP (a bearer token per identity)', async () => {
  const world = await startWorld();
  const http = await startMcpHttpServer({
    manager: world.manager,
    tokens: world.tokens,
    rateLimit: 10_000,
    port: 0,
    defaultDomain: 'example.com',
  });
  return {
    world,
    connect: async (actor) => connectHttp(http.url, (await world.tokens.create({ actor })).token),
    close: async () => {
      await http.close();
      await world.close();
    },
  };
});

const initialize = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
});

function post(url: string, headers: Record<string, string>, body = initialize): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body,
  });
}

describe('MCP HTTP: authentication and the endpoint', () => {
  let world: World;
  let http: RunningMcpHttpServer;
  const open: Connected[] = [];

  beforeAll(async () => {
    world = await startWorld();
    http = await startMcpHttpServer({ manager: world.manager, tokens: world.tokens, rateLimit: 1000, port: 0 });
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close().catch(() => {});
  });
  afterAll(async () => {
    await http?.close();
    await world?.close();
  });

  it('listens on loopback at /mcp by default', () => {
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  });

  it('answers 401 without a bearer token, with WWW-Authenticate and a JSON-RPC error that says what to do', async () => {
    const variants: Array<Record<string, string>> = [
      {},
      { authorization: '' },
      { authorization: 'Basic c2hvcDpwdw==' },
      { authorization: 'Bearer' },
    ];
    for (const headers of variants) {
      const response = await post(http.url, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="tunnel-manager"');
      const body = (await response.json()) as { error: { code: number; message: string } };
      expect(body.error.message).toMatch(/Authorization: Bearer <token>.*tunnel token create/);
    }
  });

  it('answers 401 to an unknown, altered or revoked token, and the call never reaches the manager', async () => {
    const { token, record } = await world.tokens.create({ actor: Actor.project('shop') });
    const auditBefore = (await world.db.audit.query()).length;
    const altered = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    for (const bad of ['tmcp_nope', altered, token.toLowerCase(), `${token}x`]) {
      const response = await post(http.url, { authorization: `Bearer ${bad}` });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    }
    expect((await post(http.url, { authorization: `Bearer ${token}` })).status).toBe(200);
    // A client that worked a moment ago is refused as soon as its token is revoked.
    const client = await connectHttp(http.url, token);
    open.push(client);
    await callOk(client.client, 'tunnel_list_cnames');
    await world.tokens.revoke(record.id);
    await expect(client.client.callTool({ name: 'tunnel_list_cnames', arguments: {} })).rejects.toMatchObject({
      code: 401,
    });
    expect((await post(http.url, { authorization: `Bearer ${token}` })).status).toBe(401);
    const audit = await world.db.audit.query();
    expect(audit.slice(0, audit.length - auditBefore).map((e) => e.action)).toEqual(['token.revoke']);
  });

  it('the SDK client gets a 401 error for a wrong token, not a session', async () => {
    await expect(connectHttp(http.url, 'tmcp_wrong')).rejects.toMatchObject({
      code: 401,
      message: /Invalid bearer token/,
    });
    await expect(connectHttp(http.url, null)).rejects.toMatchObject({ code: 401, message: /Missing bearer token/ });
  });

  it('is stateless: GET and DELETE answer 405; other paths 404', async () => {
    const { token } = await world.tokens.create({ actor: Actor.project('shop') });
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(http.url, { method, headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(405);
      expect(response.headers.get('allow')).toBe('POST');
    }
    const elsewhere = await fetch(http.url.replace(/\/mcp$/, '/other'), {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(elsewhere.status).toBe(404);
  });

  it('refuses a browser Origin that is not loopback (403), and allows a loopback one', async () => {
    const { token } = await world.tokens.create({ actor: Actor.project('shop') });
    const evil = await post(http.url, { authorization: `Bearer ${token}`, origin: 'https://evil.example' });
    expect(evil.status).toBe(403);
    const local = await post(http.url, { authorization: `Bearer ${token}`, origin: 'http://localhost:3000' });
    expect(local.status).toBe(200);
  });
});

describe('createMcpHttpHandler mounted on a server of the caller', () => {
  let world: World;
  let server: Server;
  let base: string;

  beforeAll(async () => {
    world = await startWorld();
    const handle = createMcpHttpHandler({
      manager: world.manager,
      tokens: world.tokens,
      rateLimit: 100,
      path: '/tunnel/mcp',
      defaultDomain: 'example.com',
    });
    server = createServer(async (req, res) => {
      if (await handle(req, res)) return;
      res.writeHead(200, { 'content-type': 'text/plain' }).end('daemon route');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await world?.close();
  });

  it('serves its path and leaves every other request to the caller', async () => {
    expect(await (await fetch(`${base}/healthz`)).text()).toBe('daemon route');
    expect(await (await fetch(`${base}/mcp`)).text()).toBe('daemon route');
    const { token } = await world.tokens.create({ actor: Actor.project('shop') });
    const client = await connectHttp(`${base}/tunnel/mcp`, token);
    try {
      const { structured } = await callOk(client.client, 'tunnel_list_domains');
      expect(structured.defaultDomain).toBe('example.com');
    } finally {
      await client.close();
    }
  });
});

describe('MCP HTTP: per-token rate limit (injected clock)', () => {
  let world: World;
  let http: RunningMcpHttpServer;
  const clock = new ManualClock();
  const open: Connected[] = [];

  beforeAll(async () => {
    world = await startWorld();
    http = await startMcpHttpServer({
      manager: world.manager,
      tokens: world.tokens,
      rateLimit: new RateLimiter(3, clock),
      port: 0,
    });
  });
  afterAll(async () => {
    for (const c of open) await c.close().catch(() => {});
    await http?.close();
    await world?.close();
  });

  it('answers RATE_LIMITED with the wait once a token spends its budget; other tokens are unaffected', async () => {
    const shopToken = (await world.tokens.create({ actor: Actor.project('shop') })).token;
    const blogToken = (await world.tokens.create({ actor: Actor.project('blog') })).token;
    const shop = await connectHttp(http.url, shopToken);
    const blog = await connectHttp(http.url, blogToken);
    open.push(shop, blog);
    // Listing tools is not a tool call: it does not count.
    for (let i = 0; i < 5; i++) await shop.client.listTools();
    for (let i = 0; i < 3; i++) await callOk(shop.client, 'tunnel_list_cnames');
    const limited = await callError(shop.client, 'tunnel_list_cnames', {});
    expect(limited.code).toBe('RATE_LIMITED');
    expect(limited.retryable).toBe(true);
    expect(limited.details).toEqual({ retryAfterMs: 20_000, limitPerMinute: 3 });
    expect(limited.hint).toMatch(/Wait 20 s/);
    // A limited call does not reach the manager, not even a mutation.
    const before = (await world.db.routes.list()).length;
    const mutation = await callError(shop.client, 'tunnel_request_cname', { subdomain: 'x', port: 80 });
    expect(mutation.code).toBe('RATE_LIMITED');
    expect((await world.db.routes.list()).length).toBe(before);
    await callOk(blog.client, 'tunnel_list_cnames');
    await clock.advance(10_000);
    expect((await callError(shop.client, 'tunnel_get_status', {})).details?.retryAfterMs).toBe(10_000);
    await clock.advance(10_000);
    await callOk(shop.client, 'tunnel_get_status');
  });

  it('keeps the budget per token, not per connection', async () => {
    const token = (await world.tokens.create({ actor: Actor.project('news') })).token;
    for (let i = 0; i < 3; i++) {
      const c = await connectHttp(http.url, token);
      open.push(c);
      await callOk(c.client, 'tunnel_list_domains');
    }
    const again = await connectHttp(http.url, token);
    open.push(again);
    expect((await callError(again.client, 'tunnel_list_domains', {})).code).toBe('RATE_LIMITED');
  });
});

function containerInfo(name: string, networks: string[], ports: number[]): ContainerInfo {
  return {
    id: `${name}-id`.padEnd(64, '0'),
    name,
    image: 'app:1',
    command: name === 'cloudflared' ? 'cloudflared tunnel run' : 'app',
    state: 'running',
    labels: {},
    networkMode: networks[0] ?? 'bridge',
    networks: networks.map((n) => ({
      networkId: `net-${n}`,
      networkName: n,
      ipAddress: null,
      gateway: null,
      aliases: [name],
    })),
    ports: ports.map((p) => ({ containerPort: p, protocol: 'tcp', exposed: true, published: [] })),
    extraHosts: [],
  };
}

describe('MCP HTTP: the target and why, with Docker (in-memory topology)', () => {
  let world: World;
  let http: RunningMcpHttpServer;
  let client: Connected;

  beforeAll(async () => {
    const snapshot: TopologySnapshot = {
      takenAt: Date.now(),
      docker: { available: true, apiVersion: '1.41' },
      cloudflared: {
        kind: 'container',
        containerId: containerInfo('cloudflared', [], []).id,
        detail: 'container cloudflared',
      },
      containers: [
        containerInfo('cloudflared', ['apps'], []),
        containerInfo('shop-web', ['apps'], [8080]),
        containerInfo('lonely', ['private'], [8080]),
      ],
      networks: ['apps', 'private'].map((n) => ({
        id: `net-${n}`,
        name: n,
        driver: 'bridge',
        internal: false,
        gateway: null,
        subnet: null,
      })),
    };
    world = await startWorld({
      config: { docker: { enabled: true } },
      manager: { overrides: { Topology: new InMemoryTopology(snapshot) } },
    });
    http = await startMcpHttpServer({ manager: world.manager, tokens: world.tokens, rateLimit: 1000, port: 0 });
    client = await connectHttp(http.url, (await world.tokens.create({ actor: Actor.project('shop') })).token);
  });
  afterAll(async () => {
    await client?.close();
    await http?.close();
    await world?.close();
  });

  it('routes to the container name on the network it shares with cloudflared, and says so', async () => {
    const { structured } = await callOk(client.client, 'tunnel_request_cname', {
      subdomain: 'shop',
      port: 8080,
      container: 'shop-web',
    });
    expect(structured.target).toBe('http://shop-web:8080');
    expect(structured.targetReason).toMatch(/apps/);
    expect(structured.service).toEqual({ container: 'shop-web', port: 8080, scheme: 'http' });
  });

  it('refuses a container cloudflared shares no network with and that publishes nothing', async () => {
    const error = await callError(client.client, 'tunnel_request_cname', {
      subdomain: 'x',
      port: 8080,
      container: 'lonely',
    });
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.message).toMatch(/lonely/);
  });
});

describe('MCP HTTP: an unexpected failure is a coded tool error, never a stack trace', () => {
  it('reports a closed database as a tool error and keeps the connection', async () => {
    const world = await startWorld();
    const http = await startMcpHttpServer({ manager: world.manager, tokens: world.tokens, rateLimit: 1000, port: 0 });
    const client = await connectHttp(http.url, (await world.tokens.create({ actor: Actor.project('shop') })).token);
    try {
      await callOk(client.client, 'tunnel_list_cnames');
      await world.manager.close();
      const failure = await callError(client.client, 'tunnel_list_cnames', {});
      expect(failure.code).toBe('INTERNAL');
      expect(failure.message).toMatch(/database connection is not open/);
      // The connection survives: listing tools still works.
      expect((await client.client.listTools()).tools).toHaveLength(5);
    } finally {
      await client.close();
      await http.close();
      await world.close();
    }
  });
});

describe('tunnel-mcp --http (the built bin)', () => {
  let world: World;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    world = await startWorld();
  });
  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('close', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await world?.close();
  });

  it('serves tokens created by the library, refuses others, and stops on SIGTERM', async () => {
    const proc = spawn(process.execPath, [BIN, '--http', '--port', '0', '--config', world.configFile], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('\n') && proc.exitCode === null && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!stdout.includes('\n')) throw new Error(`tunnel-mcp --http did not start: ${stderr}`);
    const { url } = JSON.parse(stdout.split('\n')[0] ?? '') as { url: string };
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect((await post(url, {})).status).toBe(401);
    const client = await connectHttp(url, (await world.tokens.create({ actor: Actor.project('shop') })).token);
    try {
      const { structured } = await callOk(client.client, 'tunnel_request_cname', { subdomain: 'bin', port: 3000 });
      expect(structured).toMatchObject({ hostname: 'bin.example.com', owner: 'shop', state: 'active' });
    } finally {
      await client.close();
    }
    const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
    proc.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});

describe("tunnel_get_status with a daemon's health history", () => {
  it('reports the newest check, the recent samples newest first, and the last restart and why', async () => {
    const world = await startWorld();
    const http = await startMcpHttpServer({ manager: world.manager, tokens: world.tokens, rateLimit: 1000, port: 0 });
    const client = await connectHttp(http.url, (await world.tokens.create({ actor: Actor.project('shop') })).token);
    try {
      const t0 = Date.UTC(2026, 0, 1, 12, 0, 0);
      await world.db.health.insert({
        at: t0,
        status: 'down',
        processState: 'running',
        readyConnections: 0,
        latencyMs: 3,
        apiStatus: 'down',
        failingCheck: 'ready',
        detail: '/ready answered 503',
      });
      await world.db.health.insert({
        at: t0 + 30_000,
        status: 'healthy',
        processState: 'running',
        readyConnections: 4,
        latencyMs: 2,
        apiStatus: 'healthy',
        failingCheck: null,
        detail: null,
      });
      await world.db.audit.append({
        at: t0 + 10_000,
        actor: 'system',
        project: null,
        action: RESTART_AUDIT_ACTION,
        target: 'cloudflared',
        params: { reason: '3 failed health checks' },
        outcome: 'ok',
        errorCode: null,
        message: 'restarted: 3 failed health checks',
        durationMs: 4200,
      });
      const { structured, text } = await callOk(client.client, 'tunnel_get_status');
      expect(structured.tunnel).toEqual({
        status: 'healthy',
        processState: 'running',
        readyConnections: 4,
        apiStatus: 'healthy',
        lastCheckAt: '2026-01-01T12:00:30.000Z',
        detail: null,
      });
      expect(structured.recentSamples.map((s: { at: string; status: string }) => [s.at, s.status])).toEqual([
        ['2026-01-01T12:00:30.000Z', 'healthy'],
        ['2026-01-01T12:00:00.000Z', 'down'],
      ]);
      expect(structured.recentSamples[1]).toMatchObject({ failingCheck: 'ready', detail: '/ready answered 503' });
      expect(structured.lastRestart).toEqual({
        at: '2026-01-01T12:00:10.000Z',
        reason: '3 failed health checks',
        outcome: 'ok',
        durationMs: 4200,
      });
      expect(text).toMatch(/Tunnel healthy: cloudflared running, 4 ready connection/);
      expect(text).toMatch(/Last restart 2026-01-01T12:00:10.000Z \(3 failed health checks\): ok/);
    } finally {
      await client.close();
      await http.close();
      await world.close();
    }
  });
});
