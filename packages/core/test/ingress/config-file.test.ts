import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  ADMIN_OWNER,
  type IngressRule,
  isTunnelError,
  PROJECT_NAME_PATTERN,
  parseConfigFile,
} from '../../src/index.js';
import { isTemplateRule, renderRuleEntry, rewriteIngress } from '../../src/ingress/config-file.js';
import { MANAGED_SERVICE_PATTERN } from '../../src/ingress/safety.js';

const HAND = `# cloudflared configuration — hand-written
tunnel: 6ff42ae2-765d-4adf-8112-31c55c1551ef   # the tunnel id
credentials-file: /etc/cloudflared/6ff42ae2.json

originRequest:
  connectTimeout: 30s

ingress:
  # the marketing site, do not touch
  - hostname: www.example.com
    service: 'http://localhost:8080'    # quoted on purpose
    originRequest: {noTLSVerify: yes}
  - hostname: app.example.com # tunnel-manager:alpha
    service: http://app:3000

  # everything else
  - hostname: "*.example.com"
    service: http_status:403
  - service: http_status:404
  # trailing note about the list

warp-routing:
  enabled: true
`;

const managed = (hostname: string, owner = 'beta', service = 'http://web:80'): IngressRule => ({
  hostname,
  service,
  managed: { owner },
});

describe('parseConfigFile', () => {
  it('reads rules, owner marks, YAML 1.1 booleans and the top-level originRequest', () => {
    const file = parseConfigFile(HAND);
    expect(file.errors).toEqual([]);
    expect(file.rules).toEqual([
      { hostname: 'www.example.com', service: 'http://localhost:8080', originRequest: { noTLSVerify: 'yes' } },
      { hostname: 'app.example.com', service: 'http://app:3000', managed: { owner: 'alpha' } },
      { hostname: '*.example.com', service: 'http_status:403' },
      { service: 'http_status:404' },
    ]);
    expect(file.originRequest).toEqual({ connectTimeout: '30s' });
  });

  it('gives each problem the line and column cloudflared users need', () => {
    const bad = HAND.replace('service: http://app:3000', 'service: http://app:3000/').replace(
      'connectTimeout: 30s',
      'connectTimeout: 30',
    );
    const file = parseConfigFile(bad);
    expect(file.errors.map((e) => [e.code, e.ruleNumber, e.line, e.column])).toEqual([['invalid-value', null, 6, 3]]);
    const pathOnly = parseConfigFile(HAND.replace('service: http://app:3000', 'service: http://app:3000/'));
    expect(pathOnly.errors.map((e) => [e.code, e.ruleNumber, e.line, e.column])).toEqual([
      ['service-has-path', 2, 14, 5],
    ]);
    const syntax = parseConfigFile('tunnel: x\ningress:\n  - service: [\n');
    expect(syntax.errors[0]).toMatchObject({ code: 'yaml-syntax', line: 4, column: 1 });
    const duplicate = parseConfigFile('ingress:\n  - service: a\n    service: b\n');
    expect(duplicate.errors[0]).toMatchObject({ code: 'yaml-syntax', line: 3 });
  });

  it('reads plain scalars as their source text, as yaml.v3 does for string fields', () => {
    const file = parseConfigFile(
      'ingress:\n  - hostname: 0x10.example\n    path: 1e3\n    service: http://h:1\n  - service: http_status:404\n',
    );
    expect(file.rules[0]).toMatchObject({ hostname: '0x10.example', path: '1e3' });
  });

  it('applies merge keys as yaml.v3 does', () => {
    const file = parseConfigFile(
      'base: &b {service: "http://h:1"}\ningress:\n  - <<: *b\n    hostname: a.com\n  - service: http_status:404\n',
    );
    expect(file.errors).toEqual([]);
    expect(file.rules[0]).toEqual({ hostname: 'a.com', service: 'http://h:1' });
  });
});

describe('rewriteIngress', () => {
  const file = parseConfigFile(HAND);
  const [www, app, wildcard, catchAll] = file.rules as IngressRule[];

  it('inserts a managed rule without changing a byte of anything else', () => {
    const next = rewriteIngress(file, [
      www as IngressRule,
      app as IngressRule,
      managed('new.example.com'),
      wildcard as IngressRule,
      catchAll as IngressRule,
    ]);
    const added = '  - hostname: new.example.com # tunnel-manager:beta\n    service: http://web:80\n';
    const at = HAND.indexOf('service: http://app:3000\n') + 'service: http://app:3000\n'.length;
    expect(next.text).toBe(HAND.slice(0, at) + added + HAND.slice(at));
    expect(parseConfigFile(next.text).rules).toEqual(next.rules);
  });

  it('removes a managed rule and only its lines; comments above other rules stay with them', () => {
    const next = rewriteIngress(file, [www as IngressRule, wildcard as IngressRule, catchAll as IngressRule]);
    expect(next.text).toBe(
      HAND.replace('  - hostname: app.example.com # tunnel-manager:alpha\n    service: http://app:3000\n', ''),
    );
  });

  it('keeps an entry that moves, with the comment lines above it', () => {
    const next = rewriteIngress(file, [
      app as IngressRule,
      www as IngressRule,
      wildcard as IngressRule,
      catchAll as IngressRule,
    ]);
    expect(next.text).toContain(
      'ingress:\n  - hostname: app.example.com # tunnel-manager:alpha\n    service: http://app:3000\n  # the marketing site, do not touch\n  - hostname: www.example.com\n',
    );
    expect(parseConfigFile(next.text).rules).toEqual([app, www, wildcard, catchAll]);
  });

  it('keeps the comment lines above a rule that is replaced above its new version', () => {
    const text =
      'ingress:\n  - hostname: a.com\n    service: http://h:1\n  # the app of team x\n  - hostname: b.com # tunnel-manager:beta\n    service: http://web:80\n  - service: http_status:404\n';
    const parsed = parseConfigFile(text);
    const next = rewriteIngress(parsed, [
      parsed.rules[0] as IngressRule,
      managed('b.com', 'beta', 'http://web:81'),
      parsed.rules[2] as IngressRule,
    ]);
    expect(next.text).toBe(text.replace('http://web:80', 'http://web:81'));
  });

  it('returns the same text when nothing changes', () => {
    expect(rewriteIngress(file, file.rules).text).toBe(HAND);
  });

  it('follows the list: CRLF line endings and dashes in column 0', () => {
    const crlf =
      'tunnel: x\r\ningress:\r\n- hostname: a.com\r\n  service: http://h:1\r\n- service: http_status:404\r\n';
    const parsed = parseConfigFile(crlf);
    const next = rewriteIngress(parsed, [
      parsed.rules[0] as IngressRule,
      managed('b.com'),
      parsed.rules[1] as IngressRule,
    ]);
    expect(next.text).toBe(
      'tunnel: x\r\ningress:\r\n- hostname: a.com\r\n  service: http://h:1\r\n- hostname: b.com # tunnel-manager:beta\r\n  service: http://web:80\r\n- service: http_status:404\r\n',
    );
  });

  it('adds a newline where the file ended without one', () => {
    const text = 'ingress:\n  - service: http_status:404';
    const next = rewriteIngress(parseConfigFile(text), [managed('b.com'), { service: 'http_status:404' }]);
    expect(next.text).toBe(
      'ingress:\n  - hostname: b.com # tunnel-manager:beta\n    service: http://web:80\n  - service: http_status:404',
    );
    const after = rewriteIngress(parseConfigFile(text), [{ service: 'http_status:404' }, managed('b.com')].reverse());
    expect(parse(after.text)).toEqual({
      ingress: [{ hostname: 'b.com', service: 'http://web:80' }, { service: 'http_status:404' }],
    });
  });

  it('appends an ingress list to a file that has none, keeping the rest', () => {
    const text = 'tunnel: x\n# no rules yet\n';
    const next = rewriteIngress(parseConfigFile(text), [managed('b.com'), { service: 'http_status:404' }]);
    expect(next.text).toBe(
      `${text}ingress:\n  - hostname: b.com # tunnel-manager:beta\n    service: http://web:80\n  - service: http_status:404\n`,
    );
  });

  it('rebuilds a flow-style list with the Document API, keeping the other settings', () => {
    const text =
      'tunnel: x\ningress: [{hostname: a.com, service: "http://h:1"}, {service: "http_status:404"}]\nwarp-routing: {enabled: true}\n';
    const parsed = parseConfigFile(text);
    const next = rewriteIngress(parsed, [
      parsed.rules[0] as IngressRule,
      managed('b.com'),
      parsed.rules[1] as IngressRule,
    ]);
    const reread = parseConfigFile(next.text);
    expect(reread.rules).toEqual([parsed.rules[0], managed('b.com'), parsed.rules[1]]);
    expect(parse(next.text)['warp-routing']).toEqual({ enabled: true });
    expect(next.text.startsWith('tunnel: x\n')).toBe(true);
  });

  it('verifies the whole text again when the list uses anchors', () => {
    const text = 'ingress:\n  - &a\n    hostname: a.com\n    service: http://h:1\n  - service: http_status:404\n';
    const parsed = parseConfigFile(text);
    expect(parsed.layout?.selfContained).toBe(false);
    const next = rewriteIngress(parsed, [
      parsed.rules[0] as IngressRule,
      managed('b.com'),
      parsed.rules[1] as IngressRule,
    ]);
    expect(parseConfigFile(next.text).rules).toEqual(next.rules);
  });

  it('refuses rules cloudflared would reject, and writes a value that needs quoting safely', () => {
    try {
      rewriteIngress(file, [www as IngressRule]);
      expect.unreachable();
    } catch (error) {
      expect(isTunnelError(error, 'INGRESS_INVALID')).toBe(true);
    }
    const tricky: IngressRule = { hostname: 'q.example.com', path: '^/a: b # c {d} "e" \'f\'', service: 'http://h:1' };
    const next = rewriteIngress(file, [tricky, ...file.rules]);
    expect(parseConfigFile(next.text).rules).toEqual([tricky, ...file.rules]);
  });
});

describe('one rule added or removed (the quick splice)', () => {
  // Clones defeat the identity test, so the general walk runs: both must make the same file.
  const clone = (rules: readonly IngressRule[]) => rules.map((r) => structuredClone(r) as IngressRule);
  const variants = [
    HAND,
    HAND.replaceAll('\n', '\r\n'),
    HAND.replace('  - service: http_status:404\n', '  - service: http_status:404'),
  ];

  it('writes exactly what the general walk writes, for every insertion and removal point', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...variants),
        fc.nat(10),
        fc.boolean(),
        fc.constantFrom('new.example.com', 'www.example.com', 'app.example.com'),
        (text, where, add, host) => {
          const file = parseConfigFile(text);
          const n = file.rules.length;
          let desired: IngressRule[];
          if (add) {
            const at = where % (n + 1);
            desired = [...file.rules.slice(0, at), managed(host), ...file.rules.slice(at)];
          } else {
            const at = where % n;
            desired = file.rules.filter((_, i) => i !== at);
          }
          let quick: ReturnType<typeof rewriteIngress> | Error;
          let general: ReturnType<typeof rewriteIngress> | Error;
          try {
            quick = rewriteIngress(file, desired);
          } catch (error) {
            quick = error as Error;
          }
          try {
            general = rewriteIngress(file, clone(desired));
          } catch (error) {
            general = error as Error;
          }
          if (quick instanceof Error || general instanceof Error) {
            expect(String(quick instanceof Error ? quick.message : 'ok')).toBe(
              String(general instanceof Error ? general.message : 'ok'),
            );
            return;
          }
          expect(quick.text).toBe(general.text);
          expect([...(quick.layout?.starts ?? [])]).toEqual([...(general.layout?.starts ?? [])]);
          expect([...(quick.layout?.ends ?? [])]).toEqual([...(general.layout?.ends ?? [])]);
          expect(quick.rules.map((r) => r.hostname)).toEqual(general.rules.map((r) => r.hostname));
          // …and the file it makes reads back as the rules asked for.
          const reread = parseConfigFile(quick.text);
          expect(reread.rules.length).toBe(desired.length);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('the template for managed entries', () => {
  const label = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?$/);
  const tld = fc.oneof(
    { weight: 4, arbitrary: fc.stringMatching(/^[a-z](?:[a-z0-9-]{0,8}[a-z0-9])?$/) },
    { weight: 1, arbitrary: label },
  );
  const hostname = fc
    .tuple(fc.array(label, { minLength: 1, maxLength: 4 }), tld)
    .map(([labels, last]) => [...labels, last].join('.'));
  const service = fc.stringMatching(MANAGED_SERVICE_PATTERN).filter((s) => s.length < 300);
  const owner = fc.oneof(fc.stringMatching(PROJECT_NAME_PATTERN), fc.constant(ADMIN_OWNER));

  it('renders every managed rule as YAML that reads back unchanged (template or not)', () => {
    let templated = 0;
    fc.assert(
      fc.property(hostname, service, owner, fc.nat(8), fc.boolean(), (h, s, o, dash, crlf) => {
        const rule: IngressRule = { hostname: h, service: s, managed: { owner: o } };
        if (isTemplateRule(rule)) templated += 1;
        const newline = crlf ? '\r\n' : '\n';
        const text = `ingress:${newline}${renderRuleEntry(rule, dash, newline)}`;
        // As the yaml library decodes it (strings stay strings: `0.0` or `1.5e3` must be quoted)…
        expect(parse(text)).toEqual({ ingress: [{ hostname: h, service: s }] });
        // …and as the store reads it back, owner mark included.
        const file = parseConfigFile(text, { validate: false });
        expect(file.errors).toEqual([]);
        expect(file.rules).toEqual([rule]);
        expect(file.layout?.ends[0]).toBe(text.length);
      }),
      {
        numRuns: 1_000,
        examples: [
          ['0.e0', 'unix://', '0', 0, false],
          ['1.2.e-3', 'http://a:1', 'x', 2, true],
        ],
      },
    );
    // Most go through the template; the rest exercise the YAML library's quoting.
    expect(templated).toBeGreaterThan(600);
    expect(templated).toBeLessThan(1_000);
  });

  it('leaves number-like hostnames to the YAML library, which quotes them', () => {
    for (const h of ['0.0', '1.5e3', '10.20']) {
      const rule: IngressRule = { hostname: h, service: 'http://a:1', managed: { owner: 'alpha' } };
      expect(isTemplateRule(rule)).toBe(false);
      expect(renderRuleEntry(rule, 2, '\n')).toBe(
        `  - hostname: "${h}" # tunnel-manager:alpha\n    service: http://a:1\n`,
      );
    }
  });
});
