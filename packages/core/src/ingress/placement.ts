import type { IngressRule } from '../domain/ingress.js';
import { pathSpecificity } from '../domain/route-options.js';
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

/** Whether wildcard `outer` (`*.example.com`) takes names `inner` (`*.team.example.com`) also matches. */
function wildcardCovers(outer: string, inner: string): boolean {
  return outer.startsWith('*.') && inner.startsWith('*.') && inner !== outer && inner.endsWith(outer.slice(1));
}

/**
 * Where a new wildcard rule (`*.team.example.com`) goes: after every exact rule (placed before
 * the first wildcard, so the exact names it covers keep their own rules), and before the first
 * broader wildcard that also takes its names (`*.example.com`) or the catch-all.
 */
export function wildcardPlacementIndex(rules: readonly IngressRule[], wildcard: string): number {
  const last = rules.length - 1;
  const i = rules.findIndex((rule, index) => index === last || wildcardCovers(rule.hostname ?? '', wildcard));
  return i < 0 ? rules.length : i;
}

/**
 * Where a new managed rule for `rule.hostname` (optionally with a path) goes so the most
 * specific rule wins. Among the rules already written for exactly that hostname (the
 * hostname's group, one owner's), it goes before the first one less specific than itself (see
 * `pathSpecificity`: path rules before the path-less rule, anchored before unanchored, longer
 * literal prefix first) and after the ones at least as specific. A hostname without rules yet
 * starts its group where {@link placementIndex} (exact names) or {@link wildcardPlacementIndex}
 * (wildcards) says.
 */
export function managedPlacementIndex(rules: readonly IngressRule[], rule: IngressRule): number {
  const hostname = rule.hostname ?? '';
  const own = rank(rule.path);
  let lastOfGroup = -1;
  for (let i = 0; i < rules.length - 1; i++) {
    const other = rules[i] as IngressRule;
    if (!isRuleFor(other, hostname)) continue;
    if (rank(other.path) < own) return i;
    lastOfGroup = i;
  }
  if (lastOfGroup >= 0) return lastOfGroup + 1;
  return hostname.startsWith('*.') ? wildcardPlacementIndex(rules, hostname) : placementIndex(rules);
}

const rank = (path: string | undefined): number => pathSpecificity(path ?? null);

/**
 * Whether `rule` is one of `hostname`'s own rules: written for exactly that name, or, for a
 * wildcard name, the same wildcard written the same way.
 */
export function isRuleFor(rule: IngressRule, hostname: string): boolean {
  return hostname.startsWith('*.') ? rule.hostname === hostname : servesHostnameExactly(rule, hostname);
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
