import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { ROUTE_STATES } from '../../src/index.js';
import { disagreements, managedRules, startWorld, type World } from './helpers.js';

const fixture = new URL('./fixtures/concurrent-child.mjs', import.meta.url).pathname;
const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) await w.close();
});

const PROCESSES = 8;
const REQUESTS = 25;
/** Codes a request may meet when others hold or just released the name; anything else is a bug. */
const EXPECTED = new Set(['HOSTNAME_TAKEN', 'NOT_FOUND', 'NOT_OWNER']);

interface Call {
  op: 'create' | 'delete';
  hostname: string;
  ok: boolean;
  code?: string;
  message?: string;
  outcome?: string;
}

describe('concurrency across processes', () => {
  it(`${PROCESSES} processes × ${REQUESTS} mixed requests on shared names leave DB, DNS and ingress in agreement`, async () => {
    const w = await startWorld({
      topology: null,
      records: [],
      config: { docker: { enabled: false }, locks: { mutationTimeoutMs: 300_000 } },
    });
    worlds.push(w);
    // Two processes per project; every project draws from the same twelve names.
    const names = Array.from({ length: 12 }, (_, i) => `n${i}.example.com`);
    const runs = Array.from({ length: PROCESSES }, (_, i) =>
      execa(
        process.execPath,
        [fixture, w.configFile, `team${i % 4}`, String(7919 * (i + 1)), String(REQUESTS), names.join(',')],
        {
          reject: false,
          stdin: 'ignore',
          timeout: 400_000,
        },
      ),
    );
    const results = await Promise.all(runs);
    const calls: Call[] = [];
    for (const r of results) {
      expect(r.exitCode, r.stderr).toBe(0);
      calls.push(...(JSON.parse(r.stdout.trim()) as Call[]));
    }
    expect(calls).toHaveLength(PROCESSES * REQUESTS);
    const unexpected = calls.filter((c) => !c.ok && !EXPECTED.has(c.code ?? ''));
    expect(unexpected).toEqual([]);
    // The mix did exercise contention: creates and deletes succeeded, and names were contested.
    expect(calls.filter((c) => c.ok && c.op === 'create' && c.outcome === 'created').length).toBeGreaterThan(10);
    expect(calls.filter((c) => c.ok && c.op === 'delete').length).toBeGreaterThan(5);
    expect(calls.filter((c) => c.code === 'HOSTNAME_TAKEN').length).toBeGreaterThan(0);

    expect(await disagreements(w)).toEqual([]);
    const live = await w.db.routes.list({
      states: ['reserved', 'ingress_written', 'dns_created', 'active', 'deleting', 'dns_deleted', 'ingress_removed'],
    });
    expect(live.every((r) => r.state === 'active')).toBe(true);
    expect(new Set(live.map((r) => r.hostname)).size).toBe(live.length);
    // The file is valid for cloudflared (the reader validates it) and kept the hand-written rule.
    const snapshot = await w.ingress.read();
    expect(snapshot.rules.some((r) => r.hostname === 'www.example.com' && !r.managed)).toBe(true);
    expect((await managedRules(w)).length).toBe(live.length);

    // Audit complete: one entry per call, with the outcome each caller saw.
    const audit = await w.db.audit.query({ limit: 10_000 });
    const ops = audit.filter((e) => e.action === 'cname.request' || e.action === 'cname.delete');
    expect(ops).toHaveLength(calls.length);
    expect(ops.filter((e) => e.outcome === 'ok').length).toBe(calls.filter((c) => c.ok).length);
    const codes = (list: (string | null | undefined)[]) => list.filter(Boolean).sort();
    expect(codes(ops.map((e) => e.errorCode))).toEqual(codes(calls.map((c) => c.code)));
    // Nothing was left for recovery.
    const all = await w.db.routes.list({ states: ROUTE_STATES });
    expect(all.filter((r) => r.state === 'failed')).toEqual([]);
  }, 600_000);
});
