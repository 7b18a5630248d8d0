import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { TunnelError } from '../errors.js';
import { Secret } from '../runtime/secret.js';

/** What an operator can be alerted about. */
export const ALERT_EVENTS = [
  'tunnel.down',
  'tunnel.recovered',
  'restart.backoff_max',
  'route.failed',
  'reconcile.drift',
  'api.rate_limited',
  'database.unreachable',
  'test',
] as const;
export type AlertEventKind = (typeof ALERT_EVENTS)[number];

const webhookSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/ })
      .transform((value) => new Secret(value))
      .optional()
      .describe('The webhook URL (it holds a credential: prefer `urlFile` or `urlEnv`). Never logged.'),
    urlFile: z.string().min(1).optional().describe('A file holding the webhook URL (read at start).'),
    urlEnv: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name')
      .optional()
      .describe('An environment variable holding the webhook URL (read at start).'),
    events: z
      .array(z.enum(ALERT_EVENTS))
      .min(1)
      .optional()
      .describe('The events sent to this webhook. @default every event'),
    format: z
      .enum(['json', 'slack'])
      .default('json')
      .describe('`json`: the event as a JSON object; `slack`: a Slack incoming-webhook message (`{"text": …}`).'),
  })
  .refine((w) => [w.url, w.urlFile, w.urlEnv].filter((v) => v !== undefined).length === 1, {
    message: 'give exactly one of url, urlFile, urlEnv',
  });

export const alertsSchema = z
  .strictObject({
    webhooks: z.array(webhookSchema).max(20).default([]).describe('Where alerts go.'),
    retries: z
      .number()
      .int()
      .min(0)
      .max(20)
      .default(5)
      .describe('Delivery attempts after the first, with backoff (1 s doubling to 1 min).'),
  })
  .describe(
    'Alerts to webhooks: tunnel down/recovered, restart backoff at its maximum, a route failed, reconcile drift, API rate limits, database unreachable. Each once per incident.',
  );

export type AlertsConfig = z.output<typeof alertsSchema>;
export type WebhookConfig = AlertsConfig['webhooks'][number];

/** A webhook ready for delivery: its URL read (a Secret), its events and format. */
export interface AlertWebhook {
  /** For logs and metrics: `webhook-<n>` (never the URL). */
  readonly name: string;
  readonly url: Secret;
  readonly events: ReadonlySet<AlertEventKind>;
  readonly format: 'json' | 'slack';
}

/** Reads each webhook's URL (from the config, its file or its env var). @throws CONFIG_INVALID */
export function resolveWebhooks(
  config: AlertsConfig,
  env: Readonly<Record<string, string | undefined>>,
): AlertWebhook[] {
  return config.webhooks.map((hook, index) => {
    const name = `webhook-${index + 1}`;
    const where = `alerts.webhooks[${index}]`;
    let raw: string | undefined;
    if (hook.url) raw = hook.url.reveal();
    else if (hook.urlFile) {
      try {
        raw = readFileSync(hook.urlFile, 'utf8').trim();
      } catch (error) {
        throw new TunnelError(
          'CONFIG_INVALID',
          `Cannot read ${where}.urlFile ${hook.urlFile}: ${(error as Error).message}.`,
          {
            hint: 'Create the file with the webhook URL on one line (mode 0600), or fix the path.',
          },
        );
      }
    } else if (hook.urlEnv) raw = env[hook.urlEnv]?.trim();
    if (!raw) {
      throw new TunnelError(
        'CONFIG_INVALID',
        `${where} has no URL (${hook.urlEnv ? `$${hook.urlEnv} is empty` : 'empty'}).`,
        {
          hint: 'Give the webhook URL in url, urlFile or urlEnv.',
        },
      );
    }
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      // The value is a credential: the message does not repeat it.
      throw new TunnelError('CONFIG_INVALID', `${where}: the URL is not a valid URL.`, {
        hint: 'Give a full https:// (or http://) URL.',
      });
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new TunnelError('CONFIG_INVALID', `${where}: the URL must be http(s), got ${parsed.protocol}.`, {
        hint: 'Give a full https:// URL.',
      });
    }
    return {
      name,
      url: new Secret(raw),
      events: new Set(hook.events ?? ALERT_EVENTS),
      format: hook.format,
    };
  });
}
