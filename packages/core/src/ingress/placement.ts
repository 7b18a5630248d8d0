import type { IngressRule } from '../domain/ingress.js';
import { TunnelError } from '../errors.js';
import { compileIngressRules, ruleIdnaHostname } from './match.js';
import { describeRule } from './rules.js';

const isWildcardRule = (rule: IngressRule) => (rule.hostname ?? '').startsWith('*.');

/**
 * Where a new managed exact-hostname rule goes: after the existing exact rules and before the
 * first wildcard rule (`*.zone`) or the catch-all, whichever comes first. Rules without a
 * hostname but with a path (`- path: ^/.well-known/`) that stand before that point stay before
 * it: they were written to apply to every hostname.
 */
export function placementIndex(rules: readonly IngressRule[]): number {
  const i = rules.findIndex((rule, index) => index === rules.length - 1 || isWildcardRule(rule));
  return i < 0 ? rules.length : i;
}

/** Whether `rule` is written for exactly `hostname` (as written, or through its IDNA form). */
export function servesHostnameExactly(rule: IngressRule, hostname: string): boolean {
  if (!rule.hostname || isWildcardRule(rule)) return false;
  return rule.hostname === hostname || ruleIdnaHostname(rule) === hostname;
}

/**
 * The index of the first rule before `index` that serves every request for `hostname`, so a
 * rule for `hostname` at `index` would never be triggered; or null. `rules` must end with the
 * catch-all.
 */
export function findShadowingRule(rules: readonly IngressRule[], index: number, hostname: string): number | null {
  const compiled = compileIngressRules(rules);
  for (let j = 0; j < Math.min(index, rules.length); j++) if (compiled.servesAllPathsOf(j, hostname)) return j;
  return null;
}

/** Rules before `index` with a path filter whose hostname matches `hostname`: they take some of its paths. */
export function findPartialShadows(rules: readonly IngressRule[], index: number, hostname: string): number[] {
  const compiled = compileIngressRules(rules);
  const out: number[] = [];
  for (let j = 0; j < Math.min(index, rules.length); j++) {
    if ((rules[j] as IngressRule).path && compiled.hostMatches(j, hostname)) out.push(j);
  }
  return out;
}

/** `INGRESS_INVALID` naming the rule that would shadow a rule for `hostname`. */
export function shadowedError(rules: readonly IngressRule[], shadow: number, hostname: string): TunnelError {
  return new TunnelError(
    'INGRESS_INVALID',
    `A rule for ${hostname} would never be used: ${describeRule(rules[shadow] as IngressRule, shadow)} comes first and serves every request for it.`,
    {
      hint: 'Nothing was written. Ask the operator to move or narrow that rule (e.g. put the wildcard after the exact rules), then retry.',
      details: { hostname, shadowingRule: shadow + 1, rule: rules[shadow] },
    },
  );
}
