import { describe, expect, it } from 'vitest';
import { Hostname, isTunnelError } from '../src/index.js';

describe('Hostname', () => {
  it.each([
    ['app.example.com', 'app.example.com'],
    ['App.Example.COM', 'app.example.com'],
    ['münchen.de', 'xn--mnchen-3ya.de'],
    ['shop.MÜNCHEN.de', 'shop.xn--mnchen-3ya.de'],
    ['xn--mnchen-3ya.de', 'xn--mnchen-3ya.de'],
    ['a-b.c-d.example', 'a-b.c-d.example'],
    ['1a.example.com', '1a.example.com'],
    ['x.y.z.example.co.uk', 'x.y.z.example.co.uk'],
    [`${'a'.repeat(63)}.example.com`, `${'a'.repeat(63)}.example.com`],
    ['ex\uff0ecom', 'ex.com'],
  ])('canonicalises %j to %s', (input, expected) => {
    expect(Hostname.parse(input).value).toBe(expected);
  });

  it('accepts a total length of exactly 253 and refuses 254', () => {
    const label = 'a'.repeat(61);
    const name253 = `${label}.${label}.${label}.${label}.a.com`; // 4 × 62 + 5
    expect(name253.length).toBe(253);
    expect(Hostname.parse(name253).value).toBe(name253);
    expect(() => Hostname.parse(`a${name253}`)).toThrowError(/characters long/);
  });

  it.each([
    ['', 'empty'],
    ['example', 'single label'],
    ['foo.com.', 'trailing dot'],
    ['app.example.com:8080', 'port'],
    ['http://app.example.com', 'URL'],
    ['user@example.com', 'address'],
    ['foo..com', 'empty label'],
    ['.foo.com', 'leading dot'],
    ['-a.example.com', 'leading hyphen'],
    ['a-.example.com', 'trailing hyphen'],
    ['a_b.example.com', 'underscore'],
    ['a b.example.com', 'space'],
    ['a\nb.example.com', 'newline'],
    ['a#b.example.com', 'hash'],
    ['a"b.example.com', 'quote'],
    ['{a}.example.com', 'brace'],
    ['app.example.com\u200b', 'zero-width space'],
    [`${'a'.repeat(64)}.example.com`, 'label of 64'],
    ['1.2.3.4', 'IPv4'],
    ['0x7f.1', 'numeric host'],
    ['*.example.com', 'wildcard not allowed'],
    ['a.*.example.com', 'inner wildcard'],
    ['*example.com', 'partial wildcard'],
    ['x'.repeat(10_000), '10 kB'],
  ])('refuses %j (%s) with INVALID_HOSTNAME and a hint', (input, _why) => {
    try {
      Hostname.parse(input);
      throw new Error('expected a failure');
    } catch (error) {
      expect(isTunnelError(error, 'INVALID_HOSTNAME')).toBe(true);
      expect((error as { hint: string }).hint.length).toBeGreaterThan(10);
      // A hostile input never ends up whole in the message.
      expect((error as Error).message.length).toBeLessThan(300);
    }
  });

  it('refuses non-strings', () => {
    for (const input of [undefined, null, 42, {}, ['a.com']]) {
      expect(() => Hostname.parse(input)).toThrowError(expect.objectContaining({ code: 'INVALID_HOSTNAME' }));
    }
  });

  it('accepts a leading wildcard only when allowed', () => {
    const wild = Hostname.parse('*.Example.com', { allowWildcard: true });
    expect(wild.value).toBe('*.example.com');
    expect(wild.isWildcard).toBe(true);
    expect(() => Hostname.parse('*.*.example.com', { allowWildcard: true })).toThrowError(/leading label/);
    expect(() => Hostname.parse('*.com', { allowWildcard: true })).toThrowError(/single label/);
  });

  it('knows its zone relations', () => {
    const h = Hostname.parse('app.example.com');
    expect(h.isWithin('example.com')).toBe(true);
    expect(h.isWithin('ample.com')).toBe(false);
    expect(h.isApexOf('example.com')).toBe(false);
    expect(Hostname.parse('example.com').isApexOf('example.com')).toBe(true);
    expect(Hostname.parse('shop.münchen.de').toUnicode()).toBe('shop.münchen.de');
    expect(JSON.stringify({ h })).toBe('{"h":"app.example.com"}');
    expect(Hostname.tryParse('bad name')).toBeNull();
  });
});
