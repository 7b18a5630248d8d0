import { describe, expect, it } from 'vitest';
import {
  type IngressFormat,
  type IngressProblemCode,
  type IngressRule,
  parseConfigFile,
  parseIngressConfig,
  parseIngressRules,
  validateIngressRules,
} from '../../src/index.js';

const CATCH_ALL: IngressRule = { service: 'http_status:404' };
const ok = (hostname: string, service = 'http://localhost:8000'): IngressRule => ({ hostname, service });

interface Case {
  readonly name: string;
  readonly rules: readonly IngressRule[];
  /** null: cloudflared accepts the rules. */
  readonly error: { code: IngressProblemCode; rule: number | null; cloudflared: string } | null;
  readonly format?: IngressFormat;
  readonly originRequest?: Record<string, unknown>;
}

const LAST_NOT_CATCH_ALL =
  'The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)';
const BAD_WILDCARD =
  'Hostname patterns can have at most one wildcard character ("*") and it can only be used for subdomains, e.g. "*.example.com"';
const badAddress = (s: string) => `${s} is an invalid address, please make sure it has a scheme and a hostname`;
const hasPath = (s: string) =>
  `${s} is an invalid address, ingress rules don't support proxying to a different path on the origin service. The path will be the same as the eyeball request's path`;

// Each case is what cloudflared 2026.8 does with the rules (ingress/ingress.go, config/configuration.go,
// ipaccess/access.go, Go's net/url, strconv and regexp): accept, or the first error it reports.
const CASES: Case[] = [
  // --- accepted ---
  { name: 'a lone catch-all', rules: [CATCH_ALL], error: null },
  { name: 'a "*" catch-all', rules: [ok('a.example.com'), { hostname: '*', service: 'http_status:503' }], error: null },
  { name: 'https service without a port', rules: [ok('a.example.com', 'https://localhost'), CATCH_ALL], error: null },
  {
    name: 'tcp, ssh and rdp services',
    rules: [ok('a.com', 'tcp://db:5432'), ok('b.com', 'ssh://h:22'), ok('c.com', 'rdp://w:3389'), CATCH_ALL],
    error: null,
  },
  { name: 'ws and wss services', rules: [ok('a.com', 'ws://h:1'), ok('b.com', 'wss://h:2'), CATCH_ALL], error: null },
  { name: 'any scheme with a host', rules: [ok('a.com', 'foo://h'), CATCH_ALL], error: null },
  {
    name: 'unix and unix+tls sockets',
    rules: [ok('a.com', 'unix:/run/app.sock'), ok('b.com', 'unix+tls:/run/b.sock'), CATCH_ALL],
    error: null,
  },
  { name: 'unix: with nothing after it (not checked)', rules: [ok('a.com', 'unix:'), CATCH_ALL], error: null },
  {
    name: 'http_status at both ends of 100–999',
    rules: [ok('a.com', 'http_status:100'), { service: 'http_status:999' }],
    error: null,
  },
  {
    name: 'http_status with a sign and a leading zero (strconv.Atoi)',
    rules: [ok('a.com', 'http_status:+0404'), CATCH_ALL],
    error: null,
  },
  {
    name: 'hello_world and hello-world',
    rules: [ok('a.com', 'hello_world'), ok('b.com', 'hello-world'), CATCH_ALL],
    error: null,
  },
  {
    name: 'bastion and socks-proxy',
    rules: [ok('a.com', 'bastion'), ok('b.com', 'socks-proxy'), CATCH_ALL],
    error: null,
  },
  {
    name: 'a query string on the service (no path)',
    rules: [ok('a.com', 'http://localhost:8000?x=1'), CATCH_ALL],
    error: null,
  },
  { name: 'userinfo and an IPv6 literal', rules: [ok('a.com', 'http://u:p@[::1]:8080'), CATCH_ALL], error: null },
  { name: 'an empty port after the colon', rules: [ok('a.com', 'http://localhost:'), CATCH_ALL], error: null },
  { name: 'a wildcard rule', rules: [ok('*.example.com'), CATCH_ALL], error: null },
  {
    name: 'a leading * without a dot (cloudflared only checks the * position)',
    rules: [ok('*example.com'), CATCH_ALL],
    error: null,
  },
  {
    name: 'hostname characters cloudflared does not check',
    rules: [ok('A b_c.COM'), ok('münchen.de'), CATCH_ALL],
    error: null,
  },
  { name: 'a bare IPv6 address as hostname (too many colons for a port)', rules: [ok('::1'), CATCH_ALL], error: null },
  {
    name: 'a path-only rule before the catch-all',
    rules: [{ path: '^/healthz$', service: 'http://h:1' }, CATCH_ALL],
    error: null,
  },
  {
    name: 'RE2 named groups in both spellings and (?i)',
    rules: [{ hostname: 'a.com', path: '(?P<a>x)(?<b>y)(?i)z', service: 'http://h:1' }, CATCH_ALL],
    error: null,
  },
  {
    name: 'an empty service with bastionMode',
    rules: [{ hostname: 'a.com', service: '', originRequest: { bastionMode: true } }, CATCH_ALL],
    error: null,
  },
  {
    name: 'an empty service with a top-level bastionMode',
    rules: [{ hostname: 'a.com', service: '' }, CATCH_ALL],
    originRequest: { bastionMode: true },
    error: null,
  },
  {
    name: 'YAML: Go durations and YAML 1.1 booleans',
    format: 'yaml',
    rules: [
      {
        hostname: 'a.com',
        service: 'http://h:1',
        originRequest: {
          connectTimeout: '1m30s',
          tlsTimeout: '0',
          noTLSVerify: 'yes',
          http2Origin: 'off',
          keepAliveConnections: 10,
        },
      },
      CATCH_ALL,
    ],
    error: null,
  },
  {
    name: 'JSON: durations in seconds',
    format: 'json',
    rules: [
      {
        hostname: 'a.com',
        service: 'http://h:1',
        originRequest: { connectTimeout: 30, tcpKeepAlive: 0.5, noTLSVerify: true },
      },
      CATCH_ALL,
    ],
    error: null,
  },
  {
    name: 'socks-proxy with valid ip rules',
    rules: [
      {
        hostname: 'a.com',
        service: 'socks-proxy',
        originRequest: {
          ipRules: [
            { prefix: '10.0.0.0/8', ports: [80, 443], allow: true },
            { prefix: '::/0', allow: false },
          ],
        },
      },
      CATCH_ALL,
    ],
    error: null,
  },
  // --- refused ---
  {
    name: 'no rules at all',
    rules: [],
    error: { code: 'no-rules', rule: null, cloudflared: "The config file doesn't contain any ingress rules" },
  },
  {
    name: 'the last rule has a hostname',
    rules: [ok('a.com')],
    error: { code: 'last-rule-not-catch-all', rule: 1, cloudflared: LAST_NOT_CATCH_ALL },
  },
  {
    name: 'the last rule has only a path',
    rules: [ok('a.com'), { path: '^/x', service: 'http://h:1' }],
    error: { code: 'last-rule-not-catch-all', rule: 2, cloudflared: LAST_NOT_CATCH_ALL },
  },
  {
    name: 'the last rule is "*" with a path',
    rules: [{ hostname: '*', path: '/', service: 'http://h:1' }],
    error: { code: 'last-rule-not-catch-all', rule: 1, cloudflared: LAST_NOT_CATCH_ALL },
  },
  {
    name: 'a catch-all that is not last',
    rules: [CATCH_ALL, ok('a.com'), CATCH_ALL],
    error: {
      code: 'catch-all-not-last',
      rule: 1,
      cloudflared:
        "Rule #1 is matching the hostname '', but this will match every hostname, meaning the rules which follow it will never be triggered.",
    },
  },
  {
    name: 'a "*" rule that is not last',
    rules: [ok('a.com'), { hostname: '*', service: 'http://h:1' }, CATCH_ALL],
    error: {
      code: 'catch-all-not-last',
      rule: 2,
      cloudflared:
        "Rule #2 is matching the hostname '*', but this will match every hostname, meaning the rules which follow it will never be triggered.",
    },
  },
  {
    name: 'a hostname with a port',
    rules: [ok('a.com:8080'), CATCH_ALL],
    error: { code: 'hostname-port', rule: 1, cloudflared: 'Hostname cannot contain a port' },
  },
  {
    name: 'a hostname ending in ":" (net.SplitHostPort splits it)',
    rules: [ok('a.com'), ok('b.com:'), CATCH_ALL],
    error: { code: 'hostname-port', rule: 2, cloudflared: 'Hostname cannot contain a port' },
  },
  {
    name: 'a bracketed IPv6 hostname with a port',
    rules: [ok('[::1]:80'), CATCH_ALL],
    error: { code: 'hostname-port', rule: 1, cloudflared: 'Hostname cannot contain a port' },
  },
  {
    name: 'a wildcard in the middle',
    rules: [ok('a.*.com'), CATCH_ALL],
    error: { code: 'hostname-wildcard', rule: 1, cloudflared: BAD_WILDCARD },
  },
  {
    name: 'two wildcards',
    rules: [ok('*.*.com'), CATCH_ALL],
    error: { code: 'hostname-wildcard', rule: 1, cloudflared: BAD_WILDCARD },
  },
  {
    name: 'a service without a scheme',
    rules: [ok('a.com', 'localhost:8000'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: badAddress('localhost:8000') },
  },
  {
    name: 'a service with a trailing slash',
    rules: [ok('a.com', 'http://localhost:8000/'), CATCH_ALL],
    error: { code: 'service-has-path', rule: 1, cloudflared: hasPath('http://localhost:8000/') },
  },
  {
    name: 'a service with a path',
    rules: [ok('a.com'), ok('b.com', 'https://h/api'), CATCH_ALL],
    error: { code: 'service-has-path', rule: 2, cloudflared: hasPath('https://h/api') },
  },
  {
    name: 'a service with a scheme and no host',
    rules: [ok('a.com', 'http://'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: badAddress('http://') },
  },
  {
    name: 'an empty service',
    rules: [ok('a.com', ''), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: badAddress('') },
  },
  {
    name: 'helloworld (an old spelling cloudflared dropped)',
    rules: [ok('a.com', 'helloworld'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: badAddress('helloworld') },
  },
  {
    name: 'a space in the service host',
    rules: [ok('a.com', 'http://local host'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://local host": invalid character " " in host name',
    },
  },
  {
    name: 'a non-numeric port',
    rules: [ok('a.com', 'http://a.com:abc'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://a.com:abc": invalid port ":abc" after host',
    },
  },
  {
    name: 'a control character in the service',
    rules: [ok('a.com', 'http://a\tb'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://a\\tb": net/url: invalid control character in URL',
    },
  },
  {
    name: 'a service starting with ":"',
    rules: [ok('a.com', ':8080'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: 'parse ":8080": missing protocol scheme' },
  },
  {
    name: 'http_status that is not a number',
    rules: [ok('a.com', 'http_status:abc'), CATCH_ALL],
    error: {
      code: 'invalid-http-status',
      rule: 1,
      cloudflared: 'invalid HTTP status code: strconv.Atoi: parsing "abc": invalid syntax',
    },
  },
  {
    name: 'http_status with a space',
    rules: [ok('a.com', 'http_status: 404'), CATCH_ALL],
    error: {
      code: 'invalid-http-status',
      rule: 1,
      cloudflared: 'invalid HTTP status code: strconv.Atoi: parsing " 404": invalid syntax',
    },
  },
  {
    name: 'http_status below 100',
    rules: [ok('a.com', 'http_status:99'), CATCH_ALL],
    error: { code: 'invalid-http-status', rule: 1, cloudflared: 'invalid HTTP status code: 99' },
  },
  {
    name: 'http_status above 999',
    rules: [ok('a.com'), { service: 'http_status:1000' }],
    error: { code: 'invalid-http-status', rule: 2, cloudflared: 'invalid HTTP status code: 1000' },
  },
  {
    name: 'a lookahead in the path (JS accepts it, RE2 does not)',
    rules: [{ hostname: 'a.com', path: '^/(?=api)', service: 'http://h:1' }, CATCH_ALL],
    error: {
      code: 'invalid-path-regex',
      rule: 1,
      cloudflared: 'Rule #1 has an invalid regex: error parsing regexp: invalid or unsupported Perl syntax: `(?=`',
    },
  },
  {
    name: 'a backreference in the path',
    rules: [ok('a.com'), { hostname: 'b.com', path: '(a)\\1', service: 'http://h:1' }, CATCH_ALL],
    error: {
      code: 'invalid-path-regex',
      rule: 2,
      cloudflared: 'Rule #2 has an invalid regex: error parsing regexp: invalid escape sequence: `\\1`',
    },
  },
  {
    name: 'a possessive quantifier in the path',
    rules: [{ hostname: 'a.com', path: 'a++', service: 'http://h:1' }, CATCH_ALL],
    error: {
      code: 'invalid-path-regex',
      rule: 1,
      cloudflared: 'Rule #1 has an invalid regex: error parsing regexp: invalid nested repetition operator: `++`',
    },
  },
  {
    name: 'an unclosed class in the path',
    rules: [{ hostname: 'a.com', path: '[a-', service: 'http://h:1' }, CATCH_ALL],
    error: {
      code: 'invalid-path-regex',
      rule: 1,
      cloudflared: 'Rule #1 has an invalid regex: error parsing regexp: missing closing ]: `[a-`',
    },
  },
  {
    name: 'socks-proxy ip rule without a prefix',
    rules: [{ hostname: 'a.com', service: 'socks-proxy', originRequest: { ipRules: [{ ports: [80] }] } }, CATCH_ALL],
    error: {
      code: 'invalid-ip-rule',
      rule: 1,
      cloudflared: 'unable to create ip rule for socks-proxy: no prefix provided',
    },
  },
  {
    name: 'socks-proxy ip rule with a bad CIDR',
    rules: [
      { hostname: 'a.com', service: 'socks-proxy', originRequest: { ipRules: [{ prefix: '10.0.0.0/33' }] } },
      CATCH_ALL,
    ],
    error: {
      code: 'invalid-ip-rule',
      rule: 1,
      cloudflared: 'unable to create ip rule for socks-proxy: unable to parse cidr: 10.0.0.0/33',
    },
  },
  {
    name: 'socks-proxy ip rule with port 0',
    rules: [
      {
        hostname: 'a.com',
        service: 'socks-proxy',
        originRequest: { ipRules: [{ prefix: '10.0.0.0/8', ports: [443, 0] }] },
      },
      CATCH_ALL,
    ],
    error: {
      code: 'invalid-ip-rule',
      rule: 1,
      cloudflared: 'unable to create ip rule for socks-proxy: invalid port 0, needs to be between 1 and 65535',
    },
  },
  {
    name: 'Access required with audTag but no teamName',
    rules: [
      { hostname: 'a.com', service: 'http://h:1', originRequest: { access: { required: true, audTag: ['x'] } } },
      CATCH_ALL,
    ],
    error: {
      code: 'invalid-access',
      rule: 1,
      cloudflared: 'access.TeamName cannot be blank when access.audTags are present',
    },
  },
  {
    name: 'YAML: a bare number as a duration',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { connectTimeout: 10 } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!int `10` into time.Duration' },
  },
  {
    name: 'YAML: a duration without a unit',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { keepAliveTimeout: '10' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `10` into time.Duration' },
  },
  {
    name: 'YAML: a word that is no boolean',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { noTLSVerify: 'maybe' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `maybe` into bool' },
  },
  {
    name: 'YAML: a string as an int',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { keepAliveConnections: '100' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `100` into int' },
  },
  {
    name: 'JSON: a Go duration string',
    format: 'json',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { connectTimeout: '30s' } }, CATCH_ALL],
    error: {
      code: 'invalid-value',
      rule: 1,
      cloudflared: 'json: cannot unmarshal string into Go value of type time.Duration',
    },
  },
  {
    name: 'JSON: "yes" is no boolean',
    format: 'json',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { noTLSVerify: 'yes' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'json: cannot unmarshal string into Go value of type bool' },
  },
  {
    name: 'a negative proxyPort',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { proxyPort: -1 } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!int `-1` into uint' },
  },
  {
    name: 'a negative connectRetryTimeout',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { connectRetryTimeout: '-1s' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'connectRetryTimeout must not be negative' },
  },
  {
    name: 'a negative top-level connectRetryTimeout',
    rules: [ok('a.com'), CATCH_ALL],
    originRequest: { connectRetryTimeout: '-1s' },
    error: { code: 'invalid-value', rule: null, cloudflared: 'connectRetryTimeout must not be negative' },
  },
  {
    name: 'a top-level originRequest of the wrong type',
    format: 'yaml',
    rules: [ok('a.com'), CATCH_ALL],
    originRequest: { tlsTimeout: true },
    error: { code: 'invalid-value', rule: null, cloudflared: 'cannot unmarshal !!bool `true` into time.Duration' },
  },
  {
    name: 'a rule-level bastionMode: false overrides the top-level one',
    rules: [{ hostname: 'a.com', service: '', originRequest: { bastionMode: false } }, CATCH_ALL],
    originRequest: { bastionMode: true },
    error: { code: 'invalid-service', rule: 1, cloudflared: badAddress('') },
  },

  // --- issue 19: service URLs as Go 1.26's net/url parses them (url.go parseHost) ---
  {
    name: 'http: a second colon after the host:port',
    rules: [ok('a.com', 'http://localhost:80:80'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://localhost:80:80": invalid port ":80:80" after host',
    },
  },
  {
    name: 'https: an unbracketed IPv6 address',
    rules: [ok('a.com', 'https://::1:8080'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "https://::1:8080": invalid port "::1:8080" after host',
    },
  },
  {
    name: 'tcp: an unbracketed IPv6 address (other schemes keep the last-colon rule)',
    rules: [ok('a.com', 'tcp://::1:8080'), CATCH_ALL],
    error: null,
  },
  {
    name: 'a name in brackets',
    rules: [ok('a.com', 'http://[localhost]:8080'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://[localhost]:8080": invalid host: ParseAddr("localhost"): unable to parse IP',
    },
  },
  {
    name: 'an IPv4 address in brackets',
    rules: [ok('a.com', 'http://[127.0.0.1]:8080'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: 'parse "http://[127.0.0.1]:8080": invalid IP-literal' },
  },
  {
    name: 'a bracket after the start of the host',
    rules: [ok('a.com', 'http://a[::1]:8080'), CATCH_ALL],
    error: { code: 'invalid-service', rule: 1, cloudflared: 'parse "http://a[::1]:8080": invalid IP-literal' },
  },
  {
    name: 'an IPv6 zone with nothing after %25',
    rules: [ok('a.com', 'http://[fe80::1%25]:80'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared:
        'parse "http://[fe80::1%25]:80": invalid host: ParseAddr("fe80::1%"): zone must be a non-empty string',
    },
  },
  {
    name: 'a zone without an address',
    rules: [ok('a.com', 'http://[%25eth0]:80'), CATCH_ALL],
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://[%25eth0]:80": invalid host: ParseAddr("%eth0"): missing IPv6 address',
    },
  },
  { name: 'an IPv6 address with a zone', rules: [ok('a.com', 'http://[fe80::1%25eth0]:80'), CATCH_ALL], error: null },
  { name: 'an IPv4-mapped IPv6 address', rules: [ok('a.com', 'http://[::ffff:10.0.0.1]:80'), CATCH_ALL], error: null },

  // --- issue 19: typed keys as yaml.v3 decodes them (decode.go: only YAML 1.1 words are bool strings) ---
  {
    name: 'YAML: a quoted "true" into a bool',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { noTLSVerify: 'true' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `true` into bool' },
  },
  {
    name: 'YAML: a quoted "False" into a bool',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { http2Origin: 'False' } }, CATCH_ALL],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `False` into bool' },
  },
  {
    name: 'YAML: "on", "off", "Y" and "NO" are bools (YAML 1.1 compatibility)',
    format: 'yaml',
    rules: [
      {
        hostname: 'a.com',
        service: 'http://h:1',
        originRequest: { noTLSVerify: 'on', http2Origin: 'off', noHappyEyeballs: 'Y', disableChunkedEncoding: 'NO' },
      },
      CATCH_ALL,
    ],
    error: null,
  },
  {
    name: 'YAML: a quoted "true" in access.required',
    format: 'yaml',
    rules: [
      {
        hostname: 'a.com',
        service: 'http://h:1',
        originRequest: { access: { required: 'true', teamName: 't', audTag: ['x'] } },
      },
      CATCH_ALL,
    ],
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `true` into bool' },
  },
  {
    name: 'YAML: a quoted "TRUE" in the top-level originRequest',
    format: 'yaml',
    rules: [ok('a.com'), CATCH_ALL],
    originRequest: { matchSNItoHost: 'TRUE' },
    error: { code: 'invalid-value', rule: null, cloudflared: 'cannot unmarshal !!str `TRUE` into bool' },
  },
  {
    name: 'YAML: a fraction into an int (yaml.v3 truncates a float)',
    format: 'yaml',
    rules: [{ hostname: 'a.com', service: 'http://h:1', originRequest: { keepAliveConnections: 1.5 } }, CATCH_ALL],
    error: null,
  },
];

describe('validateIngressRules (cloudflared-exact)', () => {
  it('has at least 40 documented cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
    expect(CASES.filter((c) => c.error).length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const result = validateIngressRules(c.rules, {
      ...(c.format ? { format: c.format } : {}),
      ...(c.originRequest ? { originRequest: c.originRequest } : {}),
    });
    if (c.error === null) {
      expect(result.errors).toEqual([]);
      return;
    }
    expect(result.errors.length).toBeGreaterThan(0);
    const first = result.errors[0];
    expect({ code: first?.code, rule: first?.ruleNumber, cloudflared: first?.cloudflared }).toEqual(c.error);
    // The human message names the rule the way cloudflared counts (from 1).
    if (c.error.rule !== null) expect(first?.message).toContain(`Rule #${c.error.rule}`);
  });

  it('reports errors in the order cloudflared meets them, so errors[0] is what it prints', () => {
    const result = validateIngressRules([ok('a.com', 'localhost'), ok('b.com:1'), ok('c.com')]);
    expect(result.errors.map((e) => [e.ruleNumber, e.code])).toEqual([
      [1, 'invalid-service'],
      [2, 'hostname-port'],
      [3, 'last-rule-not-catch-all'],
    ]);
  });

  it('stops at decoder errors, as cloudflared does before it looks at the rules', () => {
    const result = validateIngressRules(
      [{ hostname: 'a.com', service: 'localhost', originRequest: { connectTimeout: 5 } }, ok('b.com')],
      { format: 'yaml' },
    );
    expect(result.errors.map((e) => e.code)).toEqual(['invalid-value']);
  });

  it('warns about unknown originRequest keys (like cloudflared) without refusing', () => {
    const result = validateIngressRules(
      [
        { hostname: 'a.com', service: 'http://h:1', originRequest: { noTlsVerify: true, access: { team: 'x' } } },
        CATCH_ALL,
      ],
      { format: 'yaml' },
    );
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => [w.ruleNumber, w.field, w.cloudflared])).toEqual([
      [1, 'originRequest.noTlsVerify', 'field noTlsVerify not found in type config.OriginRequestConfig'],
      [1, 'originRequest.access.team', 'field team not found in type config.AccessConfig'],
    ]);
  });

  it('matches JSON keys case-insensitively, as encoding/json does', () => {
    const rules = [{ hostname: 'a.com', service: 'http://h:1', originRequest: { NoTLSVerify: true } }, CATCH_ALL];
    expect(validateIngressRules(rules, { format: 'json' }).warnings).toEqual([]);
    expect(validateIngressRules(rules, { format: 'yaml' }).warnings).toHaveLength(1);
  });

  it('gives the same verdict for a frozen rule seen twice (the per-rule cache) and for a copy', () => {
    const bad = Object.freeze({ hostname: 'a.com', service: 'http://h:1/' });
    const good = Object.freeze({ hostname: 'b.com', service: 'http://h:1' });
    for (let i = 0; i < 2; i++) {
      expect(validateIngressRules([good, CATCH_ALL]).errors).toEqual([]);
      expect(validateIngressRules([bad, CATCH_ALL]).errors[0]?.code).toBe('service-has-path');
      expect(validateIngressRules([good]).errors[0]?.code).toBe('last-rule-not-catch-all');
      expect(validateIngressRules([{ ...bad }, CATCH_ALL]).errors[0]?.code).toBe('service-has-path');
    }
  });
});

describe('parseIngressRules / parseIngressConfig', () => {
  it('reads YAML scalars as the text yaml.v3 gives a Go string, and null as absent', () => {
    const parsed = parseIngressRules(
      [
        { hostname: null, service: 404 },
        { hostname: 'a.com', path: true, service: 'http://h:1' },
      ],
      { format: 'yaml' },
    );
    expect(parsed.errors).toEqual([]);
    expect(parsed.rules).toEqual([{ service: '404' }, { hostname: 'a.com', path: 'true', service: 'http://h:1' }]);
  });

  it('refuses what the decoder refuses, numbering the rule', () => {
    const parsed = parseIngressRules(
      ['x', { hostname: ['a'], service: 'http://h:1' }, { service: 's', originRequest: 3 }],
      {
        format: 'yaml',
      },
    );
    expect(parsed.errors.map((e) => [e.ruleNumber, e.code, e.cloudflared])).toEqual([
      [1, 'invalid-structure', 'cannot unmarshal !!str into config.UnvalidatedIngressRule'],
      [2, 'invalid-value', 'cannot unmarshal !!seq into string'],
      [3, 'invalid-value', 'cannot unmarshal !!int into config.OriginRequestConfig'],
    ]);
    expect(parseIngressRules({ a: 1 }).errors[0]?.code).toBe('invalid-structure');
    expect(parseIngressRules([{ service: 404 }], { format: 'json' }).errors[0]?.code).toBe('invalid-value');
  });

  it('warns about unknown rule keys (yaml.v3 matches exactly; a capitalised key is unknown)', () => {
    const parsed = parseIngressRules([{ Hostname: 'a.com', service: 'http://h:1' }, { service: 'x' }], {
      format: 'yaml',
    });
    expect(parsed.warnings.map((w) => w.cloudflared)).toEqual([
      'field Hostname not found in type config.UnvalidatedIngressRule',
    ]);
    // …so the rule has no hostname: a catch-all, which is not last.
    expect(parsed.rules[0]).toEqual({ service: 'http://h:1' });
  });

  it('validates a whole decoded config (ingress + top-level originRequest)', () => {
    const result = parseIngressConfig(
      {
        tunnel: 'x',
        originRequest: { bastionMode: true },
        ingress: [{ hostname: 'a.com' }, { service: 'http_status:404' }],
      },
      { format: 'yaml' },
    );
    expect(result.errors).toEqual([]);
    expect(result.originRequest).toEqual({ bastionMode: true });
    expect(parseIngressConfig({ tunnel: 'x' }).errors[0]?.code).toBe('no-rules');
  });
});

interface FileCase {
  readonly name: string;
  /** A whole config.yml. */
  readonly text: string;
  /** null: cloudflared accepts the file. Otherwise its first error, positioned in the file. */
  readonly error: {
    code: IngressProblemCode;
    rule: number | null;
    cloudflared: string;
    line: number;
    column: number;
  } | null;
  /** How many rules cloudflared reads (when accepted). */
  readonly rules?: number;
}

const TAIL = '  - service: http_status:404\n';
const withRule = (body: string, head = '') =>
  `${head}tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\ningress:\n  - hostname: a.example.com\n${body}${TAIL}`;

// Whole files, from yaml.v3's decode (resolve.go, decode.go, scannerc.go) through cloudflared's
// configFileSettings getters (config/configuration.go) to `ingress validate`'s url check
// (cmd/cloudflared/tunnel/ingress_subcommands.go). Each expectation was derived from that source.
const FILE_CASES: FileCase[] = [
  // typed keys decoded like yaml.v3
  {
    name: 'a quoted "true" into noTLSVerify is refused',
    text: withRule('    service: http://localhost:8080\n    originRequest:\n      noTLSVerify: "true"\n'),
    error: {
      code: 'invalid-value',
      rule: 1,
      cloudflared: 'cannot unmarshal !!str `true` into bool',
      line: 6,
      column: 7,
    },
  },
  {
    name: 'a quoted "yes" into noTLSVerify is accepted (YAML 1.1 compatibility)',
    text: withRule('    service: http://localhost:8080\n    originRequest:\n      noTLSVerify: "yes"\n'),
    error: null,
    rules: 2,
  },
  {
    name: 'unquoted yes, True and off are accepted',
    text: withRule(
      '    service: http://localhost:8080\n    originRequest: {noTLSVerify: yes, http2Origin: True, noHappyEyeballs: off}\n',
    ),
    error: null,
  },
  {
    name: 'a quoted "false" in the top-level originRequest is refused',
    text: withRule('    service: http://localhost:8080\n', "originRequest:\n  disableChunkedEncoding: 'false'\n"),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'cannot unmarshal !!str `false` into bool',
      line: 2,
      column: 3,
    },
  },
  {
    name: 'int keys take what yaml.v3 resolves as numbers: 1_000, 0x10, 0o17, 0b11, 08 (a float)',
    text: withRule(
      '    service: http://localhost:8080\n    originRequest: {keepAliveConnections: 1_000, proxyPort: 0x10}\n  - hostname: b.example.com\n    service: http://localhost:1\n    originRequest: {keepAliveConnections: 0o17, proxyPort: 0b11}\n  - hostname: c.example.com\n    service: http://localhost:1\n    originRequest: {keepAliveConnections: 08}\n',
    ),
    error: null,
    rules: 4,
  },
  {
    name: 'a quoted number into an int is refused',
    text: withRule('    service: http://localhost:8080\n    originRequest:\n      keepAliveConnections: "10"\n'),
    error: { code: 'invalid-value', rule: 1, cloudflared: 'cannot unmarshal !!str `10` into int', line: 6, column: 7 },
  },
  {
    name: 'a bare number as a duration is refused, a quoted duration accepted',
    text: withRule('    service: http://localhost:8080\n    originRequest: {tlsTimeout: "10s", connectTimeout: 10}\n'),
    error: {
      code: 'invalid-value',
      rule: 1,
      cloudflared: 'cannot unmarshal !!int `10` into time.Duration',
      line: 5,
      column: 40,
    },
  },
  {
    name: 'tunnel must decode into a string',
    text: `tunnel: [a]\ningress:\n${TAIL}`,
    error: { code: 'invalid-value', rule: null, cloudflared: 'cannot unmarshal !!seq into string', line: 1, column: 1 },
  },
  {
    name: 'warp-routing durations are typed too',
    text: `warp-routing:\n  connectTimeout: 5\ningress:\n${TAIL}`,
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'cannot unmarshal !!int `5` into time.Duration',
      line: 2,
      column: 3,
    },
  },

  // top-level keys are cloudflared's flags
  {
    name: 'grace-period as a list',
    text: withRule('    service: http://localhost:8080\n', 'grace-period: [1]\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'expected duration found []interface {} for grace-period',
      line: 1,
      column: 15,
    },
  },
  {
    name: 'grace-period as a bare number',
    text: withRule('    service: http://localhost:8080\n', 'grace-period: 30\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'expected duration found int for grace-period',
      line: 1,
      column: 15,
    },
  },
  {
    name: 'grace-period with an unknown unit (time.ParseDuration)',
    text: withRule('    service: http://localhost:8080\n', 'grace-period: 30x\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'time: unknown unit "x" in duration "30x"',
      line: 1,
      column: 15,
    },
  },
  {
    name: 'flag booleans are strict: no-autoupdate: yes is a string',
    text: withRule('    service: http://localhost:8080\n', 'no-autoupdate: yes\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'expected boolean found string for no-autoupdate',
      line: 1,
      column: 16,
    },
  },
  {
    name: 'retries as a float',
    text: withRule('    service: http://localhost:8080\n', 'retries: 5.0\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'expected int found float64 for retries',
      line: 1,
      column: 10,
    },
  },
  {
    name: 'metrics left empty is nil, not a string',
    text: withRule('    service: http://localhost:8080\n', 'metrics:\n'),
    error: {
      code: 'invalid-value',
      rule: null,
      cloudflared: 'expected string found <nil> for metrics',
      line: 1,
      column: 1,
    },
  },
  {
    name: 'a string list with a number in it',
    text: withRule('    service: http://localhost:8080\n', 'edge: [a.example.com, 7]\n'),
    error: { code: 'invalid-value', rule: null, cloudflared: 'expected string, found int for 7', line: 1, column: 7 },
  },
  {
    name: 'well-typed flags are accepted',
    text: withRule(
      '    service: http://localhost:8080\n',
      'grace-period: 1m30s\nno-autoupdate: true\nretries: 5\nmetrics: localhost:2000\nprotocol: quic\nedge: [a, b]\n',
    ),
    error: null,
  },
  {
    name: 'url beside ingress rules',
    text: withRule('    service: http://localhost:8080\n', 'url: http://localhost:8000\n'),
    error: {
      code: 'flag-conflict',
      rule: null,
      cloudflared: "You can't set the --url flag (or $TUNNEL_URL) when using multiple-origin ingress rules",
      line: 1,
      column: 1,
    },
  },
  {
    name: 'an empty url is never set',
    text: withRule('    service: http://localhost:8080\n', 'url: ""\n'),
    error: null,
  },

  // YAML read the same way
  {
    name: 'null list items are skipped, and the rules after them numbered without them',
    text: `ingress:\n  -\n  - ~\n  - hostname: a.example.com\n    service: localhost:8080\n${TAIL}`,
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'localhost:8080 is an invalid address, please make sure it has a scheme and a hostname',
      line: 5,
      column: 5,
    },
  },
  {
    name: 'a file with null list items is accepted',
    text: `ingress:\n  - hostname: a.example.com\n    service: http://localhost:8080\n  -\n${TAIL}  - null\n`,
    error: null,
    rules: 2,
  },
  {
    name: 'an unquoted *.example.com is a syntax error, not an alias',
    text: '# cloudflared\ningress:\n  - hostname: *.example.com\n    service: http://localhost:8080\n  - service: http_status:404\n',
    error: {
      code: 'yaml-syntax',
      rule: null,
      cloudflared: 'yaml: line 3: did not find expected alphabetic or numeric character',
      line: 3,
      column: 15,
    },
  },
  {
    name: 'an anchor name yaml.v3 cannot scan',
    text: `base: &a.b {service: x}\ningress:\n${TAIL}`,
    error: {
      code: 'yaml-syntax',
      rule: null,
      cloudflared: 'yaml: line 1: did not find expected alphabetic or numeric character',
      line: 1,
      column: 7,
    },
  },
  {
    name: 'an alias to no anchor',
    text: `ingress:\n  - hostname: *nowhere\n    service: http://localhost:1\n${TAIL}`,
    error: {
      code: 'yaml-syntax',
      rule: null,
      cloudflared: "yaml: unknown anchor 'nowhere' referenced",
      line: 2,
      column: 15,
    },
  },
  {
    name: 'a well-named anchor and alias',
    text: `x-svc: &svc http://localhost:8080\ningress:\n  - hostname: a.example.com\n    service: *svc\n${TAIL}`,
    error: null,
  },

  // service URLs, positioned
  {
    name: 'a service URL with two ports',
    text: withRule('    service: http://localhost:80:80\n'),
    error: {
      code: 'invalid-service',
      rule: 1,
      cloudflared: 'parse "http://localhost:80:80": invalid port ":80:80" after host',
      line: 4,
      column: 5,
    },
  },
];

describe('parseConfigFile: config.yml as cloudflared 2026.8 reads it (issue 19)', () => {
  it.each(FILE_CASES.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const parsed = parseConfigFile(c.text);
    if (c.error === null) {
      expect(parsed.errors).toEqual([]);
      if (c.rules !== undefined) expect(parsed.rules.length).toBe(c.rules);
      return;
    }
    const first = parsed.errors[0];
    expect({
      code: first?.code,
      rule: first?.ruleNumber,
      cloudflared: first?.cloudflared,
      line: first?.line,
      column: first?.column,
    }).toEqual(c.error);
    if (c.error.rule !== null) expect(first?.message).toContain(`Rule #${c.error.rule}`);
  });

  it('never throws for a file: every YAML problem is a positioned yaml-syntax error', () => {
    for (const text of ['a: *x\n', 'a: &x [*x]\n', 'ingress:\n  - <<: *nope\n', 'k: &a\n  - *a\n']) {
      const parsed = parseConfigFile(text);
      expect(parsed.errors.length).toBeGreaterThan(0);
      for (const e of parsed.errors) expect(typeof e.line).toBe('number');
    }
  });
});
