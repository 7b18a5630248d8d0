// pnpm bench cloudflare — the Cloudflare DNS provider against the API emulator: create 1,000
// CNAMEs and delete them again through applyBatch, list a zone of 10,000 records, list 120 zones;
// count the API requests each takes. Targets: ≤ 6, ≤ 6, ≤ 4, ≤ 4 requests.
import { performance } from 'node:perf_hooks';
import { Secret } from '@tunnel/core';
import { CloudflareApi, CloudflareDnsProvider } from '@tunnel/provider-cloudflare';
import { startCloudflareEmulator } from '@tunnel/testkit';
import { report, round } from './lib.js';

/** The instance these tests write as. */
const ME = 'vm-1';

const TOKEN = 'bench-token';
const TARGET = '6ff42ae2-765d-4adf-8112-31c55c1551ef.cfargotunnel.com';

const cf = await startCloudflareEmulator({
  seed: {
    zones: [
      { name: 'bench.example' },
      { name: 'big.example' },
      ...Array.from({ length: 118 }, (_, i) => ({ name: `zone-${i}.example` })),
    ],
    tokens: [{ value: TOKEN, permissions: 'all' }],
  },
});
try {
  const zoneId = (name: string) => cf.data.zones.find((z) => z.name === name)?.id ?? '';
  const bench = zoneId('bench.example');
  const big = zoneId('big.example');
  cf.addRecordsUnchecked(
    big,
    Array.from({ length: 10_000 }, (_, i) => ({
      type: 'CNAME',
      name: `r${i}`,
      content: TARGET,
      proxied: true,
      comment: i % 2 ? `tunnel-manager:project-${i % 50}` : null,
    })),
  );
  const provider = new CloudflareDnsProvider(new CloudflareApi({ apiToken: new Secret(TOKEN), baseUrl: cf.url }), {
    batchLimit: 200,
  });

  /** Runs one step and returns its duration and the API requests it made. */
  const measure = async <T>(step: () => Promise<T>): Promise<{ value: T; ms: number; requests: number }> => {
    cf.clearRequests();
    const start = performance.now();
    const value = await step();
    const ms = performance.now() - start;
    const failed = cf.requests.filter((r) => r.status !== 200);
    if (failed.length > 0) throw new Error(`unexpected failed requests: ${JSON.stringify(failed.slice(0, 3))}`);
    return { value, ms, requests: cf.requests.length };
  };

  // Warm-up: the SDK loads on the first call.
  await provider.listZones();

  const create = await measure(() =>
    provider.applyBatch(bench, {
      deletes: [],
      creates: Array.from({ length: 1000 }, (_, i) => ({
        name: `app-${i}.bench.example`,
        target: TARGET,
        owner: `project-${i % 50}`,
        instance: ME,
      })),
    }),
  );
  if (create.value.created.length !== 1000 || cf.records(bench).length !== 1000) {
    throw new Error('the batch did not create 1,000 records');
  }
  const remove = await measure(() =>
    provider.applyBatch(bench, { deletes: create.value.created.map((r) => r.id), creates: [] }),
  );
  if (cf.records(bench).length !== 0) throw new Error('the batch did not delete the 1,000 records');
  const list = await measure(() => provider.listRecords(big));
  if (list.value.length !== 10_000) throw new Error(`listed ${list.value.length} records, expected 10,000`);
  const zones = await measure(() => provider.listZones());
  if (zones.value.length !== 120) throw new Error(`listed ${zones.value.length} zones, expected 120`);

  const figures = {
    batchCreate1000Requests: create.requests,
    batchDelete1000Requests: remove.requests,
    list10000Requests: list.requests,
    zones120Requests: zones.requests,
  };
  const targets: Record<keyof typeof figures, number> = {
    batchCreate1000Requests: 6,
    batchDelete1000Requests: 6,
    list10000Requests: 4,
    zones120Requests: 4,
  };
  const line = (label: string, key: keyof typeof figures, ms: number) =>
    `${label}: ${figures[key]} requests (target ≤ ${targets[key]}${figures[key] <= targets[key] ? ', met' : ', MISSED'}), ${round(ms, 1)} ms`;
  report(
    [
      'Cloudflare DNS provider against the API emulator (loopback HTTP, batch limit 200, 5,000 records per page, 50 zones per page)',
      line('create 1,000 CNAMEs via applyBatch', 'batchCreate1000Requests', create.ms),
      line('delete 1,000 CNAMEs via applyBatch', 'batchDelete1000Requests', remove.ms),
      line('list a zone of 10,000 records', 'list10000Requests', list.ms),
      line('list 120 zones', 'zones120Requests', zones.ms),
    ],
    figures,
  );
} finally {
  await cf.close();
}
