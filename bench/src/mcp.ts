// pnpm bench mcp — the MCP server as agents use it: the built tunnel-mcp as a child process,
// driven by the official SDK Client. With 1,000 routes in the database (50 projects × 20): 500
// calls each of tunnel_list_cnames and tunnel_get_status over stdio and over Streamable HTTP,
// then 200 tunnel_request_cname over stdio against the Cloudflare API emulator.
// Targets (p99): stdio list < 10 ms, stdio status < 10 ms, HTTP list < 20 ms, stdio request < 60 ms.
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  Actor,
  ApiTokenService,
  createTunnelManager,
  parseConfig,
  SqliteStateStore,
  SystemClock,
  type TunnelConfigInput,
} from '@tunnel/core';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { startCloudflareEmulator } from '@tunnel/testkit';
import { percentile, report, round, scratchDir, timeEach } from './lib.js';

const BIN = fileURLToPath(new URL('../../packages/mcp/dist/bin/tunnel-mcp.js', import.meta.url));
const ACCOUNT = '0123456789abcdef0123456789abcdef';
const TUNNEL = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const TOKEN = 'bench-token';
const PROJECTS = 50;
const ROUTES_PER_PROJECT = 20;
const READS = 500;
const REQUESTS = 200;
const WARMUP = 20;
// The server does the work in its own process: no forced GC between samples (see timeEach).
const IN_SERVER = false;

const dir = scratchDir('mcp');
const cf = await startCloudflareEmulator({
  seed: {
    accounts: [{ id: ACCOUNT, name: 'Bench' }],
    zones: [{ name: 'example.com' }],
    tunnels: [{ id: TUNNEL, accountId: ACCOUNT, name: 'bench', connectors: 1 }],
    tokens: [{ value: TOKEN, permissions: 'all' }],
  },
});
const children: ChildProcess[] = [];
const clients: Client[] = [];

try {
  const ingressPath = join(dir, 'cloudflared.yml');
  writeFileSync(ingressPath, `tunnel: ${TUNNEL}\ningress:\n  - service: http_status:404\n`);
  const input: TunnelConfigInput = {
    dataDir: dir,
    ingress: { configPath: ingressPath, backups: 2 },
    cloudflare: { apiToken: TOKEN, baseUrl: cf.url, accountId: ACCOUNT, tunnelId: TUNNEL },
    cloudflared: { controller: 'none' },
    docker: { enabled: false },
    restart: { waitForRestart: false },
    policy: { defaultDomain: 'example.com', quotaPerProject: 1000 },
    mcp: { rateLimitPerMinute: 100_000 },
    daemon: { logLevel: 'warn' },
  };
  const configFile = join(dir, 'tunnel-manager.yml');
  writeFileSync(configFile, JSON.stringify(input));
  const config = parseConfig(input);

  // The 1,000 routes go in through the manager itself, so DNS, ingress and the database agree.
  // One manager per project, as each project's own server would be: one API client's request
  // budget (cloudflare.requestsPerFiveMinutes) would otherwise pace the seeding.
  const seedStart = performance.now();
  for (let p = 0; p < PROJECTS; p++) {
    const seeder = createTunnelManager(config, { plugins: [cloudflarePlugin] });
    const actor = Actor.project(`project-${String(p).padStart(2, '0')}`);
    for (let r = 0; r < ROUTES_PER_PROJECT; r++) {
      await seeder.requestCname(actor, { subdomain: `app-${r}-p${p}`, service: { port: 3000 + r } });
    }
    await seeder.close();
  }
  const seedSeconds = round((performance.now() - seedStart) / 1000, 1);

  const store = SqliteStateStore.open({ path: config.database.path });
  const routes = (await store.routes.list()).length;
  const httpToken = (
    await new ApiTokenService({ store, clock: new SystemClock() }).create({ actor: Actor.project('project-00') })
  ).token;
  await store.close();
  if (routes !== PROJECTS * ROUTES_PER_PROJECT) throw new Error(`expected 1000 routes, found ${routes}`);

  const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => {
    const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
    if (result.isError) throw new Error(`${name}: ${JSON.stringify(result.content)}`);
    return result;
  };

  const connectStdio = async (args: string[]) => {
    const client = new Client({ name: 'bench', version: '1.0.0' });
    await client.connect(
      new StdioClientTransport({
        command: process.execPath,
        args: [BIN, '--config', configFile, ...args],
        env: { PATH: process.env.PATH ?? '' },
        stderr: 'inherit',
      }),
    );
    clients.push(client);
    return client;
  };

  // --- stdio: one server process for one project ---
  const stdio = await connectStdio(['--project', 'project-00']);
  const listed = await call(stdio, 'tunnel_list_cnames');
  const ownRoutes = (listed.structuredContent as { count: number }).count;
  const stdioList = await timeEach(READS, () => call(stdio, 'tunnel_list_cnames'), WARMUP, IN_SERVER);
  const stdioStatus = await timeEach(READS, () => call(stdio, 'tunnel_get_status'), WARMUP, IN_SERVER);

  // Admin listing all 1,000 (not a target; shows what the route count costs).
  const admin = await connectStdio(['--admin']);
  const adminList = await timeEach(100, () => call(admin, 'tunnel_list_cnames'), 5, IN_SERVER);

  // --- HTTP: tunnel-mcp --http, a bearer token, the SDK's Streamable HTTP client ---
  const httpServer = spawn(process.execPath, [BIN, '--http', '--port', '0', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(httpServer);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    httpServer.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) resolve((JSON.parse(line) as { url: string }).url);
    });
    httpServer.once('exit', (code) => reject(new Error(`tunnel-mcp --http exited ${code}`)));
  });
  const http = new Client({ name: 'bench', version: '1.0.0' });
  await http.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { Authorization: `Bearer ${httpToken}` } },
    }),
  );
  clients.push(http);
  const httpList = await timeEach(READS, () => call(http, 'tunnel_list_cnames'), WARMUP, IN_SERVER);
  const httpStatus = await timeEach(READS, () => call(http, 'tunnel_get_status'), WARMUP, IN_SERVER);

  // --- 200 new hostnames over stdio: DNS at the emulator, the ingress file, the database ---
  const requests = await timeEach(
    REQUESTS,
    (i) =>
      call(stdio, 'tunnel_request_cname', { subdomain: `new-${i < 0 ? `warm${-i}` : i}`, port: 8000 + Math.abs(i) }),
    3,
    IN_SERVER,
  );

  const line = (label: string, samples: number[]) =>
    `${label.padEnd(34)} p50 ${round(percentile(samples, 50))} ms, p95 ${round(percentile(samples, 95))} ms, p99 ${round(percentile(samples, 99))} ms (n=${samples.length})`;
  const figures = {
    stdioListP99Ms: round(percentile(stdioList, 99)),
    stdioStatusP99Ms: round(percentile(stdioStatus, 99)),
    httpListP99Ms: round(percentile(httpList, 99)),
    stdioRequestCnameP99Ms: round(percentile(requests, 99)),
  };
  const verdict = (value: number, target: number) =>
    `${value} ms ${value < target ? '<' : '≥'} ${target} ms ${value < target ? 'ok' : 'MISSED'}`;
  report(
    [
      `database: ${routes} routes (${PROJECTS} projects × ${ROUTES_PER_PROJECT}), seeded through the manager in ${seedSeconds} s; the caller holds ${ownRoutes}`,
      line('stdio tunnel_list_cnames', stdioList),
      line('stdio tunnel_get_status', stdioStatus),
      line('http tunnel_list_cnames', httpList),
      line('http tunnel_get_status', httpStatus),
      line('stdio tunnel_list_cnames (admin, all)', adminList),
      line('stdio tunnel_request_cname', requests),
      `targets: stdio list ${verdict(figures.stdioListP99Ms, 10)}; stdio status ${verdict(figures.stdioStatusP99Ms, 10)}; http list ${verdict(figures.httpListP99Ms, 20)}; stdio request ${verdict(figures.stdioRequestCnameP99Ms, 60)}`,
      `load average during the run: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} (2 cores, shared)`,
    ],
    figures,
  );
} finally {
  for (const client of clients) await client.close().catch(() => {});
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  await cf.close();
}
