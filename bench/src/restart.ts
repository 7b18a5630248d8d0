// pnpm bench restart [--runs N]
//
// Does a change take the tunnel down? The TunnelManager in daemon mode, as the daemon builds it:
// the simulated cloudflared as its children (a separate process each), the API emulator, a real
// config.yml and SQLite file, restart settings at their defaults (2 s coalescing window). Each
// change is a requestCname that waits until its rule is live. While it runs, every replica's
// /ready is polled every 10 ms; the gap is the longest stretch in which no replica answered 200.
//
// - gapMsReplicas1: local ingress, one cloudflared (every change restarts the only process)
// - gapMsReplicas2: local ingress, two replicas (the default), rolled one at a time
// - gapMsRemote:    remote ingress (the tunnel configuration at Cloudflare), which needs no restart
// - changeToLiveP50Ms: from the request to the change being live, two replicas (median)
// Targets: gapMsReplicas2 = 0, gapMsRemote = 0.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  Actor,
  createTunnelManager,
  HttpReadinessProbe,
  type ProcessController,
  parseConfig,
  resolvePort,
} from '@tunnel/core';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { cloudflaredSimPath, startCloudflareEmulator } from '@tunnel/testkit';
import { percentile, report, round, scratchDir } from './lib.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
const TOKEN = 'bench-token';
const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
const POLL_MS = 10;

const loadBefore = loadavg();
const cf = await startCloudflareEmulator({
  seed: {
    accounts: [{ id: ACCOUNT_ID, name: 'bench' }],
    zones: [{ name: 'bench.example' }],
    // Remotely managed configuration (used by the remote scenario), with its catch-all rule.
    tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID, config: { ingress: [{ service: 'http_status:404' }] } }],
    tokens: [{ value: TOKEN, permissions: 'all' }],
  },
  maxLogEntries: 1_000,
});

interface Scenario {
  readonly gaps: number[];
  readonly changeToLive: number[];
  readonly restarts: number;
}

/** Polls every replica's /ready every 10 ms; returns the longest stretch with none ready. */
function pollReadiness(controller: ProcessController): { stop(): Promise<number> } {
  const probe = new HttpReadinessProbe();
  let running = true;
  let longest = 0;
  let downSince: number | null = null;
  const loop = (async () => {
    while (running) {
      const status = await controller.status();
      const urls = (status.replicas ?? []).map((r) => r.metricsUrl).filter((u): u is string => !!u);
      const codes = await Promise.all(urls.map((u) => probe.check(u, 500).then((r) => r.statusCode ?? 0)));
      const now = performance.now();
      if (codes.some((c) => c === 200)) {
        if (downSince !== null) longest = Math.max(longest, now - downSince);
        downSince = null;
      } else downSince ??= now;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      if (downSince !== null) longest = Math.max(longest, performance.now() - downSince);
      return longest;
    },
  };
}

async function scenario(name: string, mode: 'local' | 'remote', replicas: number): Promise<Scenario> {
  const dir = scratchDir(`restart-${name}`);
  const configPath = join(dir, 'config.yml');
  writeFileSync(configPath, `tunnel: ${TUNNEL_ID}\ningress:\n  - service: http_status:404\n`);
  const config = parseConfig({
    dataDir: dir,
    ingress: { mode, configPath },
    cloudflare: { apiToken: TOKEN, baseUrl: cf.url, accountId: ACCOUNT_ID, tunnelId: TUNNEL_ID },
    cloudflared: {
      controller: 'child',
      gracePeriodMs: 5_000,
      child: {
        command: process.execPath,
        args: [cloudflaredSimPath(), 'tunnel', '--config', configPath, '--metrics', '127.0.0.1:0', 'run'],
        replicas,
        stopOnExit: true,
      },
    },
    docker: { enabled: false },
    health: { intervalMs: 1_000 },
    restart: { waitForRestart: true, waitTimeoutMs: 120_000, startTimeoutMs: 60_000 },
  });
  const manager = createTunnelManager(config, { plugins: [cloudflarePlugin], mode: 'daemon' });
  const container = manager.container;
  if (!container || !manager.health) throw new Error('no container');
  const controller = resolvePort(container, 'ProcessController');
  await controller.start?.();
  manager.health.start();
  const waitAllReady = async () => {
    const probe = new HttpReadinessProbe();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const urls = ((await controller.status()).replicas ?? []).map((r) => r.metricsUrl);
      const codes = await Promise.all(urls.map((u) => (u ? probe.check(u, 500).then((r) => r.statusCode) : 0)));
      if (codes.length === replicas && codes.every((c) => c === 200)) return;
      if (Date.now() > deadline) throw new Error(`${name}: cloudflared not ready`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const gaps: number[] = [];
  const changeToLive: number[] = [];
  let restarts = 0;
  manager.health.restartManager?.onRestart(() => {
    restarts += 1;
  });
  try {
    await manager.listDomains(Actor.admin(), { refresh: true });
    for (let run = 0; run < RUNS; run++) {
      await waitAllReady();
      const poller = pollReadiness(controller);
      await new Promise((r) => setTimeout(r, 100));
      const started = performance.now();
      const result = await manager.requestCname(Actor.project('bench'), {
        hostname: `app-${run}.bench.example`,
        service: { port: 3000 + run },
      });
      changeToLive.push(performance.now() - started);
      if (result.restartPending) throw new Error(`${name}: the change is not live: ${result.restartDetail}`);
      await new Promise((r) => setTimeout(r, 200));
      gaps.push(await poller.stop());
    }
  } finally {
    await manager.close();
    await controller.stop?.({ graceful: true });
  }
  return { gaps, changeToLive, restarts };
}

try {
  const one = await scenario('replicas1', 'local', 1);
  const two = await scenario('replicas2', 'local', 2);
  const remote = await scenario('remote', 'remote', 1);
  const loadAfter = loadavg();
  const max = (xs: number[]) => Math.max(...xs);
  report(
    [
      `restart: ${RUNS} changes per scenario, each awaited until live; /ready of every replica polled every ${POLL_MS} ms`,
      `  1 replica : longest gap ${round(max(one.gaps), 0)} ms (per change: ${one.gaps.map((g) => round(g, 0)).join(', ')}), restarts ${one.restarts}`,
      `  2 replicas: longest gap ${round(max(two.gaps), 0)} ms (per change: ${two.gaps.map((g) => round(g, 0)).join(', ')}), restarts ${two.restarts}`,
      `  remote    : longest gap ${round(max(remote.gaps), 0)} ms, restarts ${remote.restarts}`,
      `  change → live, 2 replicas: p50 ${round(percentile(two.changeToLive, 50), 0)} ms, max ${round(max(two.changeToLive), 0)} ms (includes the 2 s coalescing window)`,
      `  change → live, 1 replica : p50 ${round(percentile(one.changeToLive, 50), 0)} ms`,
      `  load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`,
    ],
    {
      gapMsReplicas1: round(max(one.gaps), 0),
      gapMsReplicas2: round(max(two.gaps), 0),
      gapMsRemote: round(max(remote.gaps), 0),
      changeToLiveP50Ms: round(percentile(two.changeToLive, 50), 0),
    },
  );
} finally {
  await cf.close();
}
