import type { RouteState } from '../domain/route.js';
import type { Clock } from '../ports/clock.js';
import type { StateStore } from '../ports/state-store.js';
import { AUDIT_ACTIONS, type AuditTrail } from './audit.js';
import type { MutationLock } from './mutation-lock.js';
import type { CnamePipeline, RestartRequester } from './pipeline.js';

/** One route recovery looked at. */
export interface RecoveredRoute {
  readonly id: string;
  readonly hostname: string;
  readonly owner: string;
  /** The state the crash left it in. */
  readonly from: RouteState;
  /** Where it is now: `failed` (rolled back), `deleted` (finished), or `from` when recovery could not proceed. */
  readonly to: RouteState;
  /** Why it could not proceed (the provider was unreachable…); empty when it did. */
  readonly problems: readonly string[];
}

export interface RecoverReport {
  readonly routes: readonly RecoveredRoute[];
  /** A restart was queued for rules that recovery removed. */
  readonly restartPending: boolean;
}

export interface RecoverDeps {
  readonly store: Pick<StateStore, 'routes'>;
  readonly lock: MutationLock;
  readonly pipeline: CnamePipeline;
  readonly audit: AuditTrail;
  readonly restarts: RestartRequester;
  readonly clock: Clock;
  /** The non-final states. */
  readonly states: readonly RouteState[];
}

/**
 * Recovers every route a crashed pipeline left in a non-final state, under the mutation lock (so
 * no pipeline of a live process is mid-way). Routes whose recovery fails keep their state and are
 * reported; the next run retries them.
 */
export async function recoverRoutes(deps: RecoverDeps): Promise<RecoverReport> {
  return deps.lock.run(async (guard) => {
    const stuck = await deps.store.routes.list({ states: deps.states });
    const routes: RecoveredRoute[] = [];
    let rulesChanged = false;
    for (const route of stuck) {
      const startedAt = deps.clock.now();
      const { route: after, problems, error } = await deps.pipeline.recoverRoute(route, guard);
      if (route.state === 'ingress_written' || route.state === 'dns_created') rulesChanged ||= problems.length === 0;
      routes.push({
        id: route.id,
        hostname: route.hostname,
        owner: route.owner,
        from: route.state,
        to: after.state,
        problems,
      });
      await deps.audit.record({
        actor: 'system',
        project: route.owner,
        action: AUDIT_ACTIONS.recover,
        target: route.hostname,
        params: { routeId: route.id, from: route.state, to: after.state, ...(problems.length > 0 ? { problems } : {}) },
        startedAt,
        ...(error ? { error } : { message: after.state === 'failed' ? 'rolled back' : 'delete finished' }),
      });
    }
    let restartPending = false;
    if (rulesChanged && deps.restarts.restartNeeded) {
      const queued = await deps.restarts.requestRestart({
        reason: 'ingress rules rolled back after a crash',
        requestedBy: 'system',
        wait: false,
      });
      restartPending = queued.pending;
    }
    return { routes, restartPending };
  });
}
