import {
  AlertService,
  type AlertTransport,
  AUDIT_ACTIONS,
  backoffDelay,
  type Clock,
  formatDuration,
  type HealthServices,
  type Logger,
  resolveWebhooks,
  type StateStore,
  type TimerHandle,
  type TunnelConfig,
  WebhookAlertTransport,
} from '@tunnel/core';
import { Counter } from 'prom-client';
import type { DaemonMetrics } from './metrics.js';
import { AuditTail } from './metrics.js';

export interface DaemonAlertsOptions {
  readonly config: TunnelConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly store: StateStore;
  readonly health: HealthServices;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: DaemonMetrics;
  /** @default WebhookAlertTransport */
  readonly transport?: AlertTransport;
  /** How often the audit log (what other processes did) and the database are looked at. @default 5000 */
  readonly pollIntervalMs?: number;
}

/**
 * Feeds the daemon's observations to the AlertService:
 * - health samples: `tunnel.down` after `health.strikes` down checks in a row, `tunnel.recovered`
 *   (with how long) at the next healthy one;
 * - restart outcomes: `restart.backoff_max` when a failed restart's next wait is the longest;
 * - the audit log of every process: `route.failed` per hostname (a pipeline step failed),
 *   `api.rate_limited` (an operation got RATE_LIMITED), each closed by a later success;
 * - a read of the database each poll: `database.unreachable`;
 * - `reconcile.drift` comes from the daemon's reconcile job (`reportDrift`).
 * Delivery failures are counted in `tunnel_alert_delivery_failures_total`.
 */
export class DaemonAlerts {
  readonly service: AlertService;
  readonly #options: DaemonAlertsOptions;
  readonly #tail: AuditTail;
  readonly #unsubscribe: Array<() => void> = [];
  #timer: TimerHandle | null = null;
  #polling: Promise<void> | null = null;
  #downChecks = 0;
  #stopped = false;

  constructor(options: DaemonAlertsOptions) {
    this.#options = options;
    const failures = new Counter({
      name: 'tunnel_alert_delivery_failures_total',
      help: 'Alerts that could not be delivered to a webhook after every retry, by webhook and event.',
      labelNames: ['webhook', 'event'],
      registers: [options.metrics.registry],
    });
    const delivered = new Counter({
      name: 'tunnel_alerts_delivered_total',
      help: 'Alerts delivered to a webhook, by webhook and event.',
      labelNames: ['webhook', 'event'],
      registers: [options.metrics.registry],
    });
    this.service = new AlertService({
      webhooks: resolveWebhooks(options.config.alerts, options.env),
      transport: options.transport ?? new WebhookAlertTransport(),
      clock: options.clock,
      logger: options.logger.child({ component: 'alerts' }),
      retries: options.config.alerts.retries,
      source: options.config.cloudflare.tunnelId ?? 'tunnel-manager',
      onDeliveryFailure: (webhook, event) => failures.inc({ webhook, event }),
      onDelivered: (webhook, event) => delivered.inc({ webhook, event }),
    });
    this.#tail = new AuditTail(options.store.audit, { lookBackMs: 60_000 });
  }

  async start(): Promise<void> {
    const { health, config } = this.#options;
    const alerts = this.service;
    await this.#tail.start().catch(() => undefined);
    if (health.monitor) {
      this.#unsubscribe.push(
        health.monitor.subscribe((sample) => {
          if (sample.status === 'healthy') {
            this.#downChecks = 0;
            alerts.resolve('tunnel.down');
            return;
          }
          if (sample.status !== 'down') return;
          this.#downChecks += 1;
          if (this.#downChecks >= config.health.strikes) {
            alerts.raise('tunnel.down', `The tunnel is down: ${sample.detail ?? 'cloudflared is not ready'}.`, {
              details: { failingCheck: sample.failingCheck, checks: this.#downChecks },
            });
          }
        }),
      );
    }
    if (health.restartManager) {
      this.#unsubscribe.push(
        health.restartManager.onRestart((outcome) => {
          if (outcome.ok) {
            alerts.resolve('restart.backoff_max');
            return;
          }
          const next = backoffDelay(outcome.attempts, {
            initialMs: config.restart.initialBackoffMs,
            maxMs: config.restart.maxBackoffMs,
          });
          if (next >= config.restart.maxBackoffMs) {
            alerts.raise(
              'restart.backoff_max',
              `cloudflared restarts keep failing; the manager now waits ${formatDuration(next)} between attempts: ${outcome.error?.message ?? 'unknown error'}`,
              { details: { attempts: outcome.attempts, waitMs: next } },
            );
          }
        }),
      );
    }
    this.#schedule();
  }

  /** From the daemon's reconcile job: drift found (changes > 0) or in sync. */
  reportDrift(changes: number, summary: readonly string[]): void {
    if (changes === 0) {
      this.service.resolve('reconcile.drift');
      return;
    }
    this.service.raise(
      'reconcile.drift',
      `Reconcile found ${changes} difference(s) between database, DNS and ingress.`,
      {
        details: { changes: summary.slice(0, 20) },
      },
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.cancel();
    for (const off of this.#unsubscribe.splice(0)) off();
    await this.#polling;
    await this.service.close();
  }

  /** One look at the audit log and the database (exposed for tests). */
  async poll(): Promise<void> {
    const alerts = this.service;
    try {
      // A read the daemon itself makes all the time: if it fails, the database is unreachable.
      const entries = await this.#tail.poll();
      await this.#options.store.restarts.pending();
      alerts.resolve('database.unreachable');
      for (const entry of entries) {
        if (entry.action === AUDIT_ACTIONS.stepFailed && entry.outcome === 'error') {
          alerts.raise('route.failed', `A change to ${entry.target} failed: ${entry.message ?? entry.errorCode}.`, {
            subject: entry.target,
            details: { code: entry.errorCode, step: entry.params.step ?? null, actor: entry.actor },
          });
        }
        if (
          (entry.action === AUDIT_ACTIONS.request || entry.action === AUDIT_ACTIONS.delete) &&
          entry.outcome === 'ok'
        ) {
          alerts.resolve('route.failed', entry.target);
          alerts.resolve('api.rate_limited');
        }
        if (entry.errorCode === 'RATE_LIMITED') {
          alerts.raise(
            'api.rate_limited',
            `The Cloudflare API rate-limited an operation (${entry.action} ${entry.target}).`,
            {
              details: { action: entry.action },
            },
          );
        }
      }
    } catch (error) {
      alerts.raise('database.unreachable', `The state database cannot be read: ${(error as Error).message}`, {
        details: { path: this.#options.config.database.path ?? null },
      });
    }
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#options.clock.setTimer(this.#options.pollIntervalMs ?? 5_000, () => {
      this.#polling = this.poll().finally(() => {
        this.#polling = null;
        this.#schedule();
      });
    });
  }
}
