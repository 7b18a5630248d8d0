// pnpm bench cname — the whole CNAME pipeline: 500 requestCname then 500 deleteCname through the
// TunnelManager (validation, zone and policy, target, the cross-process lock, the DNS conflict
// check, the persisted state machine, the managed rule in a real config.yml, the CNAME at the API
// emulator over loopback HTTP, the restart request, the audit entry), with a real SQLite file and
// the restart not awaited. Interleaved with the creates, the floor any safe create pays: one
// atomic write of the same config (temp + fsync + rename), one SQLite transaction, one emulator
// round trip. Targets: createP99Ms < 50, createRatioP50 (create ÷ floor, medians) ≤ 3.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Actor, createTunnelManager, parseConfig, Secret, SqliteStateStore } from '@tunnel/core';
import { CloudflareApi, CloudflareDnsProvider, cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { startCloudflareEmulator } from '@tunnel/testkit';
import { percentile, report, round, scratchDir } from './lib.js';

const N = 500;
const TOKEN = 'bench-token';
const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
const PROJECTS = 50;

const dir = scratchDir('cname');
const cf = await startCloudflareEmulator({
  seed: {
    accounts: [{ id: ACCOUNT_ID, name: 'bench' }],
    zones: [{ name: 'bench.example' }, { name: 'other.example' }],
    tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID }],
    tokens: [{ value: TOKEN, permissions: 'all' }],
  },
  maxLogEntries: 1_000,
});
try {
  const configPath = join(dir, 'config.yml');
  const hand = Array.from(
    { length: 20 },
    (_, i) => `  - hostname: hand-${i}.bench.example\n    service: http://localhost:${4000 + i}`,
  );
  writeFileSync(
    configPath,
    [
      `tunnel: ${TUNNEL_ID}`,
      `credentials-file: /etc/cloudflared/${TUNNEL_ID}.json`,
      'ingress:',
      ...hand,
      '  - service: http_status:404',
      '',
    ].join('\n'),
  );
  const config = parseConfig({
    dataDir: dir,
    ingress: { configPath },
    cloudflare: { apiToken: TOKEN, baseUrl: cf.url, accountId: ACCOUNT_ID, tunnelId: TUNNEL_ID },
    cloudflared: { controller: 'none' },
    docker: { enabled: false },
    restart: { waitForRestart: false },
  });
  // The provider as the plugin builds it, but without the client-side request budget (1,000 per
  // 5 minutes): this run makes ~2,000 requests, and a budget stall is a rate limit, not latency.
  const dns = new CloudflareDnsProvider(
    new CloudflareApi({ apiToken: new Secret(TOKEN), baseUrl: cf.url, requestsPerFiveMinutes: 1_000_000 }),
  );
  const manager = createTunnelManager(config, { plugins: [cloudflarePlugin], overrides: { DnsProvider: dns } });
  const zone = (await manager.listDomains(Actor.admin(), { refresh: true })).find((z) => z.name === 'bench.example');
  if (!zone) throw new Error('the emulator has no bench.example zone');
  const actor = (i: number) => Actor.project(`project-${i % PROJECTS}`);
  const hostname = (i: number) => `app-${i}.bench.example`;

  // Warm-up: the SDK loads, statements are prepared, the config is parsed once.
  cf.clearRequests();
  for (let i = 0; i < 10; i++) {
    await manager.requestCname(actor(i), { hostname: `warm-${i}.bench.example`, service: { port: 3000 } });
    await manager.deleteCname(actor(i), `warm-${i}.bench.example`);
  }
  const requestsPerPair = cf.requests.length / 10;

  // The floor's parts, on their own: a second SQLite file, the same SDK client, the config's bytes.
  const floorDb = SqliteStateStore.open({ path: join(dir, 'floor.db') });
  const floor = async (i: number): Promise<void> => {
    const bytes = readFileSync(configPath);
    const temp = join(dir, '.floor.tmp');
    const fd = openSync(temp, 'w', 0o644);
    writeSync(fd, bytes);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, join(dir, 'floor.yml'));
    await floorDb.restarts.add({ at: Date.now(), reason: `floor ${i}`, requestedBy: 'bench' });
    await dns.listRecords(zone.id, { name: hostname(i) });
  };

  const gc = (globalThis as { gc?: () => void }).gc;
  const time = async (fn: () => Promise<unknown>): Promise<number> => {
    gc?.();
    const start = performance.now();
    await fn();
    return performance.now() - start;
  };
  const creates: number[] = [];
  const deletes: number[] = [];
  const floors: number[] = [];
  // Creates and floor samples interleave, so both see the same machine load.
  for (let i = 0; i < N; i++) {
    creates.push(
      await time(async () => {
        const r = await manager.requestCname(actor(i), { hostname: hostname(i), service: { port: 3000 + (i % 100) } });
        if (r.outcome !== 'created' || !r.restartPending) throw new Error(`create ${i}: ${r.outcome}`);
      }),
    );
    floors.push(await time(() => floor(i)));
  }
  const active = await manager.listCnames(Actor.admin(), { states: ['active'] });
  if (active.length !== N || cf.records(zone.id).length !== N) {
    throw new Error(`expected ${N} routes and records, found ${active.length} and ${cf.records(zone.id).length}`);
  }
  for (let i = 0; i < N; i++) {
    deletes.push(
      await time(async () => {
        const r = await manager.deleteCname(actor(i), hostname(i));
        if (r.route.state !== 'deleted') throw new Error(`delete ${i}: ${r.route.state}`);
      }),
    );
  }
  if (cf.records(zone.id).length !== 0) throw new Error('records left after the deletes');
  await floorDb.close();
  await manager.close();

  const createP50Ms = round(percentile(creates, 50), 3);
  const createP99Ms = round(percentile(creates, 99), 3);
  const deleteP50Ms = round(percentile(deletes, 50), 3);
  const deleteP99Ms = round(percentile(deletes, 99), 3);
  const floorP50Ms = round(percentile(floors, 50), 3);
  const createRatioP50 = round(percentile(creates, 50) / percentile(floors, 50), 2);
  report(
    [
      `TunnelManager pipeline against the API emulator (loopback HTTP), real SQLite and config.yml, restart not awaited; ${N} creates then ${N} deletes, ${PROJECTS} projects`,
      `requestCname: p50 ${createP50Ms} ms, p99 ${createP99Ms} ms (target < 50${createP99Ms < 50 ? ', met' : ', MISSED'})`,
      `deleteCname: p50 ${deleteP50Ms} ms, p99 ${deleteP99Ms} ms`,
      `API requests per create + delete: ${requestsPerPair} (a name check and a create; a delete)`,
      `floor (atomic write of the config + one SQLite transaction + one emulator round trip): p50 ${floorP50Ms} ms`,
      `create ÷ floor at the median: ${createRatioP50} (target ≤ 3${createRatioP50 <= 3 ? ', met' : ', MISSED'})`,
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    ],
    { createP50Ms, createP99Ms, deleteP99Ms, floorP50Ms, createRatioP50 },
  );
} finally {
  await cf.close();
}
