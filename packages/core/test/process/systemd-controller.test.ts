import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isProcessRunning } from '@tunnel/testkit';
import { describeProcessControllerConformance } from '@tunnel/testkit/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { isTunnelError, SystemdController, type TunnelError } from '../../src/index.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-systemctl.mjs', import.meta.url));
const UNIT = 'cloudflared.service';

interface FakeSystemd {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  systemctl(...args: string[]): string;
  cleanup(): void;
}

/** A temp dir with a `systemctl` script first on PATH, and a unit whose ExecStart is a real process. */
function fakeSystemd(mode = '', withUnit = true): FakeSystemd {
  const dir = mkdtempSync(join(tmpdir(), 'tm-systemd-'));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  mkdirSync(join(dir, 'state', 'units'), { recursive: true });
  const script = join(bin, 'systemctl');
  writeFileSync(script, `#!/bin/sh\nexec "${process.execPath}" "${FAKE}" "$@"\n`);
  chmodSync(script, 0o755);
  if (withUnit) {
    writeFileSync(
      join(dir, 'state', 'units', `${UNIT}.json`),
      JSON.stringify({ execStart: [process.execPath, '-e', 'setInterval(() => {}, 1e9)'] }),
    );
  }
  const env = {
    ...process.env,
    PATH: `${bin}:${process.env.PATH ?? ''}`,
    FAKE_SYSTEMCTL_STATE: join(dir, 'state'),
    FAKE_SYSTEMCTL_MODE: mode,
  };
  const systemctl = (...args: string[]) => execFileSync('systemctl', args, { env, encoding: 'utf8' });
  return {
    dir,
    env,
    systemctl,
    cleanup() {
      try {
        execFileSync('systemctl', ['stop', UNIT], { env: { ...env, FAKE_SYSTEMCTL_MODE: '' }, stdio: 'ignore' });
      } catch {
        // no unit, or already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    expect(isTunnelError(error), String(error)).toBe(true);
    expect((error as TunnelError).code).toBe(code);
    expect((error as TunnelError).hint.length).toBeGreaterThan(10);
    return error as TunnelError;
  }
  throw new Error(`expected ${code}`);
}

describeProcessControllerConformance('SystemdController (stand-in systemctl on PATH)', async () => {
  const fake = fakeSystemd();
  fake.systemctl('start', UNIT);
  const controller = new SystemdController({ unit: UNIT, env: fake.env });
  return {
    controller,
    kill: async () => {
      const { pid } = await controller.status();
      if (pid) process.kill(pid, 'SIGKILL');
    },
    cleanup: async () => fake.cleanup(),
  };
});

describe('SystemdController', () => {
  const fakes: FakeSystemd[] = [];
  afterEach(() => {
    for (const f of fakes.splice(0)) f.cleanup();
  });
  const make = (mode = '', withUnit = true) => {
    const fake = fakeSystemd(mode, withUnit);
    fakes.push(fake);
    return fake;
  };

  it('reads state, pid and start time from `systemctl show`', async () => {
    const fake = make();
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    expect(await controller.status()).toMatchObject({ state: 'stopped', pid: null, detail: 'inactive/dead' });
    const before = Date.now();
    fake.systemctl('start', UNIT);
    const status = await controller.status();
    expect(status.state).toBe('running');
    expect(status.pid).toBeGreaterThan(0);
    expect(() => process.kill(status.pid as number, 0)).not.toThrow();
    // Start time comes from the monotonic clock; allow for its rounding and scheduling.
    expect(status.startedAt).toBeGreaterThan(before - 5_000);
    expect(status.startedAt).toBeLessThan(Date.now() + 5_000);
    expect(await controller.isActive()).toBe('active');
  });

  it('reports a unit whose process was killed as exited, with the signal', async () => {
    const fake = make();
    fake.systemctl('start', UNIT);
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    const { pid } = await controller.status();
    process.kill(pid as number, 'SIGKILL');
    let status = await controller.status();
    for (let i = 0; i < 100 && status.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      status = await controller.status();
    }
    expect(status).toMatchObject({ state: 'exited', pid: null, exitCode: null });
    expect(status.detail).toBe('failed/failed (result: signal), killed by signal 9');
  });

  it('when systemd is not PID 1: PROVIDER_UNAVAILABLE that points at the child controller', async () => {
    const fake = make('no-systemd');
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    const status = await expectCode(controller.status(), 'PROVIDER_UNAVAILABLE');
    expect(status.message).toContain('System has not been booted with systemd');
    expect(status.hint).toContain('`child`');
    await expectCode(controller.restart({ graceful: true, reason: 'test' }), 'PROVIDER_UNAVAILABLE');
  });

  it('a unit that does not exist: status says so, restart is CONFIG_INVALID', async () => {
    const fake = make('', false);
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    expect(await controller.status()).toMatchObject({ state: 'unknown', detail: `unit ${UNIT} is not-found` });
    const error = await expectCode(controller.restart({ graceful: true, reason: 'test' }), 'CONFIG_INVALID');
    expect(error.message).toContain(`Unit ${UNIT} not found.`);
    expect(error.hint).toContain('cloudflared.systemd.unit');
  });

  it('a restart job that fails: PROVIDER_UNAVAILABLE naming journalctl, and the unit is left failed', async () => {
    const fake = make();
    fake.systemctl('start', UNIT);
    const controller = new SystemdController({ unit: UNIT, env: { ...fake.env, FAKE_SYSTEMCTL_MODE: 'job-fails' } });
    const error = await expectCode(controller.restart({ graceful: true, reason: 'test' }), 'PROVIDER_UNAVAILABLE');
    expect(error.message).toContain(`Job for ${UNIT} failed because the control process exited with error code.`);
    expect(error.hint).toContain(`journalctl -u ${UNIT}`);
    expect(error.details).toMatchObject({ exitStatus: 1, activeState: 'failed' });
    expect((await controller.status()).state).toBe('exited');
  });

  it('access denied: PROVIDER_UNAVAILABLE, and the running process is untouched', async () => {
    const fake = make();
    fake.systemctl('start', UNIT);
    const controller = new SystemdController({
      unit: UNIT,
      env: { ...fake.env, FAKE_SYSTEMCTL_MODE: 'access-denied' },
    });
    const before = await controller.status();
    const error = await expectCode(controller.restart({ graceful: true, reason: 'test' }), 'PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('Access denied');
    expect(error.hint).toContain('polkit');
    const after = await controller.status();
    expect(after).toMatchObject({ state: 'running', pid: before.pid });
  });

  it('no systemctl at all: PROVIDER_UNAVAILABLE', async () => {
    const controller = new SystemdController({ unit: UNIT, systemctlPath: '/nonexistent/systemctl' });
    const error = await expectCode(controller.status(), 'PROVIDER_UNAVAILABLE');
    expect(error.details).toMatchObject({ errno: 'ENOENT' });
  });

  it('refuses per-replica restarts and bad unit names', async () => {
    const fake = make();
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    expect(controller.capabilities).toMatchObject({
      canRestart: true,
      restartReloadsConfig: true,
      supportsReplicas: false,
    });
    await expectCode(controller.restart({ graceful: true, reason: 'x', replicaId: 'replica-2' }), 'INVALID_INPUT');
    expect(() => new SystemdController({ unit: 'cloudflared; rm -rf /' })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('a non-graceful restart kills the process first and starts a new one', async () => {
    const fake = make();
    fake.systemctl('start', UNIT);
    const controller = new SystemdController({ unit: UNIT, env: fake.env });
    const before = await controller.status();
    await controller.restart({ graceful: false, reason: 'test' });
    const after = await controller.status();
    expect(after.state).toBe('running');
    expect(after.pid).not.toBe(before.pid);
    expect(isProcessRunning(before.pid as number)).toBe(false);
  });
});
