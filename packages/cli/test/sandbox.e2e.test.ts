import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck } from '../src/index.js';
import { cleanTempDirs, tempDir } from './support/io.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';
import { alive, httpGet, type RunningSandbox, startSandboxProcess, tunnel, waitFor } from './support/spawn.js';

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
      'cloudflared.ready',
      'docker',
      'ingress',
    ]);
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

describe('tunnel doctor with one broken prerequisite reports exactly that one', () => {
  const cases: Array<[string, () => Record<string, string>, string, RegExp]> = [
    [
      'an API token Cloudflare refuses',
      () => ({ TUNNEL_CLOUDFLARE__API_TOKEN: 'not-the-sandbox-token' }),
      'token',
      /Authentication|AUTH_FAILED/,
    ],
    [
      'an unreachable Docker socket',
      () => ({ TUNNEL_DOCKER__ENABLED: 'true', TUNNEL_DOCKER__SOCKET_PATH: '/nonexistent/docker.sock' }),
      'docker',
      /does not exist/,
    ],
    [
      'a missing cloudflared executable',
      () => ({ TUNNEL_CLOUDFLARED__CHILD__COMMAND: '/nonexistent/bin/cloudflared' }),
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
        return { TUNNEL_INGRESS__CONFIG_PATH: copy };
      },
      'ingress',
      /Rule #1 .*will match every hostname/,
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
