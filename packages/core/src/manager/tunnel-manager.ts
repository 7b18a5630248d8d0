import { randomUUID } from 'node:crypto';
import type { DependencyContainer } from 'tsyringe';
import { instanceIdOf, type TunnelConfig } from '../config/schema.js';
import { Actor, ADMIN_OWNER, parseProjectName } from '../domain/actor.js';
import type { AuditEntry, AuditQuery } from '../domain/audit.js';
import type { Domain } from '../domain/domain.js';
import { Hostname } from '../domain/hostname.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { type CnameRoute, FINAL_ROUTE_STATES, isRouteState, ROUTE_STATES, type RouteState } from '../domain/route.js';
import { TunnelError, toTunnelError } from '../errors.js';
import { RESTART_AUDIT_ACTION } from '../health/restart-manager.js';
import type { HealthServices } from '../health/services.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
import type { Clock } from '../ports/clock.js';
import type { DnsProvider, DnsRecord } from '../ports/dns-provider.js';
import type { Logger } from '../ports/logger.js';
import type { StateStore } from '../ports/state-store.js';
import type { Topology } from '../ports/topology.js';
import { NoopLogger } from '../runtime/loggers.js';
import { SystemClock } from '../runtime/system-clock.js';
import type { TargetSelection } from '../topology/target-selector.js';
import type {
  CnameListFilter,
  CnameRequest,
  CnameResult,
  DeleteOptions,
  DeleteResult,
  DomainView,
  PlannedStep,
  RestartInfo,
  StatusReport,
  TunnelManagerApi,
} from './api.js';
import { AUDIT_ACTIONS, AuditTrail } from './audit.js';
import { parseActor, type ValidatedCnameRequest, validateCnameRequest } from './cname-request.js';
import { type DecideDeps, type Decision, decide, plannedSteps } from './decision.js';
import { DomainService } from './domain-service.js';
import { HostnamePolicy } from './hostname-policy.js';
import { type LockGuard, MutationLock } from './mutation-lock.js';
import { CnamePipeline, type PipelineHooks, type PipelineOutcome, type RestartRequester } from './pipeline.js';
import { type ReconcileApplyOptions, type ReconcileApplyResult, type ReconcilePlan, Reconciler } from './reconciler.js';
import { type RecoverReport, recoverRoutes } from './recover.js';
import { parseRoutePath } from './route-options.js';
import { selectServiceTarget } from './service-target.js';

export interface TunnelManagerDeps {
  readonly config: TunnelConfig;
  readonly store: StateStore;
  /** The DNS provider, or a factory resolved on first use (reads need no credentials). */
  readonly dns: DnsProvider | (() => DnsProvider);
  readonly ingress: IngressManager;
  /** The RestartCoordinator (or anything that queues restarts like it). */
  readonly restarts: RestartRequester;
  /** null when no Topology is registered (see `docker.enabled`). */
  readonly topology: Topology | null;
  /** @default SystemClock */
  readonly clock?: Clock;
  /** @default NoopLogger */
  readonly logger?: Logger;
  readonly hooks?: PipelineHooks;
  /** @default a MutationLock on `<dataDir>/mutation.lock` from `config.locks` */
  readonly lock?: MutationLock;
  /** Set by `createTunnelManager`: the container it built. */
  readonly container?: DependencyContainer | null;
  /** Set by `createTunnelManager`: the health services (the daemon starts them). */
  readonly health?: HealthServices | null;
  /** Set by `createTunnelManager`: releases what it built. */
  readonly onClose?: () => Promise<void>;
}

/** Restart results after the lock is released. */
interface Settled {
  readonly restartPending: boolean;
  readonly restartDetail?: string;
}

/** The states of a pipeline that was (or is) under way. */
const PIPELINE_STATES = ROUTE_STATES.filter((s) => !FINAL_ROUTE_STATES.has(s));

const describeActor = (input: unknown): string => {
  try {
    return Actor.describe(parseActor(input));
  } catch {
    return 'invalid-actor';
  }
};

/** A replaced record for the audit: `A app.example.com 192.0.2.1 (proxied, ttl 1, comment "…")`. */
const describeRecord = (r: DnsRecord): string =>
  `${r.type} ${r.name} ${r.content} (${r.proxied ? 'proxied' : 'not proxied'}, ttl ${r.ttl}${
    r.comment ? `, comment ${JSON.stringify(r.comment)}` : ''
  })`;

/** The project an actor names, for the audit of a call that failed before validation finished. */
const projectOf = (input: unknown): string | null => {
  try {
    const actor = parseActor(input);
    return actor.kind === 'project' ? actor.project : null;
  } catch {
    return null;
  }
};

/**
 * The façade every front-end uses (see {@link TunnelManagerApi}). Each mutation validates its
 * input completely before touching anything, runs its checks that depend on shared state and its
 * pipeline under the cross-process {@link MutationLock}, waits for a cloudflared restart (when
 * configured) only after releasing it, and writes one audit entry whatever the outcome.
 *
 * Build it with `createTunnelManager` (which wires the ports from the configuration), or with
 * `new` and explicit ports in tests.
 */
export class TunnelManager implements TunnelManagerApi {
  /** The DI container `createTunnelManager` built; null when constructed directly. */
  readonly container: DependencyContainer | null;
  /** Health services (`createTunnelManager`): the daemon starts them; clients use only the coordinator. */
  readonly health: HealthServices | null;
  readonly #config: TunnelConfig;
  readonly #store: StateStore;
  readonly #dns: () => DnsProvider;
  readonly #ingress: IngressManager;
  readonly #restarts: RestartRequester;
  readonly #topology: Topology | null;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #lock: MutationLock;
  readonly #audit: AuditTrail;
  readonly #domains: DomainService;
  readonly #policy: HostnamePolicy;
  readonly #pipeline: CnamePipeline;
  readonly #reconciler: Reconciler;
  readonly #onClose: (() => Promise<void>) | null;
  #closed: Promise<void> | null = null;
  #marksUpgraded = false;

  constructor(deps: TunnelManagerDeps) {
    this.#config = deps.config;
    this.#store = deps.store;
    const dns = deps.dns;
    let resolved: DnsProvider | null = typeof dns === 'function' ? null : dns;
    this.#dns = () => {
      resolved ??= (dns as () => DnsProvider)();
      return resolved;
    };
    this.#ingress = deps.ingress;
    this.#restarts = deps.restarts;
    this.#topology = deps.topology;
    this.#clock = deps.clock ?? new SystemClock();
    this.#logger = (deps.logger ?? new NoopLogger()).child({ component: 'tunnel-manager' });
    this.#lock =
      deps.lock ??
      new MutationLock({
        dataDir: deps.config.dataDir,
        staleMs: deps.config.locks.staleMs,
        timeoutMs: deps.config.locks.mutationTimeoutMs,
        clock: this.#clock,
        logger: this.#logger,
      });
    this.#audit = new AuditTrail(deps.store, this.#clock, this.#logger);
    this.#domains = new DomainService({
      store: deps.store,
      dns: this.#dns,
      clock: this.#clock,
      refreshIntervalMs: deps.config.cloudflare.zoneRefreshIntervalMs,
    });
    this.#policy = new HostnamePolicy(deps.config.policy);
    this.#pipeline = new CnamePipeline({
      store: deps.store,
      dns: this.#dns,
      ingress: deps.ingress,
      restarts: deps.restarts,
      audit: this.#audit,
      clock: this.#clock,
      logger: this.#logger,
      hooks: deps.hooks ?? {},
      tunnelTarget: () => this.#tunnelTarget(),
      identity: () => this.#identity(),
    });
    this.#reconciler = new Reconciler({
      config: deps.config,
      store: deps.store,
      dns: this.#dns,
      ingress: deps.ingress,
      restarts: deps.restarts,
      audit: this.#audit,
      clock: this.#clock,
      logger: this.#logger,
      lock: this.#lock,
      domains: this.#domains,
      tunnelTarget: () => this.#tunnelTarget(),
      identity: () => this.#identity(),
    });
    this.container = deps.container ?? null;
    this.health = deps.health ?? null;
    this.#onClose = deps.onClose ?? null;
  }

  // --- mutations ---

  async requestCname(actor: Actor, request: CnameRequest): Promise<CnameResult> {
    const startedAt = this.#clock.now();
    const raw = (request ?? {}) as unknown as Record<string, unknown>;
    let owner: string | null = projectOf(actor);
    let target: string | null =
      typeof raw.hostname === 'string'
        ? raw.hostname
        : typeof raw.subdomain === 'string'
          ? `${raw.subdomain}.${String(raw.domain ?? this.#config.policy.defaultDomain ?? '')}`
          : null;
    const params: Record<string, unknown> = {
      service: raw.service,
      ...(raw.dryRun === undefined ? {} : { dryRun: raw.dryRun }),
      ...(raw.adopt === undefined ? {} : { adopt: raw.adopt }),
      ...(raw.fromInstance === undefined ? {} : { fromInstance: raw.fromInstance }),
      ...(raw.project === undefined ? {} : { project: raw.project }),
      ...(raw.path === undefined ? {} : { path: raw.path }),
      ...(raw.fromPath === undefined ? {} : { fromPath: raw.fromPath }),
      ...(raw.originRequest === undefined ? {} : { originRequest: raw.originRequest }),
    };
    const dryRun = raw.dryRun === true;
    try {
      const v = validateCnameRequest(actor, request, this.#config.policy.defaultDomain, {
        caPoolDirs: this.#config.policy.caPoolDirs ?? [],
      });
      owner = v.owner;
      target = v.hostname.value;
      const zone = await this.#domains.zoneFor(v.hostname);
      this.#policy.assertAllowed(v.actor, v.hostname, zone);
      this.#tunnelTarget();
      const selection = await selectServiceTarget(v, {
        topology: this.#topology,
        config: this.#config,
        clock: this.#clock,
      });
      if (v.dryRun) return await this.#plan(v, zone, selection, startedAt);

      const done = await this.#lock.run(async (guard) => {
        await this.#upgradeMarksOnce(guard);
        const decision = await decide(this.#decideDeps, v, zone, selection, guard);
        return { decision, outcome: await this.#execute(v, zone, selection, decision, guard) };
      });
      const { decision, outcome } = done;
      const settled =
        decision.kind === 'unchanged'
          ? { restartPending: (await this.#store.restarts.pending()) > 0 }
          : await this.#settleRestart(outcome);
      const result: CnameResult = {
        route: outcome.route,
        publicUrl: `https://${v.hostname.value}`,
        target: outcome.route.target,
        targetReason: outcome.route.targetReason,
        outcome: decision.kind === 'create' ? 'created' : decision.kind === 'retarget' ? 'updated' : 'unchanged',
        restartPending: settled.restartPending,
        ...(settled.restartDetail ? { restartDetail: settled.restartDetail } : {}),
        steps: this.#steps(v, selection, decision),
        durationMs: Math.max(0, this.#clock.now() - startedAt),
      };
      await this.#audit.record({
        actor: Actor.describe(v.actor),
        project: v.owner,
        action: AUDIT_ACTIONS.request,
        target: v.hostname.value,
        params: {
          ...params,
          outcome: result.outcome,
          target: result.target,
          restartPending: result.restartPending,
          ...(decision.kind === 'create' && decision.replace.length > 0
            ? { replaced: decision.replace.map(describeRecord) }
            : {}),
        },
        startedAt,
        message:
          decision.kind === 'create' && decision.replace.length > 0
            ? `${result.outcome} ${v.hostname.value}${v.path ? ` path ${v.path}` : ''} → ${result.target}, replacing ${decision.replace.map(describeRecord).join(', ')}`
            : `${result.outcome} ${v.hostname.value}${v.path ? ` path ${v.path}` : ''} → ${result.target}`,
      });
      return result;
    } catch (error) {
      const failure = toTunnelError(error);
      // A dry run is a read: it leaves no trace, failed or not.
      if (!dryRun) {
        await this.#audit.record({
          actor: describeActor(actor),
          project: owner,
          action: AUDIT_ACTIONS.request,
          target,
          params,
          startedAt,
          error: failure,
        });
      }
      throw failure;
    }
  }

  async deleteCname(actor: Actor, hostname: string, options: DeleteOptions = {}): Promise<DeleteResult> {
    const startedAt = this.#clock.now();
    let owner: string | null = projectOf(actor);
    let target: string | null = typeof hostname === 'string' ? hostname : null;
    const restoreReplaced = options?.restoreReplaced === true;
    const rawPath = options?.path;
    try {
      const a = parseActor(actor);
      const name = Hostname.parse(hostname, { allowWildcard: true });
      const path = parseRoutePath(rawPath);
      const shown = `${name.value}${path === null ? '' : ` path ${path}`}`;
      target = name.value;
      if (restoreReplaced && a.kind !== 'admin') {
        throw new TunnelError('NOT_OWNER', 'Only an admin may restore the records an adopt replaced.', {
          hint: 'Delete the route without restoreReplaced, or ask the operator.',
          details: { field: 'restoreReplaced' },
        });
      }
      const outcome = await this.#lock.run(async (guard) => {
        await this.#upgradeMarksOnce(guard);
        let route = await this.#store.routes.findLive(name.value, path);
        if (!route) {
          // One project is not told about another's paths: a name held by someone else is
          // NOT_OWNER whatever the path.
          const holder = (await this.#store.routes.listLive(name.value)).find((r) => !Actor.mayActOn(a, r.owner));
          if (holder) route = holder;
        }
        if (route && !Actor.mayActOn(a, route.owner)) {
          // Only a project can get here (an admin may act on every route), and, as for
          // HOSTNAME_TAKEN, one project is not told which other project holds a hostname.
          throw new TunnelError(
            'NOT_OWNER',
            `${name.value} belongs to another project, not ${a.kind === 'project' ? `project ${a.project}` : 'admin'}.`,
            {
              hint: 'Only the owner (or an admin) can delete it.',
              details: { hostname: name.value },
            },
          );
        }
        if (
          route &&
          (route.state === 'reserved' || route.state === 'ingress_written' || route.state === 'dns_created')
        ) {
          // Left half-created by a crash: rolling it back is the delete.
          route = (await this.#pipeline.recoverRoute(route, guard)).route;
          return { route, restart: null };
        }
        if (!route) {
          throw new TunnelError('NOT_FOUND', `There is no route for ${shown}.`, {
            hint: 'List your routes to see the names and paths you hold (a path route is deleted with its path).',
            details: { hostname: name.value, ...(path === null ? {} : { path }) },
          });
        }
        owner = route.owner;
        if (restoreReplaced) {
          // The record an adopt replaced was shared by all of the hostname's paths: it can only
          // come back when the last of them goes.
          const otherPaths = (await this.#store.routes.listLive(name.value)).filter((r) => r.id !== route.id);
          if (otherPaths.length > 0) {
            throw new TunnelError(
              'INVALID_INPUT',
              `${name.value} still has ${otherPaths.length} other path route(s) sharing its DNS record: the replaced record can only be restored with the last one.`,
              {
                hint: 'Delete the other paths first (without restoreReplaced), then this one with restoreReplaced.',
                details: { field: 'restoreReplaced', hostname: name.value, paths: otherPaths.map((r) => r.path) },
              },
            );
          }
        }
        if (restoreReplaced && (await this.#pipeline.replacedFor(route)).length === 0) {
          throw new TunnelError(
            'NOT_FOUND',
            `${name.value} replaced no record when it was created: nothing to restore.`,
            {
              hint: 'Delete it without restoreReplaced (--restore-replaced).',
              details: { hostname: name.value },
            },
          );
        }
        return this.#pipeline.delete(route, Actor.describe(a), guard, { restoreReplaced });
      });
      owner = outcome.route.owner;
      const dnsRecordDeleted = (await this.#store.routes.listLive(name.value)).length === 0;
      const settled = await this.#settleRestart(outcome);
      const result: DeleteResult = {
        hostname: name.value,
        path: outcome.route.path,
        dnsRecordDeleted,
        route: outcome.route,
        ...(outcome.restored ? { restored: outcome.restored } : {}),
        restartPending: settled.restartPending,
        ...(settled.restartDetail ? { restartDetail: settled.restartDetail } : {}),
        durationMs: Math.max(0, this.#clock.now() - startedAt),
      };
      await this.#audit.record({
        actor: Actor.describe(a),
        project: owner,
        action: AUDIT_ACTIONS.delete,
        target: name.value,
        params: {
          state: outcome.route.state,
          restartPending: result.restartPending,
          ...(outcome.restored ? { restoreReplaced: true, restored: outcome.restored } : {}),
          ...(path === null ? {} : { path }),
          dnsRecordDeleted,
        },
        startedAt,
        message:
          outcome.restored && outcome.restored.length > 0
            ? `deleted ${shown}, restoring ${outcome.restored.join(', ')}`
            : `deleted ${shown}`,
      });
      return result;
    } catch (error) {
      const failure = toTunnelError(error);
      await this.#audit.record({
        actor: describeActor(actor),
        project: owner,
        action: AUDIT_ACTIONS.delete,
        target,
        params: {
          ...(restoreReplaced ? { restoreReplaced } : {}),
          ...(rawPath === undefined ? {} : { path: rawPath }),
        },
        startedAt,
        error: failure,
      });
      throw failure;
    }
  }

  /**
   * Brings every route a crashed pipeline left behind to a final state: creates roll back to
   * `failed`, deletes roll forward to `deleted`. The daemon runs it at start; any process may,
   * under the mutation lock. Each route recovered gets a `cname.recover` audit entry.
   */
  async recover(): Promise<RecoverReport> {
    return recoverRoutes({
      store: this.#store,
      lock: this.#lock,
      pipeline: this.#pipeline,
      audit: this.#audit,
      restarts: this.#restarts,
      clock: this.#clock,
      states: PIPELINE_STATES,
    });
  }

  /** The differences between the database, the marked DNS records and the managed rules. Admin only. */
  async reconcilePlan(actor: Actor = Actor.admin()): Promise<ReconcilePlan> {
    this.#assertAdmin(actor, 'plan a reconciliation');
    return this.#reconciler.plan();
  }

  /**
   * Applies a plan (re-planned from fresh state first; only changes still needed are made).
   * Refuses with `POLICY_DENIED` when it deletes more than the threshold, unless `force`. Admin only.
   */
  async reconcileApply(
    plan: ReconcilePlan | null,
    options: ReconcileApplyOptions & { readonly actor?: Actor } = {},
  ): Promise<ReconcileApplyResult> {
    const actor = options.actor ?? Actor.admin();
    this.#assertAdmin(actor, 'apply a reconciliation');
    return this.#reconciler.apply(plan, { ...options, actorName: Actor.describe(actor) });
  }

  // --- reads ---

  async listCnames(actor: Actor, filter: CnameListFilter = {}): Promise<CnameRoute[]> {
    const a = parseActor(actor);
    const f = (filter ?? {}) as CnameListFilter;
    let owner: string | undefined;
    if (a.kind === 'project') {
      if (f.project !== undefined && f.project !== a.project) {
        throw new TunnelError('NOT_OWNER', `Project ${a.project} may list only its own routes.`, {
          hint: 'Leave "project" out.',
          details: { field: 'project' },
        });
      }
      owner = a.project;
    } else if (f.project !== undefined) {
      owner = f.project === ADMIN_OWNER ? ADMIN_OWNER : parseProjectName(f.project);
    }
    let states: RouteState[] | undefined;
    if (f.states !== undefined) {
      if (!Array.isArray(f.states) || !f.states.every(isRouteState)) {
        throw new TunnelError('INVALID_INPUT', 'Invalid route state in the filter.', {
          hint: `States are ${ROUTE_STATES.join(', ')}.`,
          details: { field: 'states' },
        });
      }
      states = [...f.states];
    }
    const zone = f.zone === undefined ? undefined : Hostname.parse(f.zone).value;
    const routes = await this.#store.routes.list({
      ...(owner === undefined ? {} : { owner }),
      ...(states === undefined ? {} : { states }),
    });
    return zone === undefined ? routes : routes.filter((r) => r.zoneName === zone);
  }

  /**
   * The zones, each marked usable or not for this caller. Reads the store; the provider is asked
   * only with `refresh: true`, or once when no zone was ever discovered.
   */
  async listDomains(actor: Actor, options: { readonly refresh?: boolean } = {}): Promise<DomainView[]> {
    const a = parseActor(actor);
    const zones = options?.refresh === true ? await this.#domains.refresh() : await this.#domains.listOrDiscover();
    return zones.map((zone) => ({ ...zone, ...this.#policy.usability(a, zone) }));
  }

  async getStatus(actor: Actor): Promise<StatusReport> {
    const a = parseActor(actor);
    const [samples, restarts, pending, counts, domains, labelProblems] = await Promise.all([
      this.#store.health.list({ limit: 20 }),
      this.#store.audit.query({ action: RESTART_AUDIT_ACTION, limit: 1 }),
      this.#store.restarts.pending(),
      a.kind === 'admin' ? this.#store.routes.countByState() : this.#ownCounts(a.project),
      this.#domains.list(),
      this.#store.labels.listProblems(),
    ]);
    const newest = samples[0];
    const last = restarts[0];
    const lastRestart: RestartInfo | null = last
      ? {
          at: last.at,
          reason: typeof last.params.reason === 'string' ? last.params.reason : (last.message ?? ''),
          outcome: last.outcome,
          durationMs: last.durationMs,
        }
      : null;
    return {
      instance: instanceIdOf(this.#config),
      tunnel: newest
        ? {
            status: newest.status,
            processState: newest.processState,
            readyConnections: newest.readyConnections,
            apiStatus: newest.apiStatus,
            lastCheckAt: newest.at,
            detail: newest.detail,
          }
        : {
            status: 'unknown',
            processState: 'unknown',
            readyConnections: null,
            apiStatus: null,
            lastCheckAt: null,
            detail: 'No health check has run yet (is the daemon running?).',
          },
      recentSamples: samples,
      lastRestart,
      restartPending: pending > 0,
      routes: counts,
      domains: domains.map((d) => ({ name: d.name, status: d.status })),
      labelProblems: a.kind === 'admin' ? labelProblems : labelProblems.filter((p) => p.project === a.project),
    };
  }

  /** Admins see every entry; a project sees the entries about its own routes (`project` = itself). */
  async queryAudit(actor: Actor, query: AuditQuery = {}): Promise<AuditEntry[]> {
    const a = parseActor(actor);
    const q = (query ?? {}) as AuditQuery;
    if (a.kind === 'admin') return this.#store.audit.query(q);
    if (q.project !== undefined && q.project !== a.project) {
      throw new TunnelError('NOT_OWNER', `Project ${a.project} may read only its own audit entries.`, {
        hint: 'Leave "project" out, or ask an admin.',
        details: { field: 'project' },
      });
    }
    return this.#store.audit.query({ ...q, project: a.project });
  }

  /** Stops what `createTunnelManager` started and closes the ports it opened. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (this.#onClose ?? (async () => {}))();
    return this.#closed;
  }

  // --- internals ---

  #tunnelTarget(): string {
    const id = this.#config.cloudflare.tunnelId;
    if (!id) {
      throw new TunnelError('CONFIG_INVALID', 'No tunnel id is configured (cloudflare.tunnelId).', {
        hint: 'Set cloudflare.tunnelId to the UUID `cloudflared tunnel list` shows; CNAMEs point at <tunnelId>.cfargotunnel.com.',
      });
    }
    return `${id}.cfargotunnel.com`;
  }

  /** This instance: its id (`instance.id`, or derived from the tunnel id) and its tunnel target. */
  #identity(): InstanceIdentity {
    const tunnelTarget = this.#tunnelTarget();
    return { id: instanceIdOf(this.#config) as string, tunnelTarget };
  }

  /**
   * Rewrites this instance's legacy marks once per process, before its first write (under the
   * lock), so an upgraded installation migrates without a step by hand. Best effort: a failure
   * is logged and retried on the next write; ownership does not depend on it (legacy marks on
   * this tunnel's records already count as this instance's).
   */
  async #upgradeMarksOnce(guard: LockGuard): Promise<void> {
    if (this.#marksUpgraded) return;
    try {
      await this.#reconciler.upgradeLegacyMarks(guard, 'system');
      this.#marksUpgraded = true;
    } catch (error) {
      this.#logger.warn('could not rewrite legacy owner marks yet', { error: toTunnelError(error).message });
    }
  }

  #assertAdmin(actor: Actor, what: string): void {
    if (parseActor(actor).kind !== 'admin') {
      throw new TunnelError('NOT_OWNER', `Only an admin may ${what}.`, { hint: 'Ask the operator.' });
    }
  }

  async #ownCounts(project: string): Promise<Record<RouteState, number>> {
    const counts = Object.fromEntries(ROUTE_STATES.map((s) => [s, 0])) as Record<RouteState, number>;
    for (const r of await this.#store.routes.list({ owner: project, states: ROUTE_STATES })) counts[r.state] += 1;
    return counts;
  }

  async #execute(
    v: ValidatedCnameRequest,
    zone: Domain,
    selection: TargetSelection,
    decision: Decision,
    guard: LockGuard,
  ): Promise<PipelineOutcome> {
    const service = { container: v.service.container, port: v.service.port, scheme: v.service.scheme };
    switch (decision.kind) {
      case 'unchanged':
        return { route: decision.route, restart: null };
      case 'retarget':
        return this.#pipeline.retarget(
          decision.route,
          {
            actor: Actor.describe(v.actor),
            service,
            target: selection.url,
            targetReason: selection.reason,
            path: v.path,
            originRequest: v.originRequest,
          },
          guard,
        );
      case 'create':
        return this.#pipeline.create(
          {
            id: randomUUID(),
            actor: Actor.describe(v.actor),
            owner: v.owner,
            hostname: v.hostname.value,
            path: v.path,
            originRequest: v.originRequest,
            ...(decision.shareWith ? { sharedRecordId: decision.shareWith.dnsRecordId } : {}),
            zone,
            service,
            target: selection.url,
            targetReason: selection.reason,
            replace: decision.replace,
            remark: decision.reuse?.instance === null ? decision.reuse : null,
            quota: v.actor.kind === 'admin' ? null : this.#config.policy.quotaPerProject,
          },
          guard,
        );
    }
  }

  get #decideDeps(): DecideDeps {
    return {
      routes: this.#store.routes,
      ingress: this.#ingress,
      dns: this.#dns,
      tunnelTarget: () => this.#tunnelTarget(),
      identity: () => this.#identity(),
      recover: (route, guard) => this.#pipeline.recoverRoute(route, guard),
    };
  }

  #steps(v: ValidatedCnameRequest, selection: TargetSelection, decision: Decision): PlannedStep[] {
    return plannedSteps(v, selection, decision, {
      restartNeeded: this.#restarts.restartNeeded,
      tunnelTarget: this.#tunnelTarget(),
    });
  }

  /** After the lock is released: waits for the queued restart when configured to. */
  async #settleRestart(outcome: PipelineOutcome): Promise<Settled> {
    const queued = outcome.restart;
    if (queued === null || !queued.pending) return { restartPending: false };
    if (!this.#config.restart.waitForRestart) {
      return {
        restartPending: true,
        restartDetail: 'restart.waitForRestart is off: the restart is queued for the daemon and not awaited.',
      };
    }
    // The pipeline queued the one request for this change under the lock; wait for it, not a second one.
    const waited =
      queued.requestedAt === undefined ? queued : await this.#restarts.awaitRestart({ since: queued.requestedAt });
    return waited.pending
      ? { restartPending: true, ...(waited.detail ? { restartDetail: waited.detail } : {}) }
      : { restartPending: false };
  }

  async #plan(
    v: ValidatedCnameRequest,
    zone: Domain,
    selection: TargetSelection,
    startedAt: number,
  ): Promise<CnameResult> {
    const decision = await decide(this.#decideDeps, v, zone, selection, null);
    const now = this.#clock.now();
    const route: CnameRoute =
      decision.kind === 'create'
        ? {
            id: '',
            hostname: v.hostname.value,
            path: v.path,
            originRequest: v.originRequest,
            zoneId: zone.id,
            zoneName: zone.name,
            owner: v.owner,
            service: { container: v.service.container, port: v.service.port, scheme: v.service.scheme },
            target: selection.url,
            targetReason: selection.reason,
            dnsRecordId: decision.shareWith?.dnsRecordId ?? decision.reuse?.id ?? null,
            state: 'reserved',
            lastError: null,
            createdAt: now,
            updatedAt: now,
          }
        : decision.route;
    return {
      route,
      publicUrl: `https://${v.hostname.value}`,
      target: selection.url,
      targetReason: selection.reason,
      outcome: 'planned',
      restartPending: false,
      steps: this.#steps(v, selection, decision),
      durationMs: Math.max(0, now - startedAt),
    };
  }
}
