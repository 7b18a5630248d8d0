import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cloudflaredSimPath, httpJson, isProcessRunning, writeTunnelCredentials } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AuditEntry,
  ChildProcessController,
  createHealthServices,
  type HealthSample,
  type HealthServices,
  type ProcessStatus,
  parseConfig,
  RESTART_AUDIT_ACTION,
  SqliteStateStore,
  SystemClock,
  type TunnelConfigInput,
} from '../../src/index.js';

/*
 * The simulated cloudflared as a real child of a real ChildProcessController, watched by the
 * HealthMonitor and restarted by the RestartManager, with short real intervals. The tests
 * assert counts and states (from the audit log, the samples, the processes), never durations.
 */

const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const CLIENT = fileURLToPath(new URL('./fixtures/client-request.mjs', import.meta.url));

const configText = (hostnames: readonly string[]) =>
  `tunnel: ${TUNNEL_ID}\ningress:\n${hostnames
    .map((h, i) => `  - hostname: ${h}\n    service: http://localhost:${8000 + i}\n`)
    .join('')}  - service: http_status:404\n`;
const VALID = configText(['app.example.com']);
const INVALID = `tunnel: ${TUNNEL_ID}\ningress:\n  - service: http_status:404\n  - hostname: late.example.com\n    service: http://localhost:1\n`;

interface Rig {
  readonly configPath: string;
  readonly store: SqliteStateStore;
  readonly controller: ChildProcessController;
  readonly services: HealthServices;
  readonly samples: HealthSample[];
  readonly dbPath: string;
}

const rigs: Array<{ rig: Rig; dir: string }> = [];
afterEach(async () => {
  for (const { rig, dir } of rigs.splice(0)) {
    await rig.services.stop();
    await rig.controller.stop({ graceful: false }).catch(() => undefined);
    await rig.controller.close();
    await rig.store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

async function rig(
  options: { replicas?: number; config?: TunnelConfigInput; startServices?: boolean } = {},
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-recovery-'));
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, VALID);
  // The tests rewrite config.yml; the credentials come from a flag, as cloudflared also allows.
  const credentialsPath = join(dir, `${TUNNEL_ID}.json`);
  writeTunnelCredentials(credentialsPath, TUNNEL_ID);
  const config = parseConfig({
    dataDir: dir,
    ingress: { configPath },
    cloudflared: {
      controller: 'child',
      gracePeriodMs: 3_000,
      child: {
        command: process.execPath,
        args: [
          cloudflaredSimPath(),
          'tunnel',
          '--config',
          configPath,
          '--credentials-file',
          credentialsPath,
          '--metrics',
          '127.0.0.1:0',
          'run',
        ],
        replicas: options.replicas ?? 1,
      },
    },
    health: { intervalMs: 200, readyTimeoutMs: 2_000, strikes: 3 },
    restart: {
      initialBackoffMs: 200,
      maxBackoffMs: 1_600,
      jitterRatio: 0,
      startTimeoutMs: 20_000,
      healthyResetMs: 60_000,
      coalesceWindowMs: 2_000,
    },
    ...options.config,
  });
  const store = SqliteStateStore.open({ path: config.database.path });
  const clock = new SystemClock();
  const controller = ChildProcessController.fromConfig(config, { clock });
  await controller.start();
  const services = createHealthServices({
    config,
    store,
    clock,
    mode: 'daemon',
    controller,
    ingress: { capabilities: { requiresRestart: true, backups: true } },
  });
  const samples: HealthSample[] = [];
  services.monitor?.subscribe((s) => samples.push(s));
  const made = { configPath, store, controller, services, samples, dbPath: config.database.path };
  rigs.push({ rig: made, dir });
  await allReady(made);
  if (options.startServices !== false) services.start();
  return made;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const readyCode = async (url: string | null | undefined) =>
  url ? (await httpJson(`${url}/ready`, 'GET', undefined, 3_000).catch(() => ({ status: 0 }))).status : 0;

async function allReady(r: Pick<Rig, 'controller'>, except: readonly (number | null)[] = []): Promise<ProcessStatus> {
  return until('every replica ready', async () => {
    const status = await r.controller.status();
    const replicas = status.replicas ?? [];
    if (replicas.some((x) => except.includes(x.pid))) return undefined;
    const codes = await Promise.all(replicas.map((x) => readyCode(x.metricsUrl)));
    return codes.length > 0 && codes.every((c) => c === 200) ? status : undefined;
  });
}

const restarts = async (store: SqliteStateStore): Promise<AuditEntry[]> =>
  (await store.audit.query({ action: RESTART_AUDIT_ACTION, limit: 1000 })).reverse();

/** The restart entries once the last one is a success (it is written when the tunnel is ready). */
const untilRestarted = (store: SqliteStateStore) =>
  until('a successful restart in the audit log', async () => {
    const entries = await restarts(store);
    return entries.at(-1)?.outcome === 'ok' ? entries : undefined;
  });

describe('recovery with the simulated cloudflared as a real child', () => {
  it('SIGKILL: detected at the next check, restarted at once, /ready 200 again', async () => {
    const r = await rig();
    const before = await r.controller.status();
    process.kill(before.pid as number, 'SIGKILL');
    const after = await allReady(r, [before.pid]);
    expect(after.pid).not.toBe(before.pid);
    const entries = await untilRestarted(r.store);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ outcome: 'ok', params: { trigger: 'health', attempts: 1, backoffWaitMs: 0 } });
    expect(entries[0]?.params.reason).toContain('killed by SIGKILL');
    // A check saw the exit: down on the process check, restarted without waiting for strikes
    // (a check already under way at the kill may also have seen /ready fail).
    const down = r.samples.filter((s) => s.status === 'down' && s.at < (entries[0]?.at ?? 0));
    expect(down.at(-1)).toMatchObject({ failingCheck: 'process', processState: 'exited' });
    expect(down.length).toBeLessThanOrEqual(2);
  });

  it('hang: restarted after exactly 3 failed checks of the live process', async () => {
    const r = await rig();
    const before = await r.controller.status();
    const hungAt = Date.now();
    await httpJson(`${before.replicas?.[0]?.metricsUrl}/sim/fault`, 'POST', { hang: true });
    const after = await allReady(r, [before.pid]);
    expect(after.pid).not.toBe(before.pid);
    const [entry, ...others] = await untilRestarted(r.store);
    expect(others).toHaveLength(0);
    expect(entry).toMatchObject({ outcome: 'ok', params: { trigger: 'health' } });
    expect(entry?.params.reason).toMatch(/^\/ready failed 3 checks in a row: .*answered 503 \(readyConnections 0\)/);
    // The samples between the hang and the restart: exactly the three strikes.
    const strikes = r.samples.filter((s) => s.at >= hungAt && s.at < (entry?.at ?? 0) && s.status === 'down');
    expect(strikes.map((s) => [s.failingCheck, s.processState, s.readyConnections])).toEqual([
      ['ready', 'running', 0],
      ['ready', 'running', 0],
      ['ready', 'running', 0],
    ]);
    // The old process was stopped, not left running beside the new one.
    expect(isProcessRunning(before.pid as number)).toBe(false);
  });

  it('invalid config: restarts fail and the backoff grows; fixing the file recovers it', async () => {
    const r = await rig();
    const before = await r.controller.status();
    writeFileSync(r.configPath, INVALID);
    const first = await r.services.coordinator.requestRestart({
      reason: 'bad rule written',
      requestedBy: 'admin',
      wait: true,
    });
    expect(first).toMatchObject({ restarted: false, pending: true });
    const failed = await until('four failed attempts', async () => {
      const e = (await restarts(r.store)).filter((x) => x.outcome === 'error');
      return e.length >= 4 ? e : undefined;
    });
    // The config restart failed first; then retries after 200, 400, 800 ms … as scheduled.
    expect(failed.map((e) => e.params.backoffWaitMs)).toEqual([0, 200, 400, 800, ...failed.slice(4).map(() => 1600)]);
    expect(failed.map((e) => e.params.attempts)).toEqual(failed.map((_, i) => i + 1));
    expect(failed[0]?.message).toContain("Couldn't start tunnel");
    expect((await r.controller.status()).state).toBe('exited');
    expect(r.samples.some((s) => s.status === 'down' && s.processState === 'exited')).toBe(true);

    writeFileSync(r.configPath, configText(['app.example.com', 'fixed.example.com']));
    const after = await allReady(r, [before.pid]);
    const last = (await untilRestarted(r.store)).at(-1);
    expect(last).toMatchObject({ outcome: 'ok', params: { trigger: 'health' } });
    const running = await httpJson(`${after.replicas?.[0]?.metricsUrl}/config`, 'GET');
    expect(JSON.stringify(running.body)).toContain('fixed.example.com');
  });

  it('5 config changes in one second cause exactly one restart, which runs the last one', async () => {
    const r = await rig();
    const before = await r.controller.status();
    const hostnames: string[] = [];
    const results: Array<Promise<unknown>> = [];
    for (let i = 1; i <= 5; i++) {
      hostnames.push(`app${i}.example.com`);
      writeFileSync(r.configPath, configText(hostnames));
      results.push(
        r.services.coordinator.requestRestart({
          reason: `rule app${i} added`,
          requestedBy: `project:p${i}`,
          wait: true,
        }),
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    expect(await Promise.all(results)).toEqual(Array(5).fill({ restarted: true, pending: false }));
    const entries = await restarts(r.store);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.params.requestedBy).toEqual([
      'project:p1',
      'project:p2',
      'project:p3',
      'project:p4',
      'project:p5',
    ]);
    const after = await r.controller.status();
    expect(after.pid).not.toBe(before.pid);
    const log = readFileSync(r.controller.logFiles[0] as string, 'utf8');
    expect(log.match(/INF Starting tunnel/g)).toHaveLength(2);
    const running = await httpJson(`${after.replicas?.[0]?.metricsUrl}/config`, 'GET');
    const ingress = (running.body as { config: { ingress: Array<{ hostname?: string }> } }).config.ingress;
    expect(ingress.map((rule) => rule.hostname).filter(Boolean)).toEqual(hostnames);
  });

  it('two replicas: a rolling restart during which at least one replica is ready at every poll', async () => {
    const r = await rig({ replicas: 2 });
    const before = await r.controller.status();
    const polls: number[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const status = await r.controller.status();
        const codes = await Promise.all((status.replicas ?? []).map((x) => readyCode(x.metricsUrl)));
        polls.push(codes.filter((c) => c === 200).length);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    })();
    const result = await r.services.coordinator.requestRestart({
      reason: 'rule added',
      requestedBy: 'admin',
      wait: true,
    });
    polling = false;
    await poller;
    expect(result).toEqual({ restarted: true, pending: false });
    expect(polls.length).toBeGreaterThan(10);
    expect(polls.filter((n) => n === 0)).toEqual([]);
    // Both replicas were replaced, and at some poll only one of them was up.
    expect(polls).toContain(1);
    const after = await r.controller.status();
    const beforePids = before.replicas?.map((x) => x.pid) ?? [];
    for (const x of after.replicas ?? []) expect(beforePids).not.toContain(x.pid);
    const [entry] = await restarts(r.store);
    expect(entry).toMatchObject({ outcome: 'ok', params: { rolling: true, trigger: 'config' } });
  });

  it('requests from other processes: queued in the state store, one restart by the daemon, each waiter told', async () => {
    const r = await rig({ startServices: false });
    const before = await r.controller.status();
    const clients = ['project:a', 'project:b', 'project:c'].map((who) => {
      const child = spawn(process.execPath, [CLIENT, r.dbPath, `rule added by ${who}`, who], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      return new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
        });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`client exited ${code}`))));
      });
    });
    // The daemon starts collecting once all three have queued their request.
    await until('three queued requests', async () => ((await r.store.restarts.pending()) === 3 ? true : undefined));
    expect(await restarts(r.store)).toHaveLength(0);
    r.services.start();
    const outputs = await Promise.all(clients);
    for (const out of outputs) expect(JSON.parse(out)).toEqual({ restarted: true, pending: false });
    const entries = await restarts(r.store);
    expect(entries).toHaveLength(1);
    expect([...((entries[0]?.params.requestedBy as string[] | undefined) ?? [])].sort()).toEqual([
      'project:a',
      'project:b',
      'project:c',
    ]);
    expect((await r.controller.status()).pid).not.toBe(before.pid);
    expect(await r.store.restarts.pending()).toBe(0);
  });
});
