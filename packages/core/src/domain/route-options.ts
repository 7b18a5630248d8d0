/**
 * What a route may carry besides its hostname and service: a path (cloudflared's RE2 regex,
 * matched unanchored against the request path) and origin settings from an allow-list.
 * Plain data; checked by `parseRouteOptions` (manager/route-options.ts).
 */

/**
 * The `originRequest` settings a route may set. Only settings that change how cloudflared talks
 * to the route's own origin are allowed; settings that open other doors (`bastionMode`,
 * `proxyAddress`/`proxyPort`/`proxyType`, `ipRules`, `access`) are left to the operator's own
 * rules. Durations are Go duration strings of whole seconds (`"30s"`, `"1m"`), canonicalised
 * to seconds (`"60s"`).
 */
export interface OriginSettings {
  /** Skip verifying the origin's TLS certificate (a self-signed origin). */
  readonly noTLSVerify?: boolean;
  /** The name the origin's certificate is checked against (and sent as SNI). */
  readonly originServerName?: string;
  /** Send the request's Host as SNI and check the certificate against it. */
  readonly matchSNItoHost?: boolean;
  /** A PEM file of CA certificates for the origin, in a directory the operator allows (`policy.caPoolDirs`). */
  readonly caPool?: string;
  /** The Host header sent to the origin, e.g. `app.internal`. */
  readonly httpHostHeader?: string;
  /** Speak HTTP/2 to the origin (it must support it). */
  readonly http2Origin?: boolean;
  /** Disable chunked transfer encoding (some WSGI servers need it). */
  readonly disableChunkedEncoding?: boolean;
  /** Disable Happy Eyeballs (IPv4/IPv6 fallback) when dialling the origin. */
  readonly noHappyEyeballs?: boolean;
  /** Timeout for establishing a TCP connection to the origin, e.g. `"10s"`. */
  readonly connectTimeout?: string;
  /** Timeout for the TLS handshake with the origin. */
  readonly tlsTimeout?: string;
  /** TCP keep-alive period for the origin connection. */
  readonly tcpKeepAlive?: string;
  /** How long an idle keep-alive connection to the origin is kept. */
  readonly keepAliveTimeout?: string;
  /** Most idle keep-alive connections kept to the origin. */
  readonly keepAliveConnections?: number;
}

/** The allow-list, with each setting's type. */
export const ORIGIN_SETTING_TYPES = {
  noTLSVerify: 'bool',
  originServerName: 'name',
  matchSNItoHost: 'bool',
  caPool: 'caPool',
  httpHostHeader: 'name',
  http2Origin: 'bool',
  disableChunkedEncoding: 'bool',
  noHappyEyeballs: 'bool',
  connectTimeout: 'duration',
  tlsTimeout: 'duration',
  tcpKeepAlive: 'duration',
  keepAliveTimeout: 'duration',
  keepAliveConnections: 'count',
} as const satisfies Record<keyof OriginSettings, string>;

export type OriginSettingName = keyof typeof ORIGIN_SETTING_TYPES;
export const ORIGIN_SETTING_NAMES = Object.keys(ORIGIN_SETTING_TYPES) as OriginSettingName[];

/** Whether two (canonical) settings are the same; null and `{}` are both "none". */
export function sameOriginSettings(a: OriginSettings | null, b: OriginSettings | null): boolean {
  const x = (a ?? {}) as Record<string, unknown>;
  const y = (b ?? {}) as Record<string, unknown>;
  const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
  for (const key of keys) if (x[key] !== y[key]) return false;
  return true;
}

/**
 * The settings as a rule's `originRequest`, in the format of the store: a local `config.yml`
 * takes Go duration strings (`30s`), the remote configuration numbers of seconds. Null for none.
 */
export function originRequestFor(
  settings: OriginSettings | null,
  format: 'yaml' | 'json',
): Readonly<Record<string, unknown>> | null {
  if (!settings) return null;
  const out: Record<string, unknown> = {};
  for (const name of ORIGIN_SETTING_NAMES) {
    const value = settings[name];
    if (value === undefined) continue;
    out[name] =
      ORIGIN_SETTING_TYPES[name] === 'duration' && format === 'json' ? Number(String(value).slice(0, -1)) : value;
  }
  return Object.keys(out).length === 0 ? null : out;
}

/**
 * How specific a route's path is, for placement: higher sorts first among one hostname's rules.
 * A path-less rule takes what no path takes, so it is least specific (-1). A path anchored at
 * the start (`^/api`) is more specific than an unanchored one (`/api` also matches `/v1/api`);
 * within each kind, a longer literal prefix (the characters every match must start with) is
 * more specific. So `^/api/v2` (7) comes before `^/api` (4), which comes before `static` .
 */
export function pathSpecificity(path: string | null | undefined): number {
  if (!path) return -1;
  const anchored = path.startsWith('^');
  const prefix = literalPrefix(anchored ? path.slice(1) : path);
  // 100 000 exceeds any literal prefix (paths are at most 2048 characters).
  return (anchored ? 100_000 : 0) + prefix.length;
}

const META = new Set(['.', '[', ']', '(', ')', '{', '}', '*', '+', '?', '|', '^', '$', '\\']);
const QUANTIFIERS = new Set(['*', '?', '{']);

/**
 * The literal text a regex's matches start with (after any `^`): characters up to the first
 * metacharacter, with `\.`-style escapes of punctuation read as the character. A literal
 * followed by a quantifier (`a*`, `a?`, `a{0,1}`) is not required, so it is dropped; `+` keeps it.
 */
export function literalPrefix(regex: string): string {
  let out = '';
  let i = 0;
  while (i < regex.length) {
    const ch = regex[i] as string;
    let literal: string | null = null;
    let width = 1;
    if (ch === '\\') {
      const next = regex[i + 1];
      if (next !== undefined && /[^A-Za-z0-9]/.test(next)) {
        literal = next;
        width = 2;
      }
    } else if (!META.has(ch)) {
      literal = ch;
    }
    if (literal === null) break;
    const after = regex[i + width];
    if (after !== undefined && QUANTIFIERS.has(after)) break;
    out += literal;
    i += width;
  }
  // An alternation at top level (`^/a|/b`) means no prefix is certain.
  return topLevelAlternation(regex) ? '' : out;
}

function topLevelAlternation(regex: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < regex.length; i++) {
    const ch = regex[i];
    if (ch === '\\') {
      i++;
      continue;
    }
    if (inClass) {
      if (ch === ']') inClass = false;
      continue;
    }
    if (ch === '[') inClass = true;
    else if (ch === '(') depth++;
    else if (ch === ')') depth--;
    else if (ch === '|' && depth === 0) return true;
  }
  return false;
}
