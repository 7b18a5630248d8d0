// pnpm bench cli
//
// Start-up time of the `tunnel` executable as a user meets it: wall-clock from spawning
// `node packages/cli/bundle/tunnel.js …` until it exits, node's own start included.
// - `tunnel --help`: commander and the help text only (no core, no provider SDK).
// - `tunnel status --json`: config, the TunnelManager in client mode over a SQLite database
//   with 500 routes, a day of health samples at 30 s and 2,000 audit entries; no network.
// - `tunnel cname add … --dry-run`: the same database, the Cloudflare SDK loaded and one DNS
//   lookup at the API emulator (in this process, so the child is spawned asynchronously).
// 25 runs each after 3 warm-ups; the JSON reports the medians.
// Targets: helpMs < 300, statusMs < 600, addDryRunMs < 500.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteStateStore } from '@tunnel/core';
import { startCloudflareEmulator } from '@tunnel/testkit';
import { percentile, report, round, scratchDir, timeEach } from './lib.js';

const TUNNEL = fileURLToPath(new URL('../../packages/cli/bundle/tunnel.js', import.meta.url));
const RUNS = 25;
const dir = scratchDir('cli');

const cloudflaredConfig = join(dir, 'cloudflared.yml');
writeFileSync(
  cloudflaredConfig,
  'tunnel: c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01\ningress:\n  - service: http_status:404\n',
);
const configPath = join(dir, 'config.yml');
writeFileSync(
  configPath,
  `dataDir: ${JSON.stringify(dir)}\ningress:\n  configPath: ${JSON.stringify(cloudflaredConfig)}\ncloudflared:\n  controller: none\ndocker:\n  enabled: false\ncloudflare:\n  tunnelId: c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01\n`,
);

// A lived-in database.
const store = SqliteStateStore.open({ path: join(dir, 'state.db') });
const now = Date.now();
await store.domains.replaceAll(
  [
    { id: 'z1', name: 'example.com', status: 'active', accountId: null },
    { id: 'z2', name: 'example.org', status: 'active', accountId: null },
  ],
  now,
);
for (let i = 0; i < 500; i++) {
  const route = await store.routes.reserve(
    {
      id: `route-${i}`,
      hostname: `app-${i}.example.com`,
      zoneId: 'z1',
      zoneName: 'example.com',
      owner: `project-${i % 20}`,
      service: { container: null, port: 3000 + i, scheme: 'http' },
      target: `http://localhost:${3000 + i}`,
      targetReason: 'bench',
      createdAt: now - i,
    },
    { quota: null },
  );
  for (const state of ['ingress_written', 'dns_created', 'active'] as const) {
    await store.routes.update(route.id, { state, updatedAt: now - i });
  }
}
for (let i = 0; i < 2_880; i++) {
  await store.health.insert({
    at: now - i * 30_000,
    status: 'healthy',
    processState: 'running',
    readyConnections: 4,
    latencyMs: 2,
    apiStatus: 'healthy',
    failingCheck: null,
    detail: null,
  });
}
for (let i = 0; i < 2_000; i++) {
  await store.audit.append({
    at: now - i * 1_000,
    actor: `project:project-${i % 20}`,
    project: `project-${i % 20}`,
    action: i % 50 === 0 ? 'tunnel.restart' : 'cname.request',
    target: `app-${i}.example.com`,
    params: { reason: 'bench' },
    outcome: 'ok',
    errorCode: null,
    message: null,
    durationMs: 100,
  });
}
await store.close();

const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !k.startsWith('TUNNEL_') && !k.startsWith('TM_')),
);
function run(args: string[]): void {
  const result = spawnSync(process.execPath, [TUNNEL, ...args], { env: { ...env, TUNNEL_CONFIG: configPath } });
  if (result.status !== 0) throw new Error(`tunnel ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
}

// The dry run asks the API for the records of its name: a second config pointing at the emulator,
// with its own database (the zones above have made-up ids; the warm-ups discover the real ones).
const TUNNEL_ID = 'c0ffee00-5a4d-4b0c-8e11-7a3d2f9e6b01';
const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
const cf = await startCloudflareEmulator({
  seed: {
    accounts: [{ id: ACCOUNT_ID, name: 'bench' }],
    zones: [{ name: 'example.com' }, { name: 'example.org' }],
    tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID }],
    tokens: [{ value: 'bench-token', permissions: 'all' }],
  },
});
const apiConfigPath = join(dir, 'config-api.yml');
writeFileSync(
  apiConfigPath,
  `dataDir: ${JSON.stringify(join(dir, 'api'))}\ningress:\n  configPath: ${JSON.stringify(cloudflaredConfig)}\ncloudflared:\n  controller: none\ndocker:\n  enabled: false\ncloudflare:\n  apiToken: bench-token\n  baseUrl: ${cf.url}\n  accountId: ${ACCOUNT_ID}\n  tunnelId: ${TUNNEL_ID}\n`,
);
function runAsync(args: string[], config: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [TUNNEL, ...args], { env: { ...env, TUNNEL_CONFIG: config } });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`tunnel ${args.join(' ')} exited ${code}: ${stderr}`)),
    );
  });
}

// The measured work is a child process: no forced GC between samples (see timeEach).
const help = await timeEach(RUNS, () => run(['--help']), 3, false);
const status = await timeEach(RUNS, () => run(['status', '--json']), 3, false);
const dryRun = await timeEach(
  RUNS,
  () => runAsync(['cname', 'add', 'new-app.example.com', '--port', '8080', '--dry-run'], apiConfigPath),
  3,
  false,
);
await cf.close();
const line = (name: string, samples: number[]) =>
  `${name.padEnd(22)} median ${round(percentile(samples, 50), 1)} ms   p95 ${round(percentile(samples, 95), 1)} ms   min ${round(Math.min(...samples), 1)} ms`;
const bare = await timeEach(10, () => spawnSync(process.execPath, ['-e', '0']), 2, false);
report(
  [
    `${RUNS} runs each, wall-clock from spawn to exit (node ${process.version})`,
    line('node -e 0 (baseline)', bare),
    line('tunnel --help', help),
    line('tunnel status --json', status),
    line('cname add --dry-run', dryRun),
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  ],
  {
    helpMs: round(percentile(help, 50), 1),
    statusMs: round(percentile(status, 50), 1),
    addDryRunMs: round(percentile(dryRun, 50), 1),
  },
);
