import type { IngressRule } from '../domain/ingress.js';

/** One problem found in an ingress configuration, numbered the way cloudflared numbers it. */
export interface IngressProblem {
  /** 1-based, as in cloudflared's "Rule #N" validation messages; null for the whole config. */
  readonly ruleNumber: number | null;
  readonly message: string;
}

export interface IngressValidation {
  readonly errors: readonly IngressProblem[];
  readonly warnings: readonly IngressProblem[];
}

const isCatchAll = (rule: IngressRule) =>
  (rule.hostname === undefined || rule.hostname === '' || rule.hostname === '*') &&
  (rule.path === undefined || rule.path === '');

/**
 * Validates an ingress rule list with cloudflared's structural rules: there is at least one
 * rule, the last one is a catch-all, no other one is, and every rule has a service.
 */
export function validateIngressRules(rules: readonly IngressRule[]): IngressValidation {
  const errors: IngressProblem[] = [];
  if (rules.length === 0) {
    errors.push({ ruleNumber: null, message: 'The config file does not contain any ingress rules' });
    return { errors, warnings: [] };
  }
  rules.forEach((rule, index) => {
    const n = index + 1;
    if (typeof rule.service !== 'string' || rule.service === '') {
      errors.push({ ruleNumber: n, message: `Rule #${n} is missing a service` });
    }
    const last = index === rules.length - 1;
    if (last && !isCatchAll(rule)) {
      errors.push({
        ruleNumber: n,
        message: `The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)`,
      });
    }
    if (!last && isCatchAll(rule)) {
      errors.push({
        ruleNumber: n,
        message: `Rule #${n} is matching all URLs, but it's not the last rule. Remove it or move it to the end.`,
      });
    }
  });
  return { errors, warnings: [] };
}
