import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { TOOL_NAMES } from '@tunnel/mcp';
import { writeTunnelCredentials } from '@tunnel/testkit';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../src/index.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';
import {
  alive,
  httpGet,
  type RunningSandbox,
  startSandboxProcess,
  TUNNEL_BIN,
  tunnel,
  waitFor,
} from './support/spawn.js';

/*
 * The product as an operator meets it: the built `tunnel` executable, spawned. One sandbox
 * (emulated Cloudflare, simulated cloudflared as the daemon's child, the daemon) serves the
 * whole file; each test runs commands against it the way a user would, in another process.
 */

let sandbox: RunningSandbox;
let cloudflaredPid: number;

beforeAll(async () => {
  sandbox = await startSandboxProcess(tempDir('tm-sandbox-'));
  const pidFile = JSON.parse(readFileSync(join(sandbox.info.dataDir, 'cloudflared.pid'), 'utf8')) as {
    replicas: Array<{ pid: number }>;
  };
  cloudflaredPid = pidFile.replicas[0]?.pid as number;
  // The first health check may run before cloudflared has connected: wait for a healthy one.
  await waitFor('a healthy check', async () => {
    const body = JSON.parse((await httpGet(sandbox.info.healthzUrl)).body) as { tunnel: { status: string } };
    return body.tunnel.status === 'healthy';
  });
}, 120_000);

afterAll(async () => {
  if (sandbox) {
    const code = await sandbox.stop();
    if (code !== 0) console.error(sandbox.output());
  }
  cleanTempDirs();
}, 90_000);

const checksOf = (stdout: string) => (JSON.parse(stdout) as { ok: boolean; checks: DoctorCheck[] }).checks;
const failed = (checks: DoctorCheck[]) => checks.filter((c) => c.status === 'fail').map((c) => c.id);

describe('tunnel sandbox', () => {
  it('comes up with two zones, a tunnel, the daemon endpoint and a supervised cloudflared', async () => {
    const { info } = sandbox;
    expect(info.zones).toEqual(['example.com', 'example.org']);
    expect(alive(cloudflaredPid)).toBe(true);
    const healthz = await httpGet(info.healthzUrl);
    expect(healthz.status).toBe(200);
    expect(JSON.parse(healthz.body)).toMatchObject({ ok: true, tunnel: { status: 'healthy' } });
    const config = readFileSync(info.configPath, 'utf8');
    expect(config).toMatch(/controller: child/);
    expect(config).toContain(join(info.dataDir, 'bin', 'cloudflared'));
  });

  it('passes `tunnel doctor` (Docker is off in the sandbox, so skipped)', async () => {
    const { exitCode, stdout } = await tunnel(['doctor', '--json'], sandbox.env);
    const checks = checksOf(stdout);
    expect(failed(checks)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(checks.filter((c) => c.status === 'skip').map((c) => c.id)).toEqual(['docker']);
    // The sandbox runs two replicas: no warning about outages per change.
    expect(checks.filter((c) => c.status === 'warn')).toEqual([]);
    expect(checks.map((c) => c.id)).toEqual([
      'config',
      'database',
      'token',
      'perm.zone-read',
      'perm.dns-read',
      'perm.dns-edit',
      'perm.tunnel-read',
      'tunnel',
      'cloudflared',
      'cloudflared.autoupdate',
      'cloudflared.ready',
      'cloudflared.replicas',
      'docker',
      'credentials',
      'ingress',
    ]);
    // The daemon runs cloudflared with --no-autoupdate (read back from the process's command line).
    expect(checks.find((c) => c.id === 'cloudflared.autoupdate')?.detail).toMatch(/^off \(--no-autoupdate\)/);
    // The sandbox writes its tunnel's credentials, as `cloudflared tunnel create` does.
    expect(checks.find((c) => c.id === 'credentials')?.detail).toContain(`tunnel ${sandbox.info.tunnelId}`);
  });

  it('serves /metrics as Prometheus text with the tunnel state and the health checks', async () => {
    const res = await httpGet(sandbox.info.metricsUrl);
    expect(res.status).toBe(200);
    const metrics = parsePrometheusText(res.body);
    expect(sampleValue(metrics, 'tunnel_status', { status: 'healthy' })).toBe(1);
    expect(sampleValue(metrics, 'tunnel_ready_connections')).toBeGreaterThan(0);
    expect(sampleValue(metrics, 'tunnel_health_checks_total', { status: 'healthy' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(metrics, 'tunnel_zones')).toBeGreaterThanOrEqual(0);
  });
});

/** The emulated Cloudflare, asked as a person on the dashboard (or another tool) would. */
async function cloudflare(path: string, init: RequestInit = {}): Promise<{ result: unknown }> {
  const token = readFileSync(join(sandbox.info.dataDir, 'cloudflare-api-token'), 'utf8').trim();
  const res = await fetch(`${sandbox.info.apiUrl}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  return (await res.json()) as { result: unknown };
}

async function recordsNamed(
  zone: string,
  name: string,
): Promise<Array<{ id: string; content: string; comment: string | null }>> {
  const zones = (await cloudflare(`/zones?name=${zone}`)).result as Array<{ id: string }>;
  const zoneId = zones[0]?.id as string;
  return (await cloudflare(`/zones/${zoneId}/dns_records?name=${name}`)).result as Array<{
    id: string;
    content: string;
    comment: string | null;
  }>;
}

interface RouteJson {
  hostname: string;
  owner: string;
  state: string;
  target: string;
}

describe('publishing a hostname with the tunnel command', () => {
  const host = 'shop.example.org';

  it('cname add → ls --json → rm, each visible in DNS, the ingress file and the database', async () => {
    const added = await tunnel(['cname', 'add', host, '--port', '8080', '--project', 'shop', '--json'], sandbox.env);
    expect(added.stderr).toBe('');
    expect(added.exitCode).toBe(0);
    const result = JSON.parse(added.stdout) as {
      outcome: string;
      publicUrl: string;
      target: string;
      restartPending: boolean;
    };
    expect(result).toMatchObject({ outcome: 'created', publicUrl: `https://${host}`, target: 'http://localhost:8080' });
    const [record] = await recordsNamed('example.org', host);
    expect(record?.content).toBe(`${sandbox.info.tunnelId}.cfargotunnel.com`);
    expect(record?.comment).toContain('shop');
    const ingressFile = readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8');
    expect(ingressFile).toContain(`hostname: ${host}`);

    const listed = await tunnel(['cname', 'ls', '--json'], sandbox.env);
    expect(listed.exitCode).toBe(0);
    const { routes } = JSON.parse(listed.stdout) as { routes: RouteJson[] };
    expect(routes).toHaveLength(1);
    expect(routes[0]).toMatchObject({
      hostname: host,
      owner: 'shop',
      state: 'active',
      target: 'http://localhost:8080',
    });
    const onlyOthers = await tunnel(['cname', 'ls', '--json', '--project', 'someone-else'], sandbox.env);
    expect((JSON.parse(onlyOthers.stdout) as { routes: RouteJson[] }).routes).toEqual([]);

    const removed = await tunnel(['cname', 'rm', host], sandbox.env);
    expect(removed.exitCode).toBe(0);
    expect(removed.stdout).toMatch(new RegExp(`removed ${host.replace(/\./g, '\\.')}`));
    expect(await recordsNamed('example.org', host)).toEqual([]);
    expect(readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8')).not.toContain(host);
    const after = await tunnel(['cname', 'ls', '--json'], sandbox.env);
    expect((JSON.parse(after.stdout) as { routes: RouteJson[] }).routes).toEqual([]);
    // Each change rolls two cloudflared replicas one after the other (a few seconds each).
  }, 90_000);

  it("status --json reports the tunnel from the daemon's checks, the restart the add caused, routes and domains", async () => {
    type Report = {
      tunnel: { status: string; readyConnections: number };
      lastRestart: { outcome: string; reason: string } | null;
      routes: Record<string, number>;
      domains: Array<{ name: string }>;
    };
    // A check that ran while the removal restarted cloudflared says `down`; the next one (every
    // 5 s in the sandbox) is what status reports then.
    const report = await waitFor('status to report the tunnel healthy again', async () => {
      const { exitCode, stdout } = await tunnel(['status', '--json'], sandbox.env);
      expect(exitCode).toBe(0);
      const parsed = JSON.parse(stdout) as Report;
      return parsed.tunnel.status === 'healthy' ? parsed : undefined;
    });
    expect(report.tunnel.readyConnections).toBeGreaterThan(0);
    expect(report.lastRestart?.outcome).toBe('ok');
    expect(report.lastRestart?.reason).toMatch(/shop\.example\.org/);
    expect(report.routes).toMatchObject({ active: 0, deleted: 1 });
    expect(report.domains.map((d) => d.name)).toEqual(['example.com', 'example.org']);
  });

  it("reconcile finds a record deleted behind the manager's back, and --apply puts it back", async () => {
    const name = 'api.example.com';
    expect((await tunnel(['cname', 'add', name, '-p', '9000'], sandbox.env)).exitCode).toBe(0);
    const [record] = await recordsNamed('example.com', name);
    const zones = (await cloudflare('/zones?name=example.com')).result as Array<{ id: string }>;
    await cloudflare(`/zones/${zones[0]?.id}/dns_records/${record?.id}`, { method: 'DELETE' });
    expect(await recordsNamed('example.com', name)).toEqual([]);

    const plan = await tunnel(['reconcile', '--json'], sandbox.env);
    expect(plan.exitCode).toBe(0);
    const planned = JSON.parse(plan.stdout) as { plan: { changes: Array<{ kind: string; hostname: string }> } };
    expect(planned.plan.changes).toEqual([expect.objectContaining({ kind: 'create_dns', hostname: name })]);
    // Planning changed nothing.
    expect(await recordsNamed('example.com', name)).toEqual([]);

    const applied = await tunnel(['reconcile', '--apply'], sandbox.env);
    expect(applied.exitCode).toBe(0);
    expect(applied.stdout).toMatch(/✓ create CNAME api\.example\.com/);
    expect(await recordsNamed('example.com', name)).toHaveLength(1);
    const again = await tunnel(['reconcile'], sandbox.env);
    expect(again.stdout).toMatch(/in sync/);
    // Each change rolls two cloudflared replicas one after the other (a few seconds each).
  }, 90_000);

  it('refuses a bad hostname with its family exit code, one error line and a hint, and changes nothing', async () => {
    const before = readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8');
    const bad = await tunnel(['cname', 'add', 'bad_name.example.com', '--port', '80'], sandbox.env);
    expect(bad.exitCode).toBe(3);
    const lines = bad.stderr.trim().split('\n');
    expect(lines[0]).toMatch(/^error: Invalid hostname "bad_name\.example\.com".*\[INVALID_HOSTNAME\]$/);
    expect(lines[1]).toMatch(/^hint: /);
    expect(lines).toHaveLength(2);
    expect(bad.stdout).toBe('');
    const elsewhere = await tunnel(['cname', 'add', 'app.not-a-zone.test', '--port', '80', '--json'], sandbox.env);
    expect(elsewhere.exitCode).toBe(3);
    expect(JSON.parse(elsewhere.stdout)).toMatchObject({ error: { code: 'ZONE_NOT_FOUND' } });
    expect(readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8')).toBe(before);
    expect(await recordsNamed('example.com', 'bad_name.example.com')).toEqual([]);
  });

  it('/metrics counts the operations the commands just made, by action and outcome', async () => {
    const metrics = parsePrometheusText((await httpGet(sandbox.info.metricsUrl)).body);
    expect(sampleValue(metrics, 'tunnel_operations_total', { action: 'cname.request', outcome: 'ok' })).toBe(2);
    expect(sampleValue(metrics, 'tunnel_operations_total', { action: 'cname.delete', outcome: 'ok' })).toBe(1);
    expect(sampleValue(metrics, 'tunnel_operations_total', { action: 'reconcile.apply', outcome: 'ok' })).toBe(1);
    expect(
      sampleValue(metrics, 'tunnel_operations_total', {
        action: 'cname.request',
        outcome: 'error',
        code: 'INVALID_HOSTNAME',
      }),
    ).toBe(1);
    expect(
      sampleValue(metrics, 'tunnel_operations_total', {
        action: 'cname.request',
        outcome: 'error',
        code: 'ZONE_NOT_FOUND',
      }),
    ).toBe(1);
    expect(sampleValue(metrics, 'tunnel_operation_duration_seconds_count', { action: 'cname.request' })).toBe(4);
    expect(sampleValue(metrics, 'tunnel_routes', { state: 'active' })).toBe(1);
    expect(sampleValue(metrics, 'tunnel_routes', { state: 'deleted' })).toBe(1);
    expect(sampleValue(metrics, 'tunnel_restarts_total', { trigger: 'config', outcome: 'ok' })).toBeGreaterThanOrEqual(
      2,
    );
    expect(sampleValue(metrics, 'tunnel_zones')).toBe(2);
  });
});

describe('the library examples (examples/), run against the sandbox', () => {
  const example = (name: string) => fileURLToPath(new URL(`../../../examples/dist/${name}.js`, import.meta.url));

  it('embed-core: builds the manager from the config, publishes and removes a hostname as a project', async () => {
    const run = await execa(process.execPath, [example('embed-core'), 'example-shop'], {
      env: sandbox.env,
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(run.stderr).toBe('');
    expect(run.exitCode).toBe(0);
    const hostname = /^created https:\/\/(\S+) → http:\/\/localhost:3000$/m.exec(String(run.stdout))?.[1];
    expect(hostname).toMatch(/^shop-\d+\.example\.(com|org)$/);
    const audit = await tunnel(['audit', '--json', '--project', 'example-shop'], sandbox.env);
    const { entries } = JSON.parse(audit.stdout) as {
      entries: Array<{ action: string; target: string; outcome: string }>;
    };
    expect(entries.map((e) => [e.action, e.target, e.outcome])).toEqual([
      ['cname.delete', hostname, 'ok'],
      ['cname.request', hostname, 'ok'],
    ]);
    expect(await recordsNamed(hostname?.split('.').slice(1).join('.') ?? '', hostname ?? '')).toEqual([]);
    // Each change rolls two cloudflared replicas one after the other (a few seconds each).
  }, 90_000);

  it('dns-provider-only: the Cloudflare provider alone creates, finds and deletes a marked CNAME', async () => {
    const token = readFileSync(join(sandbox.info.dataDir, 'cloudflare-api-token'), 'utf8').trim();
    const run = await execa(process.execPath, [example('dns-provider-only')], {
      env: { ...sandbox.env, CLOUDFLARE_API_TOKEN: token, CLOUDFLARE_BASE_URL: sandbox.info.apiUrl },
      extendEnv: false,
      reject: false,
      timeout: 120_000,
    });
    expect(run.exitCode).toBe(0);
    expect(run.stdout).toMatch(
      /^created CNAME dns-example-\d+\.example\.com → .*\(proxied: true, owner: dns-example\)$/m,
    );
    expect(run.stdout).toMatch(/^marked records named .*: 1$/m);
    expect(run.stdout).toMatch(/^deleted; records left under that name: 0$/m);
  });
});

describe('MCP for project agents', () => {
  async function connect(transport: Transport): Promise<Client> {
    const client = new Client({ name: 'cli-e2e', version: '1.0.0' });
    await client.connect(transport);
    return client;
  }
  const structured = (result: unknown) => (result as CallToolResult).structuredContent as Record<string, unknown>;

  it("serves Streamable HTTP on the daemon endpoint with the demo project's bearer token", async () => {
    const { mcpUrl, demoToken } = sandbox.info;
    expect(mcpUrl).toBe(`${sandbox.info.httpOrigin}/mcp`);
    expect(demoToken).toMatch(/^tmcp_/);
    const client = await connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl as string), {
        requestInit: { headers: { Authorization: `Bearer ${demoToken}` } },
      }),
    );
    try {
      const tools = await client.listTools();
      expect(tools.tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
      const created = await client.callTool({
        name: 'tunnel_request_cname',
        arguments: { subdomain: 'agent', domain: 'example.org', port: 7000 },
      });
      expect((created as CallToolResult).isError).toBeFalsy();
      expect(structured(created)).toMatchObject({ hostname: 'agent.example.org' });
    } finally {
      await client.close();
    }
    // The operator sees the route the agent made, owned by the agent's project.
    const listed = await tunnel(['cname', 'ls', '--json', '--project', 'demo'], sandbox.env);
    expect((JSON.parse(listed.stdout) as { routes: RouteJson[] }).routes).toEqual([
      expect.objectContaining({ hostname: 'agent.example.org', owner: 'demo', state: 'active' }),
    ]);
    // Without a token there is no MCP at all.
    const anonymous = await fetch(mcpUrl as string, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(anonymous.status).toBe(401);
    const metrics = parsePrometheusText((await httpGet(sandbox.info.metricsUrl)).body);
    expect(sampleValue(metrics, 'tunnel_http_requests_total', { route: '/mcp', status: '401' })).toBe(1);
    expect(sampleValue(metrics, 'tunnel_http_requests_total', { route: '/mcp', status: '200' })).toBeGreaterThanOrEqual(
      2,
    );
  });

  it('`tunnel mcp --project demo` serves the same tools over stdio, as that project only', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [TUNNEL_BIN, 'mcp', '--project', 'demo'],
      env: sandbox.env,
      stderr: 'pipe',
    });
    let stderr = '';
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const client = await connect(transport).catch((error: Error) => {
      throw new Error(`${error.message}\n${stderr}`);
    });
    try {
      const listed = await client.callTool({ name: 'tunnel_list_cnames', arguments: {} });
      const routes = (structured(listed).routes as Array<{ hostname: string }>).map((r) => r.hostname);
      expect(routes).toEqual(['agent.example.org']);
      const foreign = await client.callTool({
        name: 'tunnel_delete_cname',
        arguments: { hostname: 'api.example.com' },
      });
      expect((foreign as CallToolResult).isError).toBe(true);
      expect((structured(foreign).error as { code: string }).code).toBe('NOT_OWNER');
      const removed = await client.callTool({
        name: 'tunnel_delete_cname',
        arguments: { hostname: 'agent.example.org' },
      });
      expect((removed as CallToolResult).isError).toBeFalsy();
    } finally {
      await client.close();
    }
    const after = await tunnel(['cname', 'ls', '--json', '--project', 'demo'], sandbox.env);
    expect((JSON.parse(after.stdout) as { routes: RouteJson[] }).routes).toEqual([]);
  });

  it('`tunnel mcp` without an identity refuses to start (exit 2 like tunnel-mcp, the hint names --project)', async () => {
    const run = await tunnel(['mcp'], sandbox.env);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/refusing to start/);
    expect(run.stderr).toMatch(/--project/);
    expect(run.stdout).toBe('');
  });
});

describe('tunnel doctor with one broken prerequisite reports exactly that one', () => {
  const cases: Array<[string, () => Record<string, string>, string, RegExp]> = [
    [
      'an API token Cloudflare refuses',
      () => ({ TM_CLOUDFLARE__API_TOKEN: 'not-the-sandbox-token' }),
      'token',
      /Authentication|AUTH_FAILED/,
    ],
    [
      'an unreachable Docker socket',
      () => ({ TM_DOCKER__ENABLED: 'true', TM_DOCKER__SOCKET_PATH: '/nonexistent/docker.sock' }),
      'docker',
      /does not exist/,
    ],
    [
      'a missing cloudflared executable',
      () => ({ TM_CLOUDFLARED__CHILD__COMMAND: '/nonexistent/bin/cloudflared' }),
      'cloudflared',
      /not an executable file/,
    ],
    [
      'an invalid ingress file',
      () => {
        const copy = join(tempDir(), 'config.yml');
        copyFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), copy);
        writeFileSync(
          copy,
          `${readFileSync(copy, 'utf8')}  - hostname: after-catch-all.example.com\n    service: http://localhost:1\n`,
        );
        return { TM_INGRESS__CONFIG_PATH: copy };
      },
      'ingress',
      /Rule #\d+ .*will match every hostname/,
    ],
    [
      'a config.yml that names no credentials file',
      () => {
        const copy = join(tempDir(), 'config.yml');
        const text = readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8');
        writeFileSync(copy, text.replace(/^credentials-file:.*\n/m, ''));
        return { TM_INGRESS__CONFIG_PATH: copy };
      },
      'credentials',
      /tunnel credentials file not found/,
    ],
    [
      "another tunnel's credentials file",
      () => {
        const dir = tempDir();
        const other = join(dir, 'other.json');
        writeTunnelCredentials(other, 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee');
        const copy = join(dir, 'config.yml');
        const text = readFileSync(join(sandbox.info.dataDir, 'cloudflared', 'config.yml'), 'utf8');
        writeFileSync(copy, text.replace(/^credentials-file:.*$/m, `credentials-file: ${JSON.stringify(other)}`));
        return { TM_INGRESS__CONFIG_PATH: copy };
      },
      'credentials',
      /holds the credentials of tunnel aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee.*Invalid tunnel secret/,
    ],
  ];
  it.each(cases)('%s', async (_what, breakIt, id, detail) => {
    const { exitCode, stdout } = await tunnel(['doctor', '--json'], { ...sandbox.env, ...breakIt() });
    const checks = checksOf(stdout);
    expect(failed(checks)).toEqual([id]);
    expect(exitCode).toBe(1);
    const check = checks.find((c) => c.id === id) as DoctorCheck;
    expect(check.detail).toMatch(detail);
    expect(check.fix?.length).toBeGreaterThan(10);
    // The human form says the same: one ✗ line, with its fix.
    const human = await tunnel(['doctor'], { ...sandbox.env, ...breakIt() });
    expect(human.stdout.split('\n').filter((l) => l.startsWith('✗'))).toHaveLength(1);
    expect(human.stdout).toMatch(/fix: /);
    expect(human.stdout).toMatch(/1 problem found\./);
  });
});

describe('tunnel sandbox shutdown', () => {
  it('SIGTERM stops the daemon, its cloudflared and the emulator, and exits 0', async () => {
    const code = await sandbox.stop();
    expect(code).toBe(0);
    await waitFor('cloudflared to stop', () => !alive(cloudflaredPid), 30_000);
    expect(existsSync(join(sandbox.info.dataDir, 'sandbox.json'))).toBe(false);
    await expect(fetch(sandbox.info.healthzUrl)).rejects.toThrow();
    expect(readFileSync(sandbox.info.daemonLog, 'utf8')).toMatch(/"msg":"daemon stopped"/);
  });
});
