import type { TunnelConfig } from '../config/schema.js';
import type { IngressRule } from '../domain/ingress.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { formatOwnerMark } from '../domain/owner-mark.js';
import { classifyRecord, classifyRule, describeSibling, isOurs } from '../domain/ownership.js';
import { FINAL_ROUTE_STATES, RELEASED_ROUTE_STATES } from '../domain/route.js';
import { type ErrorCode, isTunnelError, TunnelError, toTunnelError } from '../errors.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
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
 * - `add_rule` / `update_rule`: an active route's managed rule is missing / points elsewhere;
 * - `remove_rule`: a managed rule no live route holds (or that another owner's route needs).
 *
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
  readonly ingress: Pick<IngressManager, 'read' | 'upsertManagedRule' | 'removeManagedRule' | 'upgradeLegacyMarks'>;
  readonly restarts: RestartRequester;
  readonly audit: AuditTrail;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly lock: MutationLock;
  readonly domains: Pick<DomainService, 'listOrDiscover'>;
  readonly tunnelTarget: () => string;
  readonly identity: () => InstanceIdentity;
}

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
  [c.kind, c.hostname, c.owner, c.zoneId ?? '', c.recordId ?? '', c.service ?? ''].join('|');

function change(
  kind: ReconcileChangeKind,
  fields: Partial<Omit<ReconcileChange, 'kind' | 'summary'>> & { hostname: string; owner: string },
  summary: string,
): ReconcileChange {
  return {
    kind,
    hostname: fields.hostname,
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
        changes.push(
          change(
            'create_dns',
            at,
            `create CNAME ${route.hostname} → ${tunnel} for ${route.owner} (its record is missing)`,
          ),
        );
        continue;
      }
      claimed.add(keep.id);
      if (legacy.has(keep.id)) {
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
    for (const route of active) {
      const rules = managedRules.filter((r) => r.hostname === route.hostname);
      const foreign = rules.filter((r) => r.managed?.owner !== route.owner);
      const own = foreign.length > 0 ? undefined : rules[0];
      const at = { hostname: route.hostname, owner: route.owner, routeId: route.id, service: route.target };
      if (rules.length === 0 && heldBySibling('ingress', route.hostname)) continue;
      if (foreign.length > 0) {
        changes.push(
          change(
            'remove_rule',
            { hostname: route.hostname, owner: foreign[0]?.managed?.owner ?? '' },
            `remove the managed rule ${route.hostname} of ${foreign[0]?.managed?.owner}: the route belongs to ${route.owner}`,
          ),
        );
      }
      if (!own) {
        changes.push(change('add_rule', at, `add ingress rule ${route.hostname} → ${route.target} for ${route.owner}`));
      } else if (own.service !== route.target || rules.length > 1) {
        changes.push(
          change('update_rule', at, `point ingress rule ${route.hostname} at ${route.target} (now ${own.service})`),
        );
      }
    }
    const removed = new Set<string>();
    for (const rule of managedRules) {
      if (removed.has(rule.hostname) || live.some((r) => r.hostname === rule.hostname)) continue;
      removed.add(rule.hostname);
      changes.push(
        change(
          'remove_rule',
          { hostname: rule.hostname, owner: rule.managed?.owner ?? '' },
          `remove ingress rule ${rule.hostname} → ${rule.service} (marked for ${rule.managed?.owner}): no route holds it`,
        ),
      );
    }
    // A legacy rule no live route holds is removed above; the others get the new mark.
    for (const rule of legacyRules.filter((r) => live.some((route) => route.hostname === r.hostname))) {
      changes.push(
        change(
          'remark_rule',
          { hostname: rule.hostname, owner: rule.managed?.owner ?? '' },
          `mark ingress rule ${rule.hostname} as ${formatOwnerMark(rule.managed?.owner ?? '', self.id)} (its legacy mark names no instance)`,
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
    const changes = (await this.plan()).changes.filter((c) => REMARKS.has(c.kind));
    if (changes.length === 0) return [];
    const result = await this.#applyChanges(changes, guard, { actorName });
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
        const done = await this.#applyChanges(changes, guard, options);
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
          const r =
            kind === 'remove_rule'
              ? await deps.ingress.removeManagedRule(c.hostname, { instance: deps.identity().id })
              : await deps.ingress.upsertManagedRule({
                  hostname: c.hostname,
                  service: c.service as string,
                  owner: c.owner,
                  instance: deps.identity().id,
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
