// pnpm bench state — the SQLite state store at the size of a busy VM: 10,000 routes, 30 days of
// 30-second health samples (86,400), 10,000 audit entries. Targets: dbBytes < 20 MB, listing all
// 10,000 routes < 50 ms.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { type RouteState, SqliteStateStore } from '@tunnel/core';
import { percentile, report, round, scratchDir, timeEach } from './lib.js';

const ROUTES = 10_000;
const SAMPLES = 30 * 24 * 120; // 30 days every 30 s
const AUDIT = 10_000;
const T0 = Date.UTC(2026, 0, 1);

const path = join(scratchDir('state'), 'state.db');
let store = SqliteStateStore.open({ path });

const insertStart = performance.now();
for (let i = 0; i < ROUTES; i++) {
  await store.routes.reserve(
    {
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      hostname: `app-${i}.project-${i % 500}.example.com`,
      zoneId: '023e105f4ecef8ad9ca31a8372d0c353',
      zoneName: 'example.com',
      owner: `project-${i % 500}`,
      service: { container: i % 2 ? `web-${i}` : null, port: 3000 + (i % 1000), scheme: 'http' },
      target: i % 2 ? `http://web-${i}:${3000 + (i % 1000)}` : `http://localhost:${3000 + (i % 1000)}`,
      targetReason:
        i % 2 ? 'cloudflared and web share the user network apps' : 'cloudflared and the service run on the host',
      createdAt: T0 + i,
    },
    { quota: null },
  );
}
const insertSeconds = (performance.now() - insertStart) / 1000;
// Most routes are active in steady state.
const path3: RouteState[] = ['ingress_written', 'dns_created', 'active'];
for (const route of await store.routes.list({ limit: ROUTES })) {
  for (const state of path3)
    await store.routes.update(route.id, {
      state,
      dnsRecordId: state === 'dns_created' ? route.id.replaceAll('-', '') : undefined,
      updatedAt: T0 + 1,
    });
}

const healthStart = performance.now();
for (let i = 0; i < SAMPLES; i++) {
  const down = i % 997 === 0;
  await store.health.insert({
    at: T0 + i * 30_000,
    status: down ? 'down' : 'healthy',
    processState: 'running',
    readyConnections: down ? 0 : 4,
    latencyMs: 2 + (i % 7),
    apiStatus: 'healthy',
    failingCheck: down ? 'ready' : null,
    detail: down ? '/ready answered 503' : null,
  });
}
const healthSeconds = (performance.now() - healthStart) / 1000;

for (let i = 0; i < AUDIT; i++) {
  await store.audit.append({
    at: T0 + i * 1000,
    actor: `project:project-${i % 500}`,
    project: `project-${i % 500}`,
    action: i % 3 ? 'cname.request' : 'cname.delete',
    target: `app-${i}.project-${i % 500}.example.com`,
    params: { port: 3000 + (i % 1000), container: `web-${i}` },
    outcome: i % 50 ? 'ok' : 'error',
    errorCode: i % 50 ? null : 'TARGET_UNREACHABLE',
    message: i % 50 ? null : 'port 3000 is not published',
    durationMs: 5 + (i % 40),
  });
}
await store.close(); // checkpoints the WAL into the main file
const dbBytes = statSync(path).size;

store = SqliteStateStore.open({ path });
let listed = 0;
const listTimes = await timeEach(
  20,
  async () => {
    listed = (await store.routes.list()).length;
  },
  3,
);
if (listed !== ROUTES) throw new Error(`listed ${listed} routes, expected ${ROUTES}`);
const auditTimes = await timeEach(50, () => store.audit.query({ project: 'project-7', limit: 100 }));
const healthTimes = await timeEach(50, () => store.health.list({ limit: 120 }));
await store.close();

const listRoutes10kMs = round(percentile(listTimes, 50));
report(
  [
    `routes ${ROUTES}, health samples ${SAMPLES}, audit entries ${AUDIT}`,
    `database file: ${(dbBytes / 1024 / 1024).toFixed(2)} MiB (${dbBytes} bytes)`,
    `reserve: ${round(ROUTES / insertSeconds, 0)} routes/s; health insert: ${round(SAMPLES / healthSeconds, 0)} samples/s`,
    `list all routes: p50 ${listRoutes10kMs} ms, p99 ${round(percentile(listTimes, 99))} ms`,
    `audit query by project: p50 ${round(percentile(auditTimes, 50), 3)} ms; last 120 samples: p50 ${round(percentile(healthTimes, 50), 3)} ms`,
  ],
  { dbBytes, listRoutes10kMs, insertRoutesPerSec: round(ROUTES / insertSeconds, 0) },
);
