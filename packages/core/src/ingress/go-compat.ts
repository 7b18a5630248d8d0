/*
 * Small, exact re-implementations of the Go standard-library functions cloudflared's ingress
 * validation and matching are built on (`strconv.Atoi`, `time.ParseDuration`, `net/url.Parse`,
 * `net.SplitHostPort`, `strconv.Quote`). cloudflared's verdicts follow from their quirks — a
 * query string is allowed on a service URL, `a.com:` "contains a port", a bare number is not a
 * duration — so the validator uses these rather than the WHATWG URL parser or `parseInt`.
 */

import { isIP } from 'node:net';

/** Go's `strconv.Quote`: what cloudflared's messages show around a value. */
export function goQuote(value: string): string {
  let out = '"';
  for (const ch of value) {
    const code = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        continue;
      case '\\':
        out += '\\\\';
        continue;
      case '\x07':
        out += '\\a';
        continue;
      case '\b':
        out += '\\b';
        continue;
      case '\f':
        out += '\\f';
        continue;
      case '\n':
        out += '\\n';
        continue;
      case '\r':
        out += '\\r';
        continue;
      case '\t':
        out += '\\t';
        continue;
      case '\v':
        out += '\\v';
        continue;
    }
    if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else if (code >= 0xd800 && code <= 0xdfff) out += '\\ufffd';
    else if ((code >= 0x80 && code <= 0x9f) || code === 0x2028 || code === 0x2029 || code === 0xfeff) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

export type GoResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

const MAX_INT64 = (1n << 63n) - 1n;
const MIN_INT64 = -(1n << 63n);

/** Go's `strconv.Atoi` on a 64-bit platform: base 10, optional sign, no underscores, no spaces. */
export function goAtoi(text: string): GoResult<number> {
  const syntax = { ok: false as const, error: `strconv.Atoi: parsing ${goQuote(text)}: invalid syntax` };
  if (!/^[+-]?[0-9]+$/.test(text)) return syntax;
  const value = BigInt(text);
  if (value > MAX_INT64 || value < MIN_INT64) {
    return { ok: false, error: `strconv.Atoi: parsing ${goQuote(text)}: value out of range` };
  }
  return { ok: true, value: Number(value) };
}

const DURATION_UNITS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek small letter mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/**
 * Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, e.g. `30s`, `1m30s`, `1.5h`,
 * `-2ms`, or a bare `0`. Returns nanoseconds. A number without a unit is an error.
 */
export function parseGoDuration(input: string): GoResult<bigint> {
  const invalid = { ok: false as const, error: `time: invalid duration ${goQuote(input)}` };
  let s = input;
  let negative = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, value: 0n };
  if (s === '') return invalid;
  let total = 0n;
  while (s !== '') {
    if (!/^[0-9.]/.test(s)) return invalid;
    const intPart = /^[0-9]*/.exec(s)?.[0] ?? '';
    s = s.slice(intPart.length);
    let fraction = '';
    if (s.startsWith('.')) {
      s = s.slice(1);
      fraction = /^[0-9]*/.exec(s)?.[0] ?? '';
      s = s.slice(fraction.length);
    }
    if (intPart === '' && fraction === '') return invalid;
    const unitMatch = /^[^0-9.]*/.exec(s)?.[0] ?? '';
    if (unitMatch === '') return { ok: false, error: `time: missing unit in duration ${goQuote(input)}` };
    const unit = DURATION_UNITS[unitMatch];
    if (unit === undefined) {
      return { ok: false, error: `time: unknown unit ${goQuote(unitMatch)} in duration ${goQuote(input)}` };
    }
    s = s.slice(unitMatch.length);
    const whole = intPart === '' ? 0n : BigInt(intPart);
    if (whole > (1n << 63n) / unit) return invalid;
    let v = whole * unit;
    if (fraction !== '') {
      // Go accumulates at most 19 significant fraction digits and truncates towards zero.
      const digits = fraction.slice(0, 19);
      const scale = 10n ** BigInt(digits.length);
      v += (BigInt(digits === '' ? '0' : digits) * unit) / scale;
      if (v > 1n << 63n) return invalid;
    }
    total += v;
    if (total > 1n << 63n) return invalid;
  }
  if (negative) return { ok: true, value: -total };
  if (total > MAX_INT64) return invalid;
  return { ok: true, value: total };
}

/** Go's `net.SplitHostPort`. cloudflared treats a hostname it can split as "containing a port". */
export function goSplitHostPort(hostport: string): GoResult<{ host: string; port: string }> {
  const fail = (why: string) => ({ ok: false as const, error: `address ${hostport}: ${why}` });
  const i = hostport.lastIndexOf(':');
  if (i < 0) return fail('missing port in address');
  let host: string;
  let j = 0;
  let k = 0;
  if (hostport[0] === '[') {
    const end = hostport.indexOf(']');
    if (end < 0) return fail("missing ']' in address");
    if (end + 1 === hostport.length) return fail('missing port in address');
    if (end + 1 !== i) {
      return hostport[end + 1] === ':' ? fail('too many colons in address') : fail('missing port in address');
    }
    host = hostport.slice(1, end);
    j = 1;
    k = end + 1;
  } else {
    host = hostport.slice(0, i);
    if (host.includes(':')) return fail('too many colons in address');
  }
  if (hostport.slice(j).includes('[')) return fail("unexpected '[' in address");
  if (hostport.slice(k).includes(']')) return fail("unexpected ']' in address");
  return { ok: true, value: { host, port: hostport.slice(i + 1) } };
}

/** The parts of a Go `*url.URL` cloudflared looks at. `host` and `path` are unescaped. */
export interface GoUrl {
  readonly scheme: string;
  readonly opaque: string;
  readonly host: string;
  readonly path: string;
  readonly rawQuery: string;
  readonly fragment: string;
}

const isHex = (c: string) => /^[0-9a-fA-F]$/.test(c);
const ALNUM = /^[a-zA-Z0-9]$/;

/** Go's `shouldEscape(c, encodeHost)` for ASCII bytes. */
function hostCharMustBeEscaped(c: string): boolean {
  if (ALNUM.test(c)) return false;
  if ('!$&\'()*+,;=:[]<>"'.includes(c)) return false;
  if ('-_.~'.includes(c)) return false;
  return true;
}

type Escaping = 'host' | 'zone' | 'path' | 'fragment' | 'userinfo';

/** Go's `url.unescape`, returning the decoded string or Go's error text. */
function goUnescape(s: string, mode: Escaping): GoResult<string> {
  for (let i = 0; i < s.length; ) {
    const c = s[i] ?? '';
    if (c === '%') {
      if (i + 2 >= s.length || !isHex(s[i + 1] ?? '') || !isHex(s[i + 2] ?? '')) {
        return { ok: false, error: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` };
      }
      if (mode === 'host' && Number.parseInt(s[i + 1] ?? '0', 16) < 8 && s.slice(i, i + 3) !== '%25') {
        return { ok: false, error: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` };
      }
      if (mode === 'zone' && s.slice(i, i + 3) !== '%25') {
        const byte = String.fromCharCode(Number.parseInt(s.slice(i + 1, i + 3), 16));
        if (byte !== ' ' && (byte.charCodeAt(0) >= 0x80 || hostCharMustBeEscaped(byte))) {
          return { ok: false, error: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` };
        }
      }
      i += 3;
      continue;
    }
    if ((mode === 'host' || mode === 'zone') && c.charCodeAt(0) < 0x80 && hostCharMustBeEscaped(c)) {
      return { ok: false, error: `invalid character ${goQuote(c)} in host name` };
    }
    i += 1;
  }
  if (!s.includes('%')) return { ok: true, value: s };
  // Decode %XX into bytes, then the bytes as UTF-8 (Go keeps bytes; JS needs a string).
  const bytes: number[] = [];
  const encoder = new TextEncoder();
  for (let i = 0; i < s.length; ) {
    if (s[i] === '%') {
      bytes.push(Number.parseInt(s.slice(i + 1, i + 3), 16));
      i += 3;
    } else {
      const cp = s.codePointAt(i) ?? 0;
      const ch = String.fromCodePoint(cp);
      bytes.push(...encoder.encode(ch));
      i += ch.length;
    }
  }
  return { ok: true, value: new TextDecoder().decode(new Uint8Array(bytes)) };
}

const validOptionalPort = (port: string) => port === '' || /^:[0-9]*$/.test(port);

/**
 * Go's `netip.ParseAddr` verdict on the text inside `[…]`, as the error `net/url` wraps. Only the
 * IPv6 form matters here (an IPv4 literal in brackets is refused separately). The reason after
 * the colon is Go's for the common cases (no `.`/`:` at all, or a zone without an address);
 * for other malformed addresses Go names the exact fault, which this does not reproduce.
 */
function parseAddrProblem(text: string): { error: string } | { family: 4 | 6 } {
  const quoted = `ParseAddr(${goQuote(text)})`;
  for (const c of text) {
    if (c === '.') {
      return isIP(text) === 4 ? { family: 4 } : { error: `${quoted}: unable to parse IP` };
    }
    if (c === ':') {
      const percent = text.indexOf('%');
      const zone = percent < 0 ? '' : text.slice(percent + 1);
      const addr = percent < 0 ? text : text.slice(0, percent);
      if (percent >= 0 && zone === '') return { error: `${quoted}: zone must be a non-empty string` };
      return isIP(addr) === 6 ? { family: 6 } : { error: `${quoted}: unable to parse IP` };
    }
    if (c === '%') return { error: `${quoted}: missing IPv6 address` };
  }
  return { error: `${quoted}: unable to parse IP` };
}

/**
 * Go's `url.parseHost` (Go 1.26, which cloudflared 2026.8 is built with): a `[` anywhere but
 * first is refused, brackets must hold an IPv6 address, and for `http`/`https` everything
 * after the first colon must be a port (`localhost:80:80`, `::1:8080` are refused); other
 * schemes keep the historical last-colon rule.
 */
function parseHost(scheme: string, host: string): GoResult<string> {
  const open = host.lastIndexOf('[');
  if (open > 0) return { ok: false, error: 'invalid IP-literal' };
  if (open === 0) {
    const close = host.lastIndexOf(']');
    if (close < 0) return { ok: false, error: "missing ']' in host" };
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort)) return { ok: false, error: `invalid port ${goQuote(colonPort)} after host` };
    const inside = host.slice(1, close);
    const zoneAt = inside.indexOf('%25');
    let unescaped: string;
    if (zoneAt >= 0) {
      const hostPart = goUnescape(inside.slice(0, zoneAt), 'host');
      if (!hostPart.ok) return hostPart;
      const zonePart = goUnescape(inside.slice(zoneAt), 'zone');
      if (!zonePart.ok) return zonePart;
      unescaped = hostPart.value + zonePart.value;
    } else {
      const plain = goUnescape(inside, 'host');
      if (!plain.ok) return plain;
      unescaped = plain.value;
    }
    const addr = parseAddrProblem(unescaped);
    if ('error' in addr) return { ok: false, error: `invalid host: ${addr.error}` };
    if (addr.family === 4) return { ok: false, error: 'invalid IP-literal' };
    return { ok: true, value: `[${unescaped}]${colonPort}` };
  }
  let i = host.indexOf(':');
  if (i !== -1) {
    const last = host.lastIndexOf(':');
    if (last !== i && scheme !== 'http' && scheme !== 'https') i = last;
    const colonPort = host.slice(i);
    if (!validOptionalPort(colonPort)) return { ok: false, error: `invalid port ${goQuote(colonPort)} after host` };
  }
  return goUnescape(host, 'host');
}

const USERINFO = /^[a-zA-Z0-9\-._:~!$&'()*+,;=%@]*$/;

/**
 * Go's `url.Parse` (not the WHATWG URL parser): keeps the host's case, does no IDNA, allows a
 * query on any URL, treats `host:port` without `//` as an opaque URL with scheme `host`.
 */
export function goParseUrl(rawUrl: string): GoResult<GoUrl> {
  const hash = rawUrl.indexOf('#');
  const u = hash < 0 ? rawUrl : rawUrl.slice(0, hash);
  const frag = hash < 0 ? '' : rawUrl.slice(hash + 1);
  const parsed = parseWithoutFragment(u);
  if (!parsed.ok) return { ok: false, error: `parse ${goQuote(u)}: ${parsed.error}` };
  if (frag === '') return parsed;
  const fragment = goUnescape(frag, 'fragment');
  if (!fragment.ok) return { ok: false, error: `parse ${goQuote(rawUrl)}: ${fragment.error}` };
  return { ok: true, value: { ...parsed.value, fragment: fragment.value } };
}

function parseWithoutFragment(rawUrl: string): GoResult<GoUrl> {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: Go rejects exactly these bytes.
  if (/[\x00-\x1f\x7f]/.test(rawUrl)) return { ok: false, error: 'net/url: invalid control character in URL' };
  const empty = { scheme: '', opaque: '', host: '', path: '', rawQuery: '', fragment: '' };
  if (rawUrl === '*') return { ok: true, value: { ...empty, path: '*' } };
  let scheme = '';
  let rest = rawUrl;
  for (let i = 0; i < rawUrl.length; i++) {
    const c = rawUrl[i] ?? '';
    if (/[a-zA-Z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ':') {
      if (i === 0) return { ok: false, error: 'missing protocol scheme' };
      scheme = rawUrl.slice(0, i).toLowerCase();
      rest = rawUrl.slice(i + 1);
    }
    break;
  }
  let rawQuery = '';
  if (rest.endsWith('?') && rest.split('?').length === 2) rest = rest.slice(0, -1);
  else {
    const q = rest.indexOf('?');
    if (q >= 0) {
      rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith('/')) {
    if (scheme !== '') return { ok: true, value: { ...empty, scheme, opaque: rest, rawQuery } };
    const segment = rest.split('/')[0] ?? '';
    if (segment.includes(':')) return { ok: false, error: 'first path segment in URL cannot contain colon' };
  }
  let host = '';
  if ((scheme !== '' || !rest.startsWith('///')) && rest.startsWith('//')) {
    let authority = rest.slice(2);
    rest = '';
    const slash = authority.indexOf('/');
    if (slash >= 0) {
      rest = authority.slice(slash);
      authority = authority.slice(0, slash);
    }
    const at = authority.lastIndexOf('@');
    const parsedHost = parseHost(scheme, at < 0 ? authority : authority.slice(at + 1));
    if (!parsedHost.ok) return parsedHost;
    if (at >= 0) {
      const userinfo = authority.slice(0, at);
      if (!USERINFO.test(userinfo)) return { ok: false, error: 'net/url: invalid userinfo' };
      const user = goUnescape(userinfo, 'userinfo');
      if (!user.ok) return user;
    }
    host = parsedHost.value;
  }
  const path = goUnescape(rest, 'path');
  if (!path.ok) return path;
  return { ok: true, value: { ...empty, scheme, host, path: path.value, rawQuery } };
}

/** Go's `(*url.URL).Hostname()`: the host without port and without IPv6 brackets. */
export function goUrlHostname(url: GoUrl): string {
  let host = url.host;
  const colon = host.lastIndexOf(':');
  if (colon !== -1 && validOptionalPort(host.slice(colon))) host = host.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  return host;
}
