import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import {
  type CloudflareEmulator,
  type SimProcess,
  startCloudflaredSim,
  startCloudflareEmulator,
} from '@tunnel/testkit';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Actor,
  createTunnelManager,
  formatOwnerMark,
  isTunnelError,
  LocalFileIngressStore,
  parseConfig,
  SqliteStateStore,
  type TunnelError,
  type TunnelManager,
} from '../../src/index.js';
import { ACCOUNT_ID, configInput, TOKEN, TUNNEL_ID, ZONE } from './helpers.js';

/*
 * Two VMs on one zone: two data dirs, two tunnels, two simulated cloudflareds, two managers
 * with their own instance ids, one emulated Cloudflare account and zone. Both have a project
 * `shop`. Nothing one instance does (request, reconcile --apply, recover after a SIGKILL, an
 * admin's adopt without --from-instance) may change a record or rule of the other.
 */

const TUNNEL_B = '0b0b0b0b-1111-4222-8333-444455556666';
const fixture = new URL('./fixtures/manager-child.mjs', import.meta.url).pathname;
const shop = Actor.project('shop');
const admin = Actor.admin();

interface Vm {
  readonly id: string;
  readonly tunnelId: string;
  readonly dir: string;
  readonly configFile: string;
  readonly ingressPath: string;
  readonly manager: TunnelManager;
  readonly db: SqliteStateStore;
  sim: SimProcess;
}

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step().catch(() => undefined);
});

async function emulator(): Promise<CloudflareEmulator> {
  const cf = await startCloudflareEmulator({
    seed: {
      accounts: [{ id: ACCOUNT_ID, name: 'Test account' }],
      zones: [ZONE.com],
      records: [],
      tunnels: [
        { id: TUNNEL_ID, accountId: ACCOUNT_ID, name: 'vm-a', connectors: 1 },
        { id: TUNNEL_B, accountId: ACCOUNT_ID, name: 'vm-b', connectors: 1 },
      ],
      tokens: [{ value: TOKEN, name: 'manager', permissions: 'all' }],
    },
  });
  cleanup.push(() => cf.close());
  return cf;
}

async function vm(cf: CloudflareEmulator, id: string, tunnelId: string): Promise<Vm> {
  const dir = mkdtempSync(join(tmpdir(), `tm-${id}-`));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const ingressPath = join(dir, 'config.yml');
  writeFileSync(join(dir, `${tunnelId}.json`), JSON.stringify({ AccountTag: ACCOUNT_ID, TunnelID: tunnelId }));
  writeFileSync(
    ingressPath,
    `tunnel: ${tunnelId}\ncredentials-file: ${dir}/${tunnelId}.json\n\ningress:\n  - service: http_status:404\n`,
  );
  const input = configInput(dir, cf, {
    cloudflare: { tunnelId },
    instance: { id },
    docker: { enabled: false },
  });
  const configFile = join(dir, 'tunnel-manager.yml');
  writeFileSync(configFile, JSON.stringify(input, null, 2));
  const config = parseConfig(input);
  const manager = createTunnelManager(config, { plugins: [cloudflarePlugin] });
  cleanup.push(() => manager.close());
  const db = SqliteStateStore.open({ path: config.database.path });
  cleanup.push(() => db.close());
  const sim = await startCloudflaredSim({ configPath: ingressPath });
  const out: Vm = { id, tunnelId, dir, configFile, ingressPath, manager, db, sim };
  cleanup.push(() => out.sim.stop(2_000).then(() => undefined));
  await sim.waitUntilReady();
  return out;
}

/** The records of the zone whose mark names `instance`, as the emulator holds them. */
const recordsOf = (cf: CloudflareEmulator, instance: string) =>
  cf.records(ZONE.com.id).filter((r) => r.comment?.endsWith(`@${instance}`));

async function rulesOf(v: Vm) {
  const store = new LocalFileIngressStore({ path: v.ingressPath, backupDir: join(v.dir, 'looker'), backups: 0 });
  return (await store.read()).rules;
}

async function child(v: Vm, ...args: string[]) {
  const run = await execa(process.execPath, [fixture, v.configFile, ...args], {
    reject: false,
    stdin: 'ignore',
    timeout: 120_000,
  });
  const line = run.stdout.trim().split('\n').pop() ?? '';
  return { signal: run.signal, out: line ? JSON.parse(line) : null, stderr: run.stderr };
}

async function refusal(promise: Promise<unknown>): Promise<TunnelError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(isTunnelError(error), String(error)).toBe(true);
  return error as TunnelError;
}

describe('two instances on one zone', () => {
  it('never touch each other’s records: requests, reconcile --apply, recover after SIGKILL, adopt', async () => {
    const cf = await emulator();
    const a = await vm(cf, 'vm-a', TUNNEL_ID);
    const b = await vm(cf, 'vm-b', TUNNEL_B);

    // Both publish for a project called `shop` (and B for another).
    await a.manager.requestCname(shop, { hostname: 'a-shop.example.com', service: { port: 3000 } });
    await a.manager.requestCname(admin, { hostname: 'a-admin.example.com', service: { port: 3001 } });
    await b.manager.requestCname(shop, { hostname: 'b-shop.example.com', service: { port: 4000 } });
    await b.manager.requestCname(Actor.project('blog'), { hostname: 'b-blog.example.com', service: { port: 4001 } });
    expect(recordsOf(cf, 'vm-a').map((r) => [r.name, r.comment])).toEqual([
      ['a-shop.example.com', formatOwnerMark('shop', 'vm-a')],
      ['a-admin.example.com', formatOwnerMark('@admin', 'vm-a')],
    ]);
    const bRecords = recordsOf(cf, 'vm-b');
    const bRules = await rulesOf(b);
    expect(bRecords).toHaveLength(2);

    // A's reconcile sees B's names as a sibling's, plans nothing for them, applies nothing to them.
    const planA = await a.manager.reconcilePlan();
    expect(planA.changes).toEqual([]);
    expect(planA.siblings.map((s) => [s.hostname, s.instance, s.owner])).toEqual([
      ['b-blog.example.com', 'vm-b', 'blog'],
      ['b-shop.example.com', 'vm-b', 'shop'],
    ]);
    expect((await a.manager.reconcileApply(null)).applied).toEqual([]);

    // A request by A for B's name (same project name!) is refused, naming B; so is an admin's adopt
    // without --from-instance.
    const taken = await refusal(
      a.manager.requestCname(shop, { hostname: 'b-shop.example.com', service: { port: 3000 } }),
    );
    expect(taken.code).toBe('HOSTNAME_TAKEN');
    expect(taken.message).toContain('another Tunnel Manager instance (instance "vm-b")');
    expect(taken.details).toMatchObject({ instance: 'vm-b' });
    const adopt = await refusal(
      a.manager.requestCname(admin, { hostname: 'b-blog.example.com', service: { port: 3000 }, adopt: true }),
    );
    expect(adopt.code).toBe('HOSTNAME_TAKEN');
    expect(adopt.hint).toContain('--from-instance vm-b');
    const wrong = await refusal(
      a.manager.requestCname(admin, {
        hostname: 'b-blog.example.com',
        service: { port: 3000 },
        adopt: true,
        fromInstance: 'vm-c',
      }),
    );
    expect(wrong.code).toBe('HOSTNAME_TAKEN');

    // A SIGKILLed mid-create on A, then recover() on A.
    const killedA = await child(a, 'create', 'a-crash.example.com', '3002', 'record_created');
    expect(killedA.signal).toBe('SIGKILL');
    const recoveredA = await child(a, 'recover');
    expect(recoveredA.out, recoveredA.stderr).toMatchObject({ ok: true });
    expect(recordsOf(cf, 'vm-b')).toEqual(bRecords);
    expect(await rulesOf(b)).toEqual(bRules);

    // Now the other way round.
    const aRecords = recordsOf(cf, 'vm-a');
    const aRules = await rulesOf(a);
    const planB = await b.manager.reconcilePlan();
    expect(planB.changes).toEqual([]);
    expect(planB.siblings.map((s) => s.hostname)).toEqual(['a-admin.example.com', 'a-shop.example.com']);
    expect((await b.manager.reconcileApply(null)).applied).toEqual([]);
    const takenB = await refusal(
      b.manager.requestCname(shop, { hostname: 'a-shop.example.com', service: { port: 4000 } }),
    );
    expect(takenB.code).toBe('HOSTNAME_TAKEN');
    expect(takenB.message).toContain('instance "vm-a"');
    const killedB = await child(b, 'create', 'b-crash.example.com', '4002', 'rule_written');
    expect(killedB.signal).toBe('SIGKILL');
    expect((await child(b, 'recover')).out).toMatchObject({ ok: true });
    expect(recordsOf(cf, 'vm-a')).toEqual(aRecords);
    expect(await rulesOf(a)).toEqual(aRules);

    // A delete by A of a name it does not hold changes nothing of B's either.
    expect((await refusal(a.manager.deleteCname(shop, 'b-shop.example.com'))).code).toBe('NOT_FOUND');
    expect(recordsOf(cf, 'vm-b')).toEqual(bRecords);
    expect(await rulesOf(b)).toEqual(bRules);

    // Each instance's own state is whole, and each cloudflared still loads its config.
    for (const v of [a, b]) {
      const live = await v.db.routes.list({ states: ['active'] });
      expect(live).toHaveLength(2);
      await v.sim.stop(2_000);
      v.sim = await startCloudflaredSim({ configPath: v.ingressPath });
      await v.sim.waitUntilReady();
    }

    // An admin moves a name on purpose: adopt with --from-instance, audited.
    const moved = await a.manager.requestCname(admin, {
      hostname: 'b-blog.example.com',
      service: { port: 3003 },
      adopt: true,
      fromInstance: 'vm-b',
    });
    expect(moved.outcome).toBe('created');
    expect(
      cf
        .records(ZONE.com.id)
        .filter((r) => r.name === 'b-blog.example.com')
        .map((r) => r.comment),
    ).toEqual([formatOwnerMark('@admin', 'vm-a')]);
    const [audit] = await a.db.audit.query({ action: 'cname.request', target: 'b-blog.example.com', limit: 1 });
    expect(audit?.params).toMatchObject({ fromInstance: 'vm-b', adopt: true });
    expect(audit?.message).toContain(`replacing CNAME b-blog.example.com ${TUNNEL_B}.cfargotunnel.com`);
  }, 240_000);

  it('paths, wildcards and re-targets obey the same rules: the marks name the instance, a sibling’s name is never taken', async () => {
    const cf = await emulator();
    const a = await vm(cf, 'vm-a', TUNNEL_ID);
    const b = await vm(cf, 'vm-b', TUNNEL_B);

    // B publishes two paths of one name (one record) and an admin wildcard.
    await b.manager.requestCname(shop, { hostname: 'paths.example.com', service: { port: 4000 } });
    await b.manager.requestCname(shop, { hostname: 'paths.example.com', path: '^/api/', service: { port: 4001 } });
    await b.manager.requestCname(admin, { hostname: '*.team.example.com', service: { port: 4002 } });
    expect(recordsOf(cf, 'vm-b').map((r) => [r.name, r.comment])).toEqual([
      ['paths.example.com', formatOwnerMark('shop', 'vm-b')],
      ['*.team.example.com', formatOwnerMark('@admin', 'vm-b')],
    ]);
    expect((await rulesOf(b)).filter((r) => r.managed).map((r) => [r.hostname, r.path ?? null, r.managed])).toEqual([
      ['paths.example.com', '^/api/', { owner: 'shop', instance: 'vm-b' }],
      ['paths.example.com', null, { owner: 'shop', instance: 'vm-b' }],
      ['*.team.example.com', null, { owner: '@admin', instance: 'vm-b' }],
    ]);
    const zoneBefore = cf.records(ZONE.com.id).map((r) => ({ ...r }));

    // A's project `shop` (same name, other VM) cannot add a path to B's name, nor take B's wildcard.
    const path = await refusal(
      a.manager.requestCname(shop, { hostname: 'paths.example.com', path: '^/v2/', service: { port: 3000 } }),
    );
    expect(path.code).toBe('HOSTNAME_TAKEN');
    expect(path.message).toContain('instance "vm-b"');
    const wildcard = await refusal(
      a.manager.requestCname(admin, { hostname: '*.team.example.com', service: { port: 3001 } }),
    );
    expect(wildcard.code).toBe('HOSTNAME_TAKEN');
    expect(wildcard.message).toContain('instance "vm-b"');

    // B re-targets its path in place and moves it: its rule keeps B's mark, DNS is not touched.
    const retarget = await b.manager.requestCname(shop, {
      hostname: 'paths.example.com',
      path: '^/api/v2/',
      fromPath: '^/api/',
      service: { port: 4005 },
    });
    expect(retarget.outcome).toBe('updated');
    expect((await rulesOf(b)).find((r) => r.path === '^/api/v2/')?.managed).toEqual({
      owner: 'shop',
      instance: 'vm-b',
    });

    // A's reconcile lists B's names as a sibling's and changes nothing.
    const plan = await a.manager.reconcilePlan();
    expect(plan.changes).toEqual([]);
    expect(plan.siblings.map((s) => s.hostname)).toEqual(['*.team.example.com', 'paths.example.com']);
    expect((await a.manager.reconcileApply(null)).applied).toEqual([]);

    // Deleting one of B's paths keeps the shared record; the last one takes it.
    const first = await b.manager.deleteCname(shop, 'paths.example.com', { path: '^/api/v2/' });
    expect(first.dnsRecordDeleted).toBe(false);
    expect(cf.records(ZONE.com.id)).toEqual(zoneBefore);
    const last = await b.manager.deleteCname(shop, 'paths.example.com');
    expect(last.dnsRecordDeleted).toBe(true);
    expect(recordsOf(cf, 'vm-b').map((r) => r.name)).toEqual(['*.team.example.com']);
  }, 240_000);
});
