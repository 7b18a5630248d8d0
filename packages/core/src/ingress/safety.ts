import { ADMIN_OWNER, PROJECT_NAME_PATTERN } from '../domain/actor.js';
import { Hostname } from '../domain/hostname.js';
import type { IngressRule } from '../domain/ingress.js';
import { isInstanceId } from '../domain/instance.js';
import { TunnelError } from '../errors.js';

/** Longest hostname, path or service the manager writes into a new rule. */
export const MAX_RULE_VALUE_LENGTH = 2048;

/** Services a managed rule may point at: `scheme://host[:port]`, `http_status:NNN`, a unix socket. */
export const MANAGED_SERVICE_PATTERN =
  /^(?:[a-z][a-z0-9+.-]{0,15}:\/\/(?:[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252})|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?|http_status:[1-9][0-9]{2}|hello_world|unix(?:\+tls)?:\/[A-Za-z0-9._/-]{1,1024})$/;

const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function shown(value: string): string {
  return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
}

/** Why `value` may not be written into a new rule, or null. */
function unsafeReason(value: string): string | null {
  if (value.length > MAX_RULE_VALUE_LENGTH) {
    return `is ${value.length} characters long (at most ${MAX_RULE_VALUE_LENGTH})`;
  }
  if (UNPRINTABLE.test(value)) return 'contains a control, line-break or invisible formatting character';
  if (LONE_SURROGATE.test(value)) return 'is not well-formed Unicode';
  return null;
}

function strings(value: unknown, path: string, out: [string, string][]): void {
  if (typeof value === 'string') out.push([path, value]);
  else if (Array.isArray(value)) {
    value.forEach((v, i) => {
      strings(v, `${path}[${i}]`, out);
    });
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) {
      out.push([`${path} key`, k]);
      strings(v, `${path}.${k}`, out);
    }
  }
}

/** Whether `owner` may appear in an owner mark. */
export function isValidOwner(owner: unknown): owner is string {
  return typeof owner === 'string' && (owner === ADMIN_OWNER || PROJECT_NAME_PATTERN.test(owner));
}

function assertManagedRule(rule: IngressRule, owner: unknown, ruleNumber: number): void {
  if (!isValidOwner(owner)) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Rule #${ruleNumber}: invalid owner ${shown(String(owner))} for a managed rule.`,
      { hint: `Nothing was written. An owner is a project name (a–z, 0–9, "-", 1–63 characters) or "${ADMIN_OWNER}".` },
    );
  }
  const instance = rule.managed?.instance;
  if (instance !== undefined && !isInstanceId(instance)) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Rule #${ruleNumber}: invalid instance id ${shown(String(instance))} in a managed rule's mark.`,
      { hint: 'Nothing was written. An instance id is 1–20 characters of a–z, 0–9 and "-".' },
    );
  }
  const canonical = Hostname.parse(rule.hostname ?? '', { allowWildcard: true }).value;
  if (canonical !== rule.hostname) {
    throw new TunnelError(
      'INVALID_HOSTNAME',
      `Rule #${ruleNumber}: a managed rule's hostname must be written in lower-case punycode (${JSON.stringify(canonical)}, not ${shown(rule.hostname ?? '')}).`,
      { hint: 'Nothing was written. Pass the hostname through Hostname.parse() and use its value.' },
    );
  }
  const port = /:([0-9]+)$/.exec(rule.service)?.[1];
  if (
    !MANAGED_SERVICE_PATTERN.test(rule.service) ||
    (port !== undefined && !/^unix|^http_status/.test(rule.service) && (Number(port) < 1 || Number(port) > 65535))
  ) {
    throw new TunnelError(
      'INVALID_INPUT',
      `Rule #${ruleNumber}: ${shown(rule.service)} is not a service a managed rule can use.`,
      {
        hint: 'Nothing was written. Use scheme://host:port (e.g. "http://web:8080"), http_status:NNN or unix:/path.',
      },
    );
  }
}

/**
 * Refuses a rule the manager is about to write for the first time when one of its values could
 * not be written as a plain, single-line YAML value — control characters, line breaks, lone
 * surrogates, absurd lengths — and, for a managed rule, anything but a canonical hostname
 * (lower-case punycode, no wildcard), a `scheme://host:port`-style service and a valid owner.
 * Rules already in the file are never checked here: they are kept as they are.
 */
export function assertWritableRule(rule: IngressRule, ruleNumber: number): void {
  if (rule.managed) assertManagedRule(rule, rule.managed.owner, ruleNumber);
  const values: [string, string][] = [];
  for (const field of ['hostname', 'path', 'service'] as const) {
    const value: unknown = rule[field];
    if (value !== undefined && typeof value !== 'string') {
      throw new TunnelError('INVALID_INPUT', `Rule #${ruleNumber}: ${field} must be a string.`, {
        hint: 'Nothing was written. Pass hostname, path and service as strings.',
      });
    }
    if (typeof value === 'string') values.push([field, value]);
  }
  strings(rule.originRequest, 'originRequest', values);
  for (const [field, value] of values) {
    const why = unsafeReason(value);
    if (why) {
      throw new TunnelError('INVALID_INPUT', `Rule #${ruleNumber}: the ${field} ${shown(value)} ${why}.`, {
        hint: 'Nothing was written. Remove the offending characters; rule values are single-line text.',
      });
    }
  }
}
