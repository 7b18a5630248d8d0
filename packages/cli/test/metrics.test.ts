import { request } from 'node:http';
import { join } from 'node:path';
import { type NewAuditEntry, SqliteStateStore } from '@tunnel/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditTail, type DaemonHttpServer, DaemonMetrics, startDaemonHttpServer } from '../src/index.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close();
  cleanTempDirs();
});

function store(path = join(tempDir(), 'state.db')): SqliteStateStore {
  const s = SqliteStateStore.open({ path });
  open.push(s);
  return s;
}

const entry = (over: Partial<NewAuditEntry>): NewAuditEntry => ({
  at: 1_000,
  actor: 'admin',
  project: null,
  action: 'cname.request',
  target: 'app.example.com',
  params: {},
  outcome: 'ok',
  errorCode: null,
  message: null,
  durationMs: 120,
  ...over,
});

function get(url: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('AuditTail', () => {
  it('returns only the entries appended since the previous poll, oldest first, across writers', async () => {
    const path = join(tempDir(), 'state.db');
    const s = store(path);
    await s.audit.append(entry({ target: 'before-start.example.com' }));
    const tail = new AuditTail(s.audit);
    await tail.start();
    expect(await tail.poll()).toEqual([]);
    // A second connection to the same file stands for another process (the CLI, an MCP server).
    const other = store(path);
    await other.audit.append(entry({ target: 'a.example.com', at: 5_000 }));
    // An operation that began earlier but ended (and was audited) later still counts.
    await s.audit.append(entry({ target: 'b.example.com', at: 2_000 }));
    expect((await tail.poll()).map((e) => e.target)).toEqual(['a.example.com', 'b.example.com']);
    expect(await tail.poll()).toEqual([]);
    await s.audit.append(entry({ target: 'c.example.com', at: 6_000 }));
    expect((await tail.poll()).map((e) => e.target)).toEqual(['c.example.com']);
  });

  it('pages through more than one query page of new entries', async () => {
    const s = store();
    const tail = new AuditTail(s.audit);
    await tail.start();
    for (let i = 0; i < 2_500; i++) await s.audit.append(entry({ at: 10_000 + i, target: `h${i}.example.com` }));
    const seen = await tail.poll();
    expect(seen).toHaveLength(2_500);
    expect(new Set(seen.map((e) => e.id)).size).toBe(2_500);
    expect(seen[0]?.target).toBe('h0.example.com');
  });
});

describe('DaemonMetrics over the daemon HTTP endpoint', () => {
  async function serve(metrics: DaemonMetrics, healthy = true): Promise<DaemonHttpServer> {
    const server = await startDaemonHttpServer({
      host: '127.0.0.1',
      port: 0,
      metrics,
      healthz: () => ({ ok: healthy, tunnel: 'healthy' }),
      routes: new Map([['/mcp', (_req, res) => void res.writeHead(202).end()]]),
    });
    open.push({ close: () => server.close() });
    return server;
  }

  it('serves Prometheus text with the tunnel state, checks, restarts, routes, operations and HTTP requests', async () => {
    const s = store();
    const metrics = new DaemonMetrics({ state: s });
    const tail = new AuditTail(s.audit);
    await tail.start();
    metrics.onScrape(async () => {
      for (const e of await tail.poll()) metrics.observeOperation(e);
    });
    const server = await serve(metrics);
    metrics.observeSample({
      at: 1_700_000_000_000,
      status: 'healthy',
      processState: 'running',
      readyConnections: 4,
      latencyMs: 3,
      apiStatus: 'healthy',
      failingCheck: null,
      detail: null,
    });
    metrics.observeSample({
      at: 1_700_000_030_000,
      status: 'down',
      processState: 'running',
      readyConnections: 0,
      latencyMs: null,
      apiStatus: null,
      failingCheck: 'ready',
      detail: 'x',
    });
    metrics.observeRestart({
      ok: true,
      trigger: 'config',
      startedAt: 0,
      finishedAt: 1500,
      attempts: 0,
      replicaIds: null,
      rolling: false,
      reasons: ['r'],
      error: null,
    });
    metrics.observeProviderCall('cloudflare', 'createCname', 'ok', 0.2);
    metrics.observeProviderCall('cloudflare', 'createCname', 'RECORD_CONFLICT', 0.1);
    await s.audit.append(entry({ action: 'cname.request', outcome: 'ok', durationMs: 800 }));
    await s.audit.append(entry({ action: 'cname.request', outcome: 'error', errorCode: 'RECORD_CONFLICT' }));
    await s.audit.append(entry({ action: 'cname.delete', outcome: 'ok' }));
    await get(`${server.origin}/mcp`, 'POST');
    await get(`${server.origin}/nowhere`);

    const res = await get(`${server.origin}/metrics`);
    expect(res.status).toBe(200);
    expect(res.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parsePrometheusText(res.body);
    expect(m.get('tunnel_status')?.type).toBe('gauge');
    expect(sampleValue(m, 'tunnel_status', { status: 'down' })).toBe(1);
    expect(sampleValue(m, 'tunnel_status', { status: 'healthy' })).toBe(0);
    expect(sampleValue(m, 'tunnel_ready_connections')).toBe(0);
    expect(sampleValue(m, 'tunnel_health_checks_total', { status: 'healthy' })).toBe(1);
    expect(sampleValue(m, 'tunnel_health_check_failures_total', { check: 'ready' })).toBe(1);
    expect(sampleValue(m, 'tunnel_restarts_total', { trigger: 'config', outcome: 'ok' })).toBe(1);
    expect(sampleValue(m, 'tunnel_routes', { state: 'active' })).toBe(0);
    expect(sampleValue(m, 'tunnel_operations_total', { action: 'cname.request', outcome: 'ok' })).toBe(1);
    expect(
      sampleValue(m, 'tunnel_operations_total', { action: 'cname.request', outcome: 'error', code: 'RECORD_CONFLICT' }),
    ).toBe(1);
    expect(sampleValue(m, 'tunnel_operations_total', { action: 'cname.delete' })).toBe(1);
    expect(sampleValue(m, 'tunnel_operation_duration_seconds_count', { action: 'cname.request' })).toBe(2);
    expect(sampleValue(m, 'tunnel_operation_duration_seconds_sum', { action: 'cname.request' })).toBeCloseTo(0.92);
    expect(
      sampleValue(m, 'tunnel_provider_requests_total', { method: 'createCname', outcome: 'RECORD_CONFLICT' }),
    ).toBe(1);
    expect(sampleValue(m, 'tunnel_http_requests_total', { route: '/mcp', status: '202' })).toBe(1);
    expect(sampleValue(m, 'tunnel_http_requests_total', { route: 'other', status: '404' })).toBe(1);
    expect(m.get('tunnel_manager_process_cpu_user_seconds_total')?.type).toBe('counter');

    // The next scrape counts each audit entry once, and this scrape itself.
    const again = parsePrometheusText((await get(`${server.origin}/metrics`)).body);
    expect(sampleValue(again, 'tunnel_operations_total', { action: 'cname.request', outcome: 'ok' })).toBe(1);
    expect(sampleValue(again, 'tunnel_http_requests_total', { route: '/metrics', status: '200' })).toBe(1);
  });

  it('answers /healthz with the daemon state (503 when not ok) and refuses other methods', async () => {
    const up = await serve(new DaemonMetrics({ defaultMetrics: false }));
    const ok = await get(`${up.origin}/healthz`);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toEqual({ ok: true, tunnel: 'healthy' });
    expect((await get(`${up.origin}/healthz`, 'POST')).status).toBe(405);
    expect((await get(`${up.origin}/metrics`, 'DELETE')).status).toBe(405);
    const down = await serve(new DaemonMetrics({ defaultMetrics: false }), false);
    expect((await get(`${down.origin}/healthz`)).status).toBe(503);
  });

  it('exports the instance id as an info metric, tunnel_manager_instance_info{instance} 1', async () => {
    const server = await serve(new DaemonMetrics({ defaultMetrics: false, instance: 'vm-eu-1' }));
    const m = parsePrometheusText((await get(`${server.origin}/metrics`)).body);
    expect(m.get('tunnel_manager_instance_info')?.type).toBe('gauge');
    expect(sampleValue(m, 'tunnel_manager_instance_info', { instance: 'vm-eu-1' })).toBe(1);
    const none = await serve(new DaemonMetrics({ defaultMetrics: false }));
    expect(parsePrometheusText((await get(`${none.origin}/metrics`)).body).has('tunnel_manager_instance_info')).toBe(
      false,
    );
  });
});
