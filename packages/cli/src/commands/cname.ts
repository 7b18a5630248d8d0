import type { CnameRequest, CnameRoute, ServiceScheme } from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { formatTime } from '../output.js';
import type { CnameAddOptions, CnameListOptions, CnameRemoveOptions } from '../program.js';
import { openManager, operator } from './shared.js';

/** `tunnel cname add <hostname> --port N [--container C] [--project P] [--adopt] [--dry-run]` */
export async function cnameAdd(cx: CommandContext, hostname: string, opts: CnameAddOptions): Promise<number> {
  const manager = await openManager(cx, 'all');
  const request: CnameRequest = {
    hostname,
    service: {
      port: opts.port,
      scheme: opts.scheme as ServiceScheme,
      ...(opts.container ? { container: opts.container } : {}),
    },
    ...(opts.project ? { project: opts.project } : {}),
    ...(opts.adopt ? { adopt: true } : {}),
    ...(opts.fromInstance ? { fromInstance: opts.fromInstance } : {}),
    ...(opts.dryRun ? { dryRun: true } : {}),
  };
  const result = await manager.requestCname(operator(), request);
  const { out } = cx;
  if (out.json) {
    out.data(result);
    return 0;
  }
  if (result.outcome === 'planned') {
    out.line(`Plan for ${result.route.hostname} (nothing was changed):`);
    for (const step of result.steps) out.line(`  - ${step.summary}`);
    return 0;
  }
  const verb = { created: 'published', updated: 'updated', unchanged: 'already published', planned: 'planned' }[
    result.outcome
  ];
  out.line(out.ok(`${verb} ${result.publicUrl} → ${result.target}`));
  out.line(`  ${out.c.dim('owner')}   ${result.route.owner}`);
  out.line(`  ${out.c.dim('target')}  ${result.targetReason}`);
  if (result.restartPending)
    out.line(out.c.yellow('  cloudflared has not been restarted yet; the daemon will apply the rule.'));
  return 0;
}

/** `tunnel cname rm <hostname> [--restore-replaced]` */
export async function cnameRemove(
  cx: CommandContext,
  hostname: string,
  opts: CnameRemoveOptions = {},
): Promise<number> {
  const manager = await openManager(cx, 'dns');
  const result = await manager.deleteCname(operator(), hostname, opts.restoreReplaced ? { restoreReplaced: true } : {});
  const { out } = cx;
  if (out.json) out.data(result);
  else {
    out.line(out.ok(`removed ${result.hostname}: its CNAME and ingress rule are gone`));
    for (const record of result.restored ?? []) out.line(out.ok(`restored ${record}`));
    if (result.restartPending)
      out.line(out.c.yellow('  cloudflared has not been restarted yet; the daemon will apply it.'));
  }
  return 0;
}

const stateColour = (cx: CommandContext, route: CnameRoute) =>
  route.state === 'active'
    ? cx.out.c.green(route.state)
    : route.state === 'failed'
      ? cx.out.c.red(route.state)
      : cx.out.c.yellow(route.state);

/** `tunnel cname ls [--project P] [--state S…] [--zone Z]` */
export async function cnameList(cx: CommandContext, opts: CnameListOptions): Promise<number> {
  const manager = await openManager(cx, 'store');
  const routes = await manager.listCnames(operator(), {
    ...(opts.project ? { project: opts.project } : {}),
    ...(opts.state ? { states: opts.state as CnameRoute['state'][] } : {}),
    ...(opts.zone ? { zone: opts.zone } : {}),
  });
  const { out } = cx;
  if (out.json) {
    out.data({ routes });
    return 0;
  }
  if (routes.length === 0) {
    out.line(out.c.dim('No routes. Publish one with `tunnel cname add <hostname> --port <port>`.'));
    return 0;
  }
  out.table(
    [{ header: 'HOSTNAME' }, { header: 'OWNER' }, { header: 'STATE' }, { header: 'TARGET' }, { header: 'UPDATED' }],
    routes.map((r) => [r.hostname, r.owner, stateColour(cx, r), r.target, formatTime(r.updatedAt)]),
  );
  for (const r of routes.filter((route) => route.state === 'failed' && route.lastError)) {
    out.note(`${out.c.red(r.hostname)}: ${r.lastError?.message} [${r.lastError?.code}]`);
  }
  return 0;
}
