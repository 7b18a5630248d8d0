import type { IngressRule } from '../domain/ingress.js';

/** Equality of decoded YAML/JSON values: key order does not matter, array order does. */
export function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  const ak = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const bk = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  return (
    ak.length === bk.length &&
    ak.every(
      (k) => Object.hasOwn(b, k) && sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
    )
  );
}

/**
 * The canonical shape of a rule: an empty hostname or path is the same as none (cloudflared
 * reads both as ""), an absent `originRequest` or `managed` leaves no key behind.
 */
export function normalizeRule(rule: IngressRule): IngressRule {
  return {
    ...(rule.hostname ? { hostname: rule.hostname } : {}),
    ...(rule.path ? { path: rule.path } : {}),
    service: rule.service,
    ...(rule.originRequest === undefined || rule.originRequest === null ? {} : { originRequest: rule.originRequest }),
    ...(rule.managed
      ? {
          managed:
            rule.managed.instance === undefined
              ? { owner: rule.managed.owner }
              : { owner: rule.managed.owner, instance: rule.managed.instance },
        }
      : {}),
  };
}

/** Whether two rules are the same rule, ownership included. */
export function sameRule(a: IngressRule, b: IngressRule): boolean {
  if (a === b) return true;
  return (
    (a.hostname || '') === (b.hostname || '') &&
    (a.path || '') === (b.path || '') &&
    a.service === b.service &&
    (a.managed?.owner ?? null) === (b.managed?.owner ?? null) &&
    (a.managed?.instance ?? null) === (b.managed?.instance ?? null) &&
    sameValue(a.originRequest ?? undefined, b.originRequest ?? undefined)
  );
}

/** A short description of a rule for messages: `Rule #3 (hostname "a.com", service "http://…")`. */
export function describeRule(rule: IngressRule, index: number): string {
  const parts = [
    rule.hostname ? `hostname ${JSON.stringify(rule.hostname)}` : null,
    rule.path ? `path ${JSON.stringify(rule.path)}` : null,
    `service ${JSON.stringify(rule.service)}`,
    rule.managed
      ? `owned by ${rule.managed.owner}${rule.managed.instance ? ` of instance ${rule.managed.instance}` : ''}`
      : 'not managed',
  ].filter(Boolean);
  return `Rule #${index + 1} (${parts.join(', ')})`;
}

/** Freezes a decoded value all the way down. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** A normalized, deeply frozen copy of `rule` (caches keyed by rule object rely on this). */
export function frozenRule(rule: IngressRule): IngressRule {
  const normalized = normalizeRule(rule);
  return deepFreeze(
    normalized.originRequest === undefined
      ? normalized
      : { ...normalized, originRequest: structuredClone(normalized.originRequest) },
  );
}
