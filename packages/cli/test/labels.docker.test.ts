/**
 * Label publishing on the real engine, through the real daemon (in-process): DockerTopology
 * watching the engine's events, the LabelPublisher on each snapshot, the TunnelManager over a
 * SQLite file, a real config.yml and the Cloudflare API emulator. A busybox container stands in
 * for cloudflared; everything this file creates carries `tunnel-manager.test=<run>` and is
 * removed even when a test fails. The grace period here is real time (short); its logic is
 * tested with a ManualClock in core's label-publisher.test.ts.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Actor, type CnameRoute, isTunnelError, NoopLogger, parseConfig, SqliteStateStore } from '@tunnel/core';
import { type CloudflareEmulator, startCloudflareEmulator } from '@tunnel/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../src/daemon/daemon.js';

const exec = promisify(execFile);
const docker = async (...args: string[]) => (await exec('docker', args, { timeout: 60_000 })).stdout.trim();
const IMAGE = 'tunnel-test/busybox:1';
const TEST_LABEL = 'tunnel-manager.test';
const RUN = `tmt-${randomBytes(3).toString('hex')}`;
const GRACE_MS = 8_000;
const SLOW = { timeout: 180_000 };
const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';

const name = (suffix: string) => `${RUN}-${suffix}`;
const net = name('edge');
const cf = name('cf');

let dir: string;
let emulator: CloudflareEmulator;
let daemon: Daemon;
let looker: SqliteStateStore;

/** The busybox image the provider-docker suites use, built the same way when missing. */
async function ensureImage(): Promise<void> {
  try {
    await docker('image', 'inspect', IMAGE);
    return;
  } catch {
    // built below
  }
  if (!existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing: run `bash scripts/bootstrap.sh --test-services`.');
  const root = join(dir, 'rootfs');
  for (const d of ['bin', 'tmp', 'www', 'etc']) mkdirSync(join(root, d), { recursive: true });
  await exec('cp', ['/bin/busybox', join(root, 'bin', 'busybox')]);
  for (const applet of ['sh', 'httpd', 'wget', 'sleep', 'mkdir', 'echo', 'timeout']) {
    symlinkSync('busybox', join(root, 'bin', applet));
  }
  writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0:root:/:/bin/sh\n');
  await exec('tar', ['-C', root, '-cf', join(dir, 'rootfs.tar'), '.']);
  await docker('import', '--change', 'ENV PATH=/usr/local/bin:/bin', join(dir, 'rootfs.tar'), IMAGE);
}

const httpd = (marker: string, port: number) => [
  'sh',
  '-c',
  `mkdir -p /www && echo ${marker} > /www/index.html && exec httpd -f -p ${port} -h /www`,
];

/** `docker run -d` on the test network with `tunnel.*` labels. */
async function runLabelled(suffix: string, labels: Record<string, string>, marker = suffix): Promise<string> {
  const flags = Object.entries({ ...labels, [TEST_LABEL]: RUN }).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
  return docker('run', '-d', '--name', name(suffix), '--network', net, ...flags, IMAGE, ...httpd(marker, 8080));
}

const webLabels = (hostname: string, project = 'shop') => ({
  'tunnel.hostname': hostname,
  'tunnel.port': '8080',
  'tunnel.project': project,
});

/** Polls until `probe` holds, or fails after `boundMs`. */
async function eventually<T>(
  boundMs: number,
  probe: () => Promise<T | null | undefined | false>,
  what: string,
): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const live = (hostname: string, path?: string): Promise<CnameRoute | null> => looker.routes.findLive(hostname, path);
const active = (hostname: string, path?: string) => async () => {
  const route = await live(hostname, path);
  return route?.state === 'active' ? route : null;
};

async function wgetFromCf(url: string): Promise<string> {
  return eventually(
    20_000,
    async () => {
      try {
        return await docker('exec', cf, 'timeout', '10', 'wget', '-q', '-O', '-', url);
      } catch {
        return null;
      }
    },
    `wget ${url}`,
  );
}

async function cleanup(): Promise<void> {
  const ids = await docker('ps', '-aq', '--filter', `label=${TEST_LABEL}=${RUN}`).catch(() => '');
  if (ids) await docker('rm', '-f', ...ids.split('\n')).catch(() => undefined);
  await docker('network', 'rm', net).catch(() => undefined);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tm-labels-'));
  await ensureImage();
  await docker('network', 'create', '--label', `${TEST_LABEL}=${RUN}`, net);
  await docker('run', '-d', '--name', cf, '--network', net, '--label', `${TEST_LABEL}=${RUN}`, IMAGE, 'sleep', '3600');
  emulator = await startCloudflareEmulator({
    seed: {
      accounts: [{ id: ACCOUNT_ID, name: 'labels' }],
      zones: [{ name: 'example.com' }],
      tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID }],
      tokens: [{ value: 'labels-token', permissions: 'all' }],
    },
  });
  const ingress = join(dir, 'config.yml');
  writeFileSync(ingress, `tunnel: ${TUNNEL_ID}\ningress:\n  - service: http_status:404\n`);
  const config = parseConfig({
    dataDir: dir,
    ingress: { configPath: ingress },
    cloudflare: { apiToken: 'labels-token', baseUrl: emulator.url, accountId: ACCOUNT_ID, tunnelId: TUNNEL_ID },
    cloudflared: { controller: 'none' },
    restart: { waitForRestart: false },
    docker: {
      enabled: true,
      cloudflaredContainer: cf,
      ownershipGuard: true,
      labels: { enabled: true, gracePeriodMs: GRACE_MS, projects: ['shop', 'blog'] },
    },
    daemon: { http: { host: '127.0.0.1', port: 0 } },
    mcp: { http: { enabled: false } },
  });
  daemon = await Daemon.start({ config, logger: new NoopLogger() });
  looker = SqliteStateStore.open({ path: config.database.path });
}, 240_000);

afterAll(async () => {
  await daemon?.stop().catch(() => undefined);
  await looker?.close();
  await emulator?.close();
  await cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('label publishing on the real engine (the daemon)', () => {
  it('publishes a labelled container when it starts, and cloudflared reaches the target', SLOW, async () => {
    await runLabelled('web', webLabels('web.example.com'), 'web-v1');
    const route = await eventually(20_000, active('web.example.com'), 'web.example.com published');
    expect(route.owner).toBe('shop');
    expect(route.target).toBe(`http://${name('web')}:8080`);
    expect(route.dnsRecordId).not.toBeNull();
    expect(await wgetFromCf(route.target)).toBe('web-v1');
    const audit = await looker.audit.query({ project: 'shop', action: 'cname.request', limit: 5 });
    expect(audit.find((e) => e.target === 'web.example.com')?.actor).toBe('docker-labels');
  });

  it('survives `docker restart`, and a redeploy within the grace period', SLOW, async () => {
    await docker('restart', '-t', '0', name('web'));
    await docker('rm', '-f', name('web'));
    await runLabelled('web', webLabels('web.example.com'), 'web-v2');
    // Past the grace period counted from the removal: still published, now the new container.
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 2_000));
    const route = await live('web.example.com');
    expect(route?.state).toBe('active');
    expect(await wgetFromCf(route?.target ?? '')).toBe('web-v2');
    const deletes = await looker.audit.query({ project: 'shop', action: 'cname.delete', limit: 5 });
    expect(deletes).toEqual([]);
  });

  it('keeps a stopped container published, and unpublishes a removed one after the grace period', SLOW, async () => {
    await docker('stop', '-t', '0', name('web'));
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 2_000));
    expect((await live('web.example.com'))?.state).toBe('active');
    await docker('rm', '-f', name('web'));
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS / 2));
    expect((await live('web.example.com'))?.state).toBe('active');
    await eventually(GRACE_MS + 20_000, async () => (await live('web.example.com')) === null, 'unpublished');
    const deletes = await looker.audit.query({ project: 'shop', action: 'cname.delete', limit: 5 });
    expect(deletes[0]?.actor).toBe('docker-labels');
    expect(deletes[0]?.outcome).toBe('ok');
  });

  it('reports bad labels in the status, and keeps running', SLOW, async () => {
    await runLabelled('bad-port', { ...webLabels('bad.example.com'), 'tunnel.port': 'eighty' });
    await runLabelled('stranger', webLabels('stranger.example.com', 'nobody'));
    const problems = await eventually(
      20_000,
      async () => {
        const found = (await daemon.manager.getStatus(Actor.admin())).labelProblems;
        return found.length >= 2 ? found : null;
      },
      'the problems in the status',
    );
    const byName = new Map(problems.map((p) => [p.containerName, p]));
    expect(byName.get(name('bad-port'))?.message).toMatch(/Invalid port "eighty"/);
    expect(byName.get(name('stranger'))?.message).toContain('not a known project');
    expect(await live('bad.example.com')).toBeNull();
    // The daemon still publishes after them.
    await runLabelled('after', webLabels('after.example.com'));
    await eventually(20_000, active('after.example.com'), 'after.example.com published');
  });

  it("another project's container and hostname are refused", SLOW, async () => {
    const asTaken = daemon.manager.requestCname(Actor.project('blog'), {
      hostname: 'after.example.com',
      service: { port: 9000 },
    });
    await expect(asTaken).rejects.toSatisfy((e) => isTunnelError(e, 'HOSTNAME_TAKEN'));
    const asContainer = daemon.manager.requestCname(Actor.project('blog'), {
      hostname: 'blog.example.com',
      service: { container: name('after'), port: 8080 },
    });
    await expect(asContainer).rejects.toSatisfy((e) => isTunnelError(e, 'NOT_OWNER'));
    // A container labelled for blog may not take shop's name either.
    await runLabelled('copycat', webLabels('after.example.com', 'blog'));
    const problem = await eventually(
      20_000,
      async () => (await looker.labels.listProblems()).find((p) => p.containerName === name('copycat')) ?? null,
      'the copycat refused',
    );
    expect(problem.code).toBe('HOSTNAME_TAKEN');
    expect((await live('after.example.com'))?.owner).toBe('shop');
  });

  it('publishes a path of a hostname with an origin setting, and unpublishes exactly that path', SLOW, async () => {
    const labels = {
      ...webLabels('after.example.com'),
      'tunnel.path': '^/api/',
      'tunnel.origin.httpHostHeader': 'api.internal',
      'tunnel.origin.connectTimeout': '1m',
    };
    await runLabelled('api', labels, 'api-v1');
    const route = await eventually(20_000, active('after.example.com', '^/api/'), 'the ^/api/ path published');
    expect(route.owner).toBe('shop');
    expect(route.target).toBe(`http://${name('api')}:8080`);
    expect(route.originRequest).toEqual({ httpHostHeader: 'api.internal', connectTimeout: '60s' });
    // One DNS record for the hostname's two routes.
    expect(route.dnsRecordId).toBe((await live('after.example.com'))?.dnsRecordId);
    const written = readFileSync(join(dir, 'config.yml'), 'utf8');
    expect(written).toMatch(/path: \^\/api\/\n\s+service: http:\/\/[\w-]+-api:8080\n\s+originRequest:\n/);
    expect(written).toContain('httpHostHeader: api.internal');
    expect(await wgetFromCf(route.target)).toBe('api-v1');

    await docker('rm', '-f', name('api'));
    await eventually(
      GRACE_MS + 20_000,
      async () => (await live('after.example.com', '^/api/')) === null,
      'unpublished',
    );
    expect((await live('after.example.com'))?.state).toBe('active');
    const deletes = await looker.audit.query({ project: 'shop', action: 'cname.delete', limit: 1 });
    expect(deletes[0]?.actor).toBe('docker-labels');
  });
});
