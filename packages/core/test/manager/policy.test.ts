import { InMemoryDnsProvider, ManualClock } from '@tunnel/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import {
  Actor,
  DomainService,
  Hostname,
  HostnamePolicy,
  isTunnelError,
  SqliteStateStore,
  type Zone,
} from '../../src/index.js';
import { validateCnameRequest } from '../../src/manager/cname-request.js';

const zone = (name: string, status = 'active'): Zone => ({ id: `id-${name}`, name, status, accountId: null });
const shop = Actor.project('shop');
const admin = Actor.admin();

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (error) {
    return isTunnelError(error) ? error.code : 'THROWN';
  }
}

describe('HostnamePolicy', () => {
  const policy = new HostnamePolicy({ denyList: ['Admin.Example.com', '*.internal.example.com'] });
  const com = zone('example.com');

  it('denies projects the apex, wildcards and deny-listed names; admins none of them', () => {
    const denied = [
      'example.com',
      '*.example.com',
      'admin.example.com',
      'db.internal.example.com',
      'a.b.internal.example.com',
    ];
    for (const name of denied) {
      expect(
        codeOf(() => policy.assertAllowed(shop, Hostname.parse(name, { allowWildcard: true }), com)),
        name,
      ).toBe('POLICY_DENIED');
      expect(
        codeOf(() => policy.assertAllowed(admin, Hostname.parse(name, { allowWildcard: true }), com)),
        name,
      ).toBeNull();
    }
    // `*.zone` covers the names below it, not the zone's own name.
    for (const name of [
      'internal.example.com',
      'app.example.com',
      'xadmin.example.com',
      'admin.example.com.evil.org',
    ]) {
      expect(
        codeOf(() => policy.assertAllowed(shop, Hostname.parse(name), com)),
        name,
      ).toBeNull();
    }
  });

  it('marks zones unusable when inactive, or for projects when every name below is denied', () => {
    expect(policy.usability(shop, zone('example.com'))).toEqual({ usable: true, reason: null });
    expect(policy.usability(shop, zone('internal.example.com')).usable).toBe(false);
    expect(policy.usability(admin, zone('internal.example.com')).usable).toBe(true);
    expect(policy.usability(admin, zone('new.example', 'pending'))).toMatchObject({ usable: false });
  });

  it('refuses a deny list entry that is not a name or a *.zone pattern', () => {
    for (const entry of ['not a name', 'a.*.example.com', '', 'http://x.example.com']) {
      expect(
        codeOf(() => new HostnamePolicy({ denyList: [entry] })),
        entry,
      ).toBe('CONFIG_INVALID');
    }
  });
});

describe('validateCnameRequest', () => {
  it('joins subdomain and domain, falling back to the default domain, canonicalising case and IDN', () => {
    const a = validateCnameRequest(shop, { subdomain: 'App', domain: 'Example.com', service: { port: 80 } }, undefined);
    expect(a.hostname.value).toBe('app.example.com');
    const b = validateCnameRequest(shop, { subdomain: 'a.b', service: { port: 80 } }, 'example.org');
    expect(b.hostname.value).toBe('a.b.example.org');
    const c = validateCnameRequest(shop, { hostname: 'bücher.example.com', service: { port: 80 } }, undefined);
    expect(c.hostname.value).toBe('xn--bcher-kva.example.com');
    expect(c).toMatchObject({
      owner: 'shop',
      dryRun: false,
      adopt: false,
      service: { container: null, port: 80, scheme: 'http' },
    });
  });

  it('gives admins their own owner unless they act for a project', () => {
    expect(validateCnameRequest(admin, { hostname: 'a.example.com', service: { port: 1 } }, undefined).owner).toBe(
      '@admin',
    );
    expect(
      validateCnameRequest(admin, { hostname: 'a.example.com', project: 'shop', service: { port: 1 } }, undefined)
        .owner,
    ).toBe('shop');
    // A project naming itself is harmless.
    expect(
      validateCnameRequest(shop, { hostname: 'a.example.com', project: 'shop', service: { port: 1 } }, undefined).owner,
    ).toBe('shop');
  });
});

describe('DomainService', () => {
  const stores: SqliteStateStore[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
  });

  function setup(zones: Zone[]) {
    const store = SqliteStateStore.open({ path: ':memory:' });
    stores.push(store);
    const dns = new InMemoryDnsProvider(zones);
    let calls = 0;
    const counting = new Proxy(dns, {
      get(target, key, receiver) {
        if (key === 'listZones') calls += 1;
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const clock = new ManualClock(1_000_000);
    const service = new DomainService({ store, dns: () => counting, clock, refreshIntervalMs: 60_000 });
    return { store, dns, clock, service, calls: () => calls };
  }

  it('discovers zones once when none are stored, then picks the most specific one', async () => {
    const t = setup([zone('example.com'), zone('dev.example.com')]);
    expect((await t.service.zoneFor(Hostname.parse('a.dev.example.com'))).name).toBe('dev.example.com');
    expect((await t.service.zoneFor(Hostname.parse('a.example.com'))).name).toBe('example.com');
    expect((await t.service.zoneFor(Hostname.parse('devx.example.com'))).name).toBe('example.com');
    expect(t.calls()).toBe(1);
  });

  it('re-discovers on a miss only when the stored zones are older than the refresh interval', async () => {
    const t = setup([zone('example.com')]);
    await t.service.listOrDiscover();
    t.dns.addZone(zone('example.org'));
    await t.clock.advance(59_999);
    const early = await t.service.zoneFor(Hostname.parse('a.example.org')).catch((e: unknown) => e);
    expect(isTunnelError(early, 'ZONE_NOT_FOUND')).toBe(true);
    expect((early as { hint: string }).hint).toContain('example.com');
    expect(t.calls()).toBe(1);
    await t.clock.advance(1);
    expect((await t.service.zoneFor(Hostname.parse('a.example.org'))).name).toBe('example.org');
    expect(t.calls()).toBe(2);
    // A hit never refreshes, however old the zones are.
    await t.clock.advance(10 * 60_000);
    await t.service.zoneFor(Hostname.parse('b.example.com'));
    expect(t.calls()).toBe(2);
  });

  it('refuses a name in a zone that is not active', async () => {
    const t = setup([zone('new.example', 'pending'), zone('example.com')]);
    const error = await t.service.zoneFor(Hostname.parse('a.new.example')).catch((e: unknown) => e);
    expect(isTunnelError(error, 'ZONE_NOT_FOUND')).toBe(true);
    expect((error as Error).message).toContain('pending');
  });
});
