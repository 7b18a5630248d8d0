import type { CommandContext } from '../context.js';
import { formatTime } from '../output.js';
import { openManager, operator } from './shared.js';

/** `tunnel domains ls [--refresh]` */
export async function domainsList(cx: CommandContext, opts: { refresh?: boolean }): Promise<number> {
  const manager = await openManager(cx, 'dns');
  const domains = await manager.listDomains(operator(), { refresh: Boolean(opts.refresh) });
  const { out } = cx;
  if (out.json) {
    out.data({ domains });
    return 0;
  }
  if (domains.length === 0) {
    out.line(out.c.dim('The API token sees no zone. Add zones to its Zone Resources in the Cloudflare dashboard.'));
    return 0;
  }
  out.table(
    [{ header: 'ZONE' }, { header: 'STATUS' }, { header: 'USABLE' }, { header: 'REFRESHED' }],
    domains.map((d) => [
      d.name,
      d.status,
      d.usable ? out.c.green('yes') : `${out.c.red('no')} ${out.c.dim(d.reason ?? '')}`,
      formatTime(d.refreshedAt),
    ]),
  );
  return 0;
}
