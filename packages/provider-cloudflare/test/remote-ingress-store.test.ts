import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IngressManager, type IngressRule, NoopLogger } from '@tunnel/core';
import { type CloudflareEmulator, ManualClock } from '@tunnel/testkit';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { RemoteIngressStore } from '../src/index.js';
import { ACCOUNT, api, drive, emulator, failureOf, TUNNEL } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tm-remote-ingress-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
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
  const ownersPath = join(dir, `owners-${n++}.json`);
  const make = () =>
    new RemoteIngressStore(api(cf, options.clock ? { clock: options.clock } : {}), {
      accountId: ACCOUNT,
      tunnelId: TUNNEL,
      ownersPath,
    });
  return { cf, store: make(), make, ownersPath };
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
    });
    await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      path: '^/api/',
      service: 'https://localhost:3001',
      originRequest: { noTLSVerify: true, connectTimeout: '60s' },
      owner: 'alpha',
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
    });
    expect(again.changed).toBe(false);
  });

  it('remembers which rules it wrote across instances, and forgets a rule edited in the dashboard', async () => {
    const { cf, store, make, ownersPath } = await setup();
    const v1 = await store.read();
    await store.write([HAND, mine(1), mine(2, 'beta'), CATCH_ALL], v1.version);
    const fresh = await make().read();
    expect(fresh.rules).toEqual([HAND, mine(1), mine(2, 'beta'), CATCH_ALL]);
    expect(JSON.parse(readFileSync(ownersPath, 'utf8'))).toMatchObject({ version: 1, tunnelId: TUNNEL });
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
    const { cf, store, make, ownersPath } = await setup();
    const v1 = await store.read();
    const v2 = await store.write([HAND, mine(1), CATCH_ALL], v1.version);
    const marks = readFileSync(ownersPath, 'utf8');
    cf.injectFault({ method: 'PUT', drop: 'before' });
    const error = await failureOf(store.write([HAND, mine(1), mine(4), CATCH_ALL], v2.version));
    expect(error.code).toBe('PROVIDER_UNAVAILABLE');
    expect(readFileSync(ownersPath, 'utf8')).toBe(marks);
    expect((await make().read()).rules).toEqual([HAND, mine(1), CATCH_ALL]);
  });

  it('reads a tunnel without remote configuration as no rules, with a warning', async () => {
    const { cf } = await setup();
    const empty = cf.addTunnel({ accountId: ACCOUNT });
    const store = new RemoteIngressStore(api(cf), {
      accountId: ACCOUNT,
      tunnelId: empty.id,
      ownersPath: join(dir, 'none.json'),
    });
    const snapshot = await store.read();
    expect(snapshot.rules).toEqual([]);
    expect(snapshot.version).toBe('0');
    expect(snapshot.warnings[0]).toContain('no remote ingress rules yet');
    const written = await store.write([mine(1), CATCH_ALL], snapshot.version);
    expect(written.version).toBe('1');
  });

  it('warns about an unreadable owners file and reads every rule as unmanaged', async () => {
    const { store, ownersPath } = await setup();
    writeFileSync(ownersPath, '{not json');
    const snapshot = await store.read();
    expect(snapshot.rules.every((r) => r.managed === undefined)).toBe(true);
    expect(snapshot.warnings.join(' ')).toContain('unreadable');
    expect(existsSync(ownersPath)).toBe(true);
  });
});
