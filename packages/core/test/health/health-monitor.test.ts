import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  HealthMonitor,
  type HealthSample,
  JsonLogger,
  type Logger,
  type ReadinessProbe,
  type ReadyResult,
  RestartManager,
  type TunnelConfigInput,
  type TunnelInfo,
  TunnelReadiness,
  type TunnelStatusSource,
} from '../../src/index.js';
import { FAKE_METRICS_URL, FakeReadiness, type Harness, harness, RecordingController } from './fakes.js';

const S = 1000;

class FakeTunnelStatus implements TunnelStatusSource {
  status: TunnelInfo['status'] | Error = 'healthy';
  async getTunnel(): Promise<TunnelInfo> {
    if (this.status instanceof Error) throw this.status;
    return { id: 't', name: 'tunnel', status: this.status, configSource: 'local', activeConnections: 4 };
  }
}

describe('HealthMonitor (injected clock)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  function setup(
    options: {
      replicas?: number;
      perReplicaUrls?: boolean;
      config?: TunnelConfigInput;
      api?: FakeTunnelStatus;
      probe?: ReadinessProbe;
      noController?: boolean;
      logger?: Logger;
    } = {},
  ) {
    h = harness(options.config);
    const clock = new ManualClock();
    const controller = new RecordingController(clock, options);
    const fake = new FakeReadiness(controller, clock);
    const readiness = new TunnelReadiness({
      probe: options.probe ?? fake,
      metricsUrl: h.config.cloudflared.metricsUrl,
      timeoutMs: 1000,
    });
    const manager = new RestartManager({ controller, readiness, store: h.store, clock, restart: h.config.restart });
    const monitor = new HealthMonitor({
      store: h.store,
      clock,
      readiness,
      health: h.config.health,
      controller: options.noController ? null : controller,
      restarts: options.noController ? null : manager,
      tunnelStatus: options.api ?? null,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    const samples: HealthSample[] = [];
    monitor.subscribe((s) => samples.push(s));
    return { clock, controller, probe: fake, manager, monitor, samples, origin: clock.now() };
  }

  it('checks at once, then every 30 s by default, storing each sample', async () => {
    const { clock, monitor, samples, origin } = setup();
    monitor.start();
    await clock.advance(0);
    await clock.advance(90 * S);
    expect(samples.map((s) => (s.at - origin) / S)).toEqual([0, 30, 60, 90]);
    expect(samples.every((s) => s.status === 'healthy' && s.failingCheck === null)).toBe(true);
    expect(samples[0]).toMatchObject({ processState: 'running', readyConnections: 4, latencyMs: 3, apiStatus: null });
    const stored = await h.store.health.list({ limit: 10 });
    expect(stored.map((s) => s.at)).toEqual(samples.map((s) => s.at).reverse());
    await monitor.stop();
    await clock.advance(300 * S);
    expect(samples).toHaveLength(4);
  });

  it('restarts a live but unready process after exactly 3 failed checks (strikes)', async () => {
    const { clock, controller, probe, monitor, samples, origin } = setup();
    monitor.start();
    await clock.advance(0);
    probe.hangAll();
    await clock.advance(30 * S);
    expect(monitor.strikes().get('tunnel')).toBe(1);
    await clock.advance(30 * S);
    expect(monitor.strikes().get('tunnel')).toBe(2);
    expect(controller.calls).toHaveLength(0);
    await clock.advance(30 * S);
    expect(controller.restartSeconds(origin)).toEqual([90]);
    expect(samples.slice(1).map((s) => [s.status, s.failingCheck])).toEqual([
      ['down', 'ready'],
      ['down', 'ready'],
      ['down', 'ready'],
    ]);
    expect(samples[1]?.detail).toContain('503');
    await monitor.stop();
  });

  it('forgives transient blips: failures that are not consecutive never restart', async () => {
    const { clock, controller, probe, monitor } = setup();
    monitor.start();
    await clock.advance(0);
    for (let round = 0; round < 4; round++) {
      probe.hangAll();
      await clock.advance(60 * S); // two failed checks
      probe.hung.clear();
      await clock.advance(30 * S); // one good one
    }
    expect(controller.calls).toHaveLength(0);
    expect(monitor.strikes().size).toBe(0);
    await monitor.stop();
  });

  it('restarts an exited process at the first check, without strikes', async () => {
    const { clock, controller, monitor, samples, origin } = setup();
    monitor.start();
    await clock.advance(0);
    controller.kill();
    await clock.advance(30 * S);
    expect(controller.restartSeconds(origin)).toEqual([30]);
    expect(samples[1]).toMatchObject({ status: 'down', processState: 'exited', failingCheck: 'process' });
    await clock.advance(30 * S);
    expect(samples[2]).toMatchObject({ status: 'healthy' });
    await monitor.stop();
  });

  it('reports a deliberately stopped process as down but does not restart it', async () => {
    const { clock, controller, monitor, samples } = setup();
    await controller.stop();
    monitor.start();
    await clock.advance(120 * S);
    expect(controller.calls).toHaveLength(0);
    expect(samples.every((s) => s.status === 'down' && s.processState === 'stopped')).toBe(true);
    expect(samples[0]?.detail).toContain('not restarted');
    await monitor.stop();
  });

  it('does not count strikes while a restart is waiting or running', async () => {
    const { clock, controller, probe, monitor } = setup({ config: { restart: { startTimeoutMs: 60 * S } } });
    controller.failNextRestarts(1);
    monitor.start();
    await clock.advance(0);
    controller.kill();
    probe.hangAll();
    await clock.advance(30 * S); // exited: restart at 30 s fails, next attempt at 35 s, hung until timeout
    await clock.advance(90 * S);
    expect(monitor.strikes().size).toBe(0);
    expect(controller.calls.length).toBeGreaterThanOrEqual(2);
    expect(controller.maxInFlight).toBe(1);
    await monitor.stop();
  });

  it('says when cloudflared is down because a restart is running: logged as information, noted in the sample', async () => {
    const lines: Array<{ level: string; msg: string }> = [];
    const logger = new JsonLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line)) });
    const { clock, probe, manager, monitor, samples } = setup({
      logger,
      config: { restart: { startTimeoutMs: 60 * S } },
    });
    const transitions = () => lines.filter((l) => l.msg.startsWith('tunnel is')).map((l) => `${l.level} ${l.msg}`);
    monitor.start();
    await clock.advance(0);
    // An ingress change: the new process needs 40 s to be ready, so the check at 30 s fails.
    probe.readyDelayMs = 40 * S;
    const restart = manager.restartNow({ reasons: ['ingress rule added'], requestedBy: ['test'] });
    await clock.advance(30 * S);
    await clock.advance(30 * S);
    expect((await restart).ok).toBe(true);
    expect(samples.map((x) => x.status)).toEqual(['healthy', 'down', 'healthy']);
    expect(samples[1]?.detail).toMatch(/ \(cloudflared is restarting\)$/);
    // Then a real outage: hung, nothing restarting yet.
    probe.hangAll();
    await clock.advance(30 * S);
    expect(samples.at(-1)?.detail).not.toContain('restarting');
    expect(transitions()).toEqual([
      'info tunnel is healthy',
      'info tunnel is down while cloudflared restarts',
      'info tunnel is healthy',
      'warn tunnel is down',
    ]);
    await monitor.stop();
  });

  it('is degraded, not down, when one of two replicas is not ready, and restarts only that one', async () => {
    const { clock, controller, probe, monitor, samples } = setup({ replicas: 2, perReplicaUrls: true });
    monitor.start();
    await clock.advance(0);
    probe.hung.add('replica-2');
    await clock.advance(90 * S);
    expect(samples.slice(1).map((s) => [s.status, s.failingCheck])).toEqual([
      ['degraded', 'ready'],
      ['degraded', 'ready'],
      ['degraded', 'ready'],
    ]);
    expect(samples[1]?.detail).toContain('1 of 2 replicas ready; replica-2');
    expect(samples[1]?.readyConnections).toBe(4);
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-2']);
    await monitor.stop();
  });

  it('restarts an exited replica at once while the other keeps serving', async () => {
    const { clock, controller, monitor, samples } = setup({ replicas: 2, perReplicaUrls: true });
    monitor.start();
    await clock.advance(0);
    controller.kill('replica-1');
    await clock.advance(30 * S);
    expect(samples[1]).toMatchObject({ status: 'degraded', failingCheck: 'process', processState: 'running' });
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-1']);
    await monitor.stop();
  });

  it('reads the tunnel status from the API when a source is configured', async () => {
    const api = new FakeTunnelStatus();
    const { clock, monitor, samples } = setup({ api });
    monitor.start();
    await clock.advance(0);
    api.status = 'degraded';
    await clock.advance(30 * S);
    api.status = new Error('HTTP 502 from api.cloudflare.com');
    await clock.advance(30 * S);
    api.status = 'healthy';
    await clock.advance(30 * S);
    expect(samples.map((s) => [s.status, s.apiStatus, s.failingCheck])).toEqual([
      ['healthy', 'healthy', null],
      ['degraded', 'degraded', 'api'],
      ['degraded', null, 'api'],
      ['healthy', 'healthy', null],
    ]);
    expect(samples[2]?.detail).toContain('HTTP 502');
    await monitor.stop();
  });

  it('without a metrics URL, finds cloudflared on 20241–20245 by its /ready shape', async () => {
    h = harness();
    const clock = new ManualClock();
    const asked: string[] = [];
    const probe: ReadinessProbe = {
      async check(url): Promise<ReadyResult> {
        asked.push(url);
        const base = { connectorId: null, latencyMs: 2, error: null };
        // 20241 is some other web server; 20242 is down; 20243 is cloudflared.
        if (url.endsWith(':20241'))
          return { ...base, answered: true, ok: false, statusCode: 404, readyConnections: null };
        if (url.endsWith(':20243')) return { ...base, answered: true, ok: true, statusCode: 200, readyConnections: 2 };
        return { ...base, answered: false, ok: false, statusCode: null, readyConnections: null, error: 'ECONNREFUSED' };
      },
    };
    const readiness = new TunnelReadiness({ probe, timeoutMs: 1000 });
    const monitor = new HealthMonitor({ store: h.store, clock, readiness, health: h.config.health });
    const first = await monitor.checkNow();
    expect(asked).toEqual(['http://127.0.0.1:20241', 'http://127.0.0.1:20242', 'http://127.0.0.1:20243']);
    expect(first).toMatchObject({ status: 'healthy', readyConnections: 2, processState: 'unknown' });
    expect(readiness.discoveredUrl).toBe('http://127.0.0.1:20243');
    asked.length = 0;
    await monitor.checkNow();
    expect(asked).toEqual(['http://127.0.0.1:20243']);

    const nothing = new TunnelReadiness({
      probe: {
        check: async () => ({
          answered: false,
          ok: false,
          statusCode: null,
          readyConnections: null,
          connectorId: null,
          latencyMs: null,
          error: 'ECONNREFUSED',
        }),
      },
      timeoutMs: 1000,
    });
    const lost = await new HealthMonitor({
      store: h.store,
      clock,
      readiness: nothing,
      health: h.config.health,
    }).checkNow();
    expect(lost).toMatchObject({ status: 'down', failingCheck: 'ready' });
    expect(lost.detail).toContain('set cloudflared.metricsUrl');
  });

  it('prunes samples older than the retention', async () => {
    const { clock, monitor } = setup({ config: { health: { retentionDays: 7 } } });
    const old = clock.now() - 8 * 86_400 * S;
    for (let i = 0; i < 5; i++) {
      await h.store.health.insert({
        at: old + i * 30 * S,
        status: 'healthy',
        processState: 'running',
        readyConnections: 4,
        latencyMs: 1,
        apiStatus: null,
        failingCheck: null,
        detail: null,
      });
    }
    await monitor.checkNow();
    const kept = await h.store.health.list({ limit: 100 });
    expect(kept).toHaveLength(1);
    expect(kept[0]?.at).toBe(clock.now());
  });

  it('with no controller (monitor only) records but never restarts', async () => {
    const { clock, controller, probe, monitor, samples } = setup({ noController: true });
    probe.hangAll();
    monitor.start();
    await clock.advance(300 * S);
    expect(samples).toHaveLength(11);
    expect(samples.every((s) => s.status === 'down' && s.processState === 'unknown')).toBe(true);
    expect(controller.calls).toHaveLength(0);
    await monitor.stop();
  });

  it('keeps the same checked URL as the health samples (the configured one)', async () => {
    const { probe, monitor } = setup();
    await monitor.checkNow();
    expect(probe.urls).toEqual([FAKE_METRICS_URL]);
  });
});
