import { describe, expect, it } from 'vitest';
import {
  compileIngressRules,
  findMatchingRule,
  type IngressRule,
  isTunnelError,
  matchIngressRule,
} from '../../src/index.js';

const CATCH_ALL: IngressRule = { service: 'http_status:404' };
const rule = (hostname: string | undefined, path?: string): IngressRule => ({
  ...(hostname === undefined ? {} : { hostname }),
  ...(path === undefined ? {} : { path }),
  service: `http://svc-${hostname ?? 'any'}-${path ?? ''}:1`,
});

describe('matchIngressRule (cloudflared FindMatchingRule)', () => {
  const rules: IngressRule[] = [
    rule('app.example.com'),
    rule('api.example.com', '^/v[0-9]+/'),
    rule('*.example.com'),
    rule('*.b.example.org'),
    CATCH_ALL,
  ];
  it.each([
    ['https://app.example.com', 0],
    ['https://app.example.com/any/path?q=1#f', 0],
    ['https://app.example.com:8443/x', 0],
    ['https://api.example.com/v2/users', 1],
    // The exact rule's path does not match: the wildcard takes it.
    ['https://api.example.com/docs', 2],
    ['https://x.example.com', 2],
    ['https://x.y.z.example.com/', 2],
    // The apex is not below itself.
    ['https://example.com', 4],
    ['https://a.b.example.org', 3],
    ['https://b.example.org', 4],
    // A suffix that is not a label boundary does not match.
    ['https://badexample.com', 4],
    // Literal, case-sensitive: a rule written in lower case does not serve upper case.
    ['https://APP.EXAMPLE.COM', 4],
    ['https://other.net', 4],
  ])('%s → rule #%i', (url, index) => {
    const match = matchIngressRule(rules, url);
    expect(match.index).toBe(index);
    expect(match.rule).toBe(rules[index]);
  });

  it('matches a rule written with upper case or Unicode through its IDNA form, and literally', () => {
    const idn: IngressRule[] = [rule('App.Example.com'), rule('münchen.example'), rule('*.Wild.example'), CATCH_ALL];
    expect(matchIngressRule(idn, 'https://app.example.com').index).toBe(0);
    expect(matchIngressRule(idn, 'https://App.Example.com').index).toBe(0);
    expect(matchIngressRule(idn, 'https://APP.EXAMPLE.COM').index).toBe(3);
    expect(matchIngressRule(idn, 'https://xn--mnchen-3ya.example').index).toBe(1);
    expect(matchIngressRule(idn, 'https://münchen.example').index).toBe(1);
    // Wildcard rules get no IDNA form: only the literal suffix matches.
    expect(matchIngressRule(idn, 'https://a.Wild.example').index).toBe(2);
    expect(matchIngressRule(idn, 'https://a.wild.example').index).toBe(3);
  });

  it('searches the path unanchored, on the decoded path, and never turns an empty path into "/"', () => {
    const paths: IngressRule[] = [
      rule('a.com', '^/$'),
      rule('a.com', 'api'),
      rule('a.com', '^/with space$'),
      rule('a.com', '(?i)^/CASE'),
      rule(undefined, '^/healthz$'),
      CATCH_ALL,
    ];
    expect(matchIngressRule(paths, 'https://a.com').index).toBe(5);
    expect(matchIngressRule(paths, 'https://a.com/').index).toBe(0);
    expect(matchIngressRule(paths, 'https://a.com/v1/api/x').index).toBe(1);
    expect(matchIngressRule(paths, 'https://a.com/with%20space').index).toBe(2);
    expect(matchIngressRule(paths, 'https://a.com/case/x').index).toBe(3);
    expect(matchIngressRule(paths, 'https://any.host/healthz').index).toBe(4);
    expect(matchIngressRule(paths, 'https://any.host/healthz/').index).toBe(5);
  });

  it('falls through to the catch-all, whatever it is written as', () => {
    expect(matchIngressRule([rule('a.com'), { hostname: '*', service: 'http_status:503' }], 'http://b.com').index).toBe(
      1,
    );
    expect(matchIngressRule([CATCH_ALL], 'http://b.com/x').index).toBe(0);
  });

  it('reads the URL as Go does: no scheme means no host', () => {
    for (const url of ['a.com/x', '']) {
      try {
        matchIngressRule(rules, url);
        expect.unreachable(`expected ${url} to be refused`);
      } catch (error) {
        expect(isTunnelError(error, 'INVALID_INPUT')).toBe(true);
      }
    }
    expect(() => matchIngressRule(rules, 'http://a b.com')).toThrow(/invalid character " " in host name/);
    // A scheme with an opaque part has an empty host: only host-less rules and the catch-all match.
    expect(matchIngressRule([rule(undefined, '^$'), CATCH_ALL], 'http:opaque').index).toBe(0);
  });

  it('ignores a port in the Host (findMatchingRule), including for IPv6', () => {
    expect(findMatchingRule(rules, 'app.example.com:443', '/').index).toBe(0);
    expect(findMatchingRule([rule('::1'), CATCH_ALL], '[::1]:8080', '/').index).toBe(0);
    expect(findMatchingRule([rule('::1'), CATCH_ALL], '::1', '/').index).toBe(0);
  });

  it('reuses the compiled form of the same rules array', () => {
    expect(compileIngressRules(rules)).toBe(compileIngressRules(rules));
    expect(compileIngressRules([...rules])).not.toBe(compileIngressRules(rules));
  });

  it('refuses rules it cannot match against', () => {
    expect(() => matchIngressRule([], 'http://a.com')).toThrow(/no ingress rules/);
    expect(() => matchIngressRule([rule('a.com', '(?=x)'), CATCH_ALL], 'http://a.com')).toThrow(
      /Rule #1 has an invalid regex/,
    );
  });
});
