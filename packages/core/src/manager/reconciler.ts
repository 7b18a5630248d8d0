import type { TunnelConfig } from '../config/schema.js';
import type { IngressRule } from '../domain/ingress.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { formatOwnerMark } from '../domain/owner-mark.js';
import { classifyRecord, classifyRule, describeSibling, isOurs } from '../domain/ownership.js';
import { FINAL_ROUTE_STATES, RELEASED_ROUTE_STATES } from '../domain/route.js';
import { type OriginSettings, originRequestFor } from '../domain/route-options.js';
import { type ErrorCode, isTunnelError, TunnelError, toTunnelError } from '../errors.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
import { sameValue } from '../ingress/rules.js';
import type { Clock } from '../ports/clock.js';
import type { CnameSpec, DnsProvider, DnsRecord } from '../ports/dns-provider.js';
import type { Logger } from '../ports/logger.js';
import type { StateStore } from '../ports/state-store.js';
import { AUDIT_ACTIONS, type AuditTrail } from './audit.js';
import type { DomainService } from './domain-service.js';
import type { LockGuard, MutationLock } from './mutation-lock.js';
import type { RestartRequester } from './pipeline.js';

/**
 * - `create_dns`: an active route has no record;
 * - `delete_dns`: a record carries this instance's mark but no live route holds it;
 * - `relink`: the route's record exists under another id than the one stored;
 * - `remark_dns` / `remark_rule`: a record / rule of this instance still carries a legacy mark
 *   (no instance id) and gets the new one; nothing else about it changes;
 * - `add_rule` / `update_rule`: an active route's managed rule (its hostname and path) is
 *   missing / points elsewhere or has other origin settings;
 * - `remove_rule`: a managed rule no live route holds at its path (or whose hostname another
 *   owner's route holds).
 *
 * A hostname's routes (one per path) share one record: `create_dns` is planned once per name.
 * Records and rules of sibling instances (see `classifyRecord`) never get a change; they are
 * listed in `ReconcilePlan.siblings`.
 */
export type ReconcileChangeKind =
  | 'create_dns'
  | 'delete_dns'
  | 'relink'
  | 'remark_dns'
  | 'add_rule'
  | 'update_rule'
  | 'remove_rule'
  | 'remark_rule';

/** A name another Tunnel Manager instance publishes on a zone this one sees. Plans never change it. */
export interface SiblingHolding {
  readonly hostname: string;
  /** `dns`: a record in the zone; `ingress`: a rule in this instance's own ingress, marked by another. */
  readonly where: 'dns' | 'ingress';
  readonly zoneName: string | null;
  readonly owner: string;
  /** The other instance's id; null for a legacy mark (then `tunnel` says where it points). */
  readonly instance: string | null;
  readonly tunnel: string | null;
  /** This instance's active route for the same name, left as it is, when there is one. */
  readonly routeId: string | null;
  readonly summary: string;
}

/** One change of a plan: plain data, with one line for people. */
export interface ReconcileChange {
  readonly kind: ReconcileChangeKind;
  readonly hostname: string;
  /** Rule changes: the rule's path (null: the path-less rule; for a foreign `remove_rule`, every path). */
  readonly path: string | null;
  /** `add_rule` / `update_rule`: the origin settings the rule gets. */
  readonly originRequest: OriginSettings | null;
  /** The owner of the route (or, for deletes, the owner the mark names). */
  readonly owner: string;
  /** DNS changes: the zone. */
  readonly zoneId: string | null;
  readonly zoneName: string | null;
  /** The route concerned, when there is one. */
  readonly routeId: string | null;
  /** `delete_dns`: the record to delete; `relink`: the record to link. */
  readonly recordId: string | null;
  /** `add_rule` / `update_rule`: the service the rule gets. */
  readonly service: string | null;
  readonly summary: string;
}

export interface ReconcilePlan {
  /** Epoch ms. */
  readonly createdAt: number;
  readonly changes: readonly ReconcileChange[];
  /** Active routes: the base of the delete threshold. */
  readonly managedRoutes: number;
  /** `delete_dns` + `remove_rule` changes. */
  readonly deletes: number;
  /** The most deletes applied without `force`: max(deleteThresholdMin, deleteThresholdPercent % of managedRoutes). */
  readonly deleteThreshold: number;
  /** One line per change, for a preview. */
  readonly summary: readonly string[];
  /** Names other instances publish: listed, never changed. */
  readonly siblings: readonly SiblingHolding[];
}

export interface ReconcileProgress {
  readonly done: number;
  readonly total: number;
  readonly change: ReconcileChange;
  readonly ok: boolean;
}

export interface ReconcileApplyOptions {
  /** Apply even when the plan deletes more than the threshold. @default false */
  readonly force?: boolean;
  /** Called after each change (a CLI progress bar). */
  readonly onProgress?: (progress: ReconcileProgress) => void;
}

export interface ReconcileFailure {
  readonly change: ReconcileChange;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface ReconcileApplyResult {
  readonly applied: readonly ReconcileChange[];
  readonly failed: readonly ReconcileFailure[];
  /** Changes of the given plan that fresh state no longer needs. */
  readonly skipped: readonly ReconcileChange[];
  readonly restartPending: boolean;
  readonly durationMs: number;
}

export interface ReconcilerDeps {
  readonly config: Pick<TunnelConfig, 'reconcile'>;
  readonly store: Pick<StateStore, 'routes'>;
  readonly dns: () => DnsProvider;
  readonly ingress: Pick<IngressManager, 'read' | 'upsertManagedRule' | 'removeManagedRule' | 'upgradeLegacyMarks'> &
    Partial<Pick<IngressManager, 'ruleFormat'>>;
  readonly restarts: RestartRequester;
  readonly audit: AuditTrail;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lock: MutationLock;
  readonly domains: Pick<DomainService, 'listOrDiscover'>;
  readonly tunnelTarget: () => string;
  readonly identity: () => InstanceIdentity;
}

/** Whether `c` is the removal of a rule whose hostname another owner's route holds (every path goes). */
const foreignPlanned = (plan: ReconcilePlan, c: ReconcileChange): boolean =>
  c.kind === 'remove_rule' &&
  plan.changes.some((x) => x.hostname === c.hostname && x.kind === 'add_rule' && x.owner !== c.owner);

const DELETES: ReadonlySet<ReconcileChangeKind> = new Set(['delete_dns', 'remove_rule']);
const REMARKS: ReadonlySet<ReconcileChangeKind> = new Set(['remark_dns', 'remark_rule']);
const ORDER: Record<ReconcileChangeKind, number> = {
  delete_dns: 0,
  remark_dns: 1,
  create_dns: 2,
  relink: 3,
  remark_rule: 4,
  remove_rule: 5,
  add_rule: 6,
  update_rule: 7,
};

/** What identifies a change across two plans of the same drift. */
const keyOf = (c: ReconcileChange): string =>
  [c.kind, c.hostname, c.path ?? '', c.owner, c.zoneId ?? '', c.recordId ?? '', c.service ?? ''].join('|');

function change(
  kind: ReconcileChangeKind,
  fields: Partial<Omit<ReconcileChange, 'kind' | 'summary'>> & { hostname: string; owner: string },
  summary: string,
): ReconcileChange {
  return {
    kind,
    hostname: fields.hostname,
    path: fields.path ?? null,
    originRequest: fields.originRequest ?? null,
    owner: fields.owner,
    zoneId: fields.zoneId ?? null,
    zoneName: fields.zoneName ?? null,
    routeId: fields.routeId ?? null,
    recordId: fields.recordId ?? null,
    service: fields.service ?? null,
    summary,
  };
}

/**
 * Brings the three places a route lives (the database, DNS, the ingress rules) back into
 * agreement, with the database as the truth for active routes and this instance's owner mark as
 * the only licence to delete: a record without the mark, or with another instance's, is never
 * planned for any change (`classifyRecord` / `classifyRule` decide).
 */
export class Reconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  /** Reads the three places (DNS over the network) and lists the differences. Changes nothing. */
  async plan(): Promise<ReconcilePlan> {
    const { deps } = this;
    const tunnel = deps.tunnelTarget();
    const self = deps.identity();
    const zones = await deps.domains.listOrDiscover();
    const routes = await deps.store.routes.list();
    const live = routes.filter((r) => !RELEASED_ROUTE_STATES.has(r.state));
    const active = live.filter((r) => r.state === 'active');
    // A route some pipeline is (or was, before a crash) working on is recovery's business.
    const busy = new Set(live.filter((r) => !FINAL_ROUTE_STATES.has(r.state)).map((r) => r.hostname));
    const zoneNames = new Map(zones.map((z) => [z.id, z.name]));
    const records: DnsRecord[] = [];
    const legacy = new Set<string>();
    const siblings: SiblingHolding[] = [];
    const activeFor = (hostname: string) => active.find((r) => r.hostname === hostname) ?? null;
    for (const zone of zones) {
      for (const record of await deps.dns().listRecords(zone.id, { managedOnly: true })) {
        const holding = classifyRecord(record, self);
        if (holding.kind === 'legacy-mine') legacy.add(record.id);
        if (isOurs(holding)) {
          records.push(record);
        } else if (holding.kind === 'sibling') {
          const route = activeFor(record.name);
          siblings.push({
            hostname: record.name,
            where: 'dns',
            zoneName: zone.name,
            owner: holding.owner,
            instance: holding.instance,
            tunnel: holding.tunnel,
            routeId: route?.id ?? null,
            summary: `${record.name} (${record.type} ${record.content}) by ${describeSibling(holding)} for ${holding.owner}${
              route ? `; this instance's route for it stays unpublished` : ''
            }`,
          });
        }
      }
    }
    const managedRules: (IngressRule & { hostname: string })[] = [];
    const legacyRules: (IngressRule & { hostname: string })[] = [];
    for (const rule of (await deps.ingress.read()).rules) {
      if (!rule.managed || !rule.hostname) continue;
      const holding = classifyRule(rule.managed, self);
      const named = rule as IngressRule & { hostname: string };
      if (isOurs(holding)) managedRules.push(named);
      if (holding.kind === 'legacy-mine') legacyRules.push(named);
      if (holding.kind === 'sibling') {
        const route = activeFor(rule.hostname);
        siblings.push({
          hostname: rule.hostname,
          where: 'ingress',
          zoneName: null,
          owner: holding.owner,
          instance: holding.instance,
          tunnel: null,
          routeId: route?.id ?? null,
          summary: `ingress rule ${rule.hostname} → ${rule.service}, marked by ${describeSibling(holding)} for ${holding.owner}${
            route ? `; this instance's route for it gets no rule` : ''
          }`,
        });
      }
    }
    const heldBySibling = (where: SiblingHolding['where'], hostname: string) =>
      siblings.some((s) => s.where === where && s.hostname === hostname);

    const changes: ReconcileChange[] = [];
    const claimed = new Set<string>();
    const recordPlanned = new Set<string>();
    for (const route of active) {
      const good = records.filter(
        (r) =>
          r.zoneId === route.zoneId &&
          r.name === route.hostname &&
          r.type === 'CNAME' &&
          r.owner === route.owner &&
          r.content === tunnel,
      );
      const keep = good.find((r) => r.id === route.dnsRecordId) ?? good[0];
      const at = {
        hostname: route.hostname,
        owner: route.owner,
        zoneId: route.zoneId,
        zoneName: route.zoneName,
        routeId: route.id,
      };
      if (!keep && heldBySibling('dns', route.hostname)) continue;
      if (!keep) {
        // The hostname's other paths share the record: one create, which links them all.
        if (recordPlanned.has(route.hostname)) continue;
        recordPlanned.add(route.hostname);
        changes.push(
          change(
            'create_dns',
            at,
            `create CNAME ${route.hostname} → ${tunnel} for ${route.owner} (its record is missing)`,
          ),
        );
        continue;
      }
      // A hostname's paths share the record: it is re-marked once.
      const remarkDue = legacy.has(keep.id) && !claimed.has(keep.id);
      claimed.add(keep.id);
      if (remarkDue) {
        changes.push(
          change(
            'remark_dns',
            { ...at, recordId: keep.id },
            `mark CNAME ${route.hostname} as ${formatOwnerMark(route.owner, self.id)} (its legacy mark names no instance)`,
          ),
        );
      }
      if (keep.id !== route.dnsRecordId) {
        changes.push(
          change(
            'relink',
            { ...at, recordId: keep.id },
            `link ${route.hostname} to its record ${keep.id} (stored: ${route.dnsRecordId ?? 'none'})`,
          ),
        );
      }
    }
    for (const record of records) {
      if (claimed.has(record.id) || busy.has(record.name)) continue;
      const holder = live.find((r) => r.hostname === record.name);
      changes.push(
        change(
          'delete_dns',
          {
            hostname: record.name,
            owner: record.owner ?? '',
            zoneId: record.zoneId,
            zoneName: zoneNames.get(record.zoneId) ?? null,
            recordId: record.id,
          },
          holder
            ? `delete ${record.type} ${record.name} (${record.content}, marked for ${record.owner}): not the record of ${holder.owner}'s route`
            : `delete ${record.type} ${record.name} (${record.content}, marked for ${record.owner}): no route holds it`,
        ),
      );
    }
    const format = deps.ingress.ruleFormat ?? 'yaml';
    const foreignHosts = new Set<string>();
    for (const route of active) {
      const named = managedRules.filter((r) => r.hostname === route.hostname);
      const foreign = named.filter((r) => r.managed?.owner !== route.owner);
      const rules = named.filter((r) => (r.path ?? '') === (route.path ?? ''));
      const own = foreign.length > 0 ? undefined : rules[0];
      const shown = `${route.hostname}${route.path ? ` path ${route.path}` : ''}`;
      const at = {
        hostname: route.hostname,
        path: route.path,
        originRequest: route.originRequest,
        owner: route.owner,
        routeId: route.id,
        service: route.target,
      };
      const wanted = originRequestFor(route.originRequest, format) ?? undefined;
      // A name a sibling instance's rule holds gets no rule from this instance (listed in siblings).
      if (rules.length === 0 && heldBySibling('ingress', route.hostname)) continue;
      if (foreign.length > 0 && !foreignHosts.has(route.hostname)) {
        foreignHosts.add(route.hostname);
        changes.push(
          change(
            'remove_rule',
            { hostname: route.hostname, owner: foreign[0]?.managed?.owner ?? '' },
            `remove the managed rule ${route.hostname} of ${foreign[0]?.managed?.owner}: the route belongs to ${route.owner}`,
          ),
        );
      }
      if (!own) {
        changes.push(change('add_rule', at, `add ingress rule ${shown} → ${route.target} for ${route.owner}`));
      } else if (
        own.service !== route.target ||
        rules.length > 1 ||
        !sameValue(own.originRequest ?? undefined, wanted)
      ) {
        changes.push(
          change(
            'update_rule',
            at,
            own.service !== route.target
              ? `point ingress rule ${shown} at ${route.target} (now ${own.service})`
              : `rewrite ingress rule ${shown} → ${route.target} with its stored origin settings`,
          ),
        );
      }
    }
    const removed = new Set<string>();
    for (const rule of managedRules) {
      const path = rule.path ?? '';
      const key = `${rule.hostname}|${path}`;
      if (foreignHosts.has(rule.hostname) || removed.has(key)) continue;
      if (live.some((r) => r.hostname === rule.hostname && (r.path ?? '') === path)) continue;
      removed.add(key);
      const shown = `${rule.hostname}${path ? ` path ${path}` : ''}`;
      changes.push(
        change(
          'remove_rule',
          { hostname: rule.hostname, path: path || null, owner: rule.managed?.owner ?? '' },
          `remove ingress rule ${shown} → ${rule.service} (marked for ${rule.managed?.owner}): no route holds it`,
        ),
      );
    }
    // A legacy rule no live route holds is removed above; the others get the new mark.
    const heldAtPath = (r: IngressRule & { hostname: string }) =>
      !foreignHosts.has(r.hostname) &&
      live.some((route) => route.hostname === r.hostname && (route.path ?? '') === (r.path ?? ''));
    for (const rule of legacyRules.filter(heldAtPath)) {
      const shown = `${rule.hostname}${rule.path ? ` path ${rule.path}` : ''}`;
      changes.push(
        change(
          'remark_rule',
          { hostname: rule.hostname, path: rule.path ?? null, owner: rule.managed?.owner ?? '' },
          `mark ingress rule ${shown} as ${formatOwnerMark(rule.managed?.owner ?? '', self.id)} (its legacy mark names no instance)`,
        ),
      );
    }
    changes.sort((a, b) => ORDER[a.kind] - ORDER[b.kind] || a.hostname.localeCompare(b.hostname));
    siblings.sort((a, b) => a.hostname.localeCompare(b.hostname) || a.where.localeCompare(b.where));
    const deletes = changes.filter((c) => DELETES.has(c.kind)).length;
    const { deleteThresholdMin, deleteThresholdPercent } = deps.config.reconcile;
    return {
      createdAt: deps.clock.now(),
      changes,
      managedRoutes: active.length,
      deletes,
      deleteThreshold: Math.max(deleteThresholdMin, Math.floor((active.length * deleteThresholdPercent) / 100)),
      summary: changes.map((c) => c.summary),
      siblings,
    };
  }

  /**
   * Rewrites this instance's legacy marks (records: one batch per zone; rules: one write) and
   * nothing else; one `marks.upgrade` audit entry when anything changed. Runs under the caller's
   * lock, before the first write of a process, so an upgraded installation migrates by itself.
   */
  async upgradeLegacyMarks(guard: LockGuard, actorName: string): Promise<readonly ReconcileChange[]> {
    const { deps } = this;
    const startedAt = deps.clock.now();
    const plan = await this.plan();
    const changes = plan.changes.filter((c) => REMARKS.has(c.kind));
    if (changes.length === 0) return [];
    const result = await this.#applyChanges(changes, plan, guard, { actorName });
    await deps.audit.record({
      actor: actorName,
      project: null,
      action: AUDIT_ACTIONS.upgradeMarks,
      target: null,
      params: {
        instance: deps.identity().id,
        remarked: result.applied.map((c) => `${c.kind === 'remark_dns' ? 'dns' : 'rule'} ${c.hostname}`),
        failed: result.failed.map((f) => `${f.change.kind} ${f.change.hostname}: ${f.code}`),
      },
      startedAt,
      message: `${result.applied.length} legacy marks rewritten to name instance ${deps.identity().id}`,
    });
    return result.applied;
  }

  /**
   * Applies `given` (or, when null, whatever a fresh plan finds) under the mutation lock. It
   * re-plans first and applies only the changes of `given` that fresh state still needs, so a
   * stale plan cannot delete what has since become someone's. DNS changes go to the provider as
   * one batch per zone (deletes first); rules change through the IngressManager; one restart
   * is queued when a rule changed.
   *
   * @throws TunnelError `POLICY_DENIED` when the changes delete more than the threshold and
   * `force` is not set (nothing is changed).
   */
  async apply(
    given: ReconcilePlan | null,
    options: ReconcileApplyOptions & { readonly actorName: string },
  ): Promise<ReconcileApplyResult> {
    const { deps } = this;
    const startedAt = deps.clock.now();
    let counts: Record<string, unknown> = {};
    try {
      const result = await deps.lock.run(async (guard) => {
        const fresh = await this.plan();
        const freshKeys = new Set(fresh.changes.map(keyOf));
        const wanted = given ? new Set(given.changes.map(keyOf)) : null;
        const changes = wanted ? fresh.changes.filter((c) => wanted.has(keyOf(c))) : [...fresh.changes];
        const skipped = given ? given.changes.filter((c) => !freshKeys.has(keyOf(c))) : [];
        const deletes = changes.filter((c) => DELETES.has(c.kind)).length;
        counts = { changes: changes.length, deletes, threshold: fresh.deleteThreshold, force: options.force === true };
        if (deletes > fresh.deleteThreshold && !options.force) {
          throw new TunnelError(
            'POLICY_DENIED',
            `The reconciliation would delete ${deletes} records and rules; more than ${fresh.deleteThreshold} needs force.`,
            {
              hint: 'Review the plan; if the deletes are right, apply it again with --force (force: true).',
              details: { deletes, threshold: fresh.deleteThreshold, managedRoutes: fresh.managedRoutes },
            },
          );
        }
        const done = await this.#applyChanges(changes, fresh, guard, options);
        return { ...done, skipped };
      });
      const out: ReconcileApplyResult = { ...result, durationMs: Math.max(0, deps.clock.now() - startedAt) };
      await deps.audit.record({
        actor: options.actorName,
        project: null,
        action: AUDIT_ACTIONS.reconcile,
        target: null,
        params: {
          ...counts,
          applied: out.applied.length,
          failed: out.failed.map((f) => `${f.change.kind} ${f.change.hostname}: ${f.code}`),
          skipped: out.skipped.length,
          ...(remarked(out.applied).length > 0 ? { remarked: remarked(out.applied) } : {}),
        },
        startedAt,
        message: `${out.applied.length} applied, ${out.failed.length} failed, ${out.skipped.length} no longer needed`,
      });
      return out;
    } catch (error) {
      await deps.audit.record({
        actor: options.actorName,
        project: null,
        action: AUDIT_ACTIONS.reconcile,
        target: null,
        params: counts,
        startedAt,
        error,
      });
      throw toTunnelError(error);
    }
  }

  /** Applies changes (under the lock): DNS per zone, relinks, then rules; queues one restart. */
  async #applyChanges(
    changes: readonly ReconcileChange[],
    plan: ReconcilePlan,
    guard: LockGuard,
    options: ReconcileApplyOptions & { readonly actorName: string },
  ): Promise<{ applied: ReconcileChange[]; failed: ReconcileFailure[]; restartPending: boolean }> {
    const { deps } = this;
    const applied: ReconcileChange[] = [];
    const failed: ReconcileFailure[] = [];
    let done = 0;
    const report = (c: ReconcileChange, error?: unknown) => {
      done += 1;
      if (error === undefined) applied.push(c);
      else {
        const e = toTunnelError(error);
        failed.push({ change: c, code: e.code, message: e.message });
      }
      options.onProgress?.({ done, total: changes.length, change: c, ok: error === undefined });
    };
    guard.assertHeld();
    await this.#applyDns(changes, report);
    for (const c of changes.filter((x) => x.kind === 'relink')) {
      try {
        await deps.store.routes.update(
          c.routeId as string,
          { dnsRecordId: c.recordId, updatedAt: deps.clock.now() },
          { expectState: 'active' },
        );
        report(c);
      } catch (error) {
        report(c, error);
      }
    }
    let rulesChanged = false;
    const remarks = changes.filter((x) => x.kind === 'remark_rule');
    if (remarks.length > 0) {
      guard.assertHeld();
      try {
        rulesChanged ||= (await deps.ingress.upgradeLegacyMarks(deps.identity().id)).changed;
        for (const c of remarks) report(c);
      } catch (error) {
        for (const c of remarks) report(c, error);
      }
    }
    for (const kind of ['remove_rule', 'add_rule', 'update_rule'] as const) {
      for (const c of changes.filter((x) => x.kind === kind)) {
        guard.assertHeld();
        try {
          const instance = deps.identity().id;
          // A foreign rule (another owner's, for a name this owner's route holds) goes with
          // every path; an orphan goes alone.
          const foreignRule = kind === 'remove_rule' && foreignPlanned(plan, c);
          const r =
            kind === 'remove_rule'
              ? await deps.ingress.removeManagedRule(
                  c.hostname,
                  foreignRule ? { instance } : { instance, path: c.path },
                )
              : await deps.ingress.upsertManagedRule({
                  hostname: c.hostname,
                  path: c.path,
                  originRequest: c.originRequest,
                  service: c.service as string,
                  owner: c.owner,
                  instance,
                });
          rulesChanged ||= r.changed;
          report(c);
        } catch (error) {
          report(c, error);
        }
      }
    }
    let restartPending = false;
    if (rulesChanged && deps.restarts.restartNeeded) {
      const queued = await deps.restarts.requestRestart({
        reason: 'ingress rules reconciled',
        requestedBy: options.actorName,
        wait: false,
      });
      restartPending = queued.pending;
    }
    return { applied, failed, restartPending };
  }

  /** One batch per zone; the routes of created records are linked to them. */
  async #applyDns(
    changes: readonly ReconcileChange[],
    report: (c: ReconcileChange, error?: unknown) => void,
  ): Promise<void> {
    const { deps } = this;
    const byZone = new Map<string, ReconcileChange[]>();
    for (const c of changes) {
      if (c.kind !== 'create_dns' && c.kind !== 'delete_dns' && c.kind !== 'remark_dns') continue;
      const list = byZone.get(c.zoneId as string) ?? [];
      list.push(c);
      byZone.set(c.zoneId as string, list);
    }
    const tunnel = deps.tunnelTarget();
    for (const [zoneId, list] of byZone) {
      const deletes = list.filter((c) => c.kind === 'delete_dns');
      const creates = list.filter((c) => c.kind === 'create_dns');
      const remarks = list.filter((c) => c.kind === 'remark_dns');
      const instance = deps.identity().id;
      const specs: CnameSpec[] = creates.map((c) => ({ name: c.hostname, target: tunnel, owner: c.owner, instance }));
      let created: readonly { id: string; name: string }[] = [];
      let deleted: readonly string[] = [];
      let remarked: readonly string[] = [];
      let failure: TunnelError | null = null;
      try {
        const result = await deps.dns().applyBatch(zoneId, {
          deletes: deletes.map((c) => c.recordId as string),
          ...(remarks.length > 0
            ? { remarks: remarks.map((c) => ({ recordId: c.recordId as string, owner: c.owner, instance })) }
            : {}),
          creates: specs,
        });
        created = result.created;
        deleted = result.deleted;
        remarked = (result.remarked ?? []).map((r) => r.id);
      } catch (error) {
        failure = toTunnelError(error);
        const applied = failure.details?.applied as
          | { deleted?: string[]; created?: { id: string; name: string }[]; remarked?: string[] }
          | undefined;
        created = applied?.created ?? [];
        deleted = applied?.deleted ?? [];
        remarked = applied?.remarked ?? [];
      }
      const perChange = (failure?.details?.failed ?? []) as { change: string; code: ErrorCode; message: string }[];
      const why = (label: string): TunnelError => {
        const own = perChange.find((f) => f.change === label);
        return own ? new TunnelError(own.code, own.message, { hint: failure?.hint ?? '' }) : (failure as TunnelError);
      };
      for (const c of deletes) {
        if (deleted.includes(c.recordId as string)) report(c);
        else report(c, why(`delete ${c.recordId}`));
      }
      for (const c of remarks) {
        if (remarked.includes(c.recordId as string)) report(c);
        else report(c, why(`remark ${c.recordId}`));
      }
      for (const c of creates) {
        const record = created.find((r) => r.name === c.hostname);
        if (!record) {
          report(c, why(`create ${c.hostname}`));
          continue;
        }
        try {
          await deps.store.routes.update(
            c.routeId as string,
            { dnsRecordId: record.id, updatedAt: deps.clock.now() },
            { expectState: 'active' },
          );
          // The hostname's other active paths share the record.
          for (const pathRoute of await deps.store.routes.listLive(c.hostname)) {
            if (pathRoute.id === c.routeId || pathRoute.state !== 'active') continue;
            await deps.store.routes.update(
              pathRoute.id,
              { dnsRecordId: record.id, updatedAt: deps.clock.now() },
              { expectState: 'active' },
            );
          }
          report(c);
        } catch (error) {
          if (!isTunnelError(error)) throw error;
          report(c, error);
        }
      }
    }
  }
}

/** The hostnames whose legacy marks a set of applied changes rewrote (audit). */
const remarked = (applied: readonly ReconcileChange[]): string[] =>
  applied.filter((c) => REMARKS.has(c.kind)).map((c) => `${c.kind === 'remark_dns' ? 'dns' : 'rule'} ${c.hostname}`);
