import { readFileSync } from 'node:fs';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { Actor } from '@tunnel/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Connected, callError, callOk, observe, recordsNamed, TUNNEL_TARGET, type World } from './world.js';

export interface TransportUnderTest {
  readonly world: World;
  /** A real SDK Client acting as `actor` over the transport under test. */
  connect(actor: Actor): Promise<Connected>;
  close(): Promise<void>;
}

const TOOLS = [
  'tunnel_get_status',
  'tunnel_request_cname',
  'tunnel_delete_cname',
  'tunnel_list_cnames',
  'tunnel_list_domains',
];

/**
 * Every tool's success path and every error path, and project isolation, through one transport.
 * Two projects (`shop`, `blog`) and an admin each get their own client; the tests run in order
 * and build on each other's routes.
 */
export function describeToolSuite(name: string, setup: () => Promise<TransportUnderTest>): void {
  describe(name, () => {
    let t: TransportUnderTest;
    const clients: Connected[] = [];
    let shop: Client;
    let blog: Client;
    let admin: Client;

    beforeAll(async () => {
      t = await setup();
      for (const actor of [Actor.project('shop'), Actor.project('blog'), Actor.admin()]) {
        clients.push(await t.connect(actor));
      }
      [shop, blog, admin] = clients.map((c) => c.client) as [Client, Client, Client];
    });

    afterAll(async () => {
      for (const c of clients) await c.close().catch(() => {});
      await t?.close();
    });

    it('lists the five tools, each with a description, an example, and input and output schemas', async () => {
      const { tools } = await shop.listTools();
      expect(tools.map((tool) => tool.name)).toEqual(TOOLS);
      for (const tool of tools) {
        expect(tool.description).toMatch(/\nExample: .*\{.*\} →/);
        expect(tool.description?.length).toBeGreaterThan(200);
        expect(tool.inputSchema.type).toBe('object');
        expect(tool.inputSchema.additionalProperties).toBe(false);
        const output = tool.outputSchema as Record<string, unknown> & { properties: Record<string, unknown> };
        expect(output.type).toBe('object');
        expect(output.properties.error).toBeDefined();
        expect((output.oneOf as Array<{ required: string[] }>)[1]).toEqual({ required: ['error'] });
      }
      const request = tools.find((tool) => tool.name === 'tunnel_request_cname');
      expect(request?.inputSchema.required).toEqual(['port']);
      expect(Object.keys(request?.inputSchema.properties ?? {})).toEqual([
        'subdomain',
        'hostname',
        'domain',
        'port',
        'container',
        'scheme',
        'path',
        'fromPath',
        'originRequest',
        'dryRun',
      ]);
      // The description tells an agent about paths, origin settings, wildcards and re-targeting, with examples.
      expect(request?.description).toMatch(/"path": "\^\/api\/"/);
      expect(request?.description).toMatch(/"originRequest": \{"noTLSVerify": true/);
      expect(request?.description).toMatch(/Wildcards/);
      expect(request?.description).toMatch(/fromPath/);
      const requestOut = request?.outputSchema as { properties: Record<string, unknown> };
      expect(Object.keys(requestOut.properties)).toEqual(expect.arrayContaining(['path', 'originRequest']));
      const deleteTool = tools.find((tool) => tool.name === 'tunnel_delete_cname');
      expect(Object.keys(deleteTool?.inputSchema.properties ?? {})).toEqual(['hostname', 'path']);
      const deleteOut = deleteTool?.outputSchema as { properties: Record<string, unknown> };
      expect(Object.keys(deleteOut.properties)).toEqual(expect.arrayContaining(['path', 'dnsRecordDeleted']));
      expect(request?.inputSchema.properties?.port).toMatchObject({ type: 'integer', minimum: 1, maximum: 65535 });
      expect(request?.description).toMatch(/defaults? to "example.com"|shop\.example\.com/);
      expect(request?.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: true });
      const del = tools.find((tool) => tool.name === 'tunnel_delete_cname');
      expect(del?.annotations).toMatchObject({ destructiveHint: true });
      expect(del?.inputSchema.required).toEqual(['hostname']);
      const list = tools.find((tool) => tool.name === 'tunnel_list_cnames');
      expect(Object.keys(list?.inputSchema.properties ?? {})).toEqual(['states', 'zone']);
      // Only an admin is offered the fields that act for another project.
      const adminTools = (await admin.listTools()).tools;
      const adminRequest = adminTools.find((tool) => tool.name === 'tunnel_request_cname');
      expect(Object.keys(adminRequest?.inputSchema.properties ?? {})).toEqual(
        expect.arrayContaining(['project', 'adopt']),
      );
      const adminList = adminTools.find((tool) => tool.name === 'tunnel_list_cnames');
      expect(Object.keys(adminList?.inputSchema.properties ?? {})).toContain('project');
    });

    it('tunnel_list_domains: every zone, whether the caller may use it, and the default', async () => {
      const { structured, text } = await callOk(shop, 'tunnel_list_domains');
      expect(structured.defaultDomain).toBe('example.com');
      expect(
        structured.domains.map((d: { name: string; usable: boolean; isDefault: boolean }) => [
          d.name,
          d.usable,
          d.isDefault,
        ]),
      ).toEqual([
        ['example.com', true, true],
        ['example.org', true, false],
        ['pending.test', false, false],
      ]);
      const pending = structured.domains.find((d: { name: string }) => d.name === 'pending.test');
      expect(pending.reason).toMatch(/pending/);
      expect(text).toMatch(/example\.com \(default\): usable/);
    });

    it("tunnel_get_status: the tunnel (no daemon yet: unknown) and the caller's route counts", async () => {
      const { structured, text } = await callOk(shop, 'tunnel_get_status');
      expect(structured.tunnel.status).toBe('unknown');
      expect(structured.tunnel.lastCheckAt).toBeNull();
      expect(structured.routes.active).toBe(0);
      expect(structured.lastRestart).toBeNull();
      expect(structured.recentSamples).toEqual([]);
      expect(structured.domains.map((d: { name: string }) => d.name)).toContain('example.com');
      expect(text).toMatch(/unknown/);
    });

    it('tunnel_request_cname with dryRun returns the plan and changes nothing', async () => {
      const before = await observe(t.world);
      const { structured, text } = await callOk(shop, 'tunnel_request_cname', {
        subdomain: 'shop',
        port: 8080,
        dryRun: true,
      });
      expect(structured).toMatchObject({
        hostname: 'shop.example.com',
        outcome: 'planned',
        dryRun: true,
        target: 'http://localhost:8080',
        owner: 'shop',
      });
      expect(structured.steps.length).toBeGreaterThan(0);
      expect(text).toMatch(/Dry run/);
      expect(await observe(t.world)).toEqual(before);
    });

    it('tunnel_request_cname publishes a host service: DNS record, ingress rule, the target and why', async () => {
      const { structured, text } = await callOk(shop, 'tunnel_request_cname', { subdomain: 'shop', port: 8080 });
      expect(structured).toMatchObject({
        hostname: 'shop.example.com',
        publicUrl: 'https://shop.example.com',
        outcome: 'created',
        state: 'active',
        target: 'http://localhost:8080',
        owner: 'shop',
        zone: 'example.com',
        dryRun: false,
        service: { container: null, port: 8080, scheme: 'http' },
      });
      expect(structured.targetReason).toMatch(/host/);
      expect(structured.restartPending).toBe((await t.world.db.restarts.pending()) > 0);
      expect(text).toMatch(/https:\/\/shop\.example\.com → http:\/\/localhost:8080/);
      const records = recordsNamed(t.world, 'shop.example.com');
      expect(records.map((r) => [r.type, r.content, r.proxied])).toEqual([['CNAME', TUNNEL_TARGET, true]]);
      const ingress = readFileSync(t.world.ingressPath, 'utf8');
      expect(ingress).toMatch(/hostname: shop\.example\.com .*\n\s+service: http:\/\/localhost:8080\n/);
      expect(ingress).toContain('www.example.com');
      const stored = await t.world.db.routes.findLive('shop.example.com');
      expect(stored?.owner).toBe('shop');
    });

    it('asking again is idempotent ("unchanged"); another port updates the caller\'s route', async () => {
      const again = await callOk(shop, 'tunnel_request_cname', { hostname: 'shop.example.com', port: 8080 });
      expect(again.structured.outcome).toBe('unchanged');
      const moved = await callOk(shop, 'tunnel_request_cname', { subdomain: 'shop', port: 8081 });
      expect(moved.structured).toMatchObject({ outcome: 'updated', target: 'http://localhost:8081' });
      expect(readFileSync(t.world.ingressPath, 'utf8')).toContain('http://localhost:8081');
      expect(recordsNamed(t.world, 'shop.example.com')).toHaveLength(1);
    });

    it("tunnel_list_cnames: the caller's routes with target, reason and state", async () => {
      await callOk(shop, 'tunnel_request_cname', { subdomain: 'api', domain: 'example.org', port: 9000 });
      const { structured, text } = await callOk(shop, 'tunnel_list_cnames');
      expect(structured.count).toBe(2);
      expect(
        structured.routes.map((r: { hostname: string; state: string; target: string; owner: string }) => [
          r.hostname,
          r.state,
          r.target,
          r.owner,
        ]),
      ).toEqual([
        ['api.example.org', 'active', 'http://localhost:9000', 'shop'],
        ['shop.example.com', 'active', 'http://localhost:8081', 'shop'],
      ]);
      expect(structured.routes[0].createdAt).toMatch(/^\d{4}-\d\d-\d\dT/);
      expect(structured.routes[0].publicUrl).toBe('https://api.example.org');
      expect(text).toMatch(/2 route\(s\)/);
      const filtered = await callOk(shop, 'tunnel_list_cnames', { zone: 'example.org', states: ['active'] });
      expect(filtered.structured.routes.map((r: { hostname: string }) => r.hostname)).toEqual(['api.example.org']);
      const status = await callOk(shop, 'tunnel_get_status');
      expect(status.structured.routes.active).toBe(2);
    });

    it('bad input → INVALID_INPUT naming the field, with a hint and an example; nothing changes', async () => {
      const before = await observe(t.world);
      const cases: Array<[string, unknown, RegExp]> = [
        ['tunnel_request_cname', { subdomain: 'x', port: 0 }, /port/],
        ['tunnel_request_cname', { subdomain: 'x', port: 70000 }, /port/],
        ['tunnel_request_cname', { subdomain: 'x', port: '8080' }, /port/],
        ['tunnel_request_cname', { subdomain: 'x' }, /port/],
        ['tunnel_request_cname', { subdomain: 'x', port: 80, prot: 1 }, /prot/],
        ['tunnel_request_cname', { subdomain: 'x', port: 80, scheme: 'gopher' }, /scheme/],
        ['tunnel_request_cname', { subdomain: 'x', port: 80, project: 'blog' }, /project/],
        ['tunnel_list_cnames', { states: ['nope'] }, /states/],
        ['tunnel_list_cnames', { project: 'blog' }, /project/],
        ['tunnel_delete_cname', {}, /hostname/],
        ['tunnel_get_status', { verbose: true }, /verbose/],
      ];
      for (const [tool, args, field] of cases) {
        const error = await callError(shop, tool, args);
        expect(error.code).toBe('INVALID_INPUT');
        expect(error.message).toMatch(field);
        expect(error.hint).toMatch(/Example|\{\}/);
        expect(error.retryable).toBe(false);
        expect(error.details?.issues).toEqual(
          expect.arrayContaining([{ path: expect.any(String), message: expect.any(String) }]),
        );
      }
      for (const [args, code] of [
        [{ hostname: 'bad host!.example.com', port: 80 }, 'INVALID_HOSTNAME'],
        [{ subdomain: 'x', hostname: 'x.example.com', port: 80 }, 'INVALID_INPUT'],
        [{ port: 80 }, 'INVALID_INPUT'],
        [{ hostname: 'a.nowhere.invalid', port: 80 }, 'ZONE_NOT_FOUND'],
        [{ hostname: 'example.com', port: 80 }, 'POLICY_DENIED'],
      ] as const) {
        const error = await callError(shop, 'tunnel_request_cname', args);
        expect(error.code).toBe(code);
      }
      expect(await observe(t.world)).toEqual(before);
    });

    it("a hostname another project holds → HOSTNAME_TAKEN; the holder's route is untouched", async () => {
      const before = await observe(t.world);
      for (const args of [
        { subdomain: 'shop', port: 9999 },
        { hostname: 'SHOP.example.com', port: 8081 },
        { hostname: 'api.example.org', port: 9000, dryRun: true },
      ]) {
        const error = await callError(blog, 'tunnel_request_cname', args);
        expect(error.code).toBe('HOSTNAME_TAKEN');
        expect(error.hint.length).toBeGreaterThan(10);
      }
      expect(await observe(t.world)).toEqual(before);
    });

    it('a name held by a DNS record the manager did not create → RECORD_CONFLICT', async () => {
      const before = await observe(t.world);
      const error = await callError(blog, 'tunnel_request_cname', { subdomain: 'legacy', port: 80 });
      expect(error.code).toBe('RECORD_CONFLICT');
      expect(await observe(t.world)).toEqual(before);
    });

    it("deleting another project's hostname → NOT_OWNER; an unknown one → NOT_FOUND; nothing changes", async () => {
      const before = await observe(t.world);
      const notOwner = await callError(blog, 'tunnel_delete_cname', { hostname: 'shop.example.com' });
      expect(notOwner.code).toBe('NOT_OWNER');
      const missing = await callError(blog, 'tunnel_delete_cname', { hostname: 'nothing.example.com' });
      expect(missing.code).toBe('NOT_FOUND');
      expect(await observe(t.world)).toEqual(before);
    });

    it('a service cloudflared cannot reach → TARGET_UNREACHABLE with a hint; nothing changes', async () => {
      const before = await observe(t.world);
      const error = await callError(blog, 'tunnel_request_cname', {
        subdomain: 'blog',
        port: 80,
        container: 'blog-web',
      });
      expect(error.code).toBe('TARGET_UNREACHABLE');
      expect(error.hint).toMatch(/host port|Docker/);
      expect(await observe(t.world)).toEqual(before);
    });

    it('isolation: a project sees, counts and lists only its own routes', async () => {
      await callOk(blog, 'tunnel_request_cname', { subdomain: 'blog', port: 4000 });
      const mine = await callOk(blog, 'tunnel_list_cnames', { states: ['active', 'deleted', 'failed'] });
      expect(mine.structured.routes.map((r: { hostname: string }) => r.hostname)).toEqual(['blog.example.com']);
      expect(mine.text).not.toContain('shop.example.com');
      const status = await callOk(blog, 'tunnel_get_status');
      expect(status.structured.routes.active).toBe(1);
      const shops = await callOk(shop, 'tunnel_list_cnames');
      expect(shops.structured.routes.map((r: { hostname: string }) => r.hostname)).not.toContain('blog.example.com');
    });

    it('admin: sees every route, filters by project, and may delete any', async () => {
      const all = await callOk(admin, 'tunnel_list_cnames');
      expect(all.structured.routes.map((r: { hostname: string; owner: string }) => [r.hostname, r.owner])).toEqual([
        ['api.example.org', 'shop'],
        ['blog.example.com', 'blog'],
        ['shop.example.com', 'shop'],
      ]);
      const blogs = await callOk(admin, 'tunnel_list_cnames', { project: 'blog' });
      expect(blogs.structured.count).toBe(1);
      const status = await callOk(admin, 'tunnel_get_status');
      expect(status.structured.routes.active).toBe(3);
      const deleted = await callOk(admin, 'tunnel_delete_cname', { hostname: 'api.example.org' });
      expect(deleted.structured).toMatchObject({ hostname: 'api.example.org', state: 'deleted', owner: 'shop' });
      expect(recordsNamed(t.world, 'api.example.org')).toEqual([]);
    });

    it('tunnel_delete_cname by the owner removes the DNS record and the ingress rule, keeping the rest', async () => {
      const { structured, text } = await callOk(shop, 'tunnel_delete_cname', { hostname: 'shop.example.com' });
      expect(structured).toMatchObject({ hostname: 'shop.example.com', state: 'deleted', owner: 'shop' });
      expect(text).toMatch(/Deleted shop\.example\.com/);
      expect(recordsNamed(t.world, 'shop.example.com')).toEqual([]);
      const ingress = readFileSync(t.world.ingressPath, 'utf8');
      expect(ingress).not.toContain('shop.example.com');
      expect(ingress).toContain('www.example.com');
      expect(ingress).toContain('blog.example.com');
      const left = await callOk(shop, 'tunnel_list_cnames');
      expect(left.structured.count).toBe(0);
      // The name is free again, for anyone.
      const taken = await callOk(blog, 'tunnel_request_cname', { subdomain: 'shop', port: 5000 });
      expect(taken.structured).toMatchObject({ outcome: 'created', owner: 'blog' });
    });

    it('route options: paths of one hostname, origin settings, re-target in place, path delete; others refused', async () => {
      const base = await callOk(shop, 'tunnel_request_cname', { hostname: 'paths.example.com', port: 7000 });
      expect(base.structured).toMatchObject({ outcome: 'created', path: null, originRequest: null });
      const api = await callOk(shop, 'tunnel_request_cname', {
        hostname: 'paths.example.com',
        path: '^/api/',
        port: 7001,
        scheme: 'https',
        originRequest: { noTLSVerify: true, connectTimeout: '1m' },
      });
      expect(api.structured).toMatchObject({
        outcome: 'created',
        path: '^/api/',
        target: 'https://localhost:7001',
        originRequest: { noTLSVerify: true, connectTimeout: '60s' },
      });
      expect(api.text).toContain('path ^/api/');
      expect(recordsNamed(t.world, 'paths.example.com')).toHaveLength(1);
      const ingress = readFileSync(t.world.ingressPath, 'utf8');
      // The path rule comes before the hostname's path-less rule, with its origin settings.
      expect(ingress.indexOf('path: ^/api/')).toBeGreaterThan(0);
      expect(ingress.indexOf('path: ^/api/')).toBeLessThan(ingress.indexOf('service: http://localhost:7000'));
      expect(ingress).toMatch(/noTLSVerify: true/);
      const listed = await callOk(shop, 'tunnel_list_cnames');
      expect(
        listed.structured.routes
          .filter((r: { hostname: string }) => r.hostname === 'paths.example.com')
          .map((r: { path: string | null }) => r.path),
      ).toEqual([null, '^/api/']);

      // Another project cannot add a path to the name, nor delete one of its paths.
      const before = await observe(t.world);
      const taken = await callError(blog, 'tunnel_request_cname', {
        hostname: 'paths.example.com',
        path: '^/blog/',
        port: 7100,
      });
      expect(taken.code).toBe('HOSTNAME_TAKEN');
      const notOwner = await callError(blog, 'tunnel_delete_cname', { hostname: 'paths.example.com', path: '^/api/' });
      expect(notOwner.code).toBe('NOT_OWNER');
      // Settings off the allow-list, or typed as cloudflared would refuse them, change nothing.
      for (const originRequest of [{ bastionMode: true }, { noTLSVerify: 'true' }, { connectTimeout: '1.5s' }]) {
        const bad = await callError(shop, 'tunnel_request_cname', {
          hostname: 'paths.example.com',
          path: '^/api/',
          port: 7001,
          originRequest,
        });
        expect(bad.code).toBe('INVALID_INPUT');
      }
      const badPath = await callError(shop, 'tunnel_request_cname', {
        hostname: 'paths.example.com',
        path: '^/(?!x)',
        port: 7001,
      });
      expect(badPath.code).toBe('INVALID_INPUT');
      expect(await observe(t.world)).toEqual(before);

      // Re-target in place: the same request again is a no-op; another port is one rule change.
      const same = await callOk(shop, 'tunnel_request_cname', {
        hostname: 'paths.example.com',
        path: '^/api/',
        port: 7001,
        scheme: 'https',
        originRequest: { noTLSVerify: true, connectTimeout: '60s' },
      });
      expect(same.structured.outcome).toBe('unchanged');
      expect(await observe(t.world)).toEqual(before);
      const moved = await callOk(shop, 'tunnel_request_cname', {
        hostname: 'paths.example.com',
        fromPath: '^/api/',
        path: '^/v2/',
        port: 7002,
      });
      expect(moved.structured).toMatchObject({ outcome: 'updated', path: '^/v2/', originRequest: null });
      expect(moved.structured.steps.map((s: { summary: string }) => s.summary).join('\n')).toContain('no DNS change');
      const afterMove = await observe(t.world);
      expect(afterMove.dnsWrites).toBe(before.dnsWrites);
      expect(afterMove.records).toBe(before.records);

      // Deleting a path keeps the record for the others; the last one takes it.
      const first = await callOk(shop, 'tunnel_delete_cname', { hostname: 'paths.example.com', path: '^/v2/' });
      expect(first.structured).toMatchObject({ path: '^/v2/', dnsRecordDeleted: false, state: 'deleted' });
      expect(recordsNamed(t.world, 'paths.example.com')).toHaveLength(1);
      const last = await callOk(shop, 'tunnel_delete_cname', { hostname: 'paths.example.com' });
      expect(last.structured).toMatchObject({ path: null, dnsRecordDeleted: true });
      expect(recordsNamed(t.world, 'paths.example.com')).toEqual([]);
      expect(readFileSync(t.world.ingressPath, 'utf8')).not.toContain('paths.example.com');
    });
  });
}
