import { backoffDelay } from '../health/backoff.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { NoopLogger } from '../runtime/loggers.js';
import type { AlertEventKind, AlertWebhook } from './config.js';

/** One alert as it is delivered (the `json` format sends exactly this). */
export interface AlertEvent {
  readonly event: AlertEventKind;
  /** `critical` (act now), `warning`, or `resolved`. */
  readonly severity: 'critical' | 'warning' | 'resolved';
  /** One line for people. */
  readonly summary: string;
  /** What the incident is about, e.g. a hostname; null for the whole tunnel. */
  readonly subject: string | null;
  /** ISO 8601 time of the event. */
  readonly at: string;
  /** For `tunnel.recovered`: how long the tunnel was down. */
  readonly downForMs?: number;
  readonly details?: Readonly<Record<string, unknown>>;
  /** The instance that sent it (the tunnel id, when configured). */
  readonly source: string;
}

/**
 * Sends one alert to one webhook. Implementations must resolve only when the receiver accepted
 * it (HTTP 2xx) and reject otherwise; must give up within their own timeout; must never put
 * the webhook URL (a credential) in an error message or a log.
 */
export interface AlertTransport {
  send(webhook: AlertWebhook, alert: AlertEvent): Promise<void>;
}

export interface AlertServiceOptions {
  readonly webhooks: readonly AlertWebhook[];
  readonly transport: AlertTransport;
  readonly clock: Clock;
  readonly logger?: Logger;
  /** Attempts after the first. @default 5 */
  readonly retries?: number;
  /** First retry wait, doubling up to `maxBackoffMs`. @default 1000 */
  readonly initialBackoffMs?: number;
  /** @default 60000 */
  readonly maxBackoffMs?: number;
  /** Who sends (goes into each alert's `source`). @default 'tunnel-manager' */
  readonly source?: string;
  /** Called once per delivery that failed for good (after its retries), for `/metrics`. */
  readonly onDeliveryFailure?: (webhook: string, event: AlertEventKind) => void;
  /** Called once per delivered alert. */
  readonly onDelivered?: (webhook: string, event: AlertEventKind) => void;
}

/** Events that open an incident, and the event that closes it (if any). */
type IncidentKind = Exclude<AlertEventKind, 'tunnel.recovered' | 'test'>;

interface Incident {
  readonly openedAt: number;
}

/**
 * Turns what the daemon observes into alerts, once per incident: `raise(kind, subject)` alerts
 * only when no incident of that kind and subject is open, `resolve(kind, subject)` closes it (a
 * closed `tunnel.down` sends `tunnel.recovered` with how long it lasted). A health check that
 * finds the tunnel down every 30 s therefore alerts once, not every 30 s.
 *
 * Delivery runs in the background, each webhook on its own, retried with backoff (1 s doubling
 * to 1 min, `retries` times); a delivery that fails for good is logged (without the URL) and
 * counted. `flush()` waits for deliveries under way (tests, shutdown).
 */
export class AlertService {
  readonly #options: AlertServiceOptions;
  readonly #logger: Logger;
  readonly #open = new Map<string, Incident>();
  readonly #inFlight = new Set<Promise<void>>();
  #closed = false;

  constructor(options: AlertServiceOptions) {
    this.#options = options;
    this.#logger = options.logger ?? new NoopLogger();
  }

  /** Whether an incident of this kind (and subject) is open. */
  isOpen(kind: IncidentKind, subject: string | null = null): boolean {
    return this.#open.has(key(kind, subject));
  }

  /** Opens an incident and alerts, unless one of this kind and subject is already open. */
  raise(
    kind: IncidentKind,
    summary: string,
    options: { subject?: string | null; severity?: 'critical' | 'warning'; details?: Record<string, unknown> } = {},
  ): boolean {
    const subject = options.subject ?? null;
    const k = key(kind, subject);
    if (this.#open.has(k)) return false;
    this.#open.set(k, { openedAt: this.#options.clock.now() });
    this.#emit({
      event: kind,
      severity:
        options.severity ?? (kind === 'tunnel.down' || kind === 'database.unreachable' ? 'critical' : 'warning'),
      summary,
      subject,
      ...(options.details ? { details: options.details } : {}),
    });
    return true;
  }

  /**
   * Closes the incident, if one is open. Closing `tunnel.down` sends `tunnel.recovered` with
   * how long the tunnel was down; other incidents close quietly (the next one alerts again).
   */
  resolve(kind: IncidentKind, subject: string | null = null, summary?: string): boolean {
    const k = key(kind, subject);
    const incident = this.#open.get(k);
    if (!incident) return false;
    this.#open.delete(k);
    if (kind === 'tunnel.down') {
      const downForMs = Math.max(0, this.#options.clock.now() - incident.openedAt);
      this.#emit({
        event: 'tunnel.recovered',
        severity: 'resolved',
        summary: summary ?? `The tunnel is serving again after ${formatDuration(downForMs)} down.`,
        subject,
        downForMs,
      });
    }
    return true;
  }

  /** Sends a `test` event to every webhook now; resolves with each webhook's outcome (no retries). */
  async sendTest(): Promise<Array<{ webhook: string; ok: boolean; error?: string }>> {
    const alert = this.#build({
      event: 'test',
      severity: 'warning',
      summary: 'Test alert from tunnel-manager: this webhook receives its alerts.',
      subject: null,
    });
    return Promise.all(
      this.#options.webhooks.map(async (hook) => {
        try {
          await this.#options.transport.send(hook, alert);
          return { webhook: hook.name, ok: true };
        } catch (error) {
          return { webhook: hook.name, ok: false, error: (error as Error).message };
        }
      }),
    );
  }

  /** Waits for the deliveries under way. */
  async flush(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight);
  }

  /** Stops retrying (pending retries give up at their next attempt) and waits for what runs. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  #build(input: Omit<AlertEvent, 'at' | 'source'>): AlertEvent {
    return {
      ...input,
      at: new Date(this.#options.clock.now()).toISOString(),
      source: this.#options.source ?? 'tunnel-manager',
    };
  }

  #emit(input: Omit<AlertEvent, 'at' | 'source'>): void {
    const alert = this.#build(input);
    this.#logger.warn('alert', { event: alert.event, summary: alert.summary, subject: alert.subject });
    for (const hook of this.#options.webhooks) {
      if (!hook.events.has(alert.event)) continue;
      const delivery = this.#deliver(hook, alert);
      this.#inFlight.add(delivery);
      void delivery.finally(() => this.#inFlight.delete(delivery));
    }
  }

  async #deliver(hook: AlertWebhook, alert: AlertEvent): Promise<void> {
    const retries = this.#options.retries ?? 5;
    let lastError = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        if (this.#closed) break;
        const wait = backoffDelay(attempt, {
          initialMs: this.#options.initialBackoffMs ?? 1_000,
          maxMs: this.#options.maxBackoffMs ?? 60_000,
        });
        await this.#options.clock.sleep(wait);
      }
      try {
        await this.#options.transport.send(hook, alert);
        this.#options.onDelivered?.(hook.name, alert.event);
        return;
      } catch (error) {
        lastError = (error as Error).message;
        this.#logger.debug('alert delivery attempt failed', {
          webhook: hook.name,
          event: alert.event,
          attempt,
          error: lastError,
        });
      }
    }
    this.#logger.warn('alert delivery failed', {
      webhook: hook.name,
      event: alert.event,
      attempts: retries + 1,
      error: lastError,
    });
    this.#options.onDeliveryFailure?.(hook.name, alert.event);
  }
}

const key = (kind: string, subject: string | null) => `${kind}\u0000${subject ?? ''}`;

/** `400 ms`, `4 s`, `3 min 5 s`, `2 h 1 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min${s % 60 ? ` ${s % 60} s` : ''}`;
  return `${Math.floor(m / 60)} h${m % 60 ? ` ${m % 60} min` : ''}`;
}
