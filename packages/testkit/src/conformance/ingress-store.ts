import { type IngressRule, type IngressStore, isTunnelError, type TunnelError } from '@tunnel/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './dns-provider.js';

export interface IngressStoreHarness {
  /**
   * A store whose current rules are `initialRules`: two hand-written rules and a catch-all
   * (`INGRESS_CONFORMANCE_RULES`), written however the implementation stores them.
   */
  readonly store: IngressStore;
  cleanup?(): Promise<void>;
}

/** What a harness must seed: hand-written (unmanaged) rules the suite checks are kept. */
export const INGRESS_CONFORMANCE_RULES: readonly IngressRule[] = [
  { hostname: 'hand.example.com', service: 'http://localhost:8000' },
  { hostname: 'static.example.com', path: '^/assets/', service: 'http://localhost:8001' },
  { service: 'http_status:404' },
];

const managedRule = (n: number, owner = 'alpha'): IngressRule => ({
  hostname: `app${n}.example.com`,
  service: `http://localhost:${9000 + n}`,
  managed: { owner },
});

/** Inserts `rule` before the catch-all. */
const withRule = (rules: readonly IngressRule[], rule: IngressRule): IngressRule[] => [
  ...rules.slice(0, -1),
  rule,
  ...rules.slice(-1),
];

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'none';
  } catch (error) {
    if (!isTunnelError(error)) throw error;
    expect((error as TunnelError).hint.length).toBeGreaterThan(0);
    return error.code;
  }
}

/** The IngressStore contract (see the port's duties). */
export function describeIngressStoreConformance(
  name: string,
  factory: () => Promise<IngressStoreHarness>,
  options: ConformanceOptions = {},
): void {
  if (options.skipReason) console.info(`[conformance] IngressStore ${name} skipped: ${options.skipReason}`);
  describe.skipIf(Boolean(options.skipReason))(`IngressStore conformance: ${name}`, () => {
    let h: IngressStoreHarness;
    beforeEach(async () => {
      h = await factory();
    });
    afterEach(async () => {
      await h.cleanup?.();
    });

    it('reads the seeded rules in order, ending with the catch-all, with a version', async () => {
      const snap = await h.store.read();
      expect(snap.rules).toEqual(INGRESS_CONFORMANCE_RULES);
      expect(typeof snap.version).toBe('string');
      expect(snap.version.length).toBeGreaterThan(0);
    });

    it('writes at the current version; the new rules and their owner marks read back', async () => {
      const before = await h.store.read();
      const next = withRule(before.rules, managedRule(1));
      const written = await h.store.write(next, before.version);
      expect(written.version).not.toBe(before.version);
      const after = await h.store.read();
      expect(after.rules).toEqual(next);
      expect(after.version).toBe(written.version);
    });

    it('keeps every unmanaged rule exactly as it was', async () => {
      const before = await h.store.read();
      await h.store.write(withRule(before.rules, managedRule(2)), before.version);
      const after = await h.store.read();
      expect(after.rules.filter((r) => !r.managed)).toEqual(INGRESS_CONFORMANCE_RULES);
    });

    it('refuses a stale version with CONCURRENT_CHANGE and changes nothing', async () => {
      const first = await h.store.read();
      const second = await h.store.write(withRule(first.rules, managedRule(3)), first.version);
      expect(await codeOf(h.store.write(withRule(first.rules, managedRule(4)), first.version))).toBe(
        'CONCURRENT_CHANGE',
      );
      const after = await h.store.read();
      expect(after.version).toBe(second.version);
      expect(after.rules.some((r) => r.hostname === 'app4.example.com')).toBe(false);
    });

    it('refuses invalid rules with INGRESS_INVALID and changes nothing', async () => {
      const before = await h.store.read();
      const noCatchAll = before.rules.slice(0, -1);
      expect(await codeOf(h.store.write(noCatchAll, before.version))).toBe('INGRESS_INVALID');
      const catchAllFirst = [{ service: 'http_status:404' }, ...before.rules];
      expect(await codeOf(h.store.write(catchAllFirst, before.version))).toBe('INGRESS_INVALID');
      const after = await h.store.read();
      expect(after).toEqual(before);
    });

    it('lets exactly one of two writers racing from the same version win', async () => {
      const base = await h.store.read();
      const results = await Promise.allSettled([
        h.store.write(withRule(base.rules, managedRule(5)), base.version),
        h.store.write(withRule(base.rules, managedRule(6)), base.version),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(isTunnelError(rejected.reason, 'CONCURRENT_CHANGE')).toBe(true);
      const after = await h.store.read();
      expect(after.rules.filter((r) => r.managed)).toHaveLength(1);
    });

    it('lists and restores backups when it declares them', async () => {
      if (!h.store.capabilities.backups) {
        expect(h.store.listBackups).toBeUndefined();
        return;
      }
      const v0 = await h.store.read();
      const v1 = await h.store.write(withRule(v0.rules, managedRule(7)), v0.version);
      await h.store.write(withRule(v1.rules, managedRule(8)), v1.version);
      const backups = await h.store.listBackups?.();
      expect(backups?.length).toBeGreaterThanOrEqual(2);
      const times = (backups ?? []).map((b) => b.createdAt);
      expect([...times].sort((a, b) => b - a)).toEqual(times);
      const older = backups?.find((b) => b.version === v1.version);
      expect(older).toBeDefined();
      await h.store.restoreBackup?.(older?.id ?? '');
      const restored = await h.store.read();
      expect(restored.rules).toEqual(v1.rules);
    });
  });
}
