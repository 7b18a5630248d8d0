import type { AlertEvent } from './alert-service.js';

const ICON: Record<AlertEvent['severity'], string> = {
  critical: ':red_circle:',
  warning: ':warning:',
  resolved: ':large_green_circle:',
};

/** The body a webhook gets: the event itself (`json`), or a Slack incoming-webhook message. */
export function alertBody(alert: AlertEvent, format: 'json' | 'slack'): Record<string, unknown> {
  if (format === 'json') return { ...alert };
  return {
    text: `${ICON[alert.severity]} *${alert.event}* ${alert.summary}${alert.subject ? ` (${alert.subject})` : ''} — ${alert.source}, ${alert.at}`,
  };
}
