import type { IngressRule } from '../domain/ingress.js';
import type { IngressFormat } from './origin-request.js';
import { type IngressProblem, problem } from './problems.js';
import { normalizeRule } from './rules.js';
import { validateIngressRules } from './validate.js';

export interface IngressParseOptions {
  /** Which decoder's rules apply (see {@link IngressFormat}). @default 'auto' */
  readonly format?: IngressFormat;
}

export interface ParsedIngressRules {
  /** One rule per list entry, in order (an entry that could not be read becomes `{service: ''}`). */
  readonly rules: IngressRule[];
  /** Entries cloudflared's decoder would refuse (not a list, not a mapping, a list as a hostname…). */
  readonly errors: IngressProblem[];
  /** Keys cloudflared does not know; it ignores them with a warning. */
  readonly warnings: IngressProblem[];
}

const RULE_KEYS = ['hostname', 'path', 'service', 'originRequest'] as const;
type RuleKey = (typeof RULE_KEYS)[number];

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function kindOf(value: unknown, format: IngressFormat): string {
  if (format === 'json') return Array.isArray(value) ? 'array' : isPlainObject(value) ? 'object' : typeof value;
  if (Array.isArray(value)) return '!!seq';
  if (isPlainObject(value)) return '!!map';
  if (typeof value === 'number') return Number.isInteger(value) ? '!!int' : '!!float';
  return typeof value === 'boolean' ? '!!bool' : '!!str';
}

/**
 * Reads a decoded `ingress` list (from `yaml.parse` or `JSON.parse`) into rules the way
 * cloudflared's decoder reads it into `[]config.UnvalidatedIngressRule`: a YAML scalar of any
 * type becomes its text (`service: 404` is the string "404"), null is "", unknown keys are
 * warnings. JSON wants strings. Validation of the rules themselves is
 * {@link validateIngressRules}'s job; {@link parseIngressConfig} does both.
 */
export function parseIngressRules(raw: unknown, options: IngressParseOptions = {}): ParsedIngressRules {
  const format = options.format ?? 'auto';
  const rules: IngressRule[] = [];
  const errors: IngressProblem[] = [];
  const warnings: IngressProblem[] = [];
  if (raw === undefined || raw === null) return { rules, errors, warnings };
  if (!Array.isArray(raw)) {
    errors.push(
      problem({
        ruleNumber: null,
        code: 'invalid-structure',
        field: 'ingress',
        message: 'ingress must be a list of rules',
        cloudflared:
          format === 'json'
            ? `json: cannot unmarshal ${kindOf(raw, format)} into Go struct field of type []config.UnvalidatedIngressRule`
            : `cannot unmarshal ${kindOf(raw, format)} into []config.UnvalidatedIngressRule`,
      }),
    );
    return { rules, errors, warnings };
  }
  // yaml.v3 skips a null item (`-` alone) when it decodes into a struct; encoding/json leaves a
  // zero struct (a rule with no service) in its place.
  const entries = format === 'yaml' ? raw.filter((entry) => entry !== null && entry !== undefined) : raw;
  entries.forEach((entry, index) => {
    const n = index + 1;
    if (entry === null || entry === undefined) {
      rules.push({ service: '' });
      return;
    }
    if (!isPlainObject(entry)) {
      errors.push(
        problem({
          ruleNumber: n,
          code: 'invalid-structure',
          message: 'a rule must be a mapping with hostname, path, service and originRequest',
          cloudflared: `cannot unmarshal ${kindOf(entry, format)} into config.UnvalidatedIngressRule`,
        }),
      );
      rules.push({ service: '' });
      return;
    }
    const rule: { -readonly [K in RuleKey]?: unknown } = {};
    for (const [key, value] of Object.entries(entry)) {
      const known = RULE_KEYS.find((k) => (format === 'json' ? k.toLowerCase() === key.toLowerCase() : k === key));
      if (!known) {
        warnings.push(
          problem({
            ruleNumber: n,
            code: 'unknown-key',
            field: key,
            message: `unknown key ${JSON.stringify(key)} (cloudflared ignores it)`,
            cloudflared: `field ${key} not found in type config.UnvalidatedIngressRule`,
          }),
        );
        continue;
      }
      if (value === null || value === undefined) continue;
      if (known === 'originRequest') {
        if (!isPlainObject(value)) {
          errors.push(
            problem({
              ruleNumber: n,
              code: 'invalid-value',
              field: known,
              message: `originRequest must be a mapping (got ${kindOf(value, format)})`,
              cloudflared: `cannot unmarshal ${kindOf(value, format)} into config.OriginRequestConfig`,
            }),
          );
          continue;
        }
        rule.originRequest = value;
        continue;
      }
      const scalar =
        typeof value === 'string' || (format !== 'json' && (typeof value === 'number' || typeof value === 'boolean'));
      if (!scalar) {
        errors.push(
          problem({
            ruleNumber: n,
            code: 'invalid-value',
            field: known,
            message: `${known} must be a string (got ${kindOf(value, format)})`,
            cloudflared: `cannot unmarshal ${kindOf(value, format)} into string`,
          }),
        );
        continue;
      }
      rule[known] = String(value);
    }
    rules.push(
      normalizeRule({
        ...(typeof rule.hostname === 'string' ? { hostname: rule.hostname } : {}),
        ...(typeof rule.path === 'string' ? { path: rule.path } : {}),
        service: typeof rule.service === 'string' ? rule.service : '',
        ...(rule.originRequest ? { originRequest: rule.originRequest as Record<string, unknown> } : {}),
      }),
    );
  });
  return { rules, errors, warnings };
}

export interface ParsedIngressConfig extends ParsedIngressRules {
  /** The top-level `originRequest` (every rule's defaults), as decoded. */
  readonly originRequest: Readonly<Record<string, unknown>> | undefined;
}

/**
 * Reads and validates a whole decoded cloudflared configuration (`yaml.parse` of `config.yml`,
 * or the remote configuration's `config` object): its `ingress` list and top-level
 * `originRequest`. `errors` is empty exactly when cloudflared would accept the ingress.
 */
export function parseIngressConfig(config: unknown, options: IngressParseOptions = {}): ParsedIngressConfig {
  const format = options.format ?? 'auto';
  const root = isPlainObject(config) ? config : {};
  const top = root.originRequest;
  const parsed = parseIngressRules(root.ingress, { format });
  const originRequest = isPlainObject(top) ? top : undefined;
  if (parsed.errors.length > 0) return { ...parsed, originRequest };
  const validation = validateIngressRules(parsed.rules, {
    format,
    ...(top === undefined ? {} : { originRequest: top }),
  });
  return {
    rules: parsed.rules,
    errors: [...validation.errors],
    warnings: [...parsed.warnings, ...validation.warnings],
    originRequest,
  };
}
