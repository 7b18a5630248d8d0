import type { ReconcileApplyResult, ReconcilePlan } from '@tunnel/core';
import type { CommandContext } from '../context.js';
import { FAMILY_EXIT_CODES } from '../exit-codes.js';
import { openManager, operator } from './shared.js';

/** Changes at or above which a terminal gets a progress bar while applying. */
const PROGRESS_BAR_FROM = 5;

/**
 * `tunnel reconcile [--apply] [--force]`: prints the plan (the differences between the
 * database, DNS and the ingress rules); with `--apply` makes the changes, with a progress bar on
 * a terminal. A plan that deletes more than the threshold needs `--force` (POLICY_DENIED).
 */
export async function reconcile(cx: CommandContext, opts: { apply?: boolean; force?: boolean }): Promise<number> {
  const manager = await openManager(cx, 'dns');
  const plan: ReconcilePlan = await manager.reconcilePlan(operator());
  const { out } = cx;
  if (!opts.apply) {
    if (out.json) out.data({ plan, applied: null });
    else printPlan(cx, plan);
    return 0;
  }
  if (plan.changes.length === 0) {
    if (out.json) out.data({ plan, applied: null });
    else {
      out.line(out.ok('database, DNS and ingress agree; nothing to apply'));
      printSiblings(cx, plan);
    }
    return 0;
  }
  if (!out.json) printPlan(cx, plan, true);
  const bar =
    !out.json && cx.io.isTTY && plan.changes.length >= PROGRESS_BAR_FROM
      ? await progressBar(plan.changes.length)
      : null;
  let result: ReconcileApplyResult;
  try {
    result = await manager.reconcileApply(plan, {
      force: Boolean(opts.force),
      actor: operator(),
      ...(bar ? { onProgress: (p) => bar.update(p.done, { change: p.change.summary.slice(0, 60) }) } : {}),
    });
  } finally {
    bar?.stop();
  }
  if (out.json) out.data({ plan, applied: result });
  else {
    for (const change of result.applied) out.line(out.ok(change.summary));
    for (const failure of result.failed)
      out.line(out.fail(`${failure.change.summary}: ${failure.message} [${failure.code}]`));
    if (result.skipped.length > 0) out.line(out.c.dim(`${result.skipped.length} changes were no longer needed.`));
    if (result.restartPending)
      out.line(out.c.yellow('cloudflared will be restarted by the daemon to apply the rules.'));
  }
  return result.failed.length === 0 ? 0 : FAMILY_EXIT_CODES.conflict;
}

/** Names other instances publish: listed under their own heading, never changed. */
function printSiblings(cx: CommandContext, plan: ReconcilePlan): void {
  const { out } = cx;
  if (plan.siblings.length === 0) return;
  const names = new Set(plan.siblings.map((s) => s.hostname)).size;
  out.line(
    `${names} name${names === 1 ? '' : 's'} on this zone ${names === 1 ? 'is' : 'are'} published by other instances (never changed here):`,
  );
  for (const sibling of plan.siblings) out.line(`  ${out.c.dim('=')} ${sibling.summary}`);
}

function printPlan(cx: CommandContext, plan: ReconcilePlan, applying = false): void {
  const { out } = cx;
  if (plan.changes.length === 0) {
    out.line(out.ok(`in sync: ${plan.managedRoutes} active routes; database, DNS and ingress agree`));
    printSiblings(cx, plan);
    return;
  }
  out.line(
    `${plan.changes.length} change${plan.changes.length === 1 ? '' : 's'} would bring database, DNS and ingress back into agreement:`,
  );
  for (const change of plan.changes) {
    const mark = change.kind === 'delete_dns' || change.kind === 'remove_rule' ? out.c.red('-') : out.c.green('+');
    out.line(`  ${mark} ${change.summary}`);
  }
  printSiblings(cx, plan);
  if (plan.deletes > plan.deleteThreshold) {
    out.line(out.c.yellow(`It deletes ${plan.deletes} (more than ${plan.deleteThreshold}): applying needs --force.`));
  }
  if (!applying) out.line(out.c.dim('Run `tunnel reconcile --apply` to make these changes.'));
}

async function progressBar(total: number): Promise<{ update(done: number, payload: object): void; stop(): void }> {
  const { default: progress } = await import('cli-progress');
  const bar = new progress.SingleBar(
    { format: 'applying [{bar}] {value}/{total} {change}', stream: process.stderr, hideCursor: true },
    progress.Presets.shades_classic,
  );
  bar.start(total, 0, { change: '' });
  return bar;
}
