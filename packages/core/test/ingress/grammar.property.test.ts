import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type IngressRule, isTunnelError, parseConfigFile, validateIngressRules } from '../../src/index.js';
import { rewriteIngress } from '../../src/ingress/config-file.js';
import { ORIGIN_REQUEST_SHAPE } from '../../src/ingress/origin-request.js';
import { sameRule } from '../../src/ingress/rules.js';
import { asGoStrings } from '../../src/ingress/yaml-v3.js';

/** A rule as yaml.v3 reads it back: numbers and booleans in Go string fields are their text. */
const asRead = (r: IngressRule): IngressRule =>
  r.originRequest
    ? { ...r, originRequest: asGoStrings(r.originRequest, ORIGIN_REQUEST_SHAPE) as Record<string, unknown> }
    : r;

/*
 * Configurations generated from cloudflared's ingress grammar — hostnames (with wildcards),
 * RE2 paths, every kind of service, originRequest values of every type yaml.v3 distinguishes
 * (including strings it reads as numbers, timestamps or YAML 1.1 booleans) — written, read
 * back and written again. Two properties (issue 19):
 *   1. a configuration the validator calls valid can always be written, and reads back as the
 *      same rules (never "valid" and un-renderable);
 *   2. parse → render → parse is stable: the same rules, the same verdict, the same text.
 */

const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,6}[a-z0-9])?$/);
const hostname = fc.oneof(
  { weight: 6, arbitrary: fc.array(label, { minLength: 2, maxLength: 4 }).map((l) => l.join('.')) },
  { weight: 2, arbitrary: fc.array(label, { minLength: 2, maxLength: 3 }).map((l) => `*.${l.join('.')}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom('0.0', '1.5e3', 'a.com:80', 'a*.b.com', 'yes', '08.ab', 'True', '2001-12-14', ''),
  },
);
const path = fc.constantFrom('/api', '^/v[0-9]+/', '/static/.*\\.css$', '(?i)/admin', '/a(?=b)', '/x[', '/ü', '');
const service = fc.oneof(
  fc
    .tuple(fc.constantFrom('http', 'https', 'ws', 'tcp', 'ssh'), label, fc.integer({ min: 1, max: 65535 }))
    .map(([s, h, p]) => `${s}://${h}:${p}`),
  fc.constantFrom(
    'http_status:404',
    'http_status:1000',
    'hello_world',
    'bastion',
    'socks-proxy',
    'unix:/run/a.sock',
    'http://localhost:80:80',
    'http://::1:8080',
    'http://[::1]:8080',
    'http://[localhost]:1',
    'tcp://::1:22',
    'http://a.com/',
    'localhost:8080',
    '1_000',
    '0x10',
  ),
);
/** Values of every type yaml.v3 tells apart, including strings it would read as something else. */
const scalar = fc.oneof(
  fc.boolean(),
  fc.integer({ min: -5, max: 100_000 }),
  fc.constantFrom(1.5, 0.25),
  fc.constantFrom('yes', 'no', 'on', 'Off', 'true', 'FALSE', 'y'),
  fc.constantFrom('30s', '1m30s', '-1s', '10', '1_000', '0x10', '08', '0b11', '0o7', '2001-12-14', '.5', '~'),
  fc.constantFrom('example.com', '', 'a: b', '#x', '*.a.com', '- x', 'null'),
);
const originKey = fc.constantFrom(
  'connectTimeout',
  'tlsTimeout',
  'noTLSVerify',
  'http2Origin',
  'keepAliveConnections',
  'proxyPort',
  'httpHostHeader',
  'originServerName',
  'caPool',
  'disableChunkedEncoding',
  'noHappyEyeballs',
  'unknownKey',
);
const originRequest = fc.dictionary(originKey, scalar, { minKeys: 1, maxKeys: 3 });
const owner = fc.constantFrom('alpha', 'beta', '@admin');

const rule: fc.Arbitrary<IngressRule> = fc
  .record(
    {
      hostname,
      path,
      service,
      originRequest,
      owner,
    },
    { requiredKeys: ['service'] },
  )
  .map(({ hostname: h, path: p, service: s, originRequest: o, owner: w }) => ({
    ...(h ? { hostname: h } : {}),
    ...(p ? { path: p } : {}),
    service: s,
    ...(o ? { originRequest: o } : {}),
    ...(w ? { managed: { owner: w } } : {}),
  }));
const config = fc
  .tuple(fc.array(rule, { maxLength: 4 }), fc.boolean())
  .map(([rules, catchAll]) => (catchAll ? [...rules, { service: 'http_status:404' } as IngressRule] : rules));

const HEAD = '# generated\ntunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef\n';

/** Writes `rules` into a file that has no list yet, or says why it may not. */
function render(rules: readonly IngressRule[]): { text: string } | { refused: string } {
  try {
    return { text: rewriteIngress(parseConfigFile(HEAD), rules).text };
  } catch (error) {
    if (isTunnelError(error, 'INGRESS_INVALID')) return { refused: error.message };
    throw error;
  }
}

describe('ingress grammar round trip (property)', () => {
  it('a config the validator calls valid is always renderable, and reads back as the same rules', () => {
    let valid = 0;
    fc.assert(
      fc.property(config, (rules) => {
        const verdict = validateIngressRules(rules, { format: 'yaml' });
        const rendered = render(rules);
        if (verdict.errors.length > 0) {
          // Invalid rules are refused before anything is rendered.
          expect(rendered).toHaveProperty('refused');
          return;
        }
        valid += 1;
        expect(rendered).toHaveProperty('text');
        if (!('text' in rendered)) return;
        const parsed = parseConfigFile(rendered.text);
        expect(parsed.errors).toEqual([]);
        expect(parsed.rules.length).toBe(rules.length);
        parsed.rules.forEach((r, i) => {
          expect(sameRule(r, asRead(rules[i] as IngressRule))).toBe(true);
        });
      }),
      {
        numRuns: 400,
        // Strings yaml.v3 would read as an int (the `yaml` library would write them plain).
        examples: [
          [
            [
              { hostname: 'a.example.com', service: 'http://a:1', originRequest: { unknownKey: '1_000' } },
              { service: 'http_status:404' },
            ],
          ],
          [[{ service: 'http://a:1', originRequest: { unknownKey: ['0b11', '2001-12-14'] } }]],
        ],
      },
    );
    expect(valid).toBeGreaterThan(20);
  });

  it('parse → render → parse is stable: same rules, same verdict, same text the second time', () => {
    fc.assert(
      fc.property(config, (rules) => {
        const first = render(rules);
        if (!('text' in first)) return;
        const p1 = parseConfigFile(first.text);
        const second = render(p1.rules);
        expect(second).toHaveProperty('text');
        if (!('text' in second)) return;
        expect(second.text).toBe(first.text);
        const p2 = parseConfigFile(second.text);
        expect(p2.errors).toEqual(p1.errors);
        expect(p2.rules.length).toBe(p1.rules.length);
        p2.rules.forEach((r, i) => {
          expect(sameRule(r, p1.rules[i] as IngressRule)).toBe(true);
        });
        // And splicing the parsed file into itself changes nothing.
        expect(rewriteIngress(p1, p1.rules).text).toBe(first.text);
      }),
      { numRuns: 300 },
    );
  });
});
