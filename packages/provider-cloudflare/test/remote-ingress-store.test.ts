import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IngressManager, type IngressRule, NoopLogger, SqliteStateStore } from '@tunnel/core';
import { type CloudflareEmulator, ManualClock } from '@tunnel/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { importingOwners, RemoteIngressStore } from '../src/index.js';
import { ACCOUNT, api, drive, emulator, failureOf, TUNNEL } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tm-remote-ingress-'));
const stores: SqliteStateStore[] = [];
afterAll(async () => {
  for (const store of stores) await store.close();
  rmSync(dir, { recursive: true, force: true });
});
const running: CloudflareEmulator[] = [];
afterEach(async () => {
  for (const cf of running.splice(0)) await cf.close();
});

const HAND: IngressRule = { hostname: 'hand.example.com', service: 'http://localhost:8000' };
const CATCH_ALL: IngressRule = { service: 'http_status:404' };
const mine = (n: number, owner = 'alpha'): IngressRule => ({
  hostname: `app${n}.example.com`,
  service: `http://localhost:${9000 + n}`,
  managed: { owner },
});

let n = 0;
async function setup(options: { clock?: ManualClock } = {}) {
  const { cf } = await emulator({
    ...(options.clock ? { clock: options.clock } : {}),
    seed: {
      tunnels: [
        {
          id: TUNNEL,
          config: {
            ingress: [HAND, CATCH_ALL],
            originRequest: { connectTimeout: 30 },
            'warp-routing': { enabled: true },
          },
        },
      ],
    },
  });
  running.push(cf);
  const state = SqliteStateStore.open({ path: join(dir, `state-${n++}.db`) });
  stores.push(state);
  const owners = state.ingressOwners;
  const make = () =>
    new RemoteIngressStore(api(cf, options.clock ? { clock: options.clock } : {}), {
      accountId: ACCOUNT,
      tunnelId: TUNNEL,
      owners,
    });
  return { cf, store: make(), make, owners };
}

describe('RemoteIngressStore', () => {
  it('applies live (no restart) and keeps the settings it does not model', async () => {
    const { cf, store } = await setup();
    expect(store.capabilities).toEqual({ requiresRestart: false, backups: false, ruleFormat: 'json' });
    const before = await store.read();
    expect(before).toEqual({ rules: [HAND, CATCH_ALL], version: '1', warnings: [] });
    const written = await store.write([HAND, mine(1), CATCH_ALL], before.version);
    expect(written.version).toBe('2');
    expect(cf.tunnel(TUNNEL)?.config).toEqual({
      ingress: [HAND, { hostname: 'app1.example.com', service: 'http://localhost:9001' }, CATCH_ALL],
      originRequest: { connectTimeout: 30 },
      'warp-routing': { enabled: true },
    });
  });

  it('takes a managed path rule with origin settings, durations in seconds as the remote configuration types them', async () => {
    const { cf, store, make } = await setup();
    const ingress = new IngressManager(store, new ManualClock(), new NoopLogger());
    await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://localhost:3000',
      owner: 'alpha',
      instance: 'vm-1',
    });
    await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      path: '^/api/',
      service: 'https://localhost:3001',
      originRequest: { noTLSVerify: true, connectTimeout: '60s' },
      owner: 'alpha',
      instance: 'vm-1',
    });
    expect(cf.tunnel(TUNNEL)?.config?.ingress).toEqual([
      HAND,
      {
        hostname: 'app.example.com',
        path: '^/api/',
        service: 'https://localhost:3001',
        originRequest: { noTLSVerify: true, connectTimeout: 60 },
      },
      { hostname: 'app.example.com', service: 'http://localhost:3000' },
      CATCH_ALL,
    ]);
    // Read back by another instance: both rules are the manager's, and repeating is a no-op.
    expect((await make().read()).rules.filter((r) => r.managed).map((r) => r.path ?? null)).toEqual(['^/api/', null]);
    const again = await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      path: '^/api/',
      service: 'https://localhost:3001',
      originRequest: { noTLSVerify: true, connectTimeout: '60s' },
      owner: 'alpha',
      instance: 'vm-1',
    });
    expect(again.changed).toBe(false);
  });

  it('remembers which rules it wrote across instances, and forgets a rule edited in the dashboard', async () => {
    const { cf, store, make, owners } = await setup();
    const v1 = await store.read();
    await store.write([HAND, mine(1), mine(2, 'beta'), CATCH_ALL], v1.version);
    const fresh = await make().read();
    expect(fresh.rules).toEqual([HAND, mine(1), mine(2, 'beta'), CATCH_ALL]);
    // The marks are in the state store, not in a side file.
    expect((await owners.list(TUNNEL)).map((e) => e.owner)).toEqual(['alpha', 'beta']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.json'))).toEqual([]);
    // Someone repoints app2 in the dashboard: it is no longer the rule the manager wrote.
    cf.setTunnelConfig(TUNNEL, {
      ingress: [HAND, mine(1), { hostname: 'app2.example.com', service: 'http://localhost:1' }, CATCH_ALL].map(
        ({ managed: _, ...rule }) => rule,
      ),
    });
    const after = await make().read();
    expect(after.rules.map((r) => r.managed?.owner ?? null)).toEqual([null, 'alpha', null, null]);
  });

  it('refuses a stale version with CONCURRENT_CHANGE and invalid rules with INGRESS_INVALID, sending no write', async () => {
    const { cf, store } = await setup();
    const v1 = await store.read();
    cf.setTunnelConfig(TUNNEL, { ingress: [CATCH_ALL] });
    const stale = await failureOf(store.write([HAND, mine(1), CATCH_ALL], v1.version));
    expect(stale.code).toBe('CONCURRENT_CHANGE');
    const current = await store.read();
    const invalid = await failureOf(store.write([mine(1)], current.version));
    expect(invalid.code).toBe('INGRESS_INVALID');
    expect(cf.requestsTo({ method: 'PUT' })).toHaveLength(0);
    expect(cf.tunnel(TUNNEL)?.config_version).toBe(2);
  });

  it('treats a write whose answer was lost after it landed as written', async () => {
    const clock = new ManualClock();
    const { cf, store } = await setup({ clock });
    const v1 = await store.read();
    cf.injectFault({ method: 'PUT', drop: 'after' });
    const written = await drive(clock, store.write([HAND, mine(3), CATCH_ALL], v1.version));
    expect(written.version).toBe('2');
    expect(written.rules).toEqual([HAND, mine(3), CATCH_ALL]);
    expect(cf.requestsTo({ method: 'PUT' })).toHaveLength(1);
  });

  it('fails a write lost before it landed with PROVIDER_UNAVAILABLE and leaves marks as they were', async () => {
    const { cf, store, make, owners } = await setup();
    const v1 = await store.read();
    const v2 = await store.write([HAND, mine(1), CATCH_ALL], v1.version);
    const marks = await owners.list(TUNNEL);
    cf.injectFault({ method: 'PUT', drop: 'before' });
    const error = await failureOf(store.write([HAND, mine(1), mine(4), CATCH_ALL], v2.version));
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(await owners.list(TUNNEL)).toEqual(marks);
    expect((await make().read()).rules).toEqual([HAND, mine(1), CATCH_ALL]);
  });

  it('reads a tunnel without remote configuration as no rules, with a warning', async () => {
    const { cf } = await setup();
    const empty = cf.addTunnel({ accountId: ACCOUNT });
    const state = SqliteStateStore.open({ path: join(dir, 'empty.db') });
    stores.push(state);
    const store = new RemoteIngressStore(api(cf), {
      accountId: ACCOUNT,
      tunnelId: empty.id,
      owners: state.ingressOwners,
    });
    const snapshot = await store.read();
    expect(snapshot.rules).toEqual([]);
    expect(snapshot.version).toBe('0');
    expect(snapshot.warnings[0]).toContain('no remote ingress rules yet');
    const written = await store.write([mine(1), CATCH_ALL], snapshot.version);
    expect(written.version).toBe('1');
  });

  it('imports the legacy owners file once into the state store (legacy marks), then renames it .imported', async () => {
    const { cf, owners } = await setup();
    const v1 = await new RemoteIngressStore(api(cf), { accountId: ACCOUNT, tunnelId: TUNNEL, owners }).read();
    const plain = [HAND, mine(1), mine(2, 'beta'), CATCH_ALL].map(({ managed: _, ...r }) => r);
    await new RemoteIngressStore(api(cf), { accountId: ACCOUNT, tunnelId: TUNNEL, owners }).write(plain, v1.version);
    const legacy = join(dir, `remote-ingress-owners-b${n}.json`);
    const rules = plain.filter((r) => r.hostname?.startsWith('app'));
    writeFileSync(
      legacy,
      JSON.stringify({
        version: 1,
        tunnelId: TUNNEL,
        rules: rules.map((r, i) => ({
          hostname: r.hostname,
          path: '',
          service: r.service,
          owner: i === 0 ? 'alpha' : 'beta',
        })),
      }),
    );
    const store = new RemoteIngressStore(api(cf), {
      accountId: ACCOUNT,
      tunnelId: TUNNEL,
      owners: importingOwners(owners, legacy, TUNNEL),
    });
    const snapshot = await store.read();
    expect(snapshot.rules.map((r) => r.managed ?? null)).toEqual([null, { owner: 'alpha' }, { owner: 'beta' }, null]);
    expect((await owners.list(TUNNEL)).map((e) => [e.owner, e.instance])).toEqual([
      ['alpha', null],
      ['beta', null],
    ]);
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(`${legacy}.imported`)).toBe(true);
  });

  it('imports nothing from an unreadable owners file, and still renames it', async () => {
    const { cf, owners } = await setup();
    const legacy = join(dir, `remote-ingress-owners-c${n}.json`);
    writeFileSync(legacy, '{not json');
    const store = new RemoteIngressStore(api(cf), {
      accountId: ACCOUNT,
      tunnelId: TUNNEL,
      owners: importingOwners(owners, legacy, TUNNEL),
    });
    const snapshot = await store.read();
    expect(snapshot.rules.every((r) => r.managed === undefined)).toBe(true);
    expect(readFileSync(`${legacy}.imported`, 'utf8')).toBe('{not json');
  });
});
