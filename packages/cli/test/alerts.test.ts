import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createHealthServices, JsonLogger, type NewAuditEntry, parseConfig, SqliteStateStore } from '@tunnel/core';
import { InMemoryProcessController, ManualClock, type Receiver, startReceiver } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonAlerts, DaemonMetrics } from '../src/index.js';
import { cleanTempDirs, runInProcess, tempDir } from './support/io.js';
import { parsePrometheusText, sampleValue } from './support/prometheus.js';

const closers: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  cleanTempDirs();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  closers.push(() => r.close());
  return r;
}

/** cloudflared's metrics server, reduced to `/ready` with the status a test sets. */
async function readyServer(): Promise<{ url: string; status: number }> {
  const state = { url: '', status: 200 };
  const server: Server = createServer((req, res) => {
    const ok = state.status === 200;
    res
      .writeHead(req.url === '/ready' ? state.status : 404, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: state.status, readyConnections: ok ? 4 : 0, connectorId: 'x' }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return state;
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('daemon alerts: what the daemon observes becomes one alert per incident', () => {
  it('tunnel down/recovered, route failed, rate limited, drift, database unreachable; failures counted in /metrics', async () => {
    const r = await receiver();
    const ready = await readyServer();
    const dir = tempDir();
    const clock = new ManualClock(Date.now());
    const config = parseConfig({
      dataDir: dir,
      cloudflared: { controller: 'none', metricsUrl: ready.url },
      health: { strikes: 3, readyTimeoutMs: 1_000 },
      alerts: { webhooks: [{ urlEnv: 'TEST_ALERT_URL' }], retries: 1 },
    });
    const store = SqliteStateStore.open({ path: join(dir, 'state.db') });
    closers.push(() => store.close());
    const health = createHealthServices({ config, store, clock, mode: 'daemon' });
    const metrics = new DaemonMetrics({ defaultMetrics: false });
    const logged: string[] = [];
    const alerts = new DaemonAlerts({
      config,
      env: { TEST_ALERT_URL: r.url },
      store,
      health,
      clock,
      logger: new JsonLogger({ level: 'debug', write: (line: string) => logged.push(line) }),
      metrics,
      pollIntervalMs: 3_600_000,
    });
    await alerts.start();
    closers.push(() => alerts.stop());
    const monitor = health.monitor;
    if (!monitor) throw new Error('no monitor in daemon mode');
    const events = async () => {
      await alerts.service.flush();
      return r.bodies.map((b) => `${b.event}${b.subject ? ` ${b.subject}` : ''}`);
    };

    // Down for two checks: not yet an incident (health.strikes is 3); then one alert, not one per check.
    ready.status = 503;
    for (let i = 0; i < 2; i++) {
      await monitor.checkNow();
      await clock.advance(30_000);
    }
    expect(await events()).toEqual([]);
    for (let i = 0; i < 4; i++) {
      await monitor.checkNow();
      await clock.advance(30_000);
    }
    expect(await events()).toEqual(['tunnel.down']);
    ready.status = 200;
    await monitor.checkNow();
    expect(await events()).toEqual(['tunnel.down', 'tunnel.recovered']);
    expect(r.bodies[1]?.downForMs).toBe(4 * 30_000);

    // From the audit log any process writes.
    const audit = (over: Partial<NewAuditEntry>): NewAuditEntry => ({
      at: clock.now(),
      actor: 'project:shop',
      project: 'shop',
      action: 'cname.step_failed',
      target: 'app.example.com',
      params: { step: 'create_dns' },
      outcome: 'error',
      errorCode: 'PROVIDER_UNAVAILABLE',
      message: 'The Cloudflare API answered 502.',
      durationMs: 3,
      ...over,
    });
    await store.audit.append(audit({}));
    await store.audit.append(audit({ message: 'again' }));
    await alerts.poll();
    await store.audit.append(audit({ message: 'and again' }));
    await alerts.poll();
    expect((await events()).slice(2)).toEqual(['route.failed app.example.com']);
    await store.audit.append(audit({ action: 'cname.request', outcome: 'ok', errorCode: null, message: null }));
    await store.audit.append(audit({ action: 'cname.request', errorCode: 'RATE_LIMITED', target: 'b.example.com' }));
    await alerts.poll();
    await store.audit.append(audit({}));
    await alerts.poll();
    expect((await events()).slice(3)).toEqual(['api.rate_limited', 'route.failed app.example.com']);

    // Drift from the reconcile job: once until in sync again.
    alerts.reportDrift(2, ['create_dns a.example.com', 'add_rule b.example.com']);
    alerts.reportDrift(2, ['create_dns a.example.com', 'add_rule b.example.com']);
    expect((await events()).slice(5)).toEqual(['reconcile.drift']);

    // A receiver that refuses: 1 + 1 attempts, then counted in /metrics and logged without the URL.
    alerts.reportDrift(0, []);
    r.status = () => 500;
    alerts.reportDrift(1, ['create_dns c.example.com']);
    await settle();
    await clock.advance(1_000);
    await settle();
    await alerts.service.flush();
    const families = parsePrometheusText((await metrics.render()).body);
    expect(
      sampleValue(families, 'tunnel_alert_delivery_failures_total', { webhook: 'webhook-1', event: 'reconcile.drift' }),
    ).toBe(1);
    expect(sampleValue(families, 'tunnel_alerts_delivered_total', { webhook: 'webhook-1', event: 'tunnel.down' })).toBe(
      1,
    );
    expect(logged.join('\n')).toContain('alert delivery failed');
    expect(logged.join('\n')).not.toContain(r.url);

    // The database goes away: one alert.
    r.status = () => 200;
    await store.close();
    await alerts.poll();
    await alerts.poll();
    expect((await events()).filter((e) => e === 'database.unreachable')).toHaveLength(1);
  });
});

describe('daemon alerts: restart backoff at its maximum', () => {
  it('alerts once when failed restarts reach the longest wait, not at every attempt', async () => {
    const r = await receiver();
    const dir = tempDir();
    const clock = new ManualClock(Date.now());
    const config = parseConfig({
      dataDir: dir,
      cloudflared: { controller: 'none' },
      restart: { initialBackoffMs: 100, maxBackoffMs: 400, jitterRatio: 0 },
      alerts: { webhooks: [{ urlEnv: 'TEST_ALERT_URL' }] },
    });
    const store = SqliteStateStore.open({ path: join(dir, 'state.db') });
    closers.push(() => store.close());
    const controller = new InMemoryProcessController({ now: () => clock.now() });
    const health = createHealthServices({ config, store, clock, mode: 'daemon', controller });
    const alerts = new DaemonAlerts({
      config,
      env: { TEST_ALERT_URL: r.url },
      store,
      health,
      clock,
      logger: new JsonLogger({ level: 'error', write: () => {} }),
      metrics: new DaemonMetrics({ defaultMetrics: false }),
      pollIntervalMs: 3_600_000,
    });
    await alerts.start();
    closers.push(() => alerts.stop());
    const manager = health.restartManager;
    if (!manager) throw new Error('no restart manager');
    closers.push(() => manager.close());
    controller.failNextRestarts(10);
    manager.recover({ reason: 'cloudflared is down' });
    const attempts: number[] = [];
    // Waits of 100, 200, then 400 ms (the maximum) after the 1st, 2nd and 3rd failed attempt.
    for (let i = 0; i < 6; i++) {
      await settle();
      attempts.push(manager.state().attempts);
      await clock.advance(400);
    }
    await alerts.service.flush();
    expect(Math.max(...attempts)).toBeGreaterThanOrEqual(4);
    expect(r.bodies.map((b) => b.event)).toEqual(['restart.backoff_max']);
    expect(r.bodies[0]?.summary).toContain('waits 400 ms');
    expect(r.bodies[0]?.details).toMatchObject({ waitMs: 400 });
  });
});

describe('tunnel alerts test', () => {
  it('sends a test event to each webhook (URL from a file, never printed), and fails when one refuses', async () => {
    const r = await receiver();
    const dir = tempDir();
    writeFileSync(join(dir, 'alert-url'), `${r.url}\n`, { mode: 0o600 });
    const config = join(dir, 'config.yml');
    writeFileSync(
      config,
      `dataDir: ${JSON.stringify(dir)}\nalerts:\n  webhooks:\n    - urlFile: ${JSON.stringify(join(dir, 'alert-url'))}\n      format: slack\n    - urlEnv: SECOND_ALERT_URL\n`,
    );
    const ok = await runInProcess(['alerts', 'test', '--config', config, '--json'], { SECOND_ALERT_URL: r.url });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      ok: true,
      webhooks: [
        { webhook: 'webhook-1', ok: true },
        { webhook: 'webhook-2', ok: true },
      ],
    });
    expect(r.bodies).toHaveLength(2);
    expect(r.bodies[0]?.text).toContain('test');
    expect(r.bodies[1]).toMatchObject({ event: 'test', severity: 'warning' });
    r.status = () => 404;
    const refused = await runInProcess(['alerts', 'test', '--config', config], { SECOND_ALERT_URL: r.url });
    expect(refused.code).toBe(6);
    expect(refused.stdout).toContain('HTTP 404');
    expect(`${refused.stdout}${refused.stderr}`).not.toContain('secret-token');
    const none = await runInProcess(['alerts', 'test', '--config', config], {});
    expect(none.code).toBe(7);
    expect(none.stderr).toContain('SECOND_ALERT_URL is empty');
  });
});
