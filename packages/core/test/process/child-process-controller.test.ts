import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudflaredSimPath, httpJson, isProcessRunning, writeTunnelCredentials } from '@tunnel/testkit';
import { describeProcessControllerConformance } from '@tunnel/testkit/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import {
  autoupdateDisabled,
  ChildProcessController,
  type ChildProcessControllerOptions,
  isTunnelError,
  JsonLogger,
  type ProcessStatus,
  planReplicaArgs,
} from '../../src/index.js';

const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const VALID = `tunnel: ${TUNNEL_ID}\ningress:\n  - hostname: app.example.com\n    service: http://localhost:8080\n  - service: http_status:404\n`;
const DAEMON = fileURLToPath(new URL('./fixtures/child-daemon.mjs', import.meta.url));
const FAST_LOGGER = fileURLToPath(new URL('./fixtures/fast-logger.mjs', import.meta.url));

interface Env {
  readonly dir: string;
  readonly configPath: string;
  /** The tunnel's credentials file, as `cloudflared tunnel create` writes it (the sim requires one). */
  readonly credentialsPath: string;
  readonly pidFile: string;
  readonly logFile: string;
}

function makeEnv(config = VALID): Env {
  const dir = mkdtempSync(join(tmpdir(), 'tm-child-'));
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, config);
  const credentialsPath = join(dir, `${TUNNEL_ID}.json`);
  writeTunnelCredentials(credentialsPath, TUNNEL_ID);
  return {
    dir,
    configPath,
    credentialsPath,
    pidFile: join(dir, 'run', 'cloudflared.pid'),
    logFile: join(dir, 'log', 'cloudflared.log'),
  };
}

const simArgs = (env: Env, ...extra: string[]) => [
  cloudflaredSimPath(),
  'tunnel',
  '--config',
  env.configPath,
  '--credentials-file',
  env.credentialsPath,
  '--metrics',
  '127.0.0.1:0',
  ...extra,
  'run',
];

function controllerFor(env: Env, options: Partial<ChildProcessControllerOptions> = {}): ChildProcessController {
  return new ChildProcessController({
    command: process.execPath,
    args: simArgs(env),
    pidFile: env.pidFile,
    logFile: env.logFile,
    gracePeriodMs: 5_000,
    ...options,
  });
}

/** Every simulated cloudflared whose command line names `needle` (the test's own config path). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const argv = cmdline.split('\0');
      // The simulation itself (node cloudflared-sim.js …), not a daemon that names it.
      if (argv[1]?.endsWith('cloudflared-sim.js') && argv.includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids.sort((a, b) => a - b);
}

function killAll(needle: string): void {
  for (const pid of processesMentioning(needle)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function until<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(fn)
      .catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyStatus = async (url: string | null) =>
  url ? (await httpJson(`${url}/ready`, 'GET', undefined, 3_000).catch(() => ({ status: 0 }))).status : 0;

const allReady = (controller: ChildProcessController) =>
  until('every replica /ready 200', async () => {
    const status = await controller.status();
    const codes = await Promise.all((status.replicas ?? []).map((r) => readyStatus(r.metricsUrl)));
    return codes.length > 0 && codes.every((c) => c === 200) ? status : undefined;
  });

for (const replicas of [1, 2]) {
  describeProcessControllerConformance(
    `ChildProcessController (simulated cloudflared, ${replicas} replica(s))`,
    async () => {
      const env = makeEnv();
      const controller = controllerFor(env, { replicas });
      await controller.start();
      return {
        controller,
        kill: async () => {
          for (const r of (await controller.status()).replicas ?? []) if (r.pid) process.kill(r.pid, 'SIGKILL');
        },
        cleanup: async () => {
          await controller.stop({ graceful: false }).catch(() => undefined);
          await controller.close();
          killAll(env.configPath);
          rmSync(env.dir, { recursive: true, force: true });
        },
      };
    },
  );
}

describe('ChildProcessController', () => {
  const envs: Env[] = [];
  const controllers: ChildProcessController[] = [];
  const daemons: ChildProcess[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) d.kill('SIGKILL');
    for (const c of controllers.splice(0)) {
      await c.stop({ graceful: false }).catch(() => undefined);
      await c.close();
    }
    for (const env of envs.splice(0)) {
      killAll(env.configPath);
      rmSync(env.dir, { recursive: true, force: true });
    }
  });
  const setup = (config = VALID) => {
    const env = makeEnv(config);
    envs.push(env);
    return env;
  };
  const make = (env: Env, options: Partial<ChildProcessControllerOptions> = {}) => {
    const c = controllerFor(env, options);
    controllers.push(c);
    return c;
  };

  it('runs each replica with its own metrics port and /ready, and records them in the pidfile', async () => {
    const env = setup();
    const controller = make(env, { replicas: 3 });
    await controller.start();
    const status = await allReady(controller);
    const replicas = status.replicas ?? [];
    expect(replicas.map((r) => r.id)).toEqual(['replica-1', 'replica-2', 'replica-3']);
    expect(new Set(replicas.map((r) => r.metricsUrl)).size).toBe(3);
    expect(new Set(replicas.map((r) => r.pid)).size).toBe(3);
    for (const r of replicas) {
      const state = (await httpJson(`${r.metricsUrl}/sim/state`, 'GET')).body as { pid: number; gracePeriodMs: number };
      expect(state.pid).toBe(r.pid);
      // The controller passes its grace period on, so cloudflared drains within what it waits for.
      expect(state.gracePeriodMs).toBe(5_000);
    }
    // …and --no-autoupdate: the simulated cloudflared, like the real one, would log and run its
    // auto-updater without it.
    for (const r of replicas) {
      const state = (await httpJson(`${r.metricsUrl}/sim/state`, 'GET')).body as { autoupdate: { enabled: boolean } };
      expect(state.autoupdate.enabled).toBe(false);
    }
    expect(readFileSync(controller.logFiles[0] as string, 'utf8')).not.toContain('Autoupdate frequency is set');
    const pidFile = JSON.parse(readFileSync(env.pidFile, 'utf8')) as { replicas: Array<{ id: string; pid: number }> };
    expect(pidFile.replicas.map((r) => [r.id, r.pid])).toEqual(replicas.map((r) => [r.id, r.pid]));
    expect(processesMentioning(env.configPath)).toEqual(replicas.map((r) => r.pid as number).sort((a, b) => a - b));
    expect(controller.logFiles.map((f) => f.slice(env.dir.length))).toEqual([
      '/log/cloudflared.log',
      '/log/cloudflared-2.log',
      '/log/cloudflared-3.log',
    ]);
  });

  it('lets cloudflared update itself only when the configuration says so (cloudflared.noAutoupdate: false)', async () => {
    const env = setup();
    const controller = make(env, { noAutoupdate: false });
    await controller.start();
    const status = await allReady(controller);
    const url = status.replicas?.[0]?.metricsUrl as string;
    const state = (await httpJson(`${url}/sim/state`, 'GET')).body as { autoupdate: { enabled: boolean } };
    expect(state.autoupdate.enabled).toBe(true);
    expect(readFileSync(controller.logFiles[0] as string, 'utf8')).toContain(
      'Autoupdate frequency is set autoupdateFreq=86400000',
    );
  });

  it('restart is SIGTERM and a graceful drain when cloudflared stops within the grace period', async () => {
    const env = setup();
    const lines: string[] = [];
    const controller = make(env, { logger: new JsonLogger({ level: 'debug', write: (l) => lines.push(l) }) });
    await controller.start();
    const before = await allReady(controller);
    await controller.restart({ graceful: true, reason: 'config changed' });
    const after = await allReady(controller);
    expect(after.pid).not.toBe(before.pid);
    const log = readFileSync(env.logFile, 'utf8');
    expect(log).toContain('Initiating graceful shutdown due to signal terminated');
    expect(log.match(/Tunnel server stopped/g)).toHaveLength(1);
    expect(log).toContain('--- tunnel-manager: starting replica-1');
    expect(log).toContain('(config changed) ---');
    expect(lines.join('')).not.toContain('did not stop within the grace period');
  });

  it('restart escalates to SIGKILL when cloudflared outlasts the grace period', async () => {
    const env = setup();
    const lines: string[] = [];
    // cloudflared is told to wait a minute for in-flight requests; the controller waits 1 s.
    const controller = make(env, {
      args: simArgs(env, '--grace-period', '60s'),
      gracePeriodMs: 1_000,
      env: { ...process.env, CLOUDFLARED_SIM_FAULTS: 'drain=60s' },
      logger: new JsonLogger({ level: 'debug', write: (l) => lines.push(l) }),
    });
    await controller.start();
    const before = await allReady(controller);
    await controller.restart({ graceful: true, reason: 'stuck drain' });
    expect(isProcessRunning(before.pid as number)).toBe(false);
    expect(lines.join('')).toContain('did not stop within the grace period; killing it');
    const log = readFileSync(env.logFile, 'utf8');
    expect(log).toContain('Initiating graceful shutdown');
    expect(log).not.toContain('Tunnel server stopped');
    await allReady(controller);
  });

  it('reports an exit with its code and cloudflared’s own error line', async () => {
    const env = setup();
    const controller = make(env);
    await controller.start();
    await allReady(controller);
    writeFileSync(
      env.configPath,
      `tunnel: ${TUNNEL_ID}\ningress:\n  - hostname: a.example.com\n    service: http://x:1\n`,
    );
    await controller.restart({ graceful: true, reason: 'bad config' });
    const status = await until('exited', async () => {
      const s = await controller.status();
      return s.state === 'exited' && s.exitCode !== null ? s : undefined;
    });
    expect(status.exitCode).toBe(1);
    expect(status.pid).toBeNull();
    expect(status.detail).toContain("replica-1: exited with code 1: ERR Couldn't start tunnel error=");
    expect(status.detail).toContain('The last ingress rule must match all URLs');
  });

  it('cannot start a missing executable: PROVIDER_UNAVAILABLE with a hint, status exited', async () => {
    const env = setup();
    const controller = make(env, { command: join(env.dir, 'no-such-cloudflared'), args: ['tunnel', 'run'] });
    const error = await controller.start().catch((e: unknown) => e);
    expect(isTunnelError(error, 'PROVIDER_UNAVAILABLE')).toBe(true);
    expect((error as { hint: string }).hint).toContain('cloudflared.child.command');
    expect(await controller.status()).toMatchObject({ state: 'exited', pid: null });
  });

  it('rotates its log file by size, keeping the configured number of files', async () => {
    const env = setup();
    const controller = make(env, { logMaxBytes: 1024, logFiles: 2 });
    await controller.start();
    await allReady(controller);
    // The start-up lines alone pass 1 KiB; each restart adds more.
    for (let i = 0; i < 3; i++) {
      await controller.status();
      await controller.restart({ graceful: true, reason: `rotation ${i}` });
      await allReady(controller);
    }
    await controller.status();
    expect(existsSync(`${env.logFile}.1`)).toBe(true);
    expect(existsSync(`${env.logFile}.2`)).toBe(true);
    expect(existsSync(`${env.logFile}.3`)).toBe(false);
    expect(statSync(env.logFile).size).toBeLessThan(4096);
    // cloudflared keeps writing to the truncated file (O_APPEND): a new fault log line shows up.
    const status = await controller.status();
    await httpJson(`${status.replicas?.[0]?.metricsUrl}/sim/fault`, 'POST', { hang: true });
    await until('a line after rotation', () =>
      readFileSync(env.logFile, 'utf8').includes('Simulation faults set') ? true : undefined,
    );
  });

  it('holds the log size limit when cloudflared logs fast (regression: 10 MB files reached 28 MB between timer checks)', async () => {
    const env = setup();
    const maxBytes = 2 * 1024 * 1024;
    // ~4 MB/s: a check every 1 s (the longest interval) alone would let the file reach ~4 MB.
    const controller = make(env, {
      command: process.execPath,
      args: [FAST_LOGGER, 'tunnel', '--config', env.configPath, '--metrics', '127.0.0.1:0', 'run'],
      env: { ...process.env, FAST_LOGGER_CHUNK_KB: '16', FAST_LOGGER_EVERY_MS: '4' },
      logMaxBytes: maxBytes,
      logFiles: 2,
      logCheckIntervalMs: 1_000,
    });
    await controller.start();
    let largest = 0;
    let written = 0;
    let previous = 0;
    const until = Date.now() + 4_000;
    while (Date.now() < until) {
      let size = 0;
      try {
        size = statSync(env.logFile).size;
      } catch {
        // between copy and truncate there is always a file; a missing one would be a bug
        throw new Error('the log file disappeared');
      }
      largest = Math.max(largest, size);
      written += size >= previous ? size - previous : size;
      previous = size;
      await new Promise((r) => setTimeout(r, 5));
    }
    await controller.stop({ graceful: true });
    // The writer really wrote several times the limit, and rotation really happened.
    expect(written).toBeGreaterThan(2 * maxBytes);
    expect(existsSync(`${env.logFile}.1`)).toBe(true);
    expect(largest).toBeLessThanOrEqual(maxBytes);
    for (const rotated of [`${env.logFile}.1`, `${env.logFile}.2`]) {
      if (existsSync(rotated)) expect(statSync(rotated).size).toBeLessThanOrEqual(maxBytes);
    }
    expect(existsSync(`${env.logFile}.3`)).toBe(false);
  });

  it('a restarted daemon adopts the running cloudflared instead of starting a second one (pidfile)', async () => {
    const env = setup();
    const startDaemon = async (): Promise<ProcessStatus> => {
      const daemon = spawn(
        process.execPath,
        [DAEMON, env.pidFile, env.logFile, env.configPath, cloudflaredSimPath(), '2', env.credentialsPath],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      daemons.push(daemon);
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        daemon.stdout?.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0] as string);
        });
        daemon.once('exit', (code) => reject(new Error(`daemon exited with ${code}`)));
      });
      return JSON.parse(line) as ProcessStatus;
    };
    const first = await startDaemon();
    const firstPids = (first.replicas ?? []).map((r) => r.pid);
    expect(firstPids).toHaveLength(2);
    // The daemon dies without a chance to clean up.
    const [daemonA] = daemons;
    daemonA?.kill('SIGKILL');
    await until('daemon A gone', () => (daemonA?.exitCode !== null || daemonA?.signalCode !== null ? true : undefined));
    expect(processesMentioning(env.configPath)).toEqual([...firstPids].sort((a, b) => (a ?? 0) - (b ?? 0)));
    const second = await startDaemon();
    expect((second.replicas ?? []).map((r) => r.pid)).toEqual(firstPids);
    expect((second.replicas ?? []).map((r) => r.metricsUrl)).toEqual((first.replicas ?? []).map((r) => r.metricsUrl));
    expect(second.state).toBe('running');
    // Still exactly two cloudflared processes, and they still serve.
    expect(processesMentioning(env.configPath)).toHaveLength(2);
    for (const r of second.replicas ?? []) {
      await until(`${r.id} ready`, async () => ((await readyStatus(r.metricsUrl)) === 200 ? true : undefined));
    }
    // A CLI process reading the same pidfile sees the same processes without starting any.
    const observer = make(env, { replicas: 2 });
    expect((await observer.status()).replicas?.map((r) => r.pid)).toEqual(firstPids);
    expect(processesMentioning(env.configPath)).toHaveLength(2);
  });

  it('two daemons starting at once run one set of replicas between them (pidfile lock)', async () => {
    const env = setup();
    const a = make(env, { replicas: 2 });
    const b = make(env, { replicas: 2 });
    await Promise.all([a.start(), b.start()]);
    const pidsA = (await a.status()).replicas?.map((r) => r.pid);
    const pidsB = (await b.status()).replicas?.map((r) => r.pid);
    expect(pidsA).toEqual(pidsB);
    expect(processesMentioning(env.configPath)).toHaveLength(2);
  });

  it('does not adopt a pid that now belongs to another process (pid reuse)', async () => {
    const env = setup();
    const stranger = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e9)'], { stdio: 'ignore' });
    daemons.push(stranger);
    await new Promise((r) => stranger.once('spawn', r));
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(env.dir, 'run'), { recursive: true });
    // A pidfile from a previous boot names a pid that is alive, but with another start time.
    writeFileSync(
      env.pidFile,
      JSON.stringify({
        version: 1,
        command: process.execPath,
        replicas: [
          {
            id: 'replica-1',
            pid: stranger.pid,
            startTicks: 1,
            startedAt: 0,
            metricsUrl: 'http://127.0.0.1:1',
            args: [],
          },
        ],
      }),
    );
    const controller = make(env);
    expect((await controller.status()).state).not.toBe('running');
    await controller.start();
    const status = await allReady(controller);
    expect(status.pid).not.toBe(stranger.pid);
    expect(stranger.exitCode).toBeNull();
    expect(processesMentioning(env.configPath)).toEqual([status.pid]);
  });

  it('stop() stops every replica and start() is idempotent', async () => {
    const env = setup();
    const controller = make(env, { replicas: 2 });
    await controller.start();
    const running = await allReady(controller);
    await controller.start();
    expect((await controller.status()).replicas?.map((r) => r.pid)).toEqual(running.replicas?.map((r) => r.pid));
    await controller.stop({ graceful: true });
    expect(await controller.status()).toMatchObject({ state: 'stopped', pid: null });
    expect(processesMentioning(env.configPath)).toEqual([]);
    expect(JSON.parse(readFileSync(env.pidFile, 'utf8')).replicas).toEqual([]);
  });

  it('close() leaves cloudflared running unless stopOnExit', async () => {
    const env = setup();
    const keep = controllerFor(env);
    await keep.start();
    const { pid } = await allReady(keep);
    await keep.close();
    expect(processesMentioning(env.configPath)).toEqual([pid]);
    const stopping = controllerFor(env, { stopOnExit: true });
    expect((await stopping.status()).pid).toBe(pid);
    await stopping.close();
    expect(processesMentioning(env.configPath)).toEqual([]);
  });

  it('rejects unusable arguments up front and unknown replicas on restart', async () => {
    const env = setup();
    expect(() => controllerFor(env, { args: ['tunnel', '--metrics', 'nonsense', 'run'] })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
    expect(() => controllerFor(env, { replicas: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    const controller = make(env);
    const error = await controller.restart({ graceful: true, reason: 'x', replicaId: 'replica-9' }).catch((e) => e);
    expect(isTunnelError(error, 'NOT_FOUND')).toBe(true);
    expect(processesMentioning(env.configPath)).toEqual([]);
  });
});

describe('planReplicaArgs', () => {
  it('gives each replica its own metrics port and passes the grace period on', () => {
    const args = ['tunnel', '--config', '/c.yml', '--metrics', '127.0.0.1:20241', 'run'];
    expect(planReplicaArgs(args, 0, 30_000).build(20241)).toEqual([
      'tunnel',
      '--grace-period',
      '30s',
      '--no-autoupdate',
      '--config',
      '/c.yml',
      '--metrics',
      '127.0.0.1:20241',
      'run',
    ]);
    expect(planReplicaArgs(args, 2, 30_000).metrics).toEqual({ host: '127.0.0.1', port: 20243 });
    expect(planReplicaArgs(['tunnel', '--metrics=[::1]:0', 'run'], 1, 1500).build(4000)).toEqual([
      'tunnel',
      '--grace-period',
      '1500ms',
      '--no-autoupdate',
      '--metrics=[::1]:4000',
      'run',
    ]);
    const none = planReplicaArgs(['tunnel', '--grace-period', '5s', 'run', 'my-tunnel'], 1, 30_000);
    expect(none.metrics).toEqual({ host: '127.0.0.1', port: 20242 });
    expect(none.build(20242)).toEqual([
      'tunnel',
      '--metrics',
      '127.0.0.1:20242',
      '--no-autoupdate',
      '--grace-period',
      '5s',
      'run',
      'my-tunnel',
    ]);
  });

  it('passes --no-autoupdate by default, unless the args or the configuration say otherwise', () => {
    const base = ['tunnel', '--metrics', '127.0.0.1:1', 'run'];
    const count = (args: string[]) => args.filter((a) => a.includes('autoupdate')).length;
    expect(count(planReplicaArgs(base, 0, 1000).build(1))).toBe(1);
    expect(planReplicaArgs(base, 0, 1000, { noAutoupdate: false }).build(1)).not.toContain('--no-autoupdate');
    expect(autoupdateDisabled(planReplicaArgs(base, 0, 1000).build(1))).toBe(true);
    expect(autoupdateDisabled(base)).toBe(false);
    expect(autoupdateDisabled(['tunnel', '--no-autoupdate=false', 'run'])).toBe(false);
    expect(autoupdateDisabled(['tunnel', '--autoupdate-freq', '0s', 'run'])).toBe(true);
    // Already there (in any form), or the operator asked for a frequency: left as given.
    for (const given of [['--no-autoupdate'], ['--no-autoupdate=false'], ['--autoupdate-freq', '1h']]) {
      const built = planReplicaArgs(['tunnel', ...given, '--metrics', '127.0.0.1:1', 'run'], 0, 1000).build(1);
      expect(built.filter((a) => a.includes('autoupdate'))).toEqual(given.filter((a) => a.includes('autoupdate')));
    }
  });
});
