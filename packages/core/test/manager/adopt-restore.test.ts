import { afterEach, describe, expect, it } from 'vitest';
import { Actor, isTunnelError, type TunnelError } from '../../src/index.js';
import { mark, recordsNamed, startWorld, TUNNEL_TARGET, type World } from './helpers.js';

/*
 * `adopt` keeps what it replaced: the record (type, content, proxied, TTL, comment) is stored
 * with the route before it is replaced, the audit entry says what it was, and deleting the route
 * with `restoreReplaced` puts it back in the same DNS batch that removes the tunnel CNAME.
 */

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

const admin = Actor.admin();
const shop = Actor.project('shop');
const HOST = 'old.example.com';
const ORIGINAL = {
  type: 'A',
  content: '192.0.2.7',
  proxied: false,
  ttl: 300,
  comment: 'web server: do not delete',
} as const;

async function world(): Promise<World> {
  const w = await startWorld({ records: [{ zone: 'example.com', name: HOST, ...ORIGINAL }] });
  worlds.push(w);
  return w;
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => {
      expect(isTunnelError(e)).toBe(true);
      return e as TunnelError;
    },
  );

describe('adopt keeps what it replaced', () => {
  it('round trip: adopt stores and audits the replaced record; rm --restore-replaced puts it back', async () => {
    const w = await world();
    const [original] = recordsNamed(w, HOST);
    const adopted = await w.manager.requestCname(admin, {
      hostname: HOST,
      project: 'shop',
      adopt: true,
      service: { port: 3000 },
    });
    expect(recordsNamed(w, HOST).map((r) => [r.type, r.content, r.comment])).toEqual([
      ['CNAME', TUNNEL_TARGET, mark('shop')],
    ]);
    expect(await w.db.replaced.get(adopted.route.id)).toEqual([{ recordId: original?.id, name: HOST, ...ORIGINAL }]);
    const [audit] = await w.db.audit.query({ action: 'cname.request', target: HOST, limit: 1 });
    expect(audit?.message).toContain(
      `replacing A ${HOST} 192.0.2.7 (not proxied, ttl 300, comment "web server: do not delete")`,
    );
    expect(audit?.params.replaced).toEqual([
      `A ${HOST} 192.0.2.7 (not proxied, ttl 300, comment "web server: do not delete")`,
    ]);

    // Only an admin may restore.
    const denied = await failure(w.manager.deleteCname(shop, HOST, { restoreReplaced: true }));
    expect(denied.code).toBe('NOT_OWNER');
    expect(recordsNamed(w, HOST).map((r) => r.type)).toEqual(['CNAME']);

    const removed = await w.manager.deleteCname(admin, HOST, { restoreReplaced: true });
    expect(removed.route.state).toBe('deleted');
    expect(removed.restored).toEqual([`A ${HOST} 192.0.2.7`]);
    const after = recordsNamed(w, HOST);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: HOST, ...ORIGINAL });
    expect(w.cf.requestsTo({ method: 'POST', path: '/dns_records/batch' })).toHaveLength(2);
    const [deleted] = await w.db.audit.query({ action: 'cname.delete', target: HOST, limit: 1 });
    expect(deleted?.params).toMatchObject({ restoreReplaced: true, restored: [`A ${HOST} 192.0.2.7`] });
    expect(deleted?.message).toContain('restoring A old.example.com 192.0.2.7');
    expect(await managedRuleNames(w)).toEqual([]);
  });

  it('paths share the adopted record: restore waits for the last path, and then puts the record back', async () => {
    const w = await world();
    await w.manager.requestCname(admin, { hostname: HOST, project: 'shop', adopt: true, service: { port: 3000 } });
    const api = await w.manager.requestCname(admin, {
      hostname: HOST,
      project: 'shop',
      path: '^/api/',
      service: { port: 3001 },
    });
    expect(recordsNamed(w, HOST).map((r) => [r.type, r.comment])).toEqual([['CNAME', mark('shop')]]);
    expect(api.route.dnsRecordId).toBe(recordsNamed(w, HOST)[0]?.id);

    // The path-less route that adopted goes first while the path still uses the record: refused.
    const early = await failure(w.manager.deleteCname(admin, HOST, { restoreReplaced: true }));
    expect(early.code).toBe('INVALID_INPUT');
    expect(early.hint).toContain('other paths first');
    expect(recordsNamed(w, HOST).map((r) => r.type)).toEqual(['CNAME']);

    const first = await w.manager.deleteCname(admin, HOST);
    expect(first.dnsRecordDeleted).toBe(false);
    expect(recordsNamed(w, HOST).map((r) => r.type)).toEqual(['CNAME']);
    // The last path's route did not adopt, but it shared the adopting route's record.
    const last = await w.manager.deleteCname(admin, HOST, { path: '^/api/', restoreReplaced: true });
    expect(last.dnsRecordDeleted).toBe(true);
    expect(last.restored).toEqual([`A ${HOST} 192.0.2.7`]);
    expect(recordsNamed(w, HOST).map((r) => ({ ...r }))).toEqual([
      expect.objectContaining({ name: HOST, ...ORIGINAL }),
    ]);
    expect(await managedRuleNames(w)).toEqual([]);
  });

  it('a plain delete leaves the name empty; restoring a route that replaced nothing is refused, changing nothing', async () => {
    const w = await world();
    await w.manager.requestCname(admin, { hostname: HOST, adopt: true, service: { port: 3000 } });
    await w.manager.requestCname(admin, { hostname: 'plain.example.com', service: { port: 3001 } });
    const refused = await failure(w.manager.deleteCname(admin, 'plain.example.com', { restoreReplaced: true }));
    expect(refused.code).toBe('NOT_FOUND');
    expect(refused.hint).toContain('without');
    expect(recordsNamed(w, 'plain.example.com')).toHaveLength(1);
    await w.manager.deleteCname(admin, HOST);
    expect(recordsNamed(w, HOST)).toEqual([]);
  });

  it('an adopt that fails after replacing the record puts the record back as it was', async () => {
    const w = await world();
    const failing = w.another({
      hooks: {
        afterStep(checkpoint) {
          if (checkpoint === 'record_created') throw new Error('simulated failure after the DNS batch');
        },
      },
    });
    const error = await failure(failing.requestCname(admin, { hostname: HOST, adopt: true, service: { port: 3000 } }));
    expect(error.code).toBe('INTERNAL');
    const after = recordsNamed(w, HOST);
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ name: HOST, ...ORIGINAL });
    expect(await managedRuleNames(w)).toEqual([]);
    const [route] = await w.db.routes.list({ hostname: HOST, states: ['failed'] });
    expect(route?.state).toBe('failed');
  });
});

async function managedRuleNames(w: World): Promise<string[]> {
  return (await w.ingress.read()).rules.filter((r) => r.managed).map((r) => r.hostname ?? '');
}
