import { ManualClock, type Receiver, startReceiver } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AlertService,
  type AlertWebhook,
  configSchema,
  JsonLogger,
  resolveWebhooks,
  Secret,
  WebhookAlertTransport,
} from '../../src/index.js';

const receivers: Receiver[] = [];
afterEach(async () => {
  for (const r of receivers.splice(0)) await r.close();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  receivers.push(r);
  return r;
}

const hook = (url: string, format: 'json' | 'slack' = 'json', events?: AlertWebhook['events']): AlertWebhook => ({
  name: 'webhook-1',
  url: new Secret(url),
  events: events ?? new Set(['tunnel.down', 'tunnel.recovered', 'route.failed', 'reconcile.drift', 'test']),
  format,
});

/** Lets the deliveries under way (real HTTP) make progress while the manual clock stands still. */
const settle = () => new Promise((r) => setTimeout(r, 50));

describe('AlertService (a local HTTP receiver, injected clock)', () => {
  it('alerts once per incident and sends the recovery with how long it lasted', async () => {
    const r = await receiver();
    const clock = new ManualClock();
    const failures: string[] = [];
    const alerts = new AlertService({
      webhooks: [hook(r.url)],
      transport: new WebhookAlertTransport(),
      clock,
      source: 'tunnel-1',
      onDeliveryFailure: (w, e) => failures.push(`${w}:${e}`),
    });
    // Every 30 s the health check still finds it down: one alert.
    for (let i = 0; i < 5; i++) {
      alerts.raise('tunnel.down', 'The tunnel is down: /ready 503.');
      await clock.advance(30_000);
    }
    await alerts.flush();
    expect(r.bodies.map((b) => b.event)).toEqual(['tunnel.down']);
    expect(r.bodies[0]).toMatchObject({
      severity: 'critical',
      summary: 'The tunnel is down: /ready 503.',
      source: 'tunnel-1',
    });
    expect(alerts.resolve('tunnel.down')).toBe(true);
    await alerts.flush();
    expect(r.bodies[1]).toMatchObject({ event: 'tunnel.recovered', severity: 'resolved', downForMs: 150_000 });
    expect(r.bodies[1]?.summary).toContain('2 min 30 s');
    // Closed: the next outage is a new incident.
    expect(alerts.resolve('tunnel.down')).toBe(false);
    alerts.raise('tunnel.down', 'down again');
    await alerts.flush();
    expect(r.bodies.map((b) => b.event)).toEqual(['tunnel.down', 'tunnel.recovered', 'tunnel.down']);
    // Incidents with a subject are per subject.
    alerts.raise('route.failed', 'a failed', { subject: 'a.example.com' });
    alerts.raise('route.failed', 'a failed again', { subject: 'a.example.com' });
    alerts.raise('route.failed', 'b failed', { subject: 'b.example.com' });
    await alerts.flush();
    expect(r.bodies.filter((b) => b.event === 'route.failed').map((b) => b.subject)).toEqual([
      'a.example.com',
      'b.example.com',
    ]);
    expect(failures).toEqual([]);
  });

  it('retries with backoff (1 s, 2 s, 4 s …) until the receiver accepts; gives up after `retries`, logged and counted', async () => {
    const r = await receiver();
    const clock = new ManualClock();
    let answers = [503, 500, 200];
    r.status = () => answers.shift() ?? 200;
    const failures: string[] = [];
    const logged: string[] = [];
    const logger = new JsonLogger({ level: 'debug', write: (line: string) => logged.push(line) });
    const alerts = new AlertService({
      webhooks: [hook(r.url)],
      transport: new WebhookAlertTransport(),
      clock,
      logger,
      retries: 3,
      onDeliveryFailure: (w, e) => failures.push(`${w}:${e}`),
    });
    alerts.raise('reconcile.drift', 'drift');
    await settle();
    expect(r.requests).toBe(1);
    await clock.advance(999);
    await settle();
    expect(r.requests).toBe(1);
    await clock.advance(1);
    await settle();
    expect(r.requests).toBe(2);
    await clock.advance(2_000);
    await settle();
    await alerts.flush();
    expect(r.requests).toBe(3);
    expect(r.bodies.map((b) => b.event)).toEqual(['reconcile.drift']);
    expect(failures).toEqual([]);

    // A receiver that never accepts: 1 + 3 attempts, then one failure, logged without the URL.
    answers = [];
    r.status = () => 500;
    alerts.resolve('reconcile.drift');
    alerts.raise('reconcile.drift', 'drift again');
    for (let i = 0; i < 10 && failures.length === 0; i++) {
      await settle();
      await clock.advance(10_000);
    }
    await alerts.flush();
    expect(r.requests).toBe(3 + 4);
    expect(failures).toEqual(['webhook-1:reconcile.drift']);
    const text = logged.join('\n');
    expect(text).toContain('alert delivery failed');
    expect(text).toContain('HTTP 500');
    expect(text).not.toContain('secret-token');
    expect(text).not.toContain(r.url);
  });

  it('sends only the events a webhook asks for, and Slack messages in the slack format', async () => {
    const r = await receiver();
    const alerts = new AlertService({
      webhooks: [hook(r.url, 'slack', new Set(['tunnel.down']))],
      transport: new WebhookAlertTransport(),
      clock: new ManualClock(),
    });
    alerts.raise('reconcile.drift', 'not for this hook');
    alerts.raise('tunnel.down', 'The tunnel is down.');
    await alerts.flush();
    expect(r.bodies).toHaveLength(1);
    expect(Object.keys(r.bodies[0] ?? {})).toEqual(['text']);
    expect(r.bodies[0]?.text).toContain('tunnel.down');
    expect(r.bodies[0]?.text).toContain('The tunnel is down.');
  });

  it('reads the URL from the config, a file or an env var, as a Secret that never prints', async () => {
    const config = configSchema.parse({
      alerts: {
        webhooks: [
          { urlEnv: 'ALERT_URL', format: 'slack', events: ['tunnel.down'] },
          { url: 'https://hooks.example.com/T/secret' },
        ],
      },
    });
    const hooks = resolveWebhooks(config.alerts, { ALERT_URL: 'https://hooks.slack.test/services/T/B/secret' });
    expect(hooks.map((h) => h.name)).toEqual(['webhook-1', 'webhook-2']);
    expect(hooks[0]?.url.reveal()).toBe('https://hooks.slack.test/services/T/B/secret');
    expect(JSON.stringify(hooks)).not.toContain('secret');
    expect(JSON.stringify(config)).not.toContain('hooks.example.com/T/secret');
    expect(() => resolveWebhooks(config.alerts, {})).toThrow(/ALERT_URL is empty/);
    expect(() => configSchema.parse({ alerts: { webhooks: [{ url: 'https://a.test/x', urlEnv: 'X' }] } })).toThrow(
      /exactly one of url, urlFile, urlEnv/,
    );
    expect(() => configSchema.parse({ alerts: { webhooks: [{ url: 'ftp://a.test/x' }] } })).toThrow();
  });
});
