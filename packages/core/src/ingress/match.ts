import type { RE2JS } from 're2js';
import type { IngressRule } from '../domain/ingress.js';
import { TunnelError } from '../errors.js';
import { goParseUrl, goSplitHostPort, goUrlHostname } from './go-compat.js';
import { idnaLookupToAscii } from './idna.js';
import { compilePathRegex, isCatchAllRule } from './validate.js';

/** The rule that serves a request. `index` counts from 0, as `cloudflared … ingress rule` prints it. */
export interface IngressMatch {
  readonly index: number;
  readonly rule: IngressRule;
}

interface CompiledRule {
  readonly rule: IngressRule;
  readonly hostname: string;
  /** The rule hostname's IDNA form when it differs from the hostname as written. */
  readonly punycode: string | null;
  readonly path: RE2JS | null;
}

/** cloudflared's `matchHost`: literal, or `*.zone` as a suffix `.zone` (any depth, not the apex). */
function matchHost(ruleHost: string, requestHost: string): boolean {
  if (ruleHost === requestHost) return true;
  return ruleHost.startsWith('*.') && requestHost.endsWith(ruleHost.slice(1));
}

/** The IDNA form cloudflared adds to a rule, or null (same as written, a wildcard, a catch-all). */
export function ruleIdnaHostname(rule: IngressRule): string | null {
  const cached = idnaForms.get(rule);
  if (cached !== undefined) return cached;
  const hostname = rule.hostname ?? '';
  const ascii = isCatchAllRule(rule) ? null : idnaLookupToAscii(hostname);
  const form = ascii === null || ascii === hostname ? null : ascii;
  if (Object.isFrozen(rule)) idnaForms.set(rule, form);
  return form;
}

const idnaForms = new WeakMap<IngressRule, string | null>();

/** Compiled rules, remembered for frozen rules: the stores hand out the same objects across reads. */
const compiledRules = new WeakMap<IngressRule, CompiledRule>();

function compileRule(rule: IngressRule, index: number): CompiledRule {
  const cached = compiledRules.get(rule);
  if (cached) return cached;
  let path: RE2JS | null = null;
  if ((rule.path ?? '') !== '') {
    const compiled = compilePathRegex(rule.path ?? '');
    if ('error' in compiled) {
      throw new TunnelError('INGRESS_INVALID', `Rule #${index + 1} has an invalid regex: ${compiled.error}`, {
        hint: 'Path regexes use RE2 syntax (no lookaround or backreferences); fix the rule and retry.',
        details: { ruleNumber: index + 1 },
      });
    }
    path = compiled.regex;
  }
  const result = { rule, hostname: rule.hostname ?? '', punycode: ruleIdnaHostname(rule), path };
  if (Object.isFrozen(rule)) compiledRules.set(rule, result);
  return result;
}

/**
 * Rules prepared for matching (IDNA forms computed, paths compiled once). Matching follows
 * cloudflared's `FindMatchingRule` exactly: first match wins; a rule's hostname matches
 * literally (case-sensitive) or through its IDNA form; `*.example.com` matches any name below
 * `example.com` but not `example.com`; the path is an unanchored RE2 search on the decoded
 * path, and an empty path stays empty (`^/$` does not match `https://a.com`).
 */
export class CompiledIngress {
  readonly rules: readonly IngressRule[];
  readonly #compiled: readonly CompiledRule[];

  constructor(rules: readonly IngressRule[]) {
    if (rules.length === 0) {
      throw new TunnelError('INGRESS_INVALID', 'There are no ingress rules to match against.', {
        hint: 'An ingress configuration ends with a catch-all rule such as `- service: http_status:404`.',
      });
    }
    this.rules = rules;
    this.#compiled = rules.map(compileRule);
  }

  /** Whether the hostname of the rule at `index` matches `host` (its path aside). */
  hostMatches(index: number, host: string): boolean {
    const c = this.#compiled[index];
    if (!c) return false;
    return (
      c.hostname === '' ||
      c.hostname === '*' ||
      matchHost(c.hostname, host) ||
      (c.punycode !== null && matchHost(c.punycode, host))
    );
  }

  /** Whether the rule at `index` serves `host` + `path` (ignoring the rules before it). */
  ruleMatches(index: number, host: string, path: string): boolean {
    const c = this.#compiled[index];
    return c !== undefined && this.hostMatches(index, host) && (c.path === null || c.path.matcher(path).find());
  }

  /** Whether the rule at `index` serves every path of `host` (no path filter, host matches). */
  servesAllPathsOf(index: number, host: string): boolean {
    const c = this.#compiled[index];
    return c !== undefined && c.path === null && this.hostMatches(index, host);
  }

  /** The rule serving a request for `host` (a port is ignored) and decoded `path`. */
  match(host: string, path: string): IngressMatch {
    const split = goSplitHostPort(host);
    const hostname = split.ok ? split.value.host : host;
    for (let i = 0; i < this.#compiled.length; i++) {
      if (this.ruleMatches(i, hostname, path)) return this.#at(i);
    }
    return this.#at(this.#compiled.length - 1);
  }

  /** The rule serving `url`, read with Go's URL parser as `cloudflared … ingress rule URL` does. */
  matchUrl(url: string): IngressMatch {
    const parsed = goParseUrl(url);
    const shown = JSON.stringify(url.length > 200 ? `${url.slice(0, 200)}…` : url);
    if (!parsed.ok) {
      throw new TunnelError('INVALID_INPUT', `${shown} is not a valid URL (${parsed.error}).`, {
        hint: 'Give a full URL such as "https://app.example.com/path".',
      });
    }
    const hostname = goUrlHostname(parsed.value);
    if (hostname === '' && parsed.value.scheme === '') {
      throw new TunnelError('INVALID_INPUT', `${shown} doesn't have a hostname, consider adding a scheme.`, {
        hint: 'Give a full URL such as "https://app.example.com/path".',
      });
    }
    return this.match(hostname, parsed.value.path);
  }

  #at(index: number): IngressMatch {
    return { index, rule: this.rules[index] as IngressRule };
  }
}

const compiledCache = new WeakMap<readonly IngressRule[], CompiledIngress>();

/** Compiles `rules` for matching; the result is cached per rules array. */
export function compileIngressRules(rules: readonly IngressRule[]): CompiledIngress {
  let compiled = compiledCache.get(rules);
  if (!compiled) {
    compiled = new CompiledIngress(rules);
    compiledCache.set(rules, compiled);
  }
  return compiled;
}

/** The rule that serves `url` (e.g. `https://app.example.com/api`), as cloudflared decides it. */
export function matchIngressRule(rules: readonly IngressRule[], url: string): IngressMatch {
  return compileIngressRules(rules).matchUrl(url);
}

/** The rule that serves a request with this Host (port ignored) and decoded path. */
export function findMatchingRule(rules: readonly IngressRule[], host: string, path: string): IngressMatch {
  return compileIngressRules(rules).match(host, path);
}
