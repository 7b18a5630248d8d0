import { ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  backoffDelay,
  RESTART_AUDIT_ACTION,
  RestartManager,
  type RestartOutcome,
  type TunnelConfigInput,
  TunnelReadiness,
  withJitter,
} from '../../src/index.js';
import { FakeReadiness, type Harness, harness, RecordingController } from './fakes.js';

const S = 1000;

describe('backoffDelay', () => {
  it('is 0 first, then 5 s doubling to a 5 min cap', () => {
    const waits = Array.from({ length: 10 }, (_, n) => backoffDelay(n, { initialMs: 5 * S, maxMs: 300 * S }) / S);
    expect(waits).toEqual([0, 5, 10, 20, 40, 80, 160, 300, 300, 300]);
    expect(backoffDelay(5000, { initialMs: 5 * S, maxMs: 300 * S })).toBe(300 * S);
  });

  it('jitter moves a wait by at most ± the ratio', () => {
    expect(withJitter(10_000, 0.1, () => 0)).toBe(9_000);
    expect(withJitter(10_000, 0.1, () => 1)).toBe(11_000);
    expect(withJitter(10_000, 0.1, () => 0.5)).toBe(10_000);
    expect(withJitter(0, 0.5, () => 1)).toBe(0);
    expect(withJitter(10_000, 0, () => 1)).toBe(10_000);
  });
});

describe('RestartManager (injected clock)', () => {
  let h: Harness;
  afterEach(async () => {
    await h?.cleanup();
  });

  function setup(
    options: { replicas?: number; perReplicaUrls?: boolean; config?: TunnelConfigInput; random?: () => number } = {},
  ) {
    h = harness(options.config);
    const clock = new ManualClock();
    const controller = new RecordingController(clock, options);
    const probe = new FakeReadiness(controller, clock);
    const readiness = new TunnelReadiness({ probe, metricsUrl: h.config.cloudflared.metricsUrl, timeoutMs: 1000 });
    const manager = new RestartManager({
      controller,
      readiness,
      store: h.store,
      clock,
      restart: h.config.restart,
      ...(options.random ? { random: options.random } : {}),
    });
    const outcomes: RestartOutcome[] = [];
    manager.onRestart((o) => outcomes.push(o));
    return { clock, controller, probe, manager, outcomes, origin: clock.now() };
  }

  it('waits exactly 0, 5, 10, 20, 40, 80, 160, 300, 300 s between failed attempts (before jitter)', async () => {
    const { clock, controller, manager, origin } = setup();
    controller.failNextRestarts(9);
    expect(manager.recover({ reason: 'cloudflared exited' })).toBe('started');
    await clock.advance(0);
    while (controller.calls.length < 9) {
      expect(await clock.advanceToNextTimer()).not.toBeNull();
    }
    const starts = controller.restartSeconds(origin);
    expect(starts[0]).toBe(0);
    const waits = starts.slice(1).map((t, i) => t - (starts[i] as number));
    expect(waits).toEqual([5, 10, 20, 40, 80, 160, 300, 300]);
    // Unlimited: a tenth attempt is already scheduled, 300 s out.
    expect(manager.state()).toMatchObject({ phase: 'waiting', attempts: 9, scheduledDelayMs: 300 * S });
  });

  it('counts an attempt that is not ready within the start timeout as failed, then backs off', async () => {
    const { clock, controller, probe, manager, origin } = setup({ config: { restart: { startTimeoutMs: 60 * S } } });
    probe.hangAll();
    manager.recover({ reason: '/ready failed 3 checks in a row' });
    await clock.advance(0);
    expect(controller.calls).toHaveLength(1);
    await clock.advance(60 * S);
    // Timed out at 60 s; the next attempt waits 5 s more.
    expect(manager.state()).toMatchObject({ phase: 'waiting', attempts: 1, nextAttemptAt: origin + 65 * S });
    await clock.advance(5 * S);
    expect(controller.restartSeconds(origin)).toEqual([0, 65]);
    await clock.advance(70 * S);
    expect(controller.restartSeconds(origin)).toEqual([0, 65, 135]);
    probe.hung.clear();
    await clock.advance(70 * S);
    expect(manager.state().lastOutcome).toMatchObject({ ok: true, attempts: 3 });
    expect(manager.state().phase).toBe('idle');
  });

  it('applies jitter to each wait from the injected random source', async () => {
    const { clock, controller, manager, origin } = setup({
      config: { restart: { jitterRatio: 0.2 } },
      random: () => 1,
    });
    controller.failNextRestarts(3);
    manager.recover({ reason: 'exited' });
    await clock.advance(0);
    while (controller.calls.length < 3) await clock.advanceToNextTimer();
    expect(controller.restartSeconds(origin)).toEqual([0, 6, 18]);
  });

  it('resets the backoff after a healthy period, so the next failure restarts at once', async () => {
    const { clock, controller, manager, origin } = setup({ config: { restart: { healthyResetMs: 600 * S } } });
    controller.failNextRestarts(2);
    manager.recover({ reason: 'exited' });
    await clock.advance(0);
    await clock.advance(15 * S); // attempts at 0 (fail), 5 (fail), 15 (ok)
    expect(controller.restartSeconds(origin)).toEqual([0, 5, 15]);
    expect(manager.state()).toMatchObject({ phase: 'idle', attempts: 3 });
    // Healthy, checked every 30 s, for the full 10 minutes.
    for (let t = 30; t <= 630; t += 30) {
      await clock.advance(30 * S);
      manager.noteHealth('healthy', clock.now());
    }
    expect(manager.state().attempts).toBe(0);
    manager.recover({ reason: 'exited again' });
    await clock.advance(0);
    expect(controller.calls.at(-1)?.at).toBe(clock.now());
  });

  it('keeps backing off when the healthy period was too short', async () => {
    const { clock, controller, manager } = setup({ config: { restart: { healthyResetMs: 600 * S } } });
    controller.failNextRestarts(2);
    manager.recover({ reason: 'exited' });
    await clock.advance(15 * S);
    for (let t = 30; t < 600; t += 30) {
      await clock.advance(30 * S);
      manager.noteHealth('healthy', clock.now());
    }
    // One degraded check breaks the healthy run.
    manager.noteHealth('degraded', clock.now());
    await clock.advance(30 * S);
    manager.noteHealth('healthy', clock.now());
    expect(manager.state().attempts).toBe(3);
    const before = controller.calls.length;
    expect(manager.recover({ reason: 'exited again' })).toBe('scheduled');
    expect(manager.state().scheduledDelayMs).toBe(20 * S);
    await clock.advance(20 * S - 1);
    expect(controller.calls).toHaveLength(before);
    await clock.advance(1);
    expect(controller.calls).toHaveLength(before + 1);
  });

  it('never runs two restarts at once; a request during one is dropped, a config change queued', async () => {
    const { clock, controller, manager } = setup();
    let open!: () => void;
    controller.gate = new Promise((resolve) => {
      open = resolve;
    });
    expect(manager.recover({ reason: 'exited' })).toBe('started');
    await clock.advance(0);
    expect(manager.busy).toBe(true);
    expect(manager.recover({ reason: 'exited (again)' })).toBe('busy');
    const config = manager.restartNow({ reasons: ['rule added'], requestedBy: ['project:a'] });
    await clock.advance(10 * S);
    expect(controller.calls).toHaveLength(1);
    controller.gate = null;
    open();
    await clock.advance(5 * S);
    expect((await config).ok).toBe(true);
    expect(controller.calls).toHaveLength(2);
    expect(controller.maxInFlight).toBe(1);
  });

  it('a config change cuts a backoff wait short (the change may be the fix)', async () => {
    const { clock, controller, manager, origin } = setup();
    controller.failNextRestarts(2);
    manager.recover({ reason: 'exited' });
    await clock.advance(5 * S); // attempts at 0 and 5 fail; the next would be at 15
    expect(manager.state()).toMatchObject({ phase: 'waiting', nextAttemptAt: origin + 15 * S });
    await clock.advance(2 * S);
    const outcome = await Promise.all([
      manager.restartNow({ reasons: ['config fixed'], requestedBy: ['admin'] }),
      clock.advance(1 * S),
    ]);
    expect(outcome[0]).toMatchObject({ ok: true, trigger: 'config' });
    expect(controller.restartSeconds(origin)).toEqual([0, 5, 7]);
    await clock.advance(60 * S);
    expect(controller.calls).toHaveLength(3);
  });

  it('records every attempt and its reason in the audit log', async () => {
    const { clock, controller, manager } = setup();
    controller.failNextRestarts(1);
    manager.recover({ reason: 'cloudflared exited: killed by SIGKILL' });
    await clock.advance(10 * S);
    const entries = await h.store.audit.query({ action: RESTART_AUDIT_ACTION });
    expect(entries.map((e) => [e.outcome, e.errorCode])).toEqual([
      ['ok', null],
      ['error', 'PROVIDER_UNAVAILABLE'],
    ]);
    const [ok, failed] = entries;
    expect(failed?.params).toMatchObject({
      reason: 'cloudflared exited: killed by SIGKILL',
      trigger: 'health',
      scope: 'all',
      attempts: 1,
      backoffWaitMs: 0,
      controller: 'memory',
    });
    expect(ok?.params).toMatchObject({ trigger: 'health', attempts: 2, backoffWaitMs: 5 * S });
    expect(ok?.params.reason).toContain('retry after a failed restart');
    expect(ok).toMatchObject({ actor: 'system', target: 'cloudflared' });
  });

  it('rolls over replicas one at a time, each after the previous is ready', async () => {
    const { clock, controller, probe, manager, origin } = setup({ replicas: 3, perReplicaUrls: true });
    probe.readyDelayMs = 3 * S;
    const done = manager.restartNow({ reasons: ['rule added'], requestedBy: ['project:a'] });
    await clock.advance(30 * S);
    const outcome = await done;
    expect(outcome).toMatchObject({ ok: true, rolling: true });
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-1', 'replica-2', 'replica-3']);
    // Ready polls every 500 ms: each replica waits out the 3 s warm-up of the previous one.
    expect(controller.restartSeconds(origin)).toEqual([0, 3, 6]);
  });

  it('stops a rolling restart at the first replica that does not come back', async () => {
    const { clock, controller, manager } = setup({ replicas: 2, perReplicaUrls: true });
    controller.failNextRestarts(1);
    const outcome = manager.restartNow({ reasons: ['bad config'], requestedBy: ['admin'] });
    await clock.advance(0);
    expect(await outcome).toMatchObject({ ok: false, rolling: true });
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-1']);
    const status = await controller.status();
    expect(status.replicas?.map((r) => r.state)).toEqual(['exited', 'running']);
    expect(manager.state().phase).toBe('waiting');
  });

  it('restarts only the replicas asked for', async () => {
    const { clock, controller, manager } = setup({ replicas: 2, perReplicaUrls: true });
    manager.recover({ reason: 'replica-2 hung', replicaIds: ['replica-2'] });
    await clock.advance(5 * S);
    expect(controller.calls.map((c) => c.options.replicaId)).toEqual(['replica-2']);
    expect((await h.store.audit.query({ action: RESTART_AUDIT_ACTION }))[0]).toMatchObject({
      target: 'replica-2',
      params: { scope: 'replicas', replicas: ['replica-2'] },
    });
  });

  it('close() cancels a scheduled attempt', async () => {
    const { clock, controller, manager } = setup();
    controller.failNextRestarts(1);
    manager.recover({ reason: 'exited' });
    await clock.advance(0);
    expect(manager.state().phase).toBe('waiting');
    await manager.close();
    await clock.advance(600 * S);
    expect(controller.calls).toHaveLength(1);
    expect(manager.recover({ reason: 'after close' })).toBe('busy');
  });
});
