import type { CommandContext } from '../context.js';
import { formatDuration, formatTime } from '../output.js';
import type { AuditOptions } from '../program.js';
import { openManager, operator } from './shared.js';

/** `tunnel audit [--project] [--since] [--action] [--actor] [--target] [--limit]` */
export async function audit(cx: CommandContext, opts: AuditOptions): Promise<number> {
  const manager = await openManager(cx, 'store');
  const entries = await manager.queryAudit(operator(), {
    ...(opts.project ? { project: opts.project } : {}),
    ...(opts.since !== undefined ? { since: opts.since } : {}),
    ...(opts.action ? { action: opts.action } : {}),
    ...(opts.actor ? { actor: opts.actor } : {}),
    ...(opts.target ? { target: opts.target } : {}),
    limit: opts.limit,
  });
  const { out } = cx;
  if (out.json) {
    out.data({ entries });
    return 0;
  }
  if (entries.length === 0) {
    out.line(out.c.dim('No audit entries match.'));
    return 0;
  }
  out.table(
    [
      { header: 'TIME' },
      { header: 'ACTOR' },
      { header: 'ACTION' },
      { header: 'TARGET' },
      { header: 'OUTCOME' },
      { header: 'TOOK', align: 'right' },
      { header: 'DETAIL' },
    ],
    entries.map((e) => [
      formatTime(e.at),
      e.actor,
      e.action,
      e.target ?? '',
      e.outcome === 'ok' ? out.c.green('ok') : out.c.red(e.errorCode ?? 'error'),
      formatDuration(e.durationMs),
      e.message ?? '',
    ]),
  );
  return 0;
}
