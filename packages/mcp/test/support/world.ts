import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import {
  type Actor,
  ApiTokenService,
  type Clock,
  type CnameRoute,
  type CreateTunnelManagerOptions,
  createTunnelManager,
  mergeConfigInput,
  parseConfig,
  ROUTE_STATES,
  SqliteStateStore,
  SystemClock,
  type TunnelConfig,
  type TunnelConfigInput,
  type TunnelManager,
} from '@tunnel/core';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { type CloudflareEmulator, startCloudflareEmulator } from '@tunnel/testkit';
import { expect } from 'vitest';

export const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
export const TUNNEL_TARGET = `${TUNNEL_ID}.cfargotunnel.com`;
export const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
const CF_TOKEN = 'mcp-test-token';
export const ZONES = {
  com: { id: '11111111111111111111111111111111', name: 'example.com' },
  org: { id: '22222222222222222222222222222222', name: 'example.org' },
  pending: { id: '44444444444444444444444444444444', name: 'pending.test' },
} as const;

/** The built bin: spawned processes run compiled JS (`pnpm test` builds first). */
export const BIN = fileURLToPath(new URL('../../dist/bin/tunnel-mcp.js', import.meta.url));

const INGRESS_CONFIG = `tunnel: ${TUNNEL_ID}
credentials-file: /etc/cloudflared/${TUNNEL_ID}.json
ingress:
  # written by hand; the manager must keep it
  - hostname: www.example.com
    service: http://localhost:8080
  - service: http_status:404
`;

export interface World {
  readonly dir: string;
  readonly cf: CloudflareEmulator;
  readonly config: TunnelConfig;
  /** The same configuration as a file, for spawned servers. */
  readonly configFile: string;
  readonly ingressPath: string;
  /** The manager in this process (the HTTP tests serve it). */
  readonly manager: TunnelManager;
  /** A second connection to the database, for looking. */
  readonly db: SqliteStateStore;
  readonly tokens: ApiTokenService;
  close(): Promise<void>;
}

export interface WorldOptions {
  readonly config?: TunnelConfigInput;
  readonly manager?: Omit<CreateTunnelManagerOptions, 'plugins'>;
  /** For the token service. @default SystemClock */
  readonly clock?: Clock;
}

/**
 * A temp dir with a real cloudflared `config.yml` and SQLite file, the Cloudflare API emulator
 * (zones example.com, example.org and a pending one), and a real TunnelManager on them. Docker
 * support is off unless a test passes a Topology: every service is then on the host.
 */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-mcp-'));
  let cf: CloudflareEmulator | undefined;
  try {
    cf = await startCloudflareEmulator({
      seed: {
        accounts: [{ id: ACCOUNT_ID, name: 'Test account' }],
        zones: [ZONES.com, ZONES.org, { ...ZONES.pending, status: 'pending' }],
        records: [{ zone: 'example.com', type: 'A', name: 'legacy.example.com', content: '203.0.113.10' }],
        tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID, name: 'vm-tunnel', connectors: 1 }],
        tokens: [{ value: CF_TOKEN, name: 'manager', permissions: 'all' }],
      },
    });
    const ingressPath = join(dir, 'config.yml');
    writeFileSync(ingressPath, INGRESS_CONFIG);
    const input = mergeConfigInput(
      {
        dataDir: dir,
        ingress: { configPath: ingressPath },
        cloudflare: { apiToken: CF_TOKEN, baseUrl: cf.url, accountId: ACCOUNT_ID, tunnelId: TUNNEL_ID, maxRetries: 0 },
        cloudflared: { controller: 'none' },
        docker: { enabled: false },
        restart: { waitForRestart: false },
        policy: { defaultDomain: 'example.com', quotaPerProject: 5 },
        locks: { staleMs: 5_000, mutationTimeoutMs: 60_000 },
        daemon: { logLevel: 'warn' },
      },
      options.config,
    );
    const configFile = join(dir, 'tunnel-manager.yml');
    writeFileSync(configFile, JSON.stringify(input, null, 2));
    const config = parseConfig(input);
    const manager = createTunnelManager(config, { plugins: [cloudflarePlugin], ...options.manager });
    const db = SqliteStateStore.open({ path: config.database.path });
    const tokens = new ApiTokenService({ store: db, clock: options.clock ?? new SystemClock() });
    const emulator = cf;
    return {
      dir,
      cf: emulator,
      config,
      configFile,
      ingressPath,
      manager,
      db,
      tokens,
      async close() {
        await manager.close().catch(() => {});
        await db.close().catch(() => {});
        await emulator.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await cf?.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/** Everything a call could change: compared before and after a call that must change nothing. */
export async function observe(world: World) {
  return {
    routes: (await world.db.routes.list({ states: ROUTE_STATES })) as CnameRoute[],
    ingress: readFileSync(world.ingressPath, 'utf8'),
    records: JSON.stringify(Object.values(ZONES).flatMap((z) => world.cf.records(z.id))),
    dnsWrites: world.cf.requests.filter((r) => r.method !== 'GET').length,
    restartRequests: await world.db.restarts.pending(),
  };
}

/** The CNAME records the emulator holds for `name`. */
export function recordsNamed(world: World, name: string) {
  return Object.values(ZONES)
    .flatMap((z) => world.cf.records(z.id))
    .filter((r) => r.name === name);
}

export interface Connected {
  readonly client: Client;
  close(): Promise<void>;
}

/**
 * A real SDK Client talking to the built `tunnel-mcp` over stdio, bound to `actor`. Its stderr
 * is collected (the server logs there) and shown when a test fails to connect.
 */
export async function connectStdio(world: World, actor: Actor): Promise<Connected & { stderr: () => string }> {
  const args = [
    BIN,
    '--config',
    world.configFile,
    ...(actor.kind === 'admin' ? ['--admin'] : ['--project', actor.project]),
  ];
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    env: { PATH: process.env.PATH ?? '' },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    await transport.close().catch(() => {});
    throw new Error(`stdio server did not start: ${String(error)}\n${stderr}`);
  }
  return { client, close: () => client.close(), stderr: () => stderr };
}

/** A real SDK Client over Streamable HTTP, with `Authorization: Bearer <token>`. */
export async function connectHttp(url: string, token: string | null): Promise<Connected> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    requestInit: token === null ? {} : { headers: { Authorization: `Bearer ${token}` } },
  });
  const client = new Client({ name: 'mcp-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, close: () => client.close() };
}

/** Calls a tool that must succeed; returns its structured content. */
export async function callOk(client: Client, name: string, args: Record<string, unknown> = {}) {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  const text = result.content[0]?.type === 'text' ? result.content[0].text : '';
  expect(text.length).toBeGreaterThan(0);
  // biome-ignore lint/suspicious/noExplicitAny: tests read the structured result field by field
  return { structured: result.structuredContent as any, text };
}

export interface ToolFailure {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  readonly text: string;
}

/**
 * Calls a tool that must fail as a tool error: `isError`, the TunnelError in
 * `structuredContent.error`, the same code, message and hint in the text, and no stack trace.
 */
export async function callError(client: Client, name: string, args: unknown): Promise<ToolFailure> {
  const result = (await client.callTool({ name, arguments: args as Record<string, unknown> })) as CallToolResult;
  expect(result.isError).toBe(true);
  const error = (result.structuredContent as { error?: ToolFailure } | undefined)?.error;
  if (!error) throw new Error(`${name} returned no structured error: ${JSON.stringify(result)}`);
  expect(Object.keys(result.structuredContent ?? {})).toEqual(['error']);
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  expect(text).toContain(error.code);
  expect(text).toContain(error.message);
  expect(text).toContain(`Hint: ${error.hint}`);
  expect(error.hint.length).toBeGreaterThan(10);
  for (const shown of [text, JSON.stringify(result)]) {
    expect(shown).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(shown).not.toMatch(/\.(ts|js):\d+:\d+/);
  }
  return { ...error, text };
}
