import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  classifyRecord,
  classifyRule,
  deriveInstanceId,
  formatOwnerMark,
  instanceIdOf,
  isTunnelError,
  LATEST_SCHEMA_VERSION,
  MAX_INSTANCE_ID_LENGTH,
  parseConfig,
  parseInstanceId,
  parseOwnerMark,
  SqliteStateStore,
} from '../src/index.js';
import { writeRelease1Database } from './release-1-database.js';

const TUNNEL = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const SELF = { id: 'vm-a', tunnelTarget: `${TUNNEL}.cfargotunnel.com` };
const OTHER = '0b0b0b0b-1111-4222-8333-444455556666.cfargotunnel.com';

describe('owner marks', () => {
  it('fit the 100-character comment limit for the longest project name and instance id', () => {
    const longest = formatOwnerMark('p'.repeat(63), 'i'.repeat(MAX_INSTANCE_ID_LENGTH));
    expect(longest.length).toBeLessThanOrEqual(100);
    expect(parseOwnerMark(longest)).toEqual({ owner: 'p'.repeat(63), instance: 'i'.repeat(MAX_INSTANCE_ID_LENGTH) });
    // One character more in either part is not a valid mark.
    expect(parseOwnerMark(formatOwnerMark('p'.repeat(64), 'vm-a'))).toBeNull();
    expect(parseOwnerMark(formatOwnerMark('shop', 'i'.repeat(MAX_INSTANCE_ID_LENGTH + 1)))).toBeNull();
  });

  it('parse back unambiguously, the admin owner included; legacy marks have no instance', () => {
    expect(parseOwnerMark('tunnel-manager:shop@vm-a')).toEqual({ owner: 'shop', instance: 'vm-a' });
    expect(parseOwnerMark('tunnel-manager:@admin@vm-a')).toEqual({ owner: '@admin', instance: 'vm-a' });
    expect(parseOwnerMark('tunnel-manager:shop')).toEqual({ owner: 'shop', instance: null });
    expect(parseOwnerMark('tunnel-manager:@admin')).toEqual({ owner: '@admin', instance: null });
    for (const bad of [
      'tunnel-manager:shop@',
      'tunnel-manager:shop@VM',
      'tunnel-manager:@vm-a',
      'tunnel-manager:a@b@c',
    ]) {
      expect(parseOwnerMark(bad), bad).toBeNull();
    }
  });
});

describe('instance ids', () => {
  it('default to the first 12 hex digits of the tunnel id (stable across restarts)', () => {
    expect(deriveInstanceId(TUNNEL)).toBe('6ff42ae2765d');
    const config = parseConfig({ cloudflare: { tunnelId: TUNNEL } });
    expect(instanceIdOf(config)).toBe('6ff42ae2765d');
    expect(instanceIdOf(parseConfig({ cloudflare: { tunnelId: TUNNEL }, instance: { id: 'vm-eu-1' } }))).toBe(
      'vm-eu-1',
    );
    expect(instanceIdOf(parseConfig({}))).toBeNull();
  });

  it('are validated: short, lower-case, [a-z0-9-]', () => {
    for (const bad of ['VM-1', 'vm_1', '-vm', 'vm-', 'a'.repeat(21), '', 'vm@1']) {
      expect(() => parseConfig({ instance: { id: bad } }), bad).toThrow(/instance\.id/);
      const error = (() => {
        try {
          parseInstanceId(bad);
        } catch (e) {
          return e;
        }
      })();
      expect(isTunnelError(error, 'INVALID_INPUT'), bad).toBe(true);
    }
    expect(parseInstanceId('vm-1')).toBe('vm-1');
  });
});

describe('ownership', () => {
  const record = (content: string, comment: string | null, type = 'CNAME') => {
    const mark = parseOwnerMark(comment);
    return { type, content, owner: mark?.owner ?? null, instance: mark?.instance ?? null };
  };

  it('classifies records: mine, legacy-mine, sibling, foreign', () => {
    expect(classifyRecord(record(SELF.tunnelTarget, 'tunnel-manager:shop@vm-a'), SELF)).toEqual({
      kind: 'mine',
      owner: 'shop',
    });
    expect(classifyRecord(record(SELF.tunnelTarget, 'tunnel-manager:shop'), SELF)).toEqual({
      kind: 'legacy-mine',
      owner: 'shop',
    });
    expect(classifyRecord(record(OTHER, 'tunnel-manager:shop@vm-b'), SELF)).toMatchObject({
      kind: 'sibling',
      instance: 'vm-b',
    });
    // A record another instance marked is a sibling's even when it points at this tunnel.
    expect(classifyRecord(record(SELF.tunnelTarget, 'tunnel-manager:shop@vm-b'), SELF)).toMatchObject({
      kind: 'sibling',
      instance: 'vm-b',
    });
    // A legacy mark on a record pointing at another tunnel: another VM's.
    expect(classifyRecord(record(OTHER, 'tunnel-manager:shop'), SELF)).toEqual({
      kind: 'sibling',
      owner: 'shop',
      instance: null,
      tunnel: '0b0b0b0b-1111-4222-8333-444455556666',
    });
    expect(classifyRecord(record('192.0.2.1', 'tunnel-manager:shop', 'A'), SELF)).toMatchObject({ kind: 'sibling' });
    // This instance's id on another tunnel's record: a copied config; still not ours to change.
    expect(classifyRecord(record(OTHER, 'tunnel-manager:shop@vm-a'), SELF)).toMatchObject({ kind: 'sibling' });
    expect(classifyRecord(record(SELF.tunnelTarget, 'made by hand'), SELF)).toEqual({ kind: 'foreign' });
  });

  it('classifies rules: a legacy rule in our own ingress is ours, another instance’s is not', () => {
    expect(classifyRule({ owner: 'shop', instance: 'vm-a' }, SELF)).toEqual({ kind: 'mine', owner: 'shop' });
    expect(classifyRule({ owner: 'shop' }, SELF)).toEqual({ kind: 'legacy-mine', owner: 'shop' });
    expect(classifyRule({ owner: 'shop', instance: 'vm-b' }, SELF)).toMatchObject({
      kind: 'sibling',
      instance: 'vm-b',
    });
    expect(classifyRule(undefined, SELF)).toEqual({ kind: 'foreign' });
  });
});

describe('database migration 2', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('upgrades a version-1 database, keeping its routes, and adds the owner and replaced-record tables', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-migrate-'));
    dirs.push(dir);
    const path = join(dir, 'state.db');
    writeRelease1Database(path, { hostname: 'a.example.com', zoneId: 'z1' });
    const store = SqliteStateStore.open({ path });
    expect(store.schemaVersion()).toBe(LATEST_SCHEMA_VERSION);
    expect(await store.routes.get('r1')).toMatchObject({
      id: 'r1',
      hostname: 'a.example.com',
      owner: 'shop',
      dnsRecordId: 'rec-1',
      state: 'active',
      target: 'http://localhost:3000',
    });
    expect(await store.replaced.get('r1')).toEqual([]);
    await store.ingressOwners.replace('t', [
      { hostname: 'a.example.com', path: '', service: 'http://localhost:3000', owner: 'shop', instance: 'vm-a' },
    ]);
    expect(await store.ingressOwners.list('t')).toHaveLength(1);
    await store.close();
  });
});
