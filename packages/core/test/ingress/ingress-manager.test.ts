import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryIngressStore, ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  IngressManager,
  type IngressRule,
  type IngressSnapshot,
  type IngressStore,
  isTunnelError,
  LocalFileIngressStore,
  NoopLogger,
  type TunnelError,
} from '../../src/index.js';
import { tempDirs, writeConfig } from './helpers.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const CATCH_ALL: IngressRule = { service: 'http_status:404' };
const HAND: IngressRule[] = [
  { hostname: 'www.example.com', service: 'http://localhost:8080' },
  { path: '^/.well-known/acme-challenge/', service: 'http://acme:80' },
  { hostname: '*.example.com', service: 'http_status:403' },
  CATCH_ALL,
];

async function failure(promise: Promise<unknown>): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    if (isTunnelError(error)) return error;
    throw error;
  }
  throw new Error('expected a TunnelError');
}

function manager(rules: readonly IngressRule[] = HAND, options: { maxAttempts?: number } = {}) {
  const store = new InMemoryIngressStore(rules);
  const clock = new ManualClock();
  return { store, clock, ingress: new IngressManager(store, clock, new NoopLogger(), options) };
}

/** A store that lets another writer land between each read and write, `times` times. */
class RacingStore implements IngressStore {
  readonly capabilities;
  writesAttempted = 0;
  constructor(
    private readonly inner: InMemoryIngressStore,
    private times: number,
  ) {
    this.capabilities = inner.capabilities;
  }
  read(): Promise<IngressSnapshot> {
    return this.inner.read();
  }
  async write(rules: readonly IngressRule[], expectedVersion: string): Promise<IngressSnapshot> {
    this.writesAttempted += 1;
    if (this.times > 0) {
      this.times -= 1;
      const now = await this.inner.read();
      const n = this.writesAttempted;
      const other: IngressRule = {
        hostname: `other${n}.example.com`,
        service: 'http://o:1',
        managed: { owner: 'zeta', instance: ME },
      };
      await this.inner.write([other, ...now.rules], now.version);
    }
    return this.inner.write(rules, expectedVersion);
  }
}

describe('IngressManager', () => {
  it('inserts a managed rule after exact and host-less path rules, before wildcards and the catch-all', async () => {
    const { store, ingress } = manager();
    const result = await ingress.upsertManagedRule({
      hostname: 'App.Example.COM',
      service: 'http://web:3000',
      owner: 'alpha',
      instance: ME,
    });
    expect(result).toMatchObject({ changed: true, ruleNumber: 3 });
    // The host-less path rule takes the ACME paths of every host: a warning, not a refusal.
    expect(result.warnings).toEqual([expect.stringContaining('Rule #2')]);
    const { rules } = await store.read();
    expect(rules[2]).toEqual({
      hostname: 'app.example.com',
      service: 'http://web:3000',
      managed: { owner: 'alpha', instance: ME },
    });
    expect(rules.filter((r) => !r.managed)).toEqual(HAND);
    expect(result.version).toBe((await store.read()).version);
  });

  it('writes IDN hostnames in lower-case punycode', async () => {
    const { store, ingress } = manager();
    await ingress.upsertManagedRule({
      hostname: 'Shop.MÜNCHEN.example.com',
      service: 'http://shop:80',
      owner: 'alpha',
      instance: ME,
    });
    expect((await store.read()).rules.some((r) => r.hostname === 'shop.xn--mnchen-3ya.example.com')).toBe(true);
  });

  it('is idempotent, and updates the owner’s rule in place', async () => {
    const { store, ingress } = manager();
    const request = { hostname: 'app.example.com', service: 'http://web:3000', owner: 'alpha', instance: ME };
    const first = await ingress.upsertManagedRule(request);
    const again = await ingress.upsertManagedRule(request);
    expect(again).toMatchObject({ changed: false, version: first.version, ruleNumber: 3 });
    expect(store.writes).toBe(1);
    const moved = await ingress.upsertManagedRule({ ...request, service: 'http://web:4000' });
    expect(moved).toMatchObject({ changed: true, ruleNumber: 3 });
    expect((await store.read()).rules.filter((r) => r.hostname === 'app.example.com')).toEqual([
      { hostname: 'app.example.com', service: 'http://web:4000', managed: { owner: 'alpha', instance: ME } },
    ]);
  });

  it('refuses to take over a hostname a hand-written rule serves (even written differently)', async () => {
    for (const hostname of ['www.example.com', 'WWW.Example.com']) {
      const { store, ingress } = manager([{ hostname, service: 'http://h:1' }, CATCH_ALL]);
      const before = await store.read();
      const error = await failure(
        ingress.upsertManagedRule({ hostname: 'www.example.com', service: 'http://x:1', owner: 'alpha', instance: ME }),
      );
      expect(error.code).toBe('HOSTNAME_TAKEN');
      expect(error.details).toMatchObject({ ruleNumber: 1, owner: null });
      expect(await store.read()).toEqual(before);
    }
  });

  it("refuses another owner's hostname, and lets its owner remove it only", async () => {
    const { store, ingress } = manager();
    await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://web:3000',
      owner: 'alpha',
      instance: ME,
    });
    const taken = await failure(
      ingress.upsertManagedRule({ hostname: 'app.example.com', service: 'http://x:1', owner: 'beta', instance: ME }),
    );
    expect(taken.code).toBe('HOSTNAME_TAKEN');
    expect(taken.details).toMatchObject({ owner: 'alpha' });
    expect((await failure(ingress.removeManagedRule('app.example.com', { owner: 'beta', instance: ME }))).code).toBe(
      'NOT_OWNER',
    );
    expect((await ingress.removeManagedRule('app.example.com', { owner: 'alpha', instance: ME })).changed).toBe(true);
    expect((await store.read()).rules).toEqual(HAND);
  });

  it('refuses with INGRESS_INVALID naming the rule that would shadow the new one', async () => {
    const shadowing: IngressRule[] = [
      { hostname: '*.example.com', service: 'http_status:403' },
      { hostname: 'www.example.com', service: 'http://h:1' },
      CATCH_ALL,
    ];
    const { store, ingress } = manager(shadowing);
    const before = await store.read();
    // The placement policy puts it before the wildcard: fine.
    expect(
      (
        await ingress.upsertManagedRule({
          hostname: 'new.example.com',
          service: 'http://n:1',
          owner: 'alpha',
          instance: ME,
        })
      ).ruleNumber,
    ).toBe(1);
    // A rule that already sits behind the wildcard (moved there by hand) is shadowed.
    const behind: IngressRule[] = [
      shadowing[0] as IngressRule,
      { hostname: 'app.example.com', service: 'http://a:1', managed: { owner: 'alpha', instance: ME } },
      CATCH_ALL,
    ];
    const other = manager(behind);
    const error = await failure(
      other.ingress.upsertManagedRule({
        hostname: 'app.example.com',
        service: 'http://a:2',
        owner: 'alpha',
        instance: ME,
      }),
    );
    expect(error.code).toBe('INGRESS_INVALID');
    expect(error.message).toContain('Rule #1');
    expect(error.details).toMatchObject({ shadowingRule: 1 });
    expect(before.version).not.toBe((await store.read()).version);
  });

  it('removes only managed rules; an absent or hand-written hostname is a no-op', async () => {
    const { store, ingress } = manager();
    expect(await ingress.removeManagedRule('nothing.example.com', { instance: ME })).toMatchObject({ changed: false });
    expect(await ingress.removeManagedRule('www.example.com', { instance: ME })).toMatchObject({ changed: false });
    expect(store.writes).toBe(0);
    expect((await store.read()).rules).toEqual(HAND);
  });

  it('rejects bad input before reading anything', async () => {
    const { store, ingress } = manager();
    const cases = [
      [{ hostname: 'a.*.example.com', service: 'http://a:1', owner: 'alpha', instance: ME }, 'INVALID_HOSTNAME'],
      [{ hostname: 'a.example.com', service: 'http://a:1/path', owner: 'alpha', instance: ME }, 'INVALID_INPUT'],
      [{ hostname: 'a.example.com', service: 'http://a:99999', owner: 'alpha', instance: ME }, 'INVALID_INPUT'],
      [{ hostname: 'a.example.com', service: 'http://a:1', owner: 'Alpha', instance: ME }, 'INVALID_INPUT'],
    ] as const;
    for (const [request, code] of cases) expect((await failure(ingress.upsertManagedRule(request))).code).toBe(code);
    expect(store.writes).toBe(0);
  });

  it('re-reads and re-applies its change when another writer got there first', async () => {
    const inner = new InMemoryIngressStore(HAND);
    const racing = new RacingStore(inner, 2);
    const clock = new ManualClock();
    const ingress = new IngressManager(racing, clock, new NoopLogger());
    const pending = ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://web:3000',
      owner: 'alpha',
      instance: ME,
    });
    // The second retry backs off on the injected clock.
    await clock.advance(1_000);
    const result = await pending;
    expect(result.changed).toBe(true);
    expect(racing.writesAttempted).toBe(3);
    const { rules } = await inner.read();
    expect(rules.map((r) => r.hostname).filter(Boolean)).toEqual([
      'other2.example.com',
      'other1.example.com',
      'www.example.com',
      'app.example.com',
      '*.example.com',
    ]);
  });

  it('gives up after maxAttempts with CONCURRENT_CHANGE', async () => {
    const inner = new InMemoryIngressStore(HAND);
    const racing = new RacingStore(inner, 10);
    const clock = new ManualClock();
    const ingress = new IngressManager(racing, clock, new NoopLogger(), { maxAttempts: 3 });
    // Nothing to remove: no write, so no conflict.
    expect(await ingress.removeManagedRule('x.example.com', { instance: ME })).toMatchObject({ changed: false });
    const adding = failure(
      ingress.upsertManagedRule({
        hostname: 'app.example.com',
        service: 'http://web:3000',
        owner: 'alpha',
        instance: ME,
      }),
    );
    await clock.advance(10_000);
    expect((await adding).code).toBe('CONCURRENT_CHANGE');
    expect(racing.writesAttempted).toBe(3);
  });

  it('tells which rule serves a URL, counted from 0 like `cloudflared tunnel ingress rule`', async () => {
    const { ingress } = manager();
    await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://web:3000',
      owner: 'alpha',
      instance: ME,
    });
    expect((await ingress.ruleFor('https://app.example.com/x')).index).toBe(2);
    expect((await ingress.ruleFor('https://app.example.com/.well-known/acme-challenge/t')).index).toBe(1);
    expect((await ingress.ruleFor('https://zzz.example.com')).rule).toEqual({
      hostname: '*.example.com',
      service: 'http_status:403',
    });
  });
});

describe('IngressManager over LocalFileIngressStore', () => {
  const temp = tempDirs();
  afterEach(() => temp.cleanup());

  it('adds and removes through the file, under the file lock', async () => {
    const dir = temp.make();
    const path = writeConfig(dir);
    const original = readFileSync(path, 'utf8');
    const store = new LocalFileIngressStore({ path, backupDir: join(dir, 'backups') });
    const ingress = new IngressManager(store, new ManualClock(), new NoopLogger());
    const added = await ingress.upsertManagedRule({
      hostname: 'app.example.com',
      service: 'http://web:3000',
      owner: 'alpha',
      instance: ME,
    });
    expect(added).toMatchObject({ changed: true, ruleNumber: 3 });
    expect(readFileSync(path, 'utf8')).toContain(
      '  - hostname: app.example.com # tunnel-manager:alpha@vm-1\n    service: http://web:3000\n',
    );
    expect(
      await ingress.upsertManagedRule({
        hostname: 'app.example.com',
        service: 'http://web:3000',
        owner: 'alpha',
        instance: ME,
      }),
    ).toMatchObject({
      changed: false,
    });
    const removed = await ingress.removeManagedRule('app.example.com', { instance: ME });
    expect(removed.changed).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(original);
    await store.settled();
  });
});
