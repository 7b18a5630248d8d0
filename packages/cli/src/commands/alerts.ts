import { AlertService, resolveWebhooks, SystemClock, TunnelError, WebhookAlertTransport } from '@tunnel/core';
import type { CommandContext } from '../context.js';

/** `tunnel alerts test`: one `test` event to each webhook, no retries; fails when any delivery fails. */
export async function alertsTest(cx: CommandContext): Promise<number> {
  const config = await cx.config();
  const webhooks = resolveWebhooks(config.alerts, cx.io.env);
  if (webhooks.length === 0) {
    throw new TunnelError('CONFIG_INVALID', 'No alert webhook is configured.', {
      hint: 'Add alerts.webhooks: [{ urlFile: /etc/tunnel-manager/alert-url, format: slack }] to the configuration.',
    });
  }
  const service = new AlertService({
    webhooks,
    transport: new WebhookAlertTransport(),
    clock: new SystemClock(),
    source: config.cloudflare.tunnelId ?? 'tunnel-manager',
  });
  const results = await service.sendTest();
  const { out } = cx;
  if (out.json) out.data({ ok: results.every((r) => r.ok), webhooks: results });
  else {
    for (const r of results) {
      out.line(r.ok ? `${out.c.green('✓')} ${r.webhook}: delivered` : `${out.c.red('✗')} ${r.webhook}: ${r.error}`);
    }
  }
  if (results.every((r) => r.ok)) return 0;
  throw new TunnelError(
    'PROVIDER_UNAVAILABLE',
    `${results.filter((r) => !r.ok).length} of ${results.length} webhook(s) did not accept the test alert.`,
    {
      hint: 'Check the webhook URL (urlFile / urlEnv) and that the receiver is reachable from this VM.',
    },
  );
}
