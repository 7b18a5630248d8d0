import type { Domain } from '../domain/domain.js';
import type { InstanceIdentity } from '../domain/instance.js';
import { classifyRecord, isOurs } from '../domain/ownership.js';
import { type CnameRoute, ROUTE_STATES, type RouteError, type RouteState, type ServiceSpec } from '../domain/route.js';
import type { OriginSettings } from '../domain/route-options.js';
import { isTunnelError, TunnelError, toTunnelError } from '../errors.js';
import type { AwaitRestartInput, RestartRequestInput, RestartRequestResult } from '../health/restart-coordinator.js';
import type { IngressManager } from '../ingress/ingress-manager.js';
import type { Clock } from '../ports/clock.js';
import type { DnsProvider, DnsRecord } from '../ports/dns-provider.js';
import type { Logger } from '../ports/logger.js';
import type { ReplacedRecord, StateStore } from '../ports/state-store.js';
import type { PlannedStep } from './api.js';
import { AUDIT_ACTIONS, type AuditTrail } from './audit.js';
import type { LockGuard } from './mutation-lock.js';

/**
 * The points a create passes, in order. A state name means "this state was just persisted"; the
 * others mean "this side effect just happened". Crash tests stop the process at each one.
 */
export const CREATE_CHECKPOINTS = [
  'reserved',
  'ingress_written',
  'rule_written',
  'dns_created',
  'record_created',
  'record_stored',
  'restart_requested',
  'active',
] as const;

/** The points a delete passes, in order (see {@link CREATE_CHECKPOINTS}). */
export const DELETE_CHECKPOINTS = [
  'deleting',
  'record_deleted',
  'dns_deleted',
  'rule_removed',
  'ingress_removed',
  'restart_requested',
  'deleted',
] as const;

export type PipelineCheckpoint = (typeof CREATE_CHECKPOINTS)[number] | (typeof DELETE_CHECKPOINTS)[number];

/** Test seams. Nothing in production passes them. */
export interface PipelineHooks {
  /** Called at each checkpoint, with the route as stored; awaited. */
  afterStep?(checkpoint: PipelineCheckpoint, route: CnameRoute): void | Promise<void>;
}

/** The part of the RestartCoordinator the pipeline needs. */
export interface RestartRequester {
  readonly restartNeeded: boolean;
  requestRestart(input: RestartRequestInput): Promise<RestartRequestResult>;
  /** Waits for the restart an earlier request (its `requestedAt`) queued, without queuing another. */
  awaitRestart(input: AwaitRestartInput): Promise<RestartRequestResult>;
}

export interface PipelineDeps {
  readonly store: Pick<StateStore, 'routes' | 'replaced'>;
  readonly dns: () => DnsProvider;
  readonly ingress: Pick<IngressManager, 'upsertManagedRule' | 'removeManagedRule'>;
  readonly restarts: RestartRequester;
  readonly audit: AuditTrail;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly hooks: PipelineHooks;
  /** `<tunnelId>.cfargotunnel.com`; throws CONFIG_INVALID when no tunnel id is configured. */
  readonly tunnelTarget: () => string;
  /** This instance (its id is written in every mark); throws CONFIG_INVALID like `tunnelTarget`. */
  readonly identity: () => InstanceIdentity;
}

/** What the TunnelManager decided to create, after validation, policy and conflict checks. */
export interface CreateOrder {
  readonly id: string;
  /** `Actor.describe` of who asked (audit). */
  readonly actor: string;
  readonly owner: string;
  readonly hostname: string;
  /** The rule's path regex; null for the hostname's path-less rule. */
  readonly path?: string | null;
  readonly originRequest?: OriginSettings | null;
  /**
   * Another path of the same hostname already has the record (its id, or null while it has
   * none stored): the route shares it and creates no record. Absent: the route creates one.
   */
  readonly sharedRecordId?: string | null;
  readonly zone: Pick<Domain, 'id' | 'name'>;
  readonly service: ServiceSpec;
  readonly target: string;
  readonly targetReason: string;
  /** Records to replace atomically with ours (an admin adopting a name); empty for a plain create. */
  readonly replace: readonly DnsRecord[];
  /** Our record a crash left behind with a legacy mark: reused, and remarked instead of created. */
  readonly remark?: DnsRecord | null;
  /** Routes the owner may hold; null for none (admins). */
  readonly quota: number | null;
}

export interface PipelineOutcome {
  readonly route: CnameRoute;
  /** Records a delete put back (`restoreReplaced`), as `TYPE name content` lines. */
  readonly restored?: readonly string[];
  /** The restart queued under the lock (not awaited); null when the rules did not change. */
  readonly restart: RestartRequestResult | null;
}

/** Where an undo (rollback or recovery) left a route. */
export interface RecoveryResult {
  readonly route: CnameRoute;
  /** What could not be undone; the route then keeps its state. */
  readonly problems: readonly string[];
  /** The first failure, when there were problems. */
  readonly error: TunnelError | null;
}

/** The message a route rolled back by recovery carries. */
export const INTERRUPTED_MESSAGE = 'Interrupted by a crash before it completed; rolled back.';

/**
 * The CNAME lifecycle as a persisted state machine. Every method runs under the mutation lock
 * (the caller holds it) and writes the route's next state before the side effect it names, so a
 * crash at any point leaves a state from which {@link CnamePipeline.recoverRoute} knows what to undo
 * (create) or finish (delete).
 *
 * create: reserved → ingress_written → (rule) → dns_created → (record) → active
 * delete: active → deleting → (record gone) → dns_deleted → (rule gone) → ingress_removed → deleted
 */
export class CnamePipeline {
  constructor(private readonly deps: PipelineDeps) {}

  async create(order: CreateOrder, guard: LockGuard): Promise<PipelineOutcome> {
    const { routes } = this.deps.store;
    const now = this.deps.clock.now();
    let route = await routes.reserve(
      {
        id: order.id,
        hostname: order.hostname,
        zoneId: order.zone.id,
        zoneName: order.zone.name,
        owner: order.owner,
        path: order.path ?? null,
        originRequest: order.originRequest ?? null,
        service: order.service,
        target: order.target,
        targetReason: order.targetReason,
        createdAt: now,
      },
      { quota: order.quota },
    );
    await this.#checkpoint('reserved', route);
    let step: PlannedStep['step'] = 'write_ingress';
    try {
      // Kept before anything is replaced, so a rollback or a later delete can put them back.
      if (order.replace.length > 0) await this.deps.store.replaced.save(route.id, order.replace.map(toReplaced));
      route = await this.#advance(route, 'ingress_written', guard);
      await this.deps.ingress.upsertManagedRule({
        hostname: order.hostname,
        path: order.path ?? null,
        originRequest: order.originRequest ?? null,
        service: order.target,
        owner: order.owner,
        instance: this.deps.identity().id,
      });
      await this.#checkpoint('rule_written', route);

      step = order.replace.length > 0 ? 'replace_dns' : 'create_dns';
      route = await this.#advance(route, 'dns_created', guard);
      const recordId = order.sharedRecordId !== undefined ? order.sharedRecordId : (await this.#createRecord(order)).id;
      await this.#checkpoint('record_created', route);
      route = await routes.update(
        route.id,
        { dnsRecordId: recordId, updatedAt: this.deps.clock.now() },
        { expectState: 'dns_created' },
      );
      await this.#checkpoint('record_stored', route);

      step = 'restart';
      guard.assertHeld();
      const restart = await this.#queueRestart(
        `ingress rule added for ${order.hostname}${order.path ? ` path ${order.path}` : ''}`,
        order.actor,
      );
      await this.#checkpoint('restart_requested', route);

      step = 'activate';
      route = await this.#advance(route, 'active', guard);
      return { route, restart };
    } catch (error) {
      const failure = toTunnelError(error);
      await this.deps.audit.record({
        actor: order.actor,
        project: order.owner,
        action: AUDIT_ACTIONS.stepFailed,
        target: order.hostname,
        params: { operation: 'create', step, state: route.state, routeId: route.id },
        startedAt: this.deps.clock.now(),
        error: failure,
      });
      const current = (await routes.get(route.id).catch(() => null)) ?? route;
      await this.rollbackCreate(current, { code: failure.code, message: failure.message });
      throw failure;
    }
  }

  /**
   * Points the owner's active route at a new target, path or origin settings, in place: the
   * route first (so a crash leaves the intent, which the reconciler applies), then the rule in
   * one write (a path change replaces the old path's rule); a refused rule restores the route.
   * DNS is not touched.
   */
  async retarget(
    route: CnameRoute,
    change: {
      readonly actor: string;
      readonly service: ServiceSpec;
      readonly target: string;
      readonly targetReason: string;
      /** The new path (null: path-less); absent: unchanged. */
      readonly path?: string | null;
      /** The new origin settings (null: none); absent: unchanged. */
      readonly originRequest?: OriginSettings | null;
    },
    guard: LockGuard,
  ): Promise<PipelineOutcome> {
    const { routes } = this.deps.store;
    const before = {
      service: route.service,
      target: route.target,
      targetReason: route.targetReason,
      path: route.path,
      originRequest: route.originRequest,
    };
    const { service, target, targetReason } = change;
    const path = change.path === undefined ? route.path : change.path;
    const originRequest = change.originRequest === undefined ? route.originRequest : change.originRequest;
    const updated = await routes.update(
      route.id,
      { state: 'active', service, target, targetReason, path, originRequest, updatedAt: this.deps.clock.now() },
      { expectState: 'active' },
    );
    try {
      guard.assertHeld();
      await this.deps.ingress.upsertManagedRule({
        hostname: route.hostname,
        path,
        originRequest,
        service: change.target,
        owner: route.owner,
        instance: this.deps.identity().id,
        ...(path === route.path ? {} : { previousPath: route.path }),
      });
    } catch (error) {
      await routes
        .update(route.id, { state: 'active', ...before, updatedAt: this.deps.clock.now() }, { expectState: 'active' })
        .catch((e: unknown) =>
          this.deps.logger.error('could not restore a route after a refused update', { error: String(e) }),
        );
      await this.deps.audit.record({
        actor: change.actor,
        project: route.owner,
        action: AUDIT_ACTIONS.stepFailed,
        target: route.hostname,
        params: { operation: 'update', step: 'update_ingress', routeId: route.id, target: change.target },
        startedAt: this.deps.clock.now(),
        error,
      });
      throw error;
    }
    const restart = await this.#queueRestart(`ingress rule updated for ${route.hostname}`, change.actor);
    return { route: updated, restart };
  }

  /**
   * Deletes a route, resuming from whatever delete state it is in. A failure before the record
   * is gone puts the route back to `active`; a later one leaves it where it is, so a retry (or
   * recovery) finishes it. With `restoreReplaced`, the records an adopt replaced are put back in
   * the same DNS batch that deletes the route's record.
   */
  async delete(
    route: CnameRoute,
    actor: string,
    guard: LockGuard,
    options: { readonly restoreReplaced?: boolean } = {},
  ): Promise<PipelineOutcome> {
    const { routes } = this.deps.store;
    let current = route;
    let step = 'delete_dns';
    let restart: RestartRequestResult | null = null;
    let restored: string[] = [];
    try {
      if (current.state === 'active') {
        current = await this.#advance(current, 'deleting', guard);
      }
      if (current.state === 'deleting') {
        try {
          const replaced = options.restoreReplaced ? await this.replacedFor(current) : [];
          restored = await this.#deleteRecord(current, replaced);
        } catch (error) {
          if (route.state === 'active') {
            current = await routes.update(
              current.id,
              { state: 'active', updatedAt: this.deps.clock.now() },
              { expectState: 'deleting' },
            );
          }
          throw error;
        }
        await this.#checkpoint('record_deleted', current);
        current = await this.#advance(current, 'dns_deleted', guard);
      }
      if (current.state === 'dns_deleted') {
        step = 'remove_ingress';
        await this.#removeRule(current);
        await this.#checkpoint('rule_removed', current);
        current = await this.#advance(current, 'ingress_removed', guard);
      }
      if (current.state === 'ingress_removed') {
        step = 'restart';
        restart = await this.#queueRestart(`ingress rule removed for ${current.hostname}`, actor);
        await this.#checkpoint('restart_requested', current);
        current = await this.#advance(current, 'deleted', guard);
      }
      return { route: current, restart, ...(options.restoreReplaced ? { restored } : {}) };
    } catch (error) {
      await this.deps.audit.record({
        actor,
        project: route.owner,
        action: AUDIT_ACTIONS.stepFailed,
        target: route.hostname,
        params: { operation: 'delete', step, state: current.state, routeId: route.id },
        startedAt: this.deps.clock.now(),
        error,
      });
      throw error;
    }
  }

  /**
   * The records an adopt replaced for the route's record: stored with the route that adopted
   * it, which may be another path's route sharing the record (live or deleted).
   */
  async replacedFor(route: CnameRoute): Promise<ReplacedRecord[]> {
    const { routes, replaced } = this.deps.store;
    // The routes that shared this route's record (an older, separately deleted record's
    // replacements are not this record's to restore).
    const sharing =
      route.dnsRecordId === null
        ? []
        : (await routes.list({ zoneId: route.zoneId, hostname: route.hostname, states: ROUTE_STATES })).filter(
            (r) => r.id !== route.id && r.dnsRecordId === route.dnsRecordId,
          );
    const found: ReplacedRecord[] = [];
    for (const r of [route, ...sharing]) {
      for (const record of await replaced.get(r.id)) {
        if (!found.some((f) => f.recordId === record.recordId)) found.push(record);
      }
    }
    return found;
  }

  /**
   * Undoes a create from the state it stopped in and marks the route `failed`. Each undo is
   * idempotent and follows the state: `reserved` did nothing yet; `ingress_written` may have
   * written the rule; `dns_created` may also have created the record. When an undo fails the
   * route keeps its state (recovery retries) and the problem is returned.
   */
  async rollbackCreate(route: CnameRoute, lastError: RouteError): Promise<RecoveryResult> {
    const problems: string[] = [];
    let error: TunnelError | null = null;
    if (route.state === 'dns_created') {
      try {
        // An adopt that stops half-way puts back what it replaced.
        await this.#deleteRecord(route, await this.deps.store.replaced.get(route.id));
      } catch (e) {
        error ??= toTunnelError(e);
        problems.push(`DNS record: ${toTunnelError(e).message}`);
      }
    }
    if (route.state === 'dns_created' || route.state === 'ingress_written') {
      try {
        await this.#removeRule(route);
      } catch (e) {
        error ??= toTunnelError(e);
        problems.push(`ingress rule: ${toTunnelError(e).message}`);
      }
    }
    if (problems.length > 0) {
      this.deps.logger.error('rollback incomplete; the route keeps its state for recovery', {
        hostname: route.hostname,
        state: route.state,
        problems,
      });
      return { route, problems, error };
    }
    const failed = await this.deps.store.routes.update(
      route.id,
      { state: 'failed', lastError, updatedAt: this.deps.clock.now() },
      { expectState: route.state },
    );
    return { route: failed, problems, error: null };
  }

  /**
   * Brings a route left in a pipeline state by a crash to a final one: creates roll back to
   * `failed`, deletes roll forward to `deleted`.
   */
  async recoverRoute(route: CnameRoute, guard: LockGuard): Promise<RecoveryResult> {
    if (route.state === 'reserved' || route.state === 'ingress_written' || route.state === 'dns_created') {
      return this.rollbackCreate(route, { code: 'INTERNAL', message: INTERRUPTED_MESSAGE });
    }
    if (route.state === 'deleting' || route.state === 'dns_deleted' || route.state === 'ingress_removed') {
      try {
        return { route: (await this.delete(route, 'system', guard)).route, problems: [], error: null };
      } catch (e) {
        const error = toTunnelError(e);
        return { route, problems: [error.message], error };
      }
    }
    return { route, problems: [], error: null };
  }

  async #advance(route: CnameRoute, state: RouteState, guard: LockGuard): Promise<CnameRoute> {
    guard.assertHeld();
    const next = await this.deps.store.routes.update(
      route.id,
      { state, updatedAt: this.deps.clock.now() },
      { expectState: route.state },
    );
    await this.#checkpoint(state as PipelineCheckpoint, next);
    return next;
  }

  async #checkpoint(checkpoint: PipelineCheckpoint, route: CnameRoute): Promise<void> {
    const hook = this.deps.hooks.afterStep;
    if (hook) await hook(checkpoint, route);
  }

  async #createRecord(order: CreateOrder): Promise<DnsRecord> {
    const spec = {
      name: order.hostname,
      target: this.deps.tunnelTarget(),
      owner: order.owner,
      instance: this.deps.identity().id,
    };
    if (order.remark && order.replace.length === 0) {
      const result = await this.deps.dns().applyBatch(order.zone.id, {
        deletes: [],
        remarks: [{ recordId: order.remark.id, owner: order.owner, instance: spec.instance }],
        creates: [],
      });
      const remarked = result.remarked?.[0];
      if (remarked) return remarked;
    }
    if (order.replace.length === 0) return this.deps.dns().createCname(order.zone.id, spec);
    const result = await this.deps.dns().applyBatch(order.zone.id, {
      deletes: order.replace.map((r) => r.id),
      creates: [spec],
    });
    const created = result.created[0];
    if (!created) {
      throw new TunnelError('INTERNAL', `The DNS batch that adopts ${order.hostname} created no record.`, {
        hint: 'This is a bug in the DNS provider; list the records of the zone to see what changed.',
      });
    }
    return created;
  }

  /**
   * Removes the route's record: by id when stored (ids are never reused, so the id is ours),
   * else every CNAME to the tunnel that is this instance's and marked as the owner's — unless
   * another live route of the hostname (another path) still uses it: the record goes with the
   * hostname's last route. With `restore`, puts back those of the records an adopt replaced that
   * are gone, in one batch; returns them as `TYPE name content` lines.
   */
  async #deleteRecord(route: CnameRoute, restore: readonly ReplacedRecord[] = []): Promise<string[]> {
    const others = (await this.deps.store.routes.listLive(route.hostname)).filter((r) => r.id !== route.id);
    if (others.length > 0) return [];
    const dns = this.deps.dns();
    if (restore.length > 0) return this.#deleteAndRestore(route, restore);
    if (route.dnsRecordId !== null) {
      try {
        await dns.deleteRecord(route.zoneId, route.dnsRecordId);
      } catch (error) {
        if (!isTunnelError(error, 'NOT_FOUND')) throw error;
      }
      return [];
    }
    const records = await dns.listRecords(route.zoneId, { name: route.hostname });
    for (const record of records.filter((r) => this.#isRouteRecord(route, r))) {
      try {
        await dns.deleteRecord(route.zoneId, record.id);
      } catch (error) {
        if (!isTunnelError(error, 'NOT_FOUND')) throw error;
      }
    }
    return [];
  }

  /** A CNAME to this tunnel that is this instance's (`classifyRecord`) and the route owner's. */
  #isRouteRecord(route: CnameRoute, record: DnsRecord): boolean {
    const holding = classifyRecord(record, this.deps.identity());
    return (
      record.id === route.dnsRecordId ||
      (record.type === 'CNAME' &&
        record.content === this.deps.tunnelTarget() &&
        isOurs(holding) &&
        holding.owner === route.owner)
    );
  }

  async #deleteAndRestore(route: CnameRoute, restore: readonly ReplacedRecord[]): Promise<string[]> {
    const dns = this.deps.dns();
    const records = await dns.listRecords(route.zoneId, { name: route.hostname });
    const deletes = records.filter((r) => this.#isRouteRecord(route, r)).map((r) => r.id);
    const missing = restore.filter((r) => !records.some((x) => x.id === r.recordId));
    if (deletes.length === 0 && missing.length === 0) return [];
    await dns.applyBatch(route.zoneId, {
      deletes,
      creates: [],
      restores: missing.map(({ recordId: _, ...spec }) => spec),
    });
    return missing.map((r) => `${r.type} ${r.name} ${r.content}`);
  }

  /** Removes the owner's managed rule; another owner's rule for the name is not ours to remove. */
  async #removeRule(route: CnameRoute): Promise<void> {
    try {
      await this.deps.ingress.removeManagedRule(route.hostname, {
        owner: route.owner,
        instance: this.deps.identity().id,
        path: route.path,
      });
    } catch (error) {
      if (!isTunnelError(error, 'NOT_OWNER')) throw error;
      this.deps.logger.warn('left another owner’s ingress rule in place', { hostname: route.hostname });
    }
  }

  /** Queues a restart without waiting (the lock is held); null when nothing needs one. */
  async #queueRestart(reason: string, requestedBy: string): Promise<RestartRequestResult | null> {
    if (!this.deps.restarts.restartNeeded) return null;
    return this.deps.restarts.requestRestart({ reason, requestedBy, wait: false });
  }
}

/** A replaced record as stored with the route. */
const toReplaced = (r: DnsRecord): ReplacedRecord => ({
  recordId: r.id,
  name: r.name,
  type: r.type,
  content: r.content,
  proxied: r.proxied,
  ttl: r.ttl,
  comment: r.comment,
});
