import { isTunnelError } from '@tunnel/core';
import { describeProcessControllerConformance } from '@tunnel/testkit/conformance';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerContainerController } from '../src/index.js';
import { requireDocker, TestDocker } from './support/engine.js';

const SLOW = { timeout: 180_000 };

/**
 * A cloudflared stand-in that shuts down the way cloudflared does on SIGTERM: it notes the
 * signal and exits 0. (The shell runs the trap once the current `sleep 1` returns.)
 */
const graceful = ['sh', '-c', 'trap "echo got-SIGTERM; exit 0" TERM; echo started; while true; do sleep 1; done'];

let docker: Docker;
let t: TestDocker;

beforeAll(async () => {
  docker = await requireDocker();
  t = new TestDocker(docker);
}, 240_000);

afterAll(async () => {
  await t?.cleanup();
}, 120_000);

let serial = 0;
describeProcessControllerConformance('DockerContainerController (real engine)', async () => {
  const engine = await requireDocker();
  const mine = new TestDocker(engine);
  serial += 1;
  const suffix = `cf-${serial}`;
  const container = await mine.container(suffix, { cmd: graceful });
  return {
    controller: new DockerContainerController({ container: mine.name(suffix), gracePeriodMs: 10_000 }),
    kill: async () => {
      await container.kill({ signal: 'SIGKILL' });
    },
    cleanup: () => mine.cleanup(),
  };
});

async function logsOf(container: Docker.Container): Promise<string> {
  const buffer = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
  return buffer.toString();
}

describe('DockerContainerController on the real engine', () => {
  it('reads the state from the container: running, pid, start time', SLOW, async () => {
    const c = await t.container('status', { cmd: graceful });
    const controller = new DockerContainerController({ container: t.name('status'), gracePeriodMs: 10_000 });
    const status = await controller.status();
    const truth = await c.inspect();
    expect(status).toMatchObject({ state: 'running', pid: truth.State.Pid, exitCode: null });
    expect(status.startedAt).toBe(Date.parse(truth.State.StartedAt));
    expect(status.detail).toBe(`container ${t.name('status')} running`);
  });

  it('restarts gracefully: SIGTERM first, the process exits on its own, then a new one runs', SLOW, async () => {
    const c = await t.container('graceful', { cmd: graceful });
    const controller = new DockerContainerController({ container: t.name('graceful'), gracePeriodMs: 20_000 });
    const before = await controller.status();
    await controller.restart({ graceful: true, reason: 'test' });
    const after = await controller.status();
    expect(after.state).toBe('running');
    expect(after.pid).not.toBe(before.pid);
    const logs = await logsOf(c);
    expect(logs).toContain('got-SIGTERM');
    expect(logs.match(/started/g)?.length).toBe(2);
  });

  it('stops gracefully and reports the exit, then starts once', SLOW, async () => {
    const c = await t.container('stopstart', { cmd: graceful });
    const controller = new DockerContainerController({ container: t.name('stopstart'), gracePeriodMs: 20_000 });
    await controller.stop({ graceful: true });
    const stopped = await controller.status();
    expect(stopped).toMatchObject({ state: 'exited', pid: null, exitCode: 0 });
    expect(stopped.detail).toContain('exit code 0');
    expect(await logsOf(c)).toContain('got-SIGTERM');
    await controller.start();
    const first = await controller.status();
    await controller.start();
    expect((await controller.status()).pid).toBe(first.pid);
    await controller.stop({ graceful: true });
    await controller.stop({ graceful: true });
    expect((await controller.status()).state).toBe('exited');
  });

  it('says a missing container is unknown, and refuses to restart it with the fix', SLOW, async () => {
    const controller = new DockerContainerController({ container: t.name('missing'), gracePeriodMs: 1_000 });
    expect(await controller.status()).toEqual({
      state: 'unknown',
      pid: null,
      startedAt: null,
      exitCode: null,
      detail: `no container named ${t.name('missing')} exists`,
    });
    const error = await controller.restart({ graceful: true, reason: 'test' }).catch((e: unknown) => e);
    expect(isTunnelError(error, 'PROVIDER_UNAVAILABLE')).toBe(true);
    expect((error as { hint: string }).hint).toContain('cloudflared.docker.container');
  });

  it('without the engine: status unknown with the reason; restart PROVIDER_UNAVAILABLE', SLOW, async () => {
    const controller = new DockerContainerController({
      container: 'cloudflared',
      gracePeriodMs: 1_000,
      socketPath: '/nonexistent/docker.sock',
    });
    const status = await controller.status();
    expect(status.state).toBe('unknown');
    expect(status.detail).toContain('/nonexistent/docker.sock does not exist');
    const error = await controller.restart({ graceful: true, reason: 'test' }).catch((e: unknown) => e);
    expect(isTunnelError(error, 'PROVIDER_UNAVAILABLE')).toBe(true);
  });

  it('refuses a replica restart, which its capabilities rule out', SLOW, async () => {
    const controller = new DockerContainerController({ container: 'cloudflared', gracePeriodMs: 1_000 });
    expect(controller.capabilities.supportsReplicas).toBe(false);
    const error = await controller
      .restart({ graceful: true, reason: 'test', replicaId: 'r1' })
      .catch((e: unknown) => e);
    expect(isTunnelError(error, 'INVALID_INPUT')).toBe(true);
  });
});
