/**
 * The four deployment scenarios on a real Docker engine: real networks and containers (a busybox
 * container stands in for cloudflared), the target selectTarget picks from DockerTopology's
 * snapshot, and proof that the URL answers from where cloudflared runs — wget inside the
 * stand-in container for container targets, an HTTP request from the host for host targets.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Actor, isTunnelError, PROJECT_LABEL, selectTarget, type TargetRequest, type TunnelError } from '@tunnel/core';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CloudflaredHints, DockerTopology, scanHostProcesses } from '../src/index.js';
import { fetchFromHost, httpd, requireDocker, TEST_IMAGE, TestDocker } from './support/engine.js';
import { freeLoopbackPort, serveOnHost, startHostCloudflared } from './support/host.js';

const SLOW = { timeout: 180_000 };
const admin = Actor.admin();
const sleeper = ['sleep', '3600'];

let docker: Docker;
let t: TestDocker;
const undo: (() => Promise<unknown>)[] = [];
const later = (fn: () => Promise<unknown>) => undo.push(fn);

beforeAll(async () => {
  docker = await requireDocker();
  t = new TestDocker(docker);
}, 240_000);

afterAll(async () => {
  for (const fn of undo.reverse()) await fn().catch(() => undefined);
  await t?.cleanup();
}, 120_000);

/** A topology on the real engine; `procRoot` isolates a test from cloudflared processes elsewhere. */
function topology(cloudflared: CloudflaredHints = {}, procRoot?: string): DockerTopology {
  const tp = new DockerTopology({ watch: false, cloudflared, ...(procRoot ? { procRoot } : {}) });
  later(() => tp.close());
  return tp;
}

function emptyProc(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tm-noproc-'));
  later(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function refusal(fn: () => unknown): TunnelError {
  try {
    fn();
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal, got a target');
}

async function select(tp: DockerTopology, request: Omit<TargetRequest, 'actor'>, guard = false) {
  const snap = await tp.snapshot({ maxAgeMs: 0 });
  return { snap, pick: () => selectTarget(snap, { actor: admin, ...request }, { ownershipGuard: guard }) };
}

describe('scenario 1: cloudflared and the service both on the host', () => {
  it('targets localhost:<port>, and the host reaches the service there', SLOW, async () => {
    const cf = await startHostCloudflared();
    later(() => cf.stop());
    const service = await serveOnHost('127.0.0.1', `${t.run}-s1`);
    later(() => service.close());

    const { snap, pick } = await select(topology(), { port: service.port });
    expect(snap.cloudflared.kind).toBe('host');
    expect(snap.cloudflared.detail).toContain(String(cf.pid));
    const target = pick();
    expect(target.url).toBe(`http://localhost:${service.port}`);
    expect(target.via).toBe('localhost');
    expect(await fetchFromHost(target.url)).toBe(`${t.run}-s1`);
    await cf.stop();
  });
});

describe('scenario 2: cloudflared on the host, the service in a container', () => {
  it('targets the port published on 127.0.0.1, and the host reaches it there', SLOW, async () => {
    const cf = await startHostCloudflared();
    later(() => cf.stop());
    await t.network('s2net');
    await t.container('s2-web', {
      cmd: httpd(`${t.run}-s2`, 8081),
      networks: [{ name: t.name('s2net') }],
      publish: [{ port: 8081 }],
    });
    const { snap, pick } = await select(topology(), { container: t.name('s2-web'), port: 8081 });
    expect(snap.cloudflared.kind).toBe('host');
    const target = pick();
    // The engine picked the host port: read it back independently of the topology.
    const inspect = await docker.getContainer(t.name('s2-web')).inspect();
    const hostPort = inspect.NetworkSettings.Ports['8081/tcp']?.[0]?.HostPort;
    expect(target.url).toBe(`http://localhost:${hostPort}`);
    expect(target.via).toBe('published-port');
    expect(await fetchFromHost(target.url)).toBe(`${t.run}-s2`);
    await cf.stop();
  });

  it('refuses a port the container does not publish, with the -p fix', SLOW, async () => {
    await t.container('s2-hidden', {
      cmd: httpd('hidden', 8082),
      networks: [{ name: t.name('s2net') }],
      expose: [8082],
    });
    const { pick } = await select(topology({ expectOnHost: true }, emptyProc()), {
      container: t.name('s2-hidden'),
      port: 8082,
    });
    const error = refusal(pick);
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.hint).toContain(`-p 127.0.0.1:8082:8082`);
  });

  it('targets localhost for a container on the host network, and the host reaches it', SLOW, async () => {
    const port = await freeLoopbackPort();
    await t.container('s2-hostnet', { cmd: httpd(`${t.run}-hostnet`, port, '127.0.0.1:'), networkMode: 'host' });
    const { pick } = await select(topology({ expectOnHost: true }, emptyProc()), {
      container: t.name('s2-hostnet'),
      port,
    });
    const target = pick();
    expect(target.url).toBe(`http://localhost:${port}`);
    expect(target.reason).toContain('on the host network');
    expect(await fetchFromHost(target.url)).toBe(`${t.run}-hostnet`);
  });
});

describe('scenario 3: cloudflared and the service in containers', () => {
  let cf: string;
  beforeAll(async () => {
    await t.network('edge');
    await t.network('other');
    cf = t.name('cloudflared');
    await t.container('cloudflared', { cmd: sleeper, networks: [{ name: t.name('edge') }] });
  }, 120_000);

  it('targets http://<name>:<port> on the shared user network, and cloudflared reaches it', SLOW, async () => {
    await t.container('app', {
      cmd: httpd(`${t.run}-app`, 8080),
      networks: [{ name: t.name('edge'), aliases: ['web'] }],
      expose: [8080],
    });
    const { pick } = await select(topology({ container: cf }), { container: t.name('app'), port: 8080 });
    const target = pick();
    expect(target.url).toBe(`http://${t.name('app')}:8080`);
    expect(target.via).toBe('shared-network');
    expect(target.reason).toContain(`network ${t.name('edge')}`);
    expect(await t.wgetFrom(cf, target.url)).toBe(`${t.run}-app`);
  });

  it('finds the service by its network alias too', SLOW, async () => {
    const { pick } = await select(topology({ container: cf }), { container: 'web', port: 8080, scheme: 'https' });
    expect(pick().url).toBe(`https://${t.name('app')}:8080`);
  });

  it('picks the shared network of a service on several networks', SLOW, async () => {
    await t.container('multi', {
      cmd: httpd(`${t.run}-multi`, 9090),
      networks: [{ name: t.name('other') }, { name: t.name('edge') }],
      expose: [9090],
    });
    const { snap, pick } = await select(topology({ container: cf }), { container: t.name('multi'), port: 9090 });
    const multi = snap.containers.find((c) => c.name === t.name('multi'));
    expect(multi?.networks.map((n) => n.networkName).sort()).toEqual([t.name('edge'), t.name('other')].sort());
    const target = pick();
    expect(target.reason).toContain(`network ${t.name('edge')}`);
    expect(await t.wgetFrom(cf, target.url)).toBe(`${t.run}-multi`);
  });

  it('refuses containers that share only the default bridge — where names do not resolve', SLOW, async () => {
    const cfBridge = t.name('cf-bridge');
    await t.container('cf-bridge', { cmd: sleeper });
    await t.container('bridged', { cmd: httpd('bridged', 8083), expose: [8083] });
    const { pick } = await select(topology({ container: cfBridge }), { container: t.name('bridged'), port: 8083 });
    const error = refusal(pick);
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.message).toContain('the default bridge does not resolve container names');
    expect(error.hint).toContain(`docker network connect tunnel ${t.name('bridged')}`);
    // The proof: from the stand-in, the name does not resolve.
    const attempt = await t.exec(cfBridge, [
      'timeout',
      '10',
      'wget',
      '-q',
      '-O',
      '-',
      `http://${t.name('bridged')}:8083`,
    ]);
    expect(attempt.exitCode).not.toBe(0);
  });

  it('refuses a stopped container, and accepts a port it does not expose, with a note', SLOW, async () => {
    await t.container('stopped', {
      cmd: httpd('x', 80),
      networks: [{ name: t.name('edge') }],
      expose: [80],
      start: false,
    });
    const tp = topology({ container: cf });
    const stopped = refusal((await select(tp, { container: t.name('stopped'), port: 80 })).pick);
    expect(stopped.message).toContain('is created');
    expect(stopped.hint).toContain(`docker start ${t.name('stopped')}`);
    // EXPOSE is advisory (issue 18): the port is accepted, and the reason says what to check.
    const undeclared = (await select(tp, { container: t.name('app'), port: 9999 })).pick();
    expect(undeclared.url).toBe(`http://${t.name('app')}:9999`);
    expect(undeclared.reason).toContain('EXPOSE is only advisory');
  });

  it('enforces the ownership guard on real labels', SLOW, async () => {
    await t.container('owned', {
      cmd: httpd('owned', 80),
      networks: [{ name: t.name('edge') }],
      expose: [80],
      labels: { [PROJECT_LABEL]: 'alice' },
    });
    const snap = await topology({ container: cf }).snapshot({ maxAgeMs: 0 });
    const request = { container: t.name('owned'), port: 80 };
    expect(selectTarget(snap, { actor: Actor.project('alice'), ...request }, { ownershipGuard: true }).url).toBe(
      `http://${t.name('owned')}:80`,
    );
    const denied = refusal(() =>
      selectTarget(snap, { actor: Actor.project('bob'), ...request }, { ownershipGuard: true }),
    );
    expect(denied.code).toBe('NOT_OWNER');
    expect(selectTarget(snap, { actor: Actor.project('bob'), ...request }, { ownershipGuard: false }).url).toContain(
      'owned',
    );
  });
});

describe('scenario 4: cloudflared in a container, the service on the host', () => {
  it(
    'targets host.docker.internal when cloudflared maps it, and cloudflared reaches the host there',
    SLOW,
    async () => {
      const cf = t.name('cf-mapped');
      await t.network('s4net');
      await t.container('cf-mapped', {
        cmd: sleeper,
        networks: [{ name: t.name('s4net') }],
        extraHosts: ['host.docker.internal:host-gateway'],
      });
      // The engine wrote the host's address into the container's /etc/hosts; serve there.
      const hosts = (await t.exec(cf, ['cat', '/etc/hosts'])).output;
      const hostIp = /^(\S+)\s+host\.docker\.internal$/m.exec(hosts)?.[1];
      expect(hostIp, hosts).toBeDefined();
      const service = await serveOnHost(hostIp ?? '', `${t.run}-s4a`);
      later(() => service.close());
      const { pick } = await select(topology({ container: cf }), { port: service.port });
      const target = pick();
      expect(target.url).toBe(`http://host.docker.internal:${service.port}`);
      expect(target.via).toBe('host-gateway');
      expect(await t.wgetFrom(cf, target.url)).toBe(`${t.run}-s4a`);
    },
  );

  it('targets the network gateway otherwise, and cloudflared reaches the host there', SLOW, async () => {
    const cf = t.name('cf-plain');
    const net = await t.network('s4gw');
    await t.container('cf-plain', { cmd: sleeper, networks: [{ name: net }] });
    const gateway = (await docker.getNetwork(net).inspect()).IPAM?.Config?.[0]?.Gateway as string;
    const service = await serveOnHost(gateway, `${t.run}-s4b`);
    later(() => service.close());
    const { pick } = await select(topology({ container: cf }), { port: service.port });
    const target = pick();
    expect(target.url).toBe(`http://${gateway}:${service.port}`);
    expect(target.reason).toContain(`network ${net} has the gateway ${gateway}`);
    expect(await t.wgetFrom(cf, target.url)).toBe(`${t.run}-s4b`);
  });

  it('refuses when cloudflared is on an internal network only, with the --add-host fix', SLOW, async () => {
    const net = await t.network('sealed', { internal: true });
    await t.container('cf-sealed', { cmd: sleeper, networks: [{ name: net }] });
    const { pick } = await select(topology({ container: t.name('cf-sealed') }), { port: 3000 });
    const error = refusal(pick);
    expect(error.code).toBe('TARGET_UNREACHABLE');
    expect(error.hint).toContain('--add-host host.docker.internal:host-gateway');
  });
});

describe('finding cloudflared on the engine', () => {
  it(
    'finds a container running the cloudflared command, and does not count its process as the host',
    SLOW,
    async () => {
      const c = await t.container('cfcmd', {
        cmd: ['cloudflared', 'tunnel', 'run'],
        networks: [{ name: t.name('edge') }],
      });
      try {
        const pid = (await c.inspect()).State.Pid;
        const seen = await scanHostProcesses('/proc');
        expect(seen.find((p) => p.pid === pid)?.inContainer).toBe(true);

        const snap = await topology({}, emptyProc()).snapshot({ maxAgeMs: 0 });
        expect(snap.cloudflared).toMatchObject({ kind: 'container', containerId: c.id });
        expect(snap.cloudflared.detail).toContain('command cloudflared');

        // With a cloudflared on the host as well, it says so instead of choosing.
        const host = await startHostCloudflared();
        try {
          const both = await topology({}).snapshot({ maxAgeMs: 0 });
          expect(both.cloudflared.kind).toBe('ambiguous');
          if (both.cloudflared.kind === 'ambiguous') {
            expect(both.cloudflared.candidates).toContain(`container ${t.name('cfcmd')}`);
            expect(both.cloudflared.candidates.join(' ')).toContain(String(host.pid));
          }
          const refused = refusal(() => selectTarget(both, { actor: admin, port: 80 }));
          expect(refused.hint).toContain('docker.cloudflaredContainer');
          // A configured name decides alone.
          const configured = await topology({ container: t.name('cloudflared') }).snapshot({ maxAgeMs: 0 });
          expect(configured.cloudflared.kind).toBe('container');
          expect(configured.cloudflared.detail).toContain(t.name('cloudflared'));
        } finally {
          await host.stop();
        }
      } finally {
        await c.remove({ force: true });
      }
    },
  );

  it('finds a container of the cloudflare/cloudflared image, and one by label', SLOW, async () => {
    const tag = t.run;
    await docker.getImage(TEST_IMAGE).tag({ repo: 'cloudflare/cloudflared', tag });
    later(() => docker.getImage(`cloudflare/cloudflared:${tag}`).remove());
    const created = await docker.createContainer({
      name: t.name('cfimage'),
      Image: `cloudflare/cloudflared:${tag}`,
      Cmd: sleeper,
      Labels: { ...t.labels, 'tunnel-manager.test-role': `cf-${t.run}` },
    });
    await created.start();
    try {
      const byImage = await topology({}, emptyProc()).snapshot({ maxAgeMs: 0 });
      expect(byImage.cloudflared).toMatchObject({ kind: 'container', containerId: created.id });
      expect(byImage.cloudflared.detail).toContain(`image cloudflare/cloudflared:${tag}`);
      const byLabel = await topology({ label: `tunnel-manager.test-role=cf-${t.run}` }).snapshot({ maxAgeMs: 0 });
      expect(byLabel.cloudflared).toMatchObject({ kind: 'container', containerId: created.id });
    } finally {
      await created.remove({ force: true });
    }
  });

  it('reports a configured container that does not exist as unknown, and refuses targets', SLOW, async () => {
    const snap = await topology({ container: t.name('never-created') }).snapshot({ maxAgeMs: 0 });
    expect(snap.cloudflared).toEqual({
      kind: 'unknown',
      detail: `the configured cloudflared container ${t.name('never-created')} does not exist`,
    });
    expect(refusal(() => selectTarget(snap, { actor: admin, port: 80 })).retryable).toBe(true);
  });
});
