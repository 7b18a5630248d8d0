import { domainToASCII, domainToUnicode } from 'node:url';

const STD3_ASCII = /^[A-Za-z0-9.-]*$/;
const STD3_LABEL = /^[a-z0-9-]*$/;
const utf8 = new TextEncoder();
const isHyphen = (b: string | number | undefined) => b === '-' || b === 0x2d;

/** Go's idna `CheckHyphens` (V2, V3) on a label as UTF-8 bytes. */
function breaksHyphenRules(label: string): boolean {
  if (label === '') return false;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: an ASCII test, not a typo.
  const bytes = /^[\x00-\x7f]*$/.test(label) ? label : utf8.encode(label);
  if (bytes.length > 4 && isHyphen(bytes[2]) && isHyphen(bytes[3])) return true;
  return label.startsWith('-') || label.endsWith('-');
}

/**
 * The IDNA form cloudflared gives a rule's hostname: Go's `idna.Lookup.ToASCII` (UTS #46,
 * non-transitional, STD3 ASCII rules, hyphen checks), or null where that returns an error —
 * as it does for every wildcard (`*` is not an STD3 character) and for names with `_`.
 *
 * Built on node's WHATWG `domainToASCII` (the same UTS #46 mapping) plus the STD3 and hyphen
 * checks WHATWG leaves out.
 */
export function idnaLookupToAscii(hostname: string): string | null {
  let ascii: string;
  if (STD3_ASCII.test(hostname)) {
    // Pure STD3 ASCII: mapping only lower-cases.
    ascii = hostname.toLowerCase();
  } else {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: disallowed ASCII, not a typo.
    if (/[\x00-\x2c\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]/.test(hostname)) return null;
    ascii = domainToASCII(hostname);
    if (ascii === '') return null;
  }
  for (const label of ascii.split('.')) {
    if (!STD3_LABEL.test(label)) return null;
    const unicode = label.startsWith('xn--') ? domainToUnicode(label) : label;
    if (label.startsWith('xn--') && (unicode === '' || unicode === label)) return null;
    if (breaksHyphenRules(unicode)) return null;
  }
  return ascii;
}
