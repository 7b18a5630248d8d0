import type { AlertEvent, AlertTransport } from './alert-service.js';
import type { AlertWebhook } from './config.js';
import { alertBody } from './format.js';

/**
 * Delivers alerts with an HTTP POST (Node's built-in fetch): JSON body, a timeout per request,
 * success on 2xx only. Errors name the webhook and the HTTP status, never the URL (it usually
 * carries a token).
 */
export class WebhookAlertTransport implements AlertTransport {
  readonly #timeoutMs: number;

  /** @param options.timeoutMs per request. @default 5000 */
  constructor(options: { timeoutMs?: number } = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5_000;
  }

  async send(webhook: AlertWebhook, alert: AlertEvent): Promise<void> {
    let response: Response;
    try {
      response = await fetch(webhook.url.reveal(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'tunnel-manager-alerts' },
        body: JSON.stringify(alertBody(alert, webhook.format)),
        signal: AbortSignal.timeout(this.#timeoutMs),
        redirect: 'error',
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).name;
      throw new Error(`${webhook.name}: the request failed (${cause})`);
    }
    // Drain the body so the connection is reused or closed.
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`${webhook.name}: the receiver answered HTTP ${response.status}`);
  }
}
