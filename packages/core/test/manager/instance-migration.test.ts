import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Actor, formatOwnerMark } from '../../src/index.js';
import { disagreements, INSTANCE_ID, mark, recordsNamed, startWorld, TOKEN, type World, ZONE } from './helpers.js';

/*
 * An installation written before instances existed: every record comment and rule mark reads
 * `tunnel-manager:<owner>`. After the upgrade, the next reconcile (or the next write) gives each
 * of them the new mark in one batch, audited, and changes nothing else; a legacy record that
 * points at another tunnel is another VM's and is left alone.
 */

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

const shop = Actor.project('shop');
const admin = Actor.admin();
const OTHER_TUNNEL_TARGET = '0b0b0b0b-1111-4222-8333-444455556666.cfargotunnel.com';

/** Writes the marks as today's main wrote them: no instance, in DNS and in config.yml. */
async function downgradeMarks(w: World): Promise<void> {
  for (const zone of Object.values(ZONE)) {
    for (const record of w.cf.records(zone.id)) {
      const legacy = record.comment?.replace(`@${INSTANCE_ID}`, '');
      if (legacy === record.comment) continue;
      const res = await fetch(`${w.cf.url}/zones/${zone.id}/dns_records/${record.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ comment: legacy }),
      });
      expect(res.status).toBe(200);
    }
  }
  writeFileSync(w.ingressPath, readFileSync(w.ingressPath, 'utf8').replaceAll(`@${INSTANCE_ID}`, ''));
}

/** Every record, without the fields a comment edit changes (timestamps), for "nothing else changed". */
const records = (w: World) =>
  Object.values(ZONE)
    .flatMap((z) => w.cf.records(z.id))
    .map(({ comment_modified_on: _c, modified_on: _m, comment: _comment, ...rest }) => rest);

async function legacyWorld(): Promise<World> {
  const w = await startWorld({
    records: [
      // Another VM's record, written by an older release (legacy mark), on another tunnel.
      {
        zone: 'example.com',
        type: 'CNAME',
        name: 'elsewhere.example.com',
        content: OTHER_TUNNEL_TARGET,
        proxied: true,
        comment: 'tunnel-manager:shop',
      },
    ],
  });
  worlds.push(w);
  await w.manager.requestCname(shop, { hostname: 'a.example.com', service: { port: 3000 } });
  await w.manager.requestCname(admin, { hostname: 'b.example.org', service: { port: 3001 } });
  await downgradeMarks(w);
  return w;
}

describe('upgrading an installation with legacy marks', () => {
  it('reconcile rewrites every record and rule to the new mark, changes nothing else, and leaves another tunnel’s record', async () => {
    const w = await legacyWorld();
    expect(recordsNamed(w, 'a.example.com')[0]?.comment).toBe('tunnel-manager:shop');
    expect(readFileSync(w.ingressPath, 'utf8')).toContain('# tunnel-manager:shop\n');
    const before = records(w);
    const fileBefore = readFileSync(w.ingressPath, 'utf8');
    const routesBefore = await w.db.routes.list();
    const elsewhere = recordsNamed(w, 'elsewhere.example.com');

    // Legacy marks on this tunnel's records are already this instance's: no delete, no create.
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname}`)).toEqual([
      'remark_dns a.example.com',
      'remark_dns b.example.org',
      'remark_rule a.example.com',
      'remark_rule b.example.org',
    ]);
    expect(plan.deletes).toBe(0);
    expect(plan.siblings.map((s) => [s.hostname, s.instance, s.tunnel])).toEqual([
      ['elsewhere.example.com', null, OTHER_TUNNEL_TARGET.replace('.cfargotunnel.com', '')],
    ]);

    const result = await w.manager.reconcileApply(plan);
    expect(result.failed).toEqual([]);
    expect(recordsNamed(w, 'a.example.com')[0]?.comment).toBe(mark('shop'));
    expect(recordsNamed(w, 'b.example.org')[0]?.comment).toBe(mark('@admin'));
    // One batch per zone; record ids, content, proxied, TTL unchanged.
    expect(records(w)).toEqual(before);
    expect(readFileSync(w.ingressPath, 'utf8')).toBe(
      fileBefore
        .replace('# tunnel-manager:shop\n', `# ${mark('shop')}\n`)
        .replace('# tunnel-manager:@admin\n', `# ${mark('@admin')}\n`),
    );
    expect(await w.db.routes.list()).toEqual(routesBefore);
    expect(recordsNamed(w, 'elsewhere.example.com')).toEqual(elsewhere);
    expect(await disagreements(w)).toEqual([]);
    const [audit] = await w.db.audit.query({ action: 'reconcile.apply', limit: 1 });
    expect(audit?.params.remarked).toEqual([
      'dns a.example.com',
      'dns b.example.org',
      'rule a.example.com',
      'rule b.example.org',
    ]);
    expect((await w.manager.reconcilePlan()).changes).toEqual([]);
  });

  it('a hostname with several paths: its shared record is re-marked once, each path rule once', async () => {
    const w = await startWorld({ records: [] });
    worlds.push(w);
    await w.manager.requestCname(shop, { hostname: 'p.example.com', service: { port: 3000 } });
    await w.manager.requestCname(shop, { hostname: 'p.example.com', path: '^/api/', service: { port: 3001 } });
    await downgradeMarks(w);
    const before = records(w);
    const plan = await w.manager.reconcilePlan();
    expect(plan.changes.map((c) => `${c.kind} ${c.hostname} ${c.path ?? '-'}`)).toEqual([
      'remark_dns p.example.com -',
      'remark_rule p.example.com ^/api/',
      'remark_rule p.example.com -',
    ]);
    const result = await w.manager.reconcileApply(plan);
    expect(result.failed).toEqual([]);
    expect(recordsNamed(w, 'p.example.com').map((r) => r.comment)).toEqual([mark('shop')]);
    expect(records(w)).toEqual(before);
    expect(readFileSync(w.ingressPath, 'utf8')).not.toMatch(/# tunnel-manager:[a-z@-]+\n/);
    expect(await disagreements(w)).toEqual([]);
    expect((await w.manager.reconcilePlan()).changes).toEqual([]);
  });

  it('the next write rewrites them too (once, audited as marks.upgrade), before doing its own change', async () => {
    const w = await legacyWorld();
    const elsewhere = recordsNamed(w, 'elsewhere.example.com');
    const fresh = w.another();
    await fresh.requestCname(shop, { hostname: 'c.example.com', service: { port: 3002 } });
    for (const name of ['a.example.com', 'c.example.com']) expect(recordsNamed(w, name)[0]?.comment).toBe(mark('shop'));
    expect(readFileSync(w.ingressPath, 'utf8')).not.toMatch(/# tunnel-manager:[a-z@-]+\n/);
    expect(recordsNamed(w, 'elsewhere.example.com')).toEqual(elsewhere);
    const [upgrade] = await w.db.audit.query({ action: 'marks.upgrade' });
    expect(upgrade).toMatchObject({ actor: 'system', outcome: 'ok' });
    expect(upgrade?.params).toMatchObject({
      instance: INSTANCE_ID,
      remarked: ['dns a.example.com', 'dns b.example.org', 'rule a.example.com', 'rule b.example.org'],
    });
    expect(await disagreements(w)).toEqual([]);
  });

  it('refuses a request for the other tunnel’s legacy-marked name, naming it', async () => {
    const w = await legacyWorld();
    const error = await w.manager
      .requestCname(shop, { hostname: 'elsewhere.example.com', service: { port: 3000 } })
      .catch((e: unknown) => e as { code: string; message: string; hint: string });
    expect(error).toMatchObject({ code: 'HOSTNAME_TAKEN' });
    expect((error as { message: string }).message).toContain('0b0b0b0b-1111-4222-8333-444455556666');
    expect(recordsNamed(w, 'elsewhere.example.com')[0]?.comment).toBe(formatOwnerMark('shop', null));
  });
});
