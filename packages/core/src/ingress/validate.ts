import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import type { IngressRule } from '../domain/ingress.js';
import { goAtoi, goParseUrl, goSplitHostPort, goUrlHostname } from './go-compat.js';
import {
  accessProblem,
  checkOriginRequest,
  goBool,
  type IngressFormat,
  lookup,
  retryTimeoutProblem,
} from './origin-request.js';
import { type IngressProblem, problem } from './problems.js';

export type { IngressProblem, IngressProblemCode } from './problems.js';

export interface IngressValidation {
  /**
   * Problems that make cloudflared refuse the configuration, in the order cloudflared meets
   * them (decoder errors, then rule by rule: service, access, hostname, path), so `errors[0]`
   * is the one `cloudflared tunnel ingress validate` reports. Empty when cloudflared accepts it.
   */
  readonly errors: readonly IngressProblem[];
  /** Unknown keys: cloudflared ignores them and prints a warning instead of `OK`. */
  readonly warnings: readonly IngressProblem[];
}

export interface IngressValidationOptions {
  /** How `originRequest` values are typed (see {@link IngressFormat}). @default 'auto' */
  readonly format?: IngressFormat;
  /**
   * The top-level `originRequest`: its values are every rule's defaults, and `bastionMode: true`
   * there makes a rule without a service a bastion. Type-checked too (problems have no rule).
   */
  readonly originRequest?: unknown;
}

export const HTTP_STATUS_PREFIX = 'http_status:';

const CATCH_ALL_HOSTNAMES = new Set(['', '*']);

/** cloudflared's catch-all test: no hostname (or `*`) and no path. */
export function isCatchAllRule(rule: Pick<IngressRule, 'hostname' | 'path'>): boolean {
  return CATCH_ALL_HOSTNAMES.has(rule.hostname ?? '') && (rule.path ?? '') === '';
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Go's `net.ParseCIDR` acceptance: an IP (no zone) and a prefix length within its size. */
function isValidCidr(prefix: string): boolean {
  const slash = prefix.indexOf('/');
  if (slash < 0) return false;
  const addr = prefix.slice(0, slash);
  const bits = prefix.slice(slash + 1);
  const family = addr.includes('%') ? 0 : isIP(addr);
  if (family === 0 || !/^[0-9]+$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

/** The error cloudflared's ipaccess package returns for one `ipRules` entry, or null. */
function ipRuleError(rule: unknown, format: IngressFormat): string | null {
  const entry = isPlainObject(rule) ? rule : {};
  const prefix = lookup(entry, 'prefix', format);
  if (prefix === undefined || prefix === null || prefix === '') return 'no prefix provided';
  if (!isValidCidr(String(prefix))) return `unable to parse cidr: ${String(prefix)}`;
  const ports = lookup(entry, 'ports', format);
  for (const port of Array.isArray(ports) ? [...ports].sort((a, b) => Number(a) - Number(b)) : []) {
    const n = Math.trunc(Number(port));
    if (n < 1 || n > 65535) return `invalid port ${n}, needs to be between 1 and 65535`;
  }
  return null;
}

function serviceProblems(
  rule: IngressRule,
  n: number,
  bastionMode: boolean,
  format: IngressFormat,
): IngressProblem | null {
  const service = rule.service ?? '';
  if (service.startsWith('unix:') || service.startsWith('unix+tls:')) return null;
  if (service.startsWith(HTTP_STATUS_PREFIX)) {
    const status = goAtoi(service.slice(HTTP_STATUS_PREFIX.length));
    if (!status.ok) {
      return problem({
        ruleNumber: n,
        code: 'invalid-http-status',
        field: 'service',
        cloudflared: `invalid HTTP status code: ${status.error}`,
      });
    }
    if (status.value < 100 || status.value > 999) {
      return problem({
        ruleNumber: n,
        code: 'invalid-http-status',
        field: 'service',
        cloudflared: `invalid HTTP status code: ${status.value}`,
      });
    }
    return null;
  }
  if (service === 'hello_world' || service === 'hello-world') return null;
  if (service === 'socks-proxy') {
    const ipRules = isPlainObject(rule.originRequest) ? lookup(rule.originRequest, 'ipRules', format) : undefined;
    for (const ipRule of Array.isArray(ipRules) ? ipRules : []) {
      const why = ipRuleError(ipRule, format);
      if (why !== null) {
        return problem({
          ruleNumber: n,
          code: 'invalid-ip-rule',
          field: 'originRequest.ipRules',
          cloudflared: `unable to create ip rule for socks-proxy: ${why}`,
        });
      }
    }
    return null;
  }
  if (service === 'bastion' || bastionMode) return null;
  const url = goParseUrl(service);
  if (!url.ok) return problem({ ruleNumber: n, code: 'invalid-service', field: 'service', cloudflared: url.error });
  if (url.value.scheme === '' || goUrlHostname(url.value) === '') {
    return problem({
      ruleNumber: n,
      code: 'invalid-service',
      field: 'service',
      cloudflared: `${service} is an invalid address, please make sure it has a scheme and a hostname`,
    });
  }
  if (url.value.path !== '') {
    return problem({
      ruleNumber: n,
      code: 'service-has-path',
      field: 'service',
      cloudflared: `${service} is an invalid address, ingress rules don't support proxying to a different path on the origin service. The path will be the same as the eyeball request's path`,
    });
  }
  return null;
}

function hostnameFormProblem(rule: IngressRule, n: number): IngressProblem | null {
  const hostname = rule.hostname ?? '';
  if (goSplitHostPort(hostname).ok) {
    return problem({
      ruleNumber: n,
      code: 'hostname-port',
      field: 'hostname',
      cloudflared: 'Hostname cannot contain a port',
    });
  }
  if (hostname.lastIndexOf('*') > 0) {
    return problem({
      ruleNumber: n,
      code: 'hostname-wildcard',
      field: 'hostname',
      cloudflared:
        'Hostname patterns can have at most one wildcard character ("*") and it can only be used for subdomains, e.g. "*.example.com"',
    });
  }
  return null;
}

function catchAllPlacementProblem(rule: IngressRule, index: number, total: number): IngressProblem | null {
  const n = index + 1;
  const catchAll = isCatchAllRule(rule);
  const last = index === total - 1;
  if (last && !catchAll) {
    return problem({
      ruleNumber: n,
      code: 'last-rule-not-catch-all',
      cloudflared: 'The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)',
    });
  }
  if (!last && catchAll) {
    return problem({
      ruleNumber: n,
      code: 'catch-all-not-last',
      cloudflared: `Rule #${n} is matching the hostname '${rule.hostname ?? ''}', but this will match every hostname, meaning the rules which follow it will never be triggered.`,
    });
  }
  return null;
}

/** Compiles a path the way cloudflared does (Go's RE2 syntax), or returns the error text. */
export function compilePathRegex(path: string): { regex: RE2JS } | { error: string } {
  try {
    return { regex: RE2JS.compile(path) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
}

function stringFieldProblem(
  rule: IngressRule,
  n: number,
  field: 'hostname' | 'path' | 'service',
): IngressProblem | null {
  const value: unknown = rule[field];
  if (value === undefined || typeof value === 'string') return null;
  return problem({
    ruleNumber: n,
    code: 'invalid-value',
    field,
    message: `${field} must be a string (got ${typeof value})`,
    cloudflared: `cannot unmarshal ${typeof value} into string`,
  });
}

/**
 * Validates an ingress rule list exactly as cloudflared (release 2026.8) does when it loads a
 * configuration: its decoder's type checks on `originRequest`, then `ingress.ParseIngress`
 * rule by rule — service form, `http_status` range, `socks-proxy` ip rules, `access`, hostname
 * port and wildcard placement, the catch-all being last and only last, and the path compiling
 * as an RE2 regular expression. Where cloudflared is laxer than intuition (a hostname such as
 * `*foo` or `a b`, a query string on a service URL) this accepts what cloudflared accepts.
 * Unlike cloudflared it does not stop at the first error.
 */
export function validateIngressRules(
  rules: readonly IngressRule[],
  options: IngressValidationOptions = {},
): IngressValidation {
  const format = options.format ?? 'auto';
  const errors: IngressProblem[] = [];
  const warnings: IngressProblem[] = [];
  if (options.originRequest !== undefined) checkOriginRequest(options.originRequest, null, format, errors, warnings);
  const defaults = isPlainObject(options.originRequest) ? options.originRequest : {};
  const defaultBastion = goBool(lookup(defaults, 'bastionMode', format), format) ?? false;
  const cacheKey = `${format}|${defaultBastion}`;
  const dirty = new Set<number>();
  const known = rules.map((rule) => isKnownClean(rule, cacheKey));
  rules.forEach((rule, index) => {
    if (known[index]) return;
    const n = index + 1;
    const before = errors.length + warnings.length;
    for (const field of ['hostname', 'path', 'service'] as const) {
      const p = stringFieldProblem(rule, n, field);
      if (p) errors.push(p);
    }
    if (rule.originRequest !== undefined) checkOriginRequest(rule.originRequest, n, format, errors, warnings);
    if (errors.length + warnings.length > before) dirty.add(index);
  });
  if (rules.length === 0) {
    errors.push(
      problem({ ruleNumber: null, code: 'no-rules', cloudflared: "The config file doesn't contain any ingress rules" }),
    );
    return { errors, warnings };
  }
  // cloudflared stops at its decoder's errors: ParseIngress never sees the rules.
  if (errors.length > 0) return { errors, warnings };
  const globalRetry = retryTimeoutProblem(defaults, null, format);
  if (globalRetry) errors.push(globalRetry);
  rules.forEach((rule, index) => {
    const n = index + 1;
    if (known[index]) {
      const placement = catchAllPlacementProblem(rule, index, rules.length);
      if (placement) errors.push(placement);
      return;
    }
    const before = errors.length;
    const own = isPlainObject(rule.originRequest) ? lookup(rule.originRequest, 'bastionMode', format) : undefined;
    const bastion = own === undefined || own === null ? defaultBastion : (goBool(own, format) ?? false);
    const found = [
      serviceProblems(rule, n, bastion, format),
      retryTimeoutProblem(rule.originRequest, n, format),
      accessProblem(rule.originRequest, n, format),
      hostnameFormProblem(rule, n),
    ];
    for (const p of found) if (p) errors.push(p);
    const formOk = found[3] === null;
    const placement = formOk ? catchAllPlacementProblem(rule, index, rules.length) : null;
    if (placement) errors.push(placement);
    if ((rule.path ?? '') !== '') {
      const compiled = compilePathRegex(rule.path ?? '');
      if ('error' in compiled) {
        errors.push(
          problem({
            ruleNumber: n,
            code: 'invalid-path-regex',
            field: 'path',
            cloudflared: `Rule #${n} has an invalid regex: ${compiled.error}`,
          }),
        );
      }
    }
    const localErrors = errors.length - before - (placement ? 1 : 0);
    if (localErrors === 0 && !dirty.has(index)) markClean(rule, cacheKey);
  });
  return { errors, warnings };
}

/**
 * Rules already found free of rule-local problems, by validation context. Only frozen rules
 * are remembered (the stores hand out frozen rules), so a cached verdict cannot go stale.
 */
const cleanRules = new WeakMap<IngressRule, string>();

function isKnownClean(rule: IngressRule, key: string): boolean {
  return cleanRules.get(rule) === key;
}

/** Remembers the last context a rule was clean in (one format per store in practice). */
function markClean(rule: IngressRule, key: string): void {
  if (!Object.isFrozen(rule) || (rule.originRequest !== undefined && !Object.isFrozen(rule.originRequest))) return;
  cleanRules.set(rule, key);
}
