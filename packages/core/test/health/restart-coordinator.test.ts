import { InMemoryIngressStore, ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  isTunnelError,
  RESTART_AUDIT_ACTION,
  RestartCoordinator,
  RestartManager,
  type TunnelConfigInput,
  TunnelReadiness,
} from '../../src/index.js';
import { FakeReadiness, type Harness, harness, RecordingController } from './fakes.js';

const S = 1000;

describe('RestartCoordinator (injected clock)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  function setup(
    options: { replicas?: number; config?: TunnelConfigInput; remote?: boolean; noController?: boolean } = {},
  ) {
    h = harness(options.config);
    const clock = new ManualClock();
    const controller = new RecordingController(clock, { replicas: options.replicas ?? 1, perReplicaUrls: true });
    const probe = new FakeReadiness(controller, clock);
    const readiness = new TunnelReadiness({ probe, metricsUrl: h.config.cloudflared.metricsUrl, timeoutMs: 1000 });
    const manager = new RestartManager({ controller, readiness, store: h.store, clock, restart: h.config.restart });
    const ingress = new InMemoryIngressStore([{ service: 'http_status:404' }]);
    const remote = { capabilities: { requiresRestart: false, backups: false } };
    const daemon = new RestartCoordinator({
      mode: 'daemon',
      store: h.store,
      clock,
      restart: h.config.restart,
      ingress: options.remote ? remote : ingress,
      manager: options.noController ? null : manager,
      controller: options.noController ? null : controller,
    });
    const client = new RestartCoordinator({
      mode: 'client',
      store: h.store,
      clock,
      restart: h.config.restart,
      ingress: options.remote ? remote : ingress,
    });
    return { clock, controller, probe, manager, daemon, client, origin: clock.now() };
  }

  it('coalesces 5 changes within one second into one restart at the end of the 2 s window', async () => {
    const { clock, controller, daemon, origin } = setup();
    const results: Array<Promise<unknown>> = [];
    for (let i = 0; i < 5; i++) {
      results.push(daemon.requestRestart({ reason: `rule ${i} added`, requestedBy: `project:p${i}`, wait: true }));
      await clock.advance(200);
    }
    await clock.advance(5 * S);
    expect(await Promise.all(results)).toEqual(Array(5).fill({ restarted: true, pending: false }));
    expect(controller.restartSeconds(origin)).toEqual([2]);
    const [entry, ...more] = await h.store.audit.query({ action: RESTART_AUDIT_ACTION });
    expect(more).toHaveLength(0);
    expect(entry?.params).toMatchObject({
      trigger: 'config',
      requestedBy: ['project:p0', 'project:p1', 'project:p2', 'project:p3', 'project:p4'],
    });
    expect(entry?.params.reason).toBe('rule 0 added; rule 1 added; rule 2 added; rule 3 added; rule 4 added');
  });

  it('keeps the window fixed from its first request, so a steady stream cannot postpone the restart', async () => {
    const { clock, controller, daemon, origin } = setup();
    for (let i = 0; i < 10; i++) {
      void daemon.requestRestart({ reason: `change ${i}`, requestedBy: 'admin', wait: false });
      await clock.advance(500);
    }
    await clock.advance(5 * S);
    // Windows open at 0, 2.0 (after the first restart began), 4.0 s …
    expect(controller.restartSeconds(origin)).toEqual([2, 4, 6]);
  });

  it('a change during a restart gets a restart of its own after it', async () => {
    const { clock, controller, probe, daemon, origin } = setup({ config: { restart: { coalesceWindowMs: 1000 } } });
    probe.readyDelayMs = 3 * S;
    const first = daemon.requestRestart({ reason: 'a', requestedBy: 'admin', wait: true });
    await clock.advance(2 * S); // restart began at 1 s; ready at 4 s
    const second = daemon.requestRestart({ reason: 'b', requestedBy: 'admin', wait: true });
    await clock.advance(10 * S);
    expect(await first).toEqual({ restarted: true, pending: false });
    expect(await second).toEqual({ restarted: true, pending: false });
    expect(controller.restartSeconds(origin)).toEqual([1, 4]);
    expect(controller.maxInFlight).toBe(1);
  });

  it('rolls over the replicas when the controller supports them', async () => {
    const { clock, controller, daemon } = setup({ replicas: 2 });
    const result = daemon.requestRestart({ reason: 'rule added', requestedBy: 'project:a', wait: true });
    await clock.advance(10 * S);
    expect(await result).toEqual({ restarted: true, pending: false });
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-1', 'replica-2']);
  });

  it('remote-managed ingress needs no restart at all', async () => {
    const { clock, controller, daemon, client } = setup({ remote: true });
    expect(await daemon.requestRestart({ reason: 'rule added', requestedBy: 'admin', wait: true })).toMatchObject({
      restarted: false,
      pending: false,
    });
    expect(await client.requestRestart({ reason: 'rule added', requestedBy: 'admin', wait: true })).toMatchObject({
      restarted: false,
      pending: false,
    });
    await clock.advance(60 * S);
    expect(controller.calls).toHaveLength(0);
    expect(await h.store.restarts.pending()).toBe(0);
  });

  it('without waiting, returns pending at once and restarts anyway', async () => {
    const { clock, controller, daemon } = setup();
    expect(await daemon.requestRestart({ reason: 'x', requestedBy: 'admin', wait: false })).toMatchObject({
      restarted: false,
      pending: true,
    });
    await clock.advance(3 * S);
    expect(controller.calls).toHaveLength(1);
  });

  it('reports pending with the reason when the restart fails (the manager keeps retrying)', async () => {
    const { clock, controller, manager, daemon } = setup();
    controller.failNextRestarts(1);
    const result = daemon.requestRestart({ reason: 'x', requestedBy: 'admin', wait: true });
    await clock.advance(3 * S);
    const r = await result;
    expect(r).toMatchObject({ restarted: false, pending: true });
    expect(r.detail).toContain('the daemon keeps retrying');
    expect(manager.state().phase).toBe('waiting');
  });

  it('gives up waiting after timeoutMs, leaving the restart to finish', async () => {
    const { clock, probe, daemon } = setup({ config: { restart: { startTimeoutMs: 60 * S } } });
    probe.readyDelayMs = 30 * S;
    const result = daemon.requestRestart({ reason: 'x', requestedBy: 'admin', wait: true, timeoutMs: 10 * S });
    await clock.advance(11 * S);
    expect(await result).toMatchObject({ restarted: false, pending: true });
  });

  it('in another process: queues the request; the daemon collects it; the waiter sees the restart in the audit log', async () => {
    const { clock, controller, daemon, client, origin } = setup();
    daemon.start();
    const result = client.requestRestart({ reason: 'rule added by MCP', requestedBy: 'project:web', wait: true });
    await clock.advance(0);
    expect(await h.store.restarts.pending()).toBe(1);
    await clock.advance(10 * S);
    expect(await result).toEqual({ restarted: true, pending: false });
    // Collected at the next drain (1 s), restarted when that window closed (2 s later).
    expect(controller.restartSeconds(origin)).toEqual([3]);
    expect(await h.store.restarts.pending()).toBe(0);
    const [entry] = await h.store.audit.query({ action: RESTART_AUDIT_ACTION });
    expect(entry?.params).toMatchObject({ requestedBy: ['project:web'], reason: 'rule added by MCP' });
    await daemon.stop();
  });

  it('in another process: a restart that began before the request does not count', async () => {
    const { clock, probe, daemon, client } = setup({ config: { restart: { coalesceWindowMs: 0 } } });
    probe.readyDelayMs = 5 * S;
    daemon.start();
    void daemon.requestRestart({ reason: 'earlier change', requestedBy: 'admin', wait: false });
    await clock.advance(1 * S); // that restart runs until 5 s
    const result = client.requestRestart({ reason: 'later change', requestedBy: 'project:a', wait: true });
    let settled = false;
    void result.then(() => {
      settled = true;
    });
    await clock.advance(5 * S);
    // The first restart is done, but it began before the request: still waiting for the next.
    const entries = await h.store.audit.query({ action: RESTART_AUDIT_ACTION });
    expect(entries).toHaveLength(1);
    expect(settled).toBe(false);
    await clock.advance(15 * S);
    expect(await result).toEqual({ restarted: true, pending: false });
    expect(await h.store.audit.query({ action: RESTART_AUDIT_ACTION })).toHaveLength(2);
    await daemon.stop();
  });

  it('in another process without a daemon: pending after the timeout, asking whether the daemon runs', async () => {
    const { clock, client } = setup();
    const result = client.requestRestart({ reason: 'x', requestedBy: 'project:a', wait: true, timeoutMs: 5 * S });
    await clock.advance(6 * S);
    const r = await result;
    expect(r).toMatchObject({ restarted: false, pending: true });
    expect(r.detail).toContain('Is the tunnel-manager daemon running?');
    expect(await h.store.restarts.pending()).toBe(1);
  });

  it("in another process, told the daemon's health interval: does not wait when no daemon has checked the tunnel lately", async () => {
    const { clock, daemon } = setup();
    const client = new RestartCoordinator({
      mode: 'client',
      store: h.store,
      clock,
      restart: h.config.restart,
      daemonHealthIntervalMs: h.config.health.intervalMs,
    });
    const sample = (at: number) =>
      h.store.health.insert({
        at,
        status: 'healthy',
        processState: 'running',
        readyConnections: 4,
        latencyMs: 1,
        apiStatus: null,
        failingCheck: null,
        detail: null,
      });
    // A daemon checked 71 s ago (30 s interval: 70 s of silence is the limit): gone.
    await sample(clock.now() - 71 * S);
    const alone = await client.requestRestart({ reason: 'rule added', requestedBy: 'project:a', wait: true });
    expect(alone).toMatchObject({ restarted: false, pending: true });
    expect(alone.detail).toContain('`tunnel daemon`');
    expect(await h.store.restarts.pending()).toBe(1);

    // A daemon that checked 60 s ago still counts: the client waits, and sees the restart.
    await sample(clock.now() - 60 * S);
    daemon.start();
    const waited = client.requestRestart({ reason: 'another rule', requestedBy: 'project:a', wait: true });
    await clock.advance(10 * S);
    expect(await waited).toEqual({ restarted: true, pending: false });
    expect(await h.store.restarts.pending()).toBe(0);
    await daemon.stop();
  });

  it('with no controller that can restart: pending, saying to restart by hand', async () => {
    const { daemon } = setup({ noController: true });
    const r = await daemon.requestRestart({ reason: 'x', requestedBy: 'admin', wait: true });
    expect(r).toMatchObject({ restarted: false, pending: true });
    expect(r.detail).toContain('Restart cloudflared by hand');
  });

  it('stopping the daemon tells waiters in an open window that their restart is pending', async () => {
    const { clock, controller, daemon } = setup();
    daemon.start();
    const result = daemon.requestRestart({ reason: 'x', requestedBy: 'admin', wait: true });
    await clock.advance(500);
    await daemon.stop();
    const r = await result;
    expect(r).toMatchObject({ restarted: false, pending: true });
    expect(r.detail).toContain('shutting down');
    await clock.advance(10 * S);
    expect(controller.calls).toHaveLength(0);
  });

  it('refuses a request without a reason, and queues nothing', async () => {
    const { client, daemon } = setup();
    for (const c of [client, daemon]) {
      const error = await c.requestRestart({ reason: ' ', requestedBy: 'admin' }).catch((e) => e);
      expect(isTunnelError(error, 'INVALID_INPUT')).toBe(true);
    }
    expect(await h.store.restarts.pending()).toBe(0);
  });
});
