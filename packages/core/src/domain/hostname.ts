import { isIP } from 'node:net';
import { domainToASCII, domainToUnicode } from 'node:url';
import { isTunnelError, TunnelError } from '../errors.js';

/** Longest hostname DNS can carry, in its ASCII (punycode) form, without the trailing dot. */
export const MAX_HOSTNAME_LENGTH = 253;
/** Anything longer than this is refused before any parsing work is done. */
const MAX_RAW_INPUT_LENGTH = 1024;

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** ASCII characters a hostname may be written with; non-ASCII goes through IDNA. */
const ALLOWED_ASCII = /^[\x21-\x7e]*$/;
const FORBIDDEN_ASCII = /[^a-zA-Z0-9.*-]/;

export interface HostnameParseOptions {
  /** Accept a leading `*.` (a wildcard rule). @default false */
  allowWildcard?: boolean;
}

/** The raw input may be hostile (huge, control characters): only a bounded, JSON-escaped excerpt is shown. */
const excerpt = (input: string): string => JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);

function invalid(input: string, why: string, hint: string): TunnelError {
  // `problem` lets a caller that built the name (subdomain + zone) quote what it was given instead.
  return new TunnelError('INVALID_HOSTNAME', `Invalid hostname ${excerpt(input)}: ${why}.`, {
    hint,
    details: { problem: why },
  });
}

const NAME_HINT = 'Hostnames use only letters, digits, "-" and "." (RFC 1123), e.g. "app.example.com".';

/**
 * A validated DNS hostname in its canonical form: lower-case, IDN labels converted to punycode
 * (UTS #46 via WHATWG `domainToASCII`), RFC 1123 labels, at most 253 characters, at least two
 * labels, no trailing dot, no port. A wildcard is allowed only as a leading `*.` and only when
 * the caller asks for it. This canonical form is what the manager stores, writes into ingress
 * rules and DNS records, and compares.
 */
export class Hostname {
  private constructor(
    /** The canonical ASCII form, e.g. `app.xn--mnchen-3ya.de` or `*.example.com`. */
    readonly value: string,
  ) {}

  /** Parses and canonicalises `input`, or throws `INVALID_HOSTNAME` with a hint. */
  static parse(input: unknown, options: HostnameParseOptions = {}): Hostname {
    if (typeof input !== 'string') {
      throw new TunnelError('INVALID_HOSTNAME', `A hostname must be a string, got ${typeof input}.`, {
        hint: 'Pass a fully-qualified name such as "app.example.com".',
      });
    }
    if (input.length === 0) {
      throw invalid(input, 'it is empty', 'Pass a fully-qualified name such as "app.example.com".');
    }
    if (input.length > MAX_RAW_INPUT_LENGTH) {
      throw invalid(
        input,
        `it is ${input.length} characters long`,
        `A hostname has at most ${MAX_HOSTNAME_LENGTH} characters.`,
      );
    }
    // The specific mistakes first, each named for what it is (a line break or an IPv6 address
    // also contains characters a later, more general check would blame instead).
    if (/[\r\n]/.test(input)) {
      throw invalid(
        input,
        'it contains a line break',
        'Pass the hostname alone, on one line, e.g. "app.example.com" (was it read with its newline?).',
      );
    }
    if (/\$\{|\{\{/.test(input)) {
      throw invalid(
        input,
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the text names the placeholder syntax
        'it contains an unexpanded placeholder ("${…}" or "{{…}}")',
        'Substitute the variable before calling: pass the actual name, e.g. "app.example.com".',
      );
    }
    const bare = input.startsWith('[') && input.endsWith(']') ? input.slice(1, -1) : input;
    if (isIP(bare) === 6 || (input.startsWith('[') && input.includes(':'))) {
      throw invalid(
        input,
        'it is an IPv6 address, not a hostname',
        'A CNAME routes a DNS name: pass a name such as "app.example.com", not an address.',
      );
    }
    if (isIP(input) === 4) {
      throw invalid(
        input,
        'it is an IPv4 address, not a hostname',
        'A CNAME routes a DNS name: pass a name such as "app.example.com", not an address.',
      );
    }
    if (input.includes('://') || input.includes('/') || input.includes('@')) {
      throw invalid(
        input,
        'it looks like a URL or an address, not a hostname',
        'Give only the hostname part, e.g. "app.example.com".',
      );
    }
    if (/^[^:]+:[0-9]*$/.test(input)) {
      throw invalid(
        input,
        `it ends with a port (${JSON.stringify(input.slice(input.indexOf(':')))})`,
        'Give the bare hostname; the port of your service goes in the "port" field.',
      );
    }
    if (input.includes(':')) {
      throw invalid(input, 'it contains ":"', NAME_HINT);
    }
    if (input.startsWith('.')) {
      throw invalid(input, 'it starts with a dot', 'Drop the leading dot: write "app.example.com".');
    }
    if (input.endsWith('.')) {
      throw invalid(input, 'it ends with a dot', 'Drop the trailing dot: write "app.example.com".');
    }
    let rest = input;
    let wildcard = false;
    if (rest.startsWith('*.')) {
      if (!options.allowWildcard) {
        throw invalid(input, 'wildcards are not allowed here', 'Ask for a concrete name such as "app.example.com".');
      }
      wildcard = true;
      rest = rest.slice(2);
    }
    if (rest.includes('*')) {
      throw invalid(
        input,
        '"*" may only appear as a whole leading label ("*.example.com")',
        'Remove the "*" or put it first as "*.".',
      );
    }
    const asciiOnly = ALLOWED_ASCII.test(rest);
    if (asciiOnly && FORBIDDEN_ASCII.test(rest)) {
      const bad = rest.match(FORBIDDEN_ASCII)?.[0] ?? '?';
      throw invalid(input, `it contains the character ${JSON.stringify(bad)}`, NAME_HINT);
    }
    if (!asciiOnly && /[\s\p{Cc}\p{Cf}\p{Z}]/u.test(rest)) {
      throw invalid(input, 'it contains whitespace or control characters', NAME_HINT);
    }
    const ascii = domainToASCII(rest);
    if (ascii === '') {
      throw invalid(
        input,
        'it is not a valid internationalised domain name',
        'Check the spelling; IDN names must convert to punycode under UTS #46.',
      );
    }
    const labels = ascii.split('.');
    if (labels.length < 2) {
      throw invalid(input, 'it has a single label', 'Use a fully-qualified name with a zone, e.g. "app.example.com".');
    }
    for (const label of labels) {
      if (label.length === 0) {
        throw invalid(input, 'it has an empty label (two dots in a row)', 'Remove the extra dot.');
      }
      if (label.length > 63) {
        throw invalid(
          input,
          `the label "${label.slice(0, 20)}…" has ${label.length} characters`,
          'Each label (the parts between dots) has at most 63 characters.',
        );
      }
      if (!LABEL.test(label)) {
        throw invalid(
          input,
          `the label ${JSON.stringify(label)} is not valid`,
          'A label uses letters, digits and "-", and does not start or end with "-".',
        );
      }
    }
    if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) {
      throw invalid(
        input,
        'it ends in a numeric label (an IP address?)',
        'A CNAME needs a DNS name; IP addresses cannot be routed through the tunnel this way.',
      );
    }
    const value = wildcard ? `*.${ascii}` : ascii;
    if (value.length > MAX_HOSTNAME_LENGTH) {
      throw invalid(
        input,
        `it is ${value.length} characters long in punycode`,
        `A hostname has at most ${MAX_HOSTNAME_LENGTH} characters.`,
      );
    }
    return new Hostname(value);
  }

  /** Like {@link Hostname.parse} but returns `null` instead of throwing. */
  static tryParse(input: unknown, options: HostnameParseOptions = {}): Hostname | null {
    try {
      return Hostname.parse(input, options);
    } catch {
      return null;
    }
  }

  get isWildcard(): boolean {
    return this.value.startsWith('*.');
  }

  get labels(): string[] {
    return this.value.split('.');
  }

  /** The name for people: punycode labels shown in Unicode. */
  toUnicode(): string {
    return this.isWildcard ? `*.${domainToUnicode(this.value.slice(2))}` : domainToUnicode(this.value);
  }

  /** True when this name is `zone` itself or a name below it. `zone` is a canonical name. */
  isWithin(zone: string): boolean {
    return this.value === zone || this.value.endsWith(`.${zone}`);
  }

  /** True when this name is exactly the zone apex. */
  isApexOf(zone: string): boolean {
    return this.value === zone;
  }

  equals(other: Hostname | string): boolean {
    return this.value === (typeof other === 'string' ? other : other.value);
  }

  toString(): string {
    return this.value;
  }

  toJSON(): string {
    return this.value;
  }
}

/**
 * The hostname `subdomain` names below `zone` (already parsed). Errors quote the subdomain as the
 * caller gave it — not the joined name, which they never sent — and name its actual problem.
 */
export function hostnameFromSubdomain(subdomain: string, zone: Hostname): Hostname {
  const fail = (why: string, hint: string) =>
    new TunnelError('INVALID_HOSTNAME', `Invalid subdomain ${excerpt(subdomain)}: ${why}.`, {
      hint,
      details: { field: 'subdomain', problem: why },
    });
  const labelHint = `Give the name below the zone, e.g. "app" for app.${zone.value}; the zone is added for you.`;
  if (subdomain.length === 0) throw fail('it is empty', labelHint);
  if (subdomain.length > MAX_RAW_INPUT_LENGTH) {
    throw fail(
      `it is ${subdomain.length} characters long`,
      `A hostname has at most ${MAX_HOSTNAME_LENGTH} characters.`,
    );
  }
  if (subdomain.startsWith('.') && !subdomain.startsWith('..')) throw fail('it starts with a dot', labelHint);
  if (subdomain.endsWith('.')) throw fail('it ends with a dot', labelHint);
  if (subdomain.toLowerCase() === zone.value || subdomain.toLowerCase().endsWith(`.${zone.value}`)) {
    throw fail(
      `it already ends with the zone ${zone.value}`,
      `Pass hostname: "${subdomain}" instead, or only the part below the zone.`,
    );
  }
  try {
    return Hostname.parse(`${subdomain}.${zone.value}`, { allowWildcard: true });
  } catch (error) {
    const problem = isTunnelError(error, 'INVALID_HOSTNAME')
      ? (error.details as { problem?: unknown } | undefined)?.problem
      : undefined;
    if (typeof problem !== 'string') throw error;
    throw new TunnelError(
      'INVALID_HOSTNAME',
      `Invalid subdomain ${excerpt(subdomain)} (below ${zone.value}): ${problem}.`,
      {
        hint: (error as TunnelError).hint,
        details: { field: 'subdomain', problem },
      },
    );
  }
}
