import { Hostname } from '../domain/hostname.js';
import type { IngressRule } from '../domain/ingress.js';
import { classifyRule, describeSibling, isOurs } from '../domain/ownership.js';
import { type OriginSettings, originRequestFor } from '../domain/route-options.js';
import { isTunnelError, TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { IngressSnapshot, IngressStore } from '../ports/ingress-store.js';
import type { Logger } from '../ports/logger.js';
import { DEFAULT_CATCH_ALL, withCatchAll } from './first-run.js';
import { compileIngressRules, type IngressMatch } from './match.js';
import { findPartialShadows, findShadowingRule, isRuleFor, managedPlacementIndex, shadowedError } from './placement.js';
import { describeRule, sameValue } from './rules.js';
import { assertWritableRule } from './safety.js';

/** A managed rule as the CNAME pipeline asks for it. */
export interface ManagedRuleRequest {
  /** Any form `Hostname.parse` accepts (a leading `*.` too); written as lower-case punycode. */
  readonly hostname: string;
  /** The rule's RE2 path regex; absent/null for the hostname's path-less rule. */
  readonly path?: string | null;
  /** The rule's origin settings, written as its `originRequest` in the store's format. */
  readonly originRequest?: OriginSettings | null;
  /**
   * Re-target: the path of the owner's rule this one replaces (null: the path-less rule), in
   * the same write. Absent: the rule at `path` is updated in place, or a new one is added.
   */
  readonly previousPath?: string | null;
  /** `scheme://host:port`, `http_status:NNN` or `unix:/path`. */
  readonly service: string;
  /** A project name, or `@admin`. */
  readonly owner: string;
  /** This manager's instance id, written in the rule's mark. */
  readonly instance: string;
}

export interface IngressMutationResult {
  /** False when the rules already were as asked (nothing written). */
  readonly changed: boolean;
  /** The store's version after the call. */
  readonly version: string;
  /** The rule's number (from 1, as cloudflared's validation counts) after an upsert. */
  readonly ruleNumber?: number;
  /** E.g. earlier rules with a path filter that take some of the hostname's paths. */
  readonly warnings: readonly string[];
  /** True when there were no rules yet and this call created the list (the rule and a catch-all). */
  readonly createdList?: boolean;
}

/** A first managed rule created the ingress list (see {@link IngressManagerOptions.onListCreated}). */
export interface IngressListCreated {
  readonly hostname: string;
  readonly owner: string;
  /** The catch-all put last, e.g. `http_status:404`. */
  readonly catchAll: string;
  /** The store's version after the write. */
  readonly version: string;
}

export interface IngressManagerOptions {
  /** Attempts of a read-change-write cycle before a `CONCURRENT_CHANGE` is given up. @default 8 */
  readonly maxAttempts?: number;
  /**
   * Called after a first managed rule created the ingress list on a configuration that had none
   * (the wiring audits it). Must not throw; an error is logged and ignored.
   */
  readonly onListCreated?: (event: IngressListCreated) => void | Promise<void>;
}

/** A store that can run a read-change-write cycle under its own lock (the local file store can). */
export interface LockingIngressStore extends IngressStore {
  update(change: (snapshot: IngressSnapshot) => readonly IngressRule[] | null): Promise<{
    snapshot: IngressSnapshot;
    changed: boolean;
  }>;
}

const canLock = (store: IngressStore): store is LockingIngressStore =>
  typeof (store as Partial<LockingIngressStore>).update === 'function';

interface Plan {
  readonly rules: readonly IngressRule[] | null;
  readonly ruleIndex?: number;
  readonly warnings: readonly string[];
  readonly createdList?: boolean;
}

/**
 * The ingress rules the manager owns, on top of an {@link IngressStore}: adds, updates and
 * removes managed rules by hostname without touching anyone else's, places new rules where
 * nothing shadows them, and re-applies its change when another writer got there first.
 */
export class IngressManager {
  readonly #maxAttempts: number;
  readonly #logger: Logger;
  readonly #onListCreated: IngressManagerOptions['onListCreated'];

  constructor(
    private readonly store: IngressStore,
    private readonly clock: Clock,
    logger: Logger,
    options: IngressManagerOptions = {},
  ) {
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 8);
    this.#logger = logger.child({ component: 'ingress-manager' });
    this.#onListCreated = options.onListCreated;
  }

  read(): Promise<IngressSnapshot> {
    return this.store.read();
  }

  /** How the store types `originRequest` values (see `IngressStoreCapabilities.ruleFormat`). */
  get ruleFormat(): 'yaml' | 'json' {
    return this.store.capabilities.ruleFormat ?? 'yaml';
  }

  /** The rule that serves `url` now, numbered from 0 as `cloudflared tunnel ingress rule` prints it. */
  async ruleFor(url: string): Promise<IngressMatch & { readonly version: string }> {
    const snapshot = await this.store.read();
    return { ...compileIngressRules(snapshot.rules).matchUrl(url), version: snapshot.version };
  }

  /**
   * Makes `hostname` (at `path`) route to `service` through a rule owned by `owner`: updates
   * the owner's rule for that (hostname, path) in place (a legacy-marked one gets the new mark),
   * or inserts a new one where the most specific rule wins (see `managedPlacementIndex`): a
   * hostname's path rules before its path-less rule, exact names before the wildcards that cover
   * them. Refuses with `HOSTNAME_TAKEN` when a rule the manager did not write, another owner's
   * rule, or a rule another instance marked (see `classifyRule`) is written for the hostname (any
   * path), and with `INGRESS_INVALID` (naming the rule) when an earlier rule would take all of
   * the hostname's requests.
   */
  async upsertManagedRule(request: ManagedRuleRequest): Promise<IngressMutationResult> {
    const hostname = Hostname.parse(request.hostname, { allowWildcard: true }).value;
    const originRequest = originRequestFor(request.originRequest ?? null, this.store.capabilities.ruleFormat ?? 'yaml');
    const rule: IngressRule = {
      hostname,
      ...(request.path ? { path: request.path } : {}),
      service: request.service,
      ...(originRequest ? { originRequest } : {}),
      managed: { owner: request.owner, instance: request.instance },
    };
    assertWritableRule(rule, 1);
    const previous = request.previousPath === undefined ? undefined : (request.previousPath ?? '');
    const result = await this.#mutate((rules) => planUpsert(rules, rule, previous));
    if (result.changed)
      this.#logger.info('managed ingress rule written', { hostname, owner: request.owner, service: request.service });
    if (result.changed && result.createdList) await this.#listCreated(hostname, request.owner, result.version);
    return result;
  }

  /**
   * Removes this instance's managed rule(s) for `hostname`: with `path` (null: the path-less
   * rule) only the rule at that path, without it every path's. A hostname without one is a
   * no-op; a rule the manager did not write, or another instance marked, is never removed. With
   * `owner`, refuses with `NOT_OWNER` when the rule belongs to someone else.
   */
  async removeManagedRule(
    hostname: string,
    options: { readonly instance: string; readonly owner?: string; readonly path?: string | null },
  ): Promise<IngressMutationResult> {
    const name = Hostname.parse(hostname, { allowWildcard: true }).value;
    const path = options.path === undefined ? undefined : (options.path ?? '');
    const result = await this.#mutate((rules) =>
      planRemove(rules, name, {
        instance: options.instance,
        ...(options.owner === undefined ? {} : { owner: options.owner }),
        ...(path === undefined ? {} : { path }),
      }),
    );
    if (result.changed) this.#logger.info('managed ingress rule removed', { hostname: name });
    return result;
  }

  /**
   * Rewrites every legacy-marked managed rule (`managed.instance` absent) with this instance's
   * mark, in one write; nothing else changes. Returns the hostnames rewritten.
   */
  async upgradeLegacyMarks(instance: string): Promise<IngressMutationResult & { readonly upgraded: string[] }> {
    let upgraded: string[] = [];
    const result = await this.#mutate((rules) => {
      const plan = planUpgradeMarks(rules, instance);
      upgraded = plan.upgraded;
      return plan;
    });
    if (result.changed) this.#logger.info('legacy rule marks rewritten', { instance, hostnames: upgraded });
    return { ...result, upgraded };
  }

  async #listCreated(hostname: string, owner: string, version: string): Promise<void> {
    const event = { hostname, owner, catchAll: DEFAULT_CATCH_ALL.service, version };
    this.#logger.info('ingress list created by the first managed rule', event);
    try {
      await this.#onListCreated?.(event);
    } catch (error) {
      this.#logger.warn('onListCreated failed', { error: String(error) });
    }
  }

  async #mutate(plan: (rules: readonly IngressRule[]) => Plan): Promise<IngressMutationResult> {
    const done = (snapshot: IngressSnapshot, changed: boolean, p: Plan): IngressMutationResult => ({
      changed,
      version: snapshot.version,
      warnings: p.warnings,
      ...(p.ruleIndex === undefined ? {} : { ruleNumber: p.ruleIndex + 1 }),
      ...(p.createdList ? { createdList: true } : {}),
    });
    if (canLock(this.store)) {
      let last: Plan = { rules: null, warnings: [] };
      const { snapshot, changed } = await this.store.update((current) => {
        last = plan(current.rules);
        return last.rules;
      });
      return done(snapshot, changed, last);
    }
    for (let attempt = 1; ; attempt++) {
      const snapshot = await this.store.read();
      const p = plan(snapshot.rules);
      if (p.rules === null) return done(snapshot, false, p);
      try {
        return done(await this.store.write(p.rules, snapshot.version), true, p);
      } catch (error) {
        if (!isTunnelError(error, 'CONCURRENT_CHANGE') || attempt >= this.#maxAttempts) throw error;
        this.#logger.debug('ingress changed under us; re-applying', { attempt });
        // The first retry is immediate; later ones back off with jitter so racing writers spread out.
        if (attempt > 1) await this.clock.sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
      }
    }
  }
}

function indexesWhere(rules: readonly IngressRule[], test: (rule: IngressRule) => boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < rules.length; i++) if (test(rules[i] as IngressRule)) out.push(i);
  return out;
}

function takenError(rules: readonly IngressRule[], index: number, hostname: string, self: string): TunnelError {
  const holder = rules[index] as IngressRule;
  const holding = classifyRule(holder.managed, { id: self });
  const byOwner =
    holding.kind === 'sibling'
      ? `a rule marked by another Tunnel Manager instance (${describeSibling(holding)})`
      : holder.managed
        ? `the manager's rule owned by ${holder.managed.owner}`
        : 'a rule the manager did not write';
  return new TunnelError(
    'HOSTNAME_TAKEN',
    `${hostname} is already routed by ${byOwner}: ${describeRule(holder, index)}.`,
    {
      hint: holder.managed
        ? 'Pick another hostname, or ask its owner (or an admin) to release it.'
        : 'Pick another hostname, or ask the operator to remove the hand-written rule (or adopt it explicitly).',
      details: {
        hostname,
        ruleNumber: index + 1,
        owner: holder.managed?.owner ?? null,
        ...(holding.kind === 'sibling' ? { instance: holding.instance } : {}),
      },
    },
  );
}

function partialWarnings(rules: readonly IngressRule[], index: number, hostname: string): string[] {
  // The hostname's own path rules take their paths by design: no warning for them.
  return findPartialShadows(rules, index, hostname)
    .filter((j) => !isRuleFor(rules[j] as IngressRule, hostname))
    .map(
      (j) =>
        `${describeRule(rules[j] as IngressRule, j)} comes first and takes the requests for ${hostname} whose path it matches.`,
    );
}

const pathOf = (rule: IngressRule): string => rule.path ?? '';

/**
 * The rules after upserting `rule` (null: already so), per the placement policy. With
 * `previousPath`, the owner's rule at that path is replaced in the same write (a re-target that
 * moves the rule to another path, and so possibly to another place). With no rules yet (a first
 * run), the list is created with `rule` and a catch-all.
 */
export function planUpsert(stored: readonly IngressRule[], rule: IngressRule, previousPath?: string): Plan {
  const rules = withCatchAll(stored);
  const hostname = rule.hostname ?? '';
  const owner = rule.managed?.owner;
  const self = rule.managed?.instance ?? '';
  const path = pathOf(rule);
  const holders = indexesWhere(rules, (r) => isRuleFor(r, hostname));
  const foreign = holders.find((i) => !ownedBy(rules[i] as IngressRule, owner, self));
  if (foreign !== undefined) throw takenError(rules, foreign, hostname, self);
  if (previousPath !== undefined && previousPath !== path) {
    const rest = rules.filter((r) => !(isRuleFor(r, hostname) && pathOf(r) === previousPath));
    const moved = planUpsert(rest, rule);
    return moved.rules === null && rest.length === rules.length ? moved : { ...moved, rules: moved.rules ?? rest };
  }
  const [own, ...duplicates] = holders.filter((i) => pathOf(rules[i] as IngressRule) === path);
  if (own !== undefined) {
    const shadow = findShadowingRule(rules, own, hostname);
    if (shadow !== null) throw shadowedError(rules, shadow, hostname);
    const current = rules[own] as IngressRule;
    const unchanged =
      duplicates.length === 0 &&
      current.hostname === hostname &&
      current.service === rule.service &&
      current.managed?.instance === rule.managed?.instance &&
      sameValue(current.originRequest ?? undefined, rule.originRequest ?? undefined);
    const warnings = partialWarnings(rules, own, hostname);
    if (unchanged) return { rules: null, ruleIndex: own, warnings };
    const next = rules.map((r, i) => (i === own ? rule : r)).filter((_, i) => !duplicates.includes(i));
    return { rules: next, ruleIndex: own, warnings };
  }
  const index = managedPlacementIndex(rules, rule);
  const shadow = findShadowingRule(rules, index, hostname);
  if (shadow !== null) throw shadowedError(rules, shadow, hostname);
  return {
    rules: [...rules.slice(0, index), rule, ...rules.slice(index)],
    ruleIndex: index,
    warnings: partialWarnings(rules, index, hostname),
    ...(stored.length === 0 ? { createdList: true } : {}),
  };
}

/** Whether `rule` is this instance's (`classifyRule`) and, when `owner` is given, that owner's. */
function ownedBy(rule: IngressRule, owner: string | undefined, instance: string): boolean {
  const holding = classifyRule(rule.managed, { id: instance });
  return isOurs(holding) && (owner === undefined || holding.owner === owner);
}

/**
 * The rules without this instance's managed rules for `hostname` (at `path` when given, '' for
 * the path-less rule; null: there are none).
 */
export function planRemove(
  rules: readonly IngressRule[],
  hostname: string,
  options: { readonly instance: string; readonly owner?: string; readonly path?: string },
): Plan {
  const { owner, instance, path } = options;
  const mine = indexesWhere(
    rules,
    (r) =>
      isRuleFor(r, hostname) &&
      (path === undefined || pathOf(r) === path) &&
      isOurs(classifyRule(r.managed, { id: instance })),
  );
  if (mine.length === 0) return { rules: null, warnings: [] };
  const foreign =
    owner === undefined ? undefined : mine.find((i) => (rules[i] as IngressRule).managed?.owner !== owner);
  if (foreign !== undefined) {
    const holder = rules[foreign] as IngressRule;
    throw new TunnelError(
      'NOT_OWNER',
      `${hostname} is routed by a rule owned by ${holder.managed?.owner}, not ${owner}.`,
      {
        hint: 'Only the owner (or an admin) can remove it.',
        details: { hostname, ruleNumber: foreign + 1, owner: holder.managed?.owner ?? null },
      },
    );
  }
  return { rules: rules.filter((_, i) => !mine.includes(i)), warnings: [] };
}

/** The rules with every legacy mark rewritten to name `instance` (null: there are none). */
export function planUpgradeMarks(rules: readonly IngressRule[], instance: string): Plan & { upgraded: string[] } {
  const upgraded: string[] = [];
  const next = rules.map((r) => {
    if (classifyRule(r.managed, { id: instance }).kind !== 'legacy-mine' || !r.managed) return r;
    upgraded.push(r.hostname ?? '');
    return { ...r, managed: { owner: r.managed.owner, instance } };
  });
  return { rules: upgraded.length > 0 ? next : null, warnings: [], upgraded };
}
