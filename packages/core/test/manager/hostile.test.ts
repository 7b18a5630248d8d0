import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Actor, type CnameRequest, type ErrorCode, isTunnelError } from '../../src/index.js';
import { observe, startWorld, type World } from './helpers.js';

/*
 * Hostile and wrong input, each against a world with routes, hand-made records and a
 * hand-written rule in place. Every case must fail with its code and a hint, change nothing
 * (database rows, DNS — the emulator sees no request but GETs —, the ingress file's bytes), and
 * leave exactly one audit entry with that code.
 */

const shop = Actor.project('shop');
const blog = Actor.project('blog');
const full = Actor.project('full');
const admin = Actor.admin();

type Call =
  | { readonly actor: unknown; readonly request: unknown }
  | { readonly actor: unknown; readonly delete: unknown };

interface Case {
  readonly name: string;
  readonly call: Call;
  readonly code: ErrorCode;
}

const req = (hostname: unknown, service: unknown = { port: 3000 }, extra: Record<string, unknown> = {}) => ({
  hostname,
  service,
  ...extra,
});
const as = (actor: unknown, request: unknown): Call => ({ actor, request });
const del = (actor: unknown, hostname: unknown): Call => ({ actor, delete: hostname });

const CASES: Case[] = [
  // --- malformed and oversized hostnames ---
  ...(
    [
      ['empty', ''],
      ['a space', ' '],
      ['a single label', 'localhost'],
      ['an inner space', 'exa mple.com'],
      ['an empty label', 'app..example.com'],
      ['a leading dot', '.example.com'],
      ['a trailing dot', 'app.example.com.'],
      ['a port', 'app.example.com:8080'],
      ['a URL', 'https://app.example.com'],
      ['a path', 'app.example.com/admin'],
      ['an e-mail address', 'root@app.example.com'],
      ['a leading hyphen', '-app.example.com'],
      ['a trailing hyphen', 'app-.example.com'],
      ['a 64-character label', `${'a'.repeat(64)}.example.com`],
      ['254 characters', `${'abcdefghi.'.repeat(25)}example.com`],
      ['10,000 characters', 'a'.repeat(10_000)],
      ['a numeric last label', 'app.example.123'],
      ['a star inside a label', 'a*b.example.com'],
      ['a star in the middle', 'app.*.example.com'],
      ['an underscore', 'app_name.example.com'],
      ['a newline (YAML injection)', 'app.example.com\nservice: http://evil:1'],
      ['a NUL byte', 'app\u0000.example.com'],
      ['a quote', "app'.example.com"],
      ['a shell command', 'app;rm -rf /.example.com'],
      ['a shell expansion', '$(reboot).example.com'],
      ['a YAML comment', 'app.example.com # tunnel-manager:blog'],
      ['a bidi control character', '\u202eapp.example.com'],
      ['a zero-width space', 'app\u200b.example.com'],
    ] as const
  ).map(
    ([name, hostname]): Case => ({
      name: `hostname with ${name}`,
      call: as(shop, req(hostname)),
      code: 'INVALID_HOSTNAME',
    }),
  ),
  { name: 'hostname that is a number', call: as(shop, req(42)), code: 'INVALID_HOSTNAME' },
  { name: 'hostname that is an array', call: as(shop, req(['app.example.com'])), code: 'INVALID_HOSTNAME' },
  {
    name: 'a wildcard of a wildcard asked by an admin',
    call: as(admin, req('*.*.example.com')),
    code: 'INVALID_HOSTNAME',
  },

  // --- route options: path, origin settings, re-targeting ---
  {
    name: 'a path that is not RE2 (lookahead)',
    call: as(shop, req('s.example.com', { port: 1 }, { path: '^/(?=a)' })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'a path with an unclosed group',
    call: as(shop, req('s.example.com', { port: 1 }, { path: '^/(api' })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'a path that is a number',
    call: as(shop, req('s.example.com', { port: 1 }, { path: 42 })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'a path with a newline (YAML injection)',
    call: as(shop, req('s.example.com', { port: 1 }, { path: '^/a\nservice: http://evil:1' })),
    code: 'INVALID_INPUT',
  },
  {
    name: "a path on another project's name",
    call: as(shop, req('taken.example.com', { port: 3000 }, { path: '^/api/' })),
    code: 'HOSTNAME_TAKEN',
  },
  {
    name: 'a second path beyond the quota',
    call: as(full, req('full.example.com', { port: 3001 }, { path: '^/api/' })),
    code: 'QUOTA_EXCEEDED',
  },
  {
    name: 'origin settings that are a list',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: [true] })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'an origin setting off the allow-list (bastionMode)',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { bastionMode: true } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'an origin setting off the allow-list (access)',
    call: as(admin, req('s.example.com', { port: 1 }, { originRequest: { access: { required: true } } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'noTLSVerify as the string "true"',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { noTLSVerify: 'true' } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'connectTimeout as a bare number',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { connectTimeout: 10 } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'connectTimeout of a fraction of a second',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { connectTimeout: '1.5s' } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'connectTimeout that is not a duration',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { connectTimeout: 'soon' } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'httpHostHeader with a newline',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { httpHostHeader: 'a\nb' } })),
    code: 'INVALID_INPUT',
  },
  {
    name: 'caPool when no directory is allowed',
    call: as(
      shop,
      req('s.example.com', { port: 1 }, { originRequest: { caPool: '/etc/ssl/certs/ca-certificates.crt' } }),
    ),
    code: 'POLICY_DENIED',
  },
  {
    name: 'caPool as a relative path',
    call: as(shop, req('s.example.com', { port: 1 }, { originRequest: { caPool: '../ca.pem' } })),
    code: 'POLICY_DENIED',
  },
  {
    name: 're-targeting a path that has no route',
    call: as(blog, req('taken.example.com', { port: 3000 }, { fromPath: '^/nope/', path: '^/x/' })),
    code: 'NOT_FOUND',
  },
  {
    name: 'a wildcard apex by a project',
    call: as(shop, req('*.example.com', { port: 1 }, { path: '^/' })),
    code: 'POLICY_DENIED',
  },
  {
    name: 'subdomain into a malformed domain',
    call: as(shop, { subdomain: 'app', domain: 'exa mple.com', service: { port: 1 } }),
    code: 'INVALID_HOSTNAME',
  },

  // --- other zones ---
  { name: 'a zone the token cannot see', call: as(shop, req('app.example.net')), code: 'ZONE_NOT_FOUND' },
  { name: 'a lookalike of a zone', call: as(shop, req('app.examplecom.org')), code: 'ZONE_NOT_FOUND' },
  {
    name: 'a zone as a label of another name',
    call: as(shop, req('app.example.com.evil.org')),
    code: 'ZONE_NOT_FOUND',
  },
  { name: 'a zone still pending', call: as(shop, req('app.pending.test')), code: 'ZONE_NOT_FOUND' },
  { name: 'a public suffix', call: as(shop, req('app.co.uk')), code: 'ZONE_NOT_FOUND' },

  // --- policy ---
  { name: 'a zone apex by a project', call: as(shop, req('example.com')), code: 'POLICY_DENIED' },
  { name: 'another zone apex by a project', call: as(shop, req('Example.ORG')), code: 'POLICY_DENIED' },
  { name: 'the apex of a nested zone', call: as(shop, req('dev.example.com')), code: 'POLICY_DENIED' },
  { name: 'a wildcard by a project', call: as(shop, req('*.example.com')), code: 'POLICY_DENIED' },
  {
    name: 'a wildcard subdomain by a project',
    call: as(shop, { subdomain: '*', domain: 'example.org', service: { port: 1 } }),
    code: 'POLICY_DENIED',
  },
  { name: 'a deny-listed name', call: as(shop, req('admin.example.com')), code: 'POLICY_DENIED' },
  { name: 'a deny-listed name in other case', call: as(shop, req('ADMIN.example.com')), code: 'POLICY_DENIED' },
  { name: 'a name below a deny-listed pattern', call: as(shop, req('db.internal.example.com')), code: 'POLICY_DENIED' },
  {
    name: 'a deep name below a deny-listed pattern',
    call: as(shop, req('a.b.internal.example.com')),
    code: 'POLICY_DENIED',
  },

  // --- ownership ---
  { name: "another project's name", call: as(shop, req('taken.example.com')), code: 'HOSTNAME_TAKEN' },
  {
    name: "another project's name in other case",
    call: as(shop, req('TAKEN.example.com', { port: 4000 })),
    code: 'HOSTNAME_TAKEN',
  },
  {
    name: "an admin without project on a project's name",
    call: as(admin, req('taken.example.com', { port: 1 })),
    code: 'HOSTNAME_TAKEN',
  },
  {
    name: 'a project asking to adopt',
    call: as(shop, req('legacy.example.com', { port: 1 }, { adopt: true })),
    code: 'NOT_OWNER',
  },
  {
    name: 'a project acting for another',
    call: as(shop, req('x.example.com', { port: 1 }, { project: 'blog' })),
    code: 'NOT_OWNER',
  },
  { name: "deleting another project's route", call: del(shop, 'taken.example.com'), code: 'NOT_OWNER' },
  { name: 'deleting a name nobody holds', call: del(shop, 'nobody.example.com'), code: 'NOT_FOUND' },
  { name: 'deleting a hand-written rule and record', call: del(admin, 'www.example.com'), code: 'NOT_FOUND' },
  { name: 'deleting a marked record the DB does not know', call: del(admin, 'ghost.example.com'), code: 'NOT_FOUND' },
  { name: 'deleting a malformed name', call: del(shop, 'bad name.example.com'), code: 'INVALID_HOSTNAME' },
  { name: 'deleting with a bad actor', call: del({ kind: 'root' }, 'taken.example.com'), code: 'INVALID_INPUT' },
  { name: 'over quota', call: as(full, req('more.example.com')), code: 'QUOTA_EXCEEDED' },

  {
    name: 'a name held by a hand-written ingress rule (no DNS record)',
    call: as(shop, req('static.example.com')),
    code: 'HOSTNAME_TAKEN',
  },
  {
    name: 'an admin on a hand-written ingress rule, even adopting',
    call: as(admin, req('static.example.com', { port: 1 }, { adopt: true })),
    code: 'HOSTNAME_TAKEN',
  },

  // --- names held by records the manager does not own ---
  { name: 'a name held by a hand-made A record', call: as(shop, req('legacy.example.com')), code: 'RECORD_CONFLICT' },
  {
    name: 'a name held by a hand-made CNAME',
    call: as(shop, req('shop.example.com')),
    code: 'RECORD_CONFLICT',
  },
  {
    name: 'a name held by a hand-written rule and a hand-made record',
    call: as(shop, req('www.example.com')),
    code: 'HOSTNAME_TAKEN',
  },
  { name: 'a name held by a TXT record', call: as(shop, req('txt.example.com')), code: 'RECORD_CONFLICT' },
  {
    name: 'a name held by a record marked for an unknown owner',
    call: as(shop, req('ghost.example.com')),
    code: 'RECORD_CONFLICT',
  },
  {
    name: 'an admin on a hand-made record without adopt',
    call: as(admin, req('legacy.example.com')),
    code: 'RECORD_CONFLICT',
  },

  // --- bad ports ---
  ...(
    [
      ['0', 0],
      ['-1', -1],
      ['65536', 65_536],
      ['a fraction', 80.5],
      ['a string', '8080'],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['null', null],
      ['1e10', 1e10],
    ] as const
  ).map(
    ([name, port]): Case => ({
      name: `port ${name}`,
      call: as(shop, req('p.example.com', { port })),
      code: 'INVALID_INPUT',
    }),
  ),
  { name: 'no port', call: as(shop, req('p.example.com', { container: 'web' })), code: 'INVALID_INPUT' },

  // --- container names with shell or YAML metacharacters ---
  ...(
    [
      ['a shell command', 'web; rm -rf /'],
      ['a YAML newline', 'web\nhostname: evil.example.com'],
      ['a YAML comment', "web' #"],
      ['a port', 'web:8080'],
      ['a leading slash', '/web'],
      ['a command substitution', '$(reboot)'],
      ['backticks', 'web`id`'],
      ['129 characters', `w${'a'.repeat(128)}`],
      ['nothing', ''],
      ['a path', '../../etc/passwd'],
      ['a space', 'web name'],
      ['braces', '{web}'],
      ['a NUL byte', 'web\u0000'],
    ] as const
  ).map(
    ([name, container]): Case => ({
      name: `container with ${name}`,
      call: as(shop, req('c.example.com', { container, port: 8080 })),
      code: 'INVALID_INPUT',
    }),
  ),
  {
    name: 'container that is a number',
    call: as(shop, req('c.example.com', { container: 7, port: 80 })),
    code: 'INVALID_INPUT',
  },

  // --- unknown and unusable containers ---
  {
    name: 'an unknown container',
    call: as(shop, req('c.example.com', { container: 'nosuch', port: 80 })),
    code: 'TARGET_UNREACHABLE',
  },
  {
    name: 'a container that publishes nothing',
    call: as(shop, req('c.example.com', { container: 'hidden', port: 7000 })),
    code: 'TARGET_UNREACHABLE',
  },
  {
    name: 'a stopped container',
    call: as(shop, req('c.example.com', { container: 'stopped', port: 8080 })),
    code: 'TARGET_UNREACHABLE',
  },
  {
    name: 'a port the container does not publish',
    call: as(shop, req('c.example.com', { container: 'web', port: 9999 })),
    code: 'TARGET_UNREACHABLE',
  },

  {
    name: "another project's container (ownership guard)",
    call: as(shop, req('c.example.com', { container: 'blogweb', port: 8090 })),
    code: 'NOT_OWNER',
  },

  // --- malformed requests ---
  { name: 'scheme ftp', call: as(shop, req('s.example.com', { port: 21, scheme: 'ftp' })), code: 'INVALID_INPUT' },
  {
    name: 'scheme javascript',
    call: as(shop, req('s.example.com', { port: 80, scheme: 'javascript' })),
    code: 'INVALID_INPUT',
  },
  { name: 'no request', call: as(shop, null), code: 'INVALID_INPUT' },
  { name: 'no service', call: as(shop, { hostname: 's.example.com' }), code: 'INVALID_INPUT' },
  { name: 'service as an array', call: as(shop, req('s.example.com', [3000])), code: 'INVALID_INPUT' },
  { name: 'no name at all', call: as(shop, { service: { port: 3000 } }), code: 'INVALID_INPUT' },
  {
    name: 'hostname and subdomain',
    call: as(shop, { hostname: 'a.example.com', subdomain: 'a', service: { port: 1 } }),
    code: 'INVALID_INPUT',
  },
  {
    name: 'subdomain without a domain',
    call: as(shop, { subdomain: 'app', service: { port: 1 } }),
    code: 'INVALID_INPUT',
  },
  {
    name: 'dryRun that is not a boolean',
    call: as(shop, req('s.example.com', { port: 1 }, { dryRun: 'no' })),
    code: 'INVALID_INPUT',
  },
  { name: 'an actor of an unknown kind', call: as({ kind: 'root' }, req('s.example.com')), code: 'INVALID_INPUT' },
  {
    name: 'a project name with spaces',
    call: as({ kind: 'project', project: 'Bad Name' }, req('s.example.com')),
    code: 'INVALID_INPUT',
  },
  {
    name: 'a project name of 10,000 characters',
    call: as({ kind: 'project', project: 'x'.repeat(10_000) }, req('s.example.com')),
    code: 'INVALID_INPUT',
  },
  {
    name: 'a project pretending to be the admin owner',
    call: as({ kind: 'project', project: '@admin' }, req('s.example.com')),
    code: 'INVALID_INPUT',
  },
  {
    name: 'an admin acting for an invalid project',
    call: as(admin, req('s.example.com', { port: 1 }, { project: 'x y' })),
    code: 'INVALID_INPUT',
  },
];

describe(`hostile input (${CASES.length} cases): the right code, and nothing changed`, () => {
  let w: World;
  beforeAll(async () => {
    w = await startWorld({
      config: {
        policy: { denyList: ['admin.example.com', '*.internal.example.com'], quotaPerProject: 1 },
        docker: { ownershipGuard: true },
      },
    });
    await w.manager.requestCname(blog, { hostname: 'taken.example.com', service: { port: 3000 } });
    await w.manager.requestCname(full, { hostname: 'full.example.com', service: { port: 3000 } });
  });
  afterAll(async () => {
    await w?.close();
  });

  it('has at least 60 cases with distinct names', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const before = await observe(w);
    const [last] = await w.db.audit.query({ limit: 1 });
    let caught: unknown = null;
    try {
      if ('request' in c.call) await w.manager.requestCname(c.call.actor as Actor, c.call.request as CnameRequest);
      else await w.manager.deleteCname(c.call.actor as Actor, c.call.delete as string);
    } catch (error) {
      caught = error;
    }
    expect(isTunnelError(caught), `no TunnelError: ${String(caught)}`).toBe(true);
    const error = caught as { code: string; message: string; hint: string };
    expect(error.code, error.message).toBe(c.code);
    expect(error.hint.length).toBeGreaterThan(10);
    expect(error.message.length).toBeLessThan(600);

    const after = await observe(w);
    expect(after).toEqual(before);
    const entries = await w.db.audit.query({ since: last?.at ?? 0 });
    const fresh = entries.filter((e) => e.id > (last?.id ?? 0));
    expect(fresh).toHaveLength(1);
    expect(fresh[0]).toMatchObject({ outcome: 'error', errorCode: c.code });
    expect(JSON.stringify(fresh[0]).length).toBeLessThan(4_000);
  });
});
