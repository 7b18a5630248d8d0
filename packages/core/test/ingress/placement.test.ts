import { InMemoryIngressStore, ManualClock } from '@tunnel/testkit';
import fc from 'fast-check';
import { RE2JS } from 're2js';
import { describe, expect, it } from 'vitest';
import {
  findMatchingRule,
  IngressManager,
  type IngressRule,
  literalPrefix,
  NoopLogger,
  pathSpecificity,
  validateIngressRules,
} from '../../src/index.js';

/*
 * Placement of managed rules with paths and wildcards, checked against cloudflared's matcher
 * (core/src/ingress/match.ts): whatever order routes are added in, every request goes to the
 * route a person would expect — the exact hostname before a wildcard covering it, a narrower
 * wildcard before a broader one, and within one hostname the most specific matching path
 * (anchored before unanchored, longer literal prefix first, the path-less rule last).
 */

/** This test's Tunnel Manager instance id (the marks name it). */
const ME = 'vm-1';

const HAND: IngressRule[] = [
  { hostname: 'www.example.com', service: 'http://localhost:8080' },
  { service: 'http_status:404' },
];

const manager = (rules: readonly IngressRule[] = HAND) => {
  const store = new InMemoryIngressStore(rules);
  return { store, ingress: new IngressManager(store, new ManualClock(), new NoopLogger()) };
};

interface Route {
  readonly hostname: string;
  readonly path: string | null;
  readonly service: string;
}

const HOSTS = ['a.example.com', 'x.team.example.com', '*.team.example.com', '*.example.com'] as const;
const PATHS = [
  null,
  '^/api',
  '^/api/v2',
  '^/api/v[0-9]+/',
  '^/static/',
  '\\.png$',
  '^/a',
  '^/ab',
  '/admin',
  '^/docs(/|$)',
] as const;
/** A request host per route hostname: the name itself, or one only its wildcard covers. */
const REQUEST_HOST: Record<string, string> = {
  'a.example.com': 'a.example.com',
  'x.team.example.com': 'x.team.example.com',
  '*.team.example.com': 'w.team.example.com',
  '*.example.com': 'w.example.com',
};
const SAMPLE_PATHS = [
  '',
  '/',
  '/api',
  '/api/x',
  '/api/v2',
  '/api/v2/users/1',
  '/api/v3/',
  '/static/a.png',
  '/img.png',
  '/a',
  '/ab',
  '/abc',
  '/admin',
  '/x/admin',
  '/docs',
  '/docs/x',
  '/docsx',
];

const hostCovers = (routeHost: string, host: string) =>
  routeHost === host || (routeHost.startsWith('*.') && host.endsWith(routeHost.slice(1)));
/** Exact names first, then wildcards, narrower (longer) first. */
const hostRank = (routeHost: string) => (routeHost.startsWith('*.') ? routeHost.length : 10_000);
const pathMatches = (path: string | null, requestPath: string) =>
  path === null || RE2JS.compile(path).matcher(requestPath).find();

/**
 * The route a request should reach by the rules above, `null` when none of the routes takes it,
 * or `'tie'` when two equally specific paths of one hostname both match (the order between
 * them is then the order they were added in, which this spec leaves open).
 */
function expected(routes: readonly Route[], host: string, path: string): Route | null | 'tie' {
  const hosts = [...new Set(routes.map((r) => r.hostname))]
    .filter((h) => hostCovers(h, host))
    .sort((a, b) => hostRank(b) - hostRank(a));
  for (const h of hosts) {
    const matching = routes.filter((r) => r.hostname === h && pathMatches(r.path, path));
    if (matching.length === 0) continue;
    const best = Math.max(...matching.map((r) => pathSpecificity(r.path)));
    const winners = matching.filter((r) => pathSpecificity(r.path) === best);
    return winners.length === 1 ? (winners[0] as Route) : 'tie';
  }
  return null;
}

const routesArb = fc
  .uniqueArray(fc.record({ hostname: fc.constantFrom(...HOSTS), path: fc.constantFrom(...PATHS) }), {
    minLength: 1,
    maxLength: 14,
    selector: (r) => `${r.hostname} ${r.path}`,
  })
  .map((list) => list.map((r, i): Route => ({ ...r, service: `http://localhost:${3000 + i}` })));

describe('placement of path and wildcard rules', () => {
  it('property: in any insertion order, every route’s own requests reach its own rule', async () => {
    await fc.assert(
      fc.asyncProperty(routesArb, async (routes) => {
        const { store, ingress } = manager();
        for (const r of routes) {
          await ingress.upsertManagedRule({
            hostname: r.hostname,
            path: r.path,
            service: r.service,
            owner: 'p',
            instance: ME,
          });
        }
        const rules = (await store.read()).rules;
        expect(validateIngressRules(rules).errors).toEqual([]);
        // The hand-written rule is untouched and still first.
        expect(rules[0]).toEqual(HAND[0]);
        let checked = 0;
        for (const host of Object.values(REQUEST_HOST)) {
          for (const path of SAMPLE_PATHS) {
            const want = expected(routes, host, path);
            if (want === 'tie') continue;
            const got = findMatchingRule(rules, host, path).rule;
            if (want === null) expect(got.managed, `${host}${path}`).toBeUndefined();
            else {
              expect([got.hostname, got.path ?? null, got.service], `${host}${path}`).toEqual([
                want.hostname,
                want.path,
                want.service,
              ]);
              checked++;
            }
          }
        }
        // Each route reaches its rule for at least one of its own requests, unless a route of
        // the same hostname is exactly as specific (a tie) or more specific everywhere.
        for (const r of routes) {
          const host = REQUEST_HOST[r.hostname] as string;
          const own = SAMPLE_PATHS.filter((p) => expected(routes, host, p) === r);
          for (const p of own) expect(findMatchingRule(rules, host, p).rule.service).toBe(r.service);
        }
        expect(checked).toBeGreaterThan(0);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps a hostname’s rules together, most specific first, whatever the order they came in', async () => {
    const { store, ingress } = manager();
    for (const path of [null, '^/a', '/admin', '^/api/v2', '^/api']) {
      await ingress.upsertManagedRule({
        hostname: 'a.example.com',
        path,
        service: 'http://localhost:1',
        owner: 'p',
        instance: ME,
      });
    }
    expect((await store.read()).rules.map((r) => [r.hostname ?? '*', r.path ?? null])).toEqual([
      ['www.example.com', null],
      ['a.example.com', '^/api/v2'],
      ['a.example.com', '^/api'],
      ['a.example.com', '^/a'],
      ['a.example.com', '/admin'],
      ['a.example.com', null],
      ['*', null],
    ]);
  });

  it('literal prefixes and specificity', () => {
    expect(literalPrefix('/api/v2/')).toBe('/api/v2/');
    expect(literalPrefix('/api\\.v2')).toBe('/api.v2');
    expect(literalPrefix('/apis?')).toBe('/api');
    expect(literalPrefix('/api+')).toBe('/api');
    expect(literalPrefix('/a|/b')).toBe('');
    expect(literalPrefix('/(a|b)')).toBe('/');
    expect(literalPrefix('[a-z]')).toBe('');
    expect(pathSpecificity(null)).toBeLessThan(pathSpecificity('x'));
    expect(pathSpecificity('/very/long/unanchored')).toBeLessThan(pathSpecificity('^/'));
    expect(pathSpecificity('^/api')).toBeLessThan(pathSpecificity('^/api/'));
  });
});

describe('wildcard placement', () => {
  it('puts a wildcard after the exact names it covers and before a broader wildcard and the catch-all', async () => {
    const { store, ingress } = manager([
      { hostname: 'www.example.com', service: 'http://localhost:8080' },
      { hostname: '*.example.com', service: 'http://localhost:8000' },
      { service: 'http_status:404' },
    ]);
    await ingress.upsertManagedRule({
      hostname: 'a.team.example.com',
      service: 'http://localhost:1',
      owner: 'p',
      instance: ME,
    });
    await ingress.upsertManagedRule({
      hostname: '*.team.example.com',
      service: 'http://localhost:2',
      owner: '@admin',
      instance: ME,
    });
    await ingress.upsertManagedRule({
      hostname: 'b.team.example.com',
      service: 'http://localhost:3',
      owner: 'q',
      instance: ME,
    });
    const rules = (await store.read()).rules;
    expect(rules.map((r) => r.hostname ?? '(catch-all)')).toEqual([
      'www.example.com',
      'a.team.example.com',
      'b.team.example.com',
      '*.team.example.com',
      '*.example.com',
      '(catch-all)',
    ]);
    expect(findMatchingRule(rules, 'b.team.example.com', '/').rule.service).toBe('http://localhost:3');
    expect(findMatchingRule(rules, 'z.team.example.com', '/').rule.service).toBe('http://localhost:2');
    expect(findMatchingRule(rules, 'z.example.com', '/').rule.service).toBe('http://localhost:8000');
  });

  it('a wildcard with paths keeps its path rules before its path-less rule', async () => {
    const { store, ingress } = manager();
    await ingress.upsertManagedRule({
      hostname: '*.team.example.com',
      service: 'http://localhost:1',
      owner: 'p',
      instance: ME,
    });
    await ingress.upsertManagedRule({
      hostname: '*.team.example.com',
      path: '^/api/',
      service: 'http://localhost:2',
      owner: 'p',
      instance: ME,
    });
    const rules = (await store.read()).rules;
    expect(findMatchingRule(rules, 'q.team.example.com', '/api/x').rule.service).toBe('http://localhost:2');
    expect(findMatchingRule(rules, 'q.team.example.com', '/').rule.service).toBe('http://localhost:1');
  });

  it('refuses a wildcard a hand-written rule of the same name holds, changing nothing', async () => {
    const { store, ingress } = manager([
      { hostname: '*.team.example.com', service: 'http://localhost:9' },
      { service: 'http_status:404' },
    ]);
    const attempt = ingress.upsertManagedRule({
      hostname: '*.team.example.com',
      service: 'http://localhost:1',
      owner: 'p',
      instance: ME,
    });
    await expect(attempt).rejects.toMatchObject({ code: 'HOSTNAME_TAKEN' });
    expect(store.writes).toBe(0);
  });
});
