import type { HealthStatus, StatusReport } from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { formatDuration, formatTime, type Output } from '../output.js';
import { openManager, operator } from './shared.js';

function colourStatus(out: Output, status: HealthStatus | 'unknown'): string {
  if (status === 'healthy') return out.c.green(status);
  if (status === 'degraded') return out.c.yellow(status);
  if (status === 'down') return out.c.red(status);
  return out.c.dim(status);
}

/** `tunnel status`: from the database only (the daemon's samples), so it answers without the network. */
export async function status(cx: CommandContext): Promise<number> {
  const manager = await openManager(cx, 'store');
  const report: StatusReport = await manager.getStatus(operator());
  const { out } = cx;
  if (out.json) {
    out.data(report);
    return 0;
  }
  const { tunnel } = report;
  const row = (label: string, value: string) => out.line(`${out.c.dim(label.padEnd(14))}${value}`);
  const facts = [
    tunnel.readyConnections === null ? null : `${tunnel.readyConnections} connections`,
    tunnel.processState === 'unknown' ? null : `process ${tunnel.processState}`,
    tunnel.apiStatus ? `API ${tunnel.apiStatus}` : null,
  ].filter(Boolean);
  const ago =
    tunnel.lastCheckAt === null
      ? ''
      : out.c.dim(` checked ${formatDuration(Math.max(0, Date.now() - tunnel.lastCheckAt))} ago`);
  row('instance', report.instance ?? out.c.dim('not set (no instance.id and no cloudflare.tunnelId)'));
  row('tunnel', `${colourStatus(out, tunnel.status)}${facts.length ? ` (${facts.join(', ')})` : ''}${ago}`);
  if (tunnel.detail) row('', out.c.dim(tunnel.detail));
  const last = report.lastRestart;
  row(
    'last restart',
    last
      ? `${formatTime(last.at)} ${last.outcome === 'ok' ? out.c.green('ok') : out.c.red('failed')} in ${formatDuration(last.durationMs)}: ${last.reason}`
      : out.c.dim('none recorded'),
  );
  if (report.restartPending) row('', out.c.yellow('a restart is pending (the daemon applies queued ingress changes)'));
  const counts = Object.entries(report.routes).filter(([state, n]) => n > 0 && state !== 'deleted');
  row('routes', counts.length ? counts.map(([state, n]) => `${n} ${state}`).join(', ') : out.c.dim('none'));
  row(
    'domains',
    report.domains.length
      ? report.domains.map((d) => (d.status === 'active' ? d.name : `${d.name} (${d.status})`)).join(', ')
      : out.c.dim('none discovered yet (`tunnel domains ls --refresh`)'),
  );
  if (report.labelProblems.length > 0) {
    row('labels', out.c.yellow(`${report.labelProblems.length} container(s) not published from their labels`));
    for (const p of report.labelProblems) {
      out.line(
        `  ${out.c.red(p.containerName)} [${p.code}] ${p.message} ${out.c.dim(`(${p.count}×, since ${formatTime(p.firstSeen)})`)}`,
      );
    }
  }
  return 0;
}
