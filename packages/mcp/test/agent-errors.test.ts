import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Actor } from '@tunnel/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningMcpHttpServer, startMcpHttpServer } from '../src/index.js';
import { type Connected, callError, callOk, connectHttp, observe, startWorld, type World } from './support/world.js';

/*
 * Errors an agent can act on: what probing the server with hostile input found, one row each.
 * A real SDK client over Streamable HTTP; every row must come back as a tool error with a code,
 * a message quoting what was sent and naming the problem, and a hint that fits it.
 */

let world: World;
let http: RunningMcpHttpServer;
const connected: Connected[] = [];
let shop: Client;
let blog: Client;

beforeAll(async () => {
  world = await startWorld();
  http = await startMcpHttpServer({
    manager: world.manager,
    tokens: world.tokens,
    rateLimit: 10_000,
    port: 0,
    defaultDomain: 'example.com',
  });
  for (const actor of [Actor.project('shop'), Actor.project('blog')]) {
    connected.push(await connectHttp(http.url, (await world.tokens.create({ actor })).token));
  }
  [shop, blog] = connected.map((c) => c.client) as [Client, Client];
}, 60_000);

afterAll(async () => {
  for (const c of connected) await c.close().catch(() => {});
  await http?.close();
  await world?.close();
});

interface Row {
  readonly what: string;
  readonly tool: string;
  readonly args: unknown;
  readonly code: string;
  /** The message must contain each. */
  readonly says: readonly string[];
  /** The message must not contain any. */
  readonly notSays?: readonly string[];
  readonly hint: RegExp;
  readonly hintNot?: RegExp;
}

const TEN_KB = 'a'.repeat(10 * 1024);
const PORT_HINT = /port/i;

const PLACEHOLDER = ['$', '{env:HOST}.example.com'].join('');

const ROWS: readonly Row[] = [
  {
    what: 'arguments that are a string',
    tool: 'tunnel_request_cname',
    args: 'shop.example.com',
    code: 'INVALID_INPUT',
    says: ['must be a JSON object', 'got a string'],
    hint: /Example: \{/,
  },
  {
    what: 'arguments that are an array',
    tool: 'tunnel_delete_cname',
    args: ['shop.example.com'],
    code: 'INVALID_INPUT',
    says: ['must be a JSON object', 'got an array'],
    hint: /object/,
  },
  {
    what: 'a __proto__ key, refused like any unknown key',
    tool: 'tunnel_request_cname',
    args: JSON.parse('{"subdomain": "x", "port": 80, "__proto__": {"admin": true}}'),
    code: 'INVALID_INPUT',
    says: ['Unrecognized key', '"__proto__"'],
    hint: /Example/,
  },
  {
    what: 'a leading dot (was reported as an empty label "..")',
    tool: 'tunnel_request_cname',
    args: { hostname: '.example.com', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['".example.com"', 'starts with a dot'],
    notSays: ['".."'],
    hint: /leading dot/,
  },
  {
    what: 'a subdomain with a trailing dot (was quoted as "x..example.com")',
    tool: 'tunnel_request_cname',
    args: { subdomain: 'x.', domain: 'example.com', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['"x."', 'ends with a dot'],
    notSays: ['x..example.com'],
    hint: /below the zone/,
  },
  {
    what: 'a subdomain with a bad character, quoted as given',
    tool: 'tunnel_request_cname',
    args: { subdomain: 'a_b', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['"a_b"', '"_"'],
    notSays: ['a_b.example.com"'],
    hint: /letters, digits/,
  },
  {
    what: 'a newline',
    tool: 'tunnel_request_cname',
    args: { hostname: 'shop.example.com\nHost: evil', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['line break'],
    hint: /one line/,
    hintNot: PORT_HINT,
  },
  {
    what: 'an unexpanded $-brace placeholder',
    tool: 'tunnel_request_cname',
    args: { hostname: PLACEHOLDER, port: 80 },
    code: 'INVALID_HOSTNAME',
    says: [JSON.stringify(PLACEHOLDER), 'placeholder'],
    hint: /variable/,
    hintNot: PORT_HINT,
  },
  {
    what: 'an IPv6 literal',
    tool: 'tunnel_request_cname',
    args: { hostname: '2001:db8::1', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['"2001:db8::1"', 'IPv6 address'],
    hint: /DNS name/,
    hintNot: PORT_HINT,
  },
  {
    what: 'a bracketed IPv6 literal',
    tool: 'tunnel_delete_cname',
    args: { hostname: '[::1]' },
    code: 'INVALID_HOSTNAME',
    says: ['"[::1]"', 'IPv6 address'],
    hint: /DNS name/,
    hintNot: PORT_HINT,
  },
  {
    what: 'a port on the hostname (the one case the port hint is for)',
    tool: 'tunnel_request_cname',
    args: { hostname: 'shop.example.com:8080', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['":8080"'],
    hint: /"port" field/,
  },
  {
    what: 'an empty hostname (schema bound): the same code as a blank one',
    tool: 'tunnel_request_cname',
    args: { hostname: '', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['""', 'empty'],
    hint: /app\.example\.com/,
  },
  {
    what: 'a blank hostname (domain check)',
    tool: 'tunnel_request_cname',
    args: { hostname: ' ', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['" "'],
    hint: /letters, digits/,
  },
  {
    what: 'a 10 KB hostname (schema bound): the same code as a 255-character one',
    tool: 'tunnel_delete_cname',
    args: { hostname: TEN_KB },
    code: 'INVALID_HOSTNAME',
    says: ['10240 characters'],
    hint: /at most 253/,
  },
  {
    what: 'a 255-character hostname (domain check)',
    tool: 'tunnel_delete_cname',
    args: { hostname: `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(61)}.example.com` },
    code: 'INVALID_HOSTNAME',
    says: ['characters'],
    hint: /253|63/,
  },
  {
    what: 'an empty subdomain (schema bound)',
    tool: 'tunnel_request_cname',
    args: { subdomain: '', port: 80 },
    code: 'INVALID_HOSTNAME',
    says: ['subdomain ""', 'empty'],
    hint: /below the zone/,
  },
];

describe('errors an agent can act on (MCP, real client)', () => {
  it.each(ROWS.map((row) => [row.what, row] as const))('%s', async (_what, row) => {
    const before = await observe(world);
    const error = await callError(shop, row.tool, row.args);
    expect(error.code).toBe(row.code);
    for (const text of row.says) expect(error.message).toContain(text);
    for (const text of row.notSays ?? []) expect(error.message).not.toContain(text);
    expect(error.hint).toMatch(row.hint);
    if (row.hintNot) expect(error.hint).not.toMatch(row.hintNot);
    // No raw zod dump in what the agent reads.
    expect(error.message).not.toMatch(/"code":\s*"invalid_type"|\[\s*\{/);
    expect(await observe(world)).toEqual(before);
  });

  it('NOT_OWNER names the caller as "project blog", not the internal "project:blog"', async () => {
    await callOk(shop, 'tunnel_request_cname', { subdomain: 'owned', port: 8080 });
    const error = await callError(blog, 'tunnel_delete_cname', { hostname: 'owned.example.com' });
    expect(error.code).toBe('NOT_OWNER');
    expect(error.message).toContain('project blog');
    expect(error.message).not.toContain('project:blog');
  });
});
