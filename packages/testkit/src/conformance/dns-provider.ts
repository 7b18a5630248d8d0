import { randomBytes } from 'node:crypto';
import { type DnsProvider, formatOwnerMark, isTunnelError, type TunnelError } from '@tunnel/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface DnsProviderHarness {
  readonly provider: DnsProvider;
  /** A zone the suite may create and delete records in (names are unique per run). */
  readonly zone: { readonly id: string; readonly name: string };
  /**
   * Creates a record as someone else would (not through the provider): without a comment, or
   * with the given one (another instance's mark, a legacy mark).
   */
  seedForeignRecord(record: {
    type: 'A' | 'TXT' | 'CNAME';
    name: string;
    content: string;
    comment?: string;
  }): Promise<void>;
  cleanup?(): Promise<void>;
}

export interface ConformanceOptions {
  /** When set, the suite is registered as skipped and the reason printed. */
  readonly skipReason?: string | undefined;
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<TunnelError> {
  try {
    await promise;
  } catch (error) {
    expect(isTunnelError(error), `expected a TunnelError, got ${String(error)}`).toBe(true);
    expect((error as TunnelError).code).toBe(code);
    expect((error as TunnelError).hint.length).toBeGreaterThan(0);
    return error as TunnelError;
  }
  throw new Error(`expected the call to fail with ${code}, it succeeded`);
}

/**
 * The DnsProvider contract (see the port's duties). Every implementation runs it: the in-memory
 * one, the Cloudflare provider against the emulator, and against real Cloudflare when
 * credentials are present.
 */
export function describeDnsProviderConformance(
  name: string,
  factory: () => Promise<DnsProviderHarness>,
  options: ConformanceOptions = {},
): void {
  if (options.skipReason) console.info(`[conformance] DnsProvider ${name} skipped: ${options.skipReason}`);
  describe.skipIf(Boolean(options.skipReason))(`DnsProvider conformance: ${name}`, () => {
    let h: DnsProviderHarness;
    const run = randomBytes(3).toString('hex');
    const host = (label: string) => `tm-conf-${run}-${label}.${h.zone.name}`;
    const target = `${'0'.repeat(8)}-0000-4000-8000-${'0'.repeat(12)}.cfargotunnel.com`;
    /** The instance the suite writes as. */
    const ME = 'conf-a';

    beforeAll(async () => {
      h = await factory();
    });
    afterAll(async () => {
      // Remove what this run made, even when a test failed half-way.
      const mine = await h.provider.listRecords(h.zone.id).catch(() => []);
      for (const r of mine.filter((r) => r.name.startsWith(`tm-conf-${run}-`))) {
        await h.provider.deleteRecord(h.zone.id, r.id).catch(() => undefined);
      }
      await h.cleanup?.();
    });

    it('lists the zone once, by canonical name', async () => {
      const zones = await h.provider.listZones();
      const ids = zones.map((z) => z.id);
      expect(new Set(ids).size).toBe(ids.length);
      const zone = zones.find((z) => z.id === h.zone.id);
      expect(zone?.name).toBe(h.zone.name);
      for (const z of zones) expect(z.name).toBe(z.name.toLowerCase());
    });

    it('creates a proxied CNAME carrying the owner mark', async () => {
      const name = host('create');
      const record = await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      expect(record).toMatchObject({
        name,
        type: 'CNAME',
        content: target,
        proxied: true,
        owner: 'alpha',
        instance: ME,
      });
      expect(record.comment).toBe(formatOwnerMark('alpha', ME));
      expect(record.instance).toBe(ME);
      const listed = await h.provider.listRecords(h.zone.id, { name });
      expect(listed.map((r) => r.id)).toEqual([record.id]);
      expect(listed[0]?.owner).toBe('alpha');
    });

    it('filters by type and by the manager mark', async () => {
      const name = host('filter');
      await h.seedForeignRecord({ type: 'TXT', name, content: '"hello"' });
      const cname = await h.provider.createCname(h.zone.id, {
        name: host('filter2'),
        target,
        owner: 'beta',
        instance: ME,
      });
      const managed = await h.provider.listRecords(h.zone.id, { managedOnly: true });
      expect(managed.some((r) => r.id === cname.id)).toBe(true);
      expect(managed.every((r) => r.owner !== null)).toBe(true);
      const txt = await h.provider.listRecords(h.zone.id, { type: 'TXT', name });
      expect(txt).toHaveLength(1);
      expect(txt[0]?.owner).toBeNull();
    });

    it('refuses a CNAME where a foreign record holds the name, and leaves it alone', async () => {
      const name = host('taken');
      await h.seedForeignRecord({ type: 'A', name, content: '192.0.2.10' });
      const error = await expectCode(
        h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME }),
        'RECORD_CONFLICT',
      );
      expect(error.details?.recordId).toEqual(expect.any(String));
      const after = await h.provider.listRecords(h.zone.id, { name });
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ type: 'A', content: '192.0.2.10' });
    });

    it('refuses a CNAME where another owner holds the name', async () => {
      const name = host('other-owner');
      await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      await expectCode(
        h.provider.createCname(h.zone.id, { name, target, owner: 'beta', instance: ME }),
        'RECORD_CONFLICT',
      );
    });

    it('returns the existing record on an identical retry instead of duplicating it', async () => {
      const name = host('retry');
      const first = await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      const second = await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      expect(second.id).toBe(first.id);
      expect(await h.provider.listRecords(h.zone.id, { name })).toHaveLength(1);
    });

    it('deletes a record, and NOT_FOUND the second time', async () => {
      const name = host('delete');
      const record = await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      await h.provider.deleteRecord(h.zone.id, record.id);
      expect(await h.provider.listRecords(h.zone.id, { name })).toHaveLength(0);
      await expectCode(h.provider.deleteRecord(h.zone.id, record.id), 'NOT_FOUND');
    });

    it('applies a batch: deletes first, then creates (a name can be replaced in one batch)', async () => {
      const a = host('batch-a');
      const b = host('batch-b');
      const old = await h.provider.createCname(h.zone.id, { name: a, target, owner: 'alpha', instance: ME });
      const result = await h.provider.applyBatch(h.zone.id, {
        deletes: [old.id],
        creates: [
          { name: a, target, owner: 'beta', instance: ME },
          { name: b, target, owner: 'beta', instance: ME },
        ],
      });
      expect(result.deleted).toEqual([old.id]);
      expect(result.created.map((r) => r.name).sort()).toEqual([a, b].sort());
      const now = await h.provider.listRecords(h.zone.id, { name: a });
      expect(now).toHaveLength(1);
      expect(now[0]?.owner).toBe('beta');
    });

    it('does not take another instance’s record, or a legacy one, for an identical retry', async () => {
      for (const [label, comment] of [
        ['sibling', formatOwnerMark('alpha', 'conf-b')],
        ['legacy', formatOwnerMark('alpha', null)],
      ] as const) {
        const name = host(label);
        await h.seedForeignRecord({ type: 'CNAME', name, content: target, comment });
        await expectCode(
          h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME }),
          'RECORD_CONFLICT',
        );
        const after = await h.provider.listRecords(h.zone.id, { name });
        expect(after).toHaveLength(1);
        expect(after[0]?.comment).toBe(comment);
      }
    });

    it('fits the longest mark in a comment, and parses it back', async () => {
      const name = host('longest');
      const owner = 'p'.repeat(63);
      const instance = 'i'.repeat(20);
      const record = await h.provider.createCname(h.zone.id, { name, target, owner, instance });
      expect(record.comment?.length).toBeLessThanOrEqual(100);
      const [listed] = await h.provider.listRecords(h.zone.id, { name });
      expect(listed).toMatchObject({ owner, instance });
    });

    it('remarks a record in a batch: only its comment changes', async () => {
      const name = host('remark');
      await h.seedForeignRecord({ type: 'CNAME', name, content: target, comment: formatOwnerMark('alpha', null) });
      const [before] = await h.provider.listRecords(h.zone.id, { name });
      const result = await h.provider.applyBatch(h.zone.id, {
        deletes: [],
        remarks: [{ recordId: before?.id as string, owner: 'alpha', instance: ME }],
        creates: [],
      });
      expect(result.remarked?.map((r) => r.id)).toEqual([before?.id]);
      const [after] = await h.provider.listRecords(h.zone.id, { name });
      expect(after).toEqual({ ...before, comment: formatOwnerMark('alpha', ME), owner: 'alpha', instance: ME });
    });

    it('restores a record exactly as given, in the batch that deletes the CNAME holding its name', async () => {
      const name = host('restore');
      const ours = await h.provider.createCname(h.zone.id, { name, target, owner: 'alpha', instance: ME });
      const result = await h.provider.applyBatch(h.zone.id, {
        deletes: [ours.id],
        creates: [],
        restores: [{ name, type: 'A', content: '192.0.2.12', proxied: false, ttl: 300, comment: 'made by hand' }],
      });
      expect(result.restored).toHaveLength(1);
      const after = await h.provider.listRecords(h.zone.id, { name });
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({
        type: 'A',
        content: '192.0.2.12',
        proxied: false,
        ttl: 300,
        comment: 'made by hand',
        owner: null,
        instance: null,
      });
    });

    it('fails a batch that conflicts with a foreign record, with a code', async () => {
      const name = host('batch-conflict');
      await h.seedForeignRecord({ type: 'A', name, content: '192.0.2.11' });
      await expectCode(
        h.provider.applyBatch(h.zone.id, { deletes: [], creates: [{ name, target, owner: 'alpha', instance: ME }] }),
        'RECORD_CONFLICT',
      );
      const after = await h.provider.listRecords(h.zone.id, { name });
      expect(after.map((r) => r.type)).toEqual(['A']);
    });
  });
}
