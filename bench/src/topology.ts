// pnpm bench topology — DockerTopology on the real engine holding 200 containers on 20 user
// networks (180 running, 20 created), then 10,000 target selections over that snapshot.
// Targets: a snapshot of the 200 containers < 300 ms; one selection p99 < 100 µs.
// Everything it creates carries the label tunnel-manager.bench=<run> and is removed at the end,
// also on failure or Ctrl-C.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Actor, SqliteStateStore, selectTarget, type TargetRequest, type TopologySnapshot } from '@tunnel/core';
import { DockerEngine, DockerTopology } from '@tunnel/provider-docker';
import { percentile, report, round, scratchDir } from './lib.js';

const CONTAINERS = 200;
const NETWORKS = 20;
const CREATED_ONLY = 20;
const SELECTIONS = 10_000;
const SNAPSHOT_RUNS = 10;
const IMAGE = 'tunnel-test/busybox:1';
const LABEL = 'tunnel-manager.bench';
const run = `tmb-${randomBytes(3).toString('hex')}`;
const sh = promisify(execFile);

const engine = new DockerEngine();
let docker: Awaited<ReturnType<DockerEngine['connect']>>['docker'];
try {
  ({ docker } = await engine.connect());
} catch (error) {
  console.error(
    `The topology benchmark runs on the real Docker engine at ${engine.socketPath}, which is not reachable (${String(error)}). Fix: bash scripts/bootstrap.sh --test-services`,
  );
  process.exit(1);
}

async function cleanup(): Promise<void> {
  const filters = { label: [`${LABEL}=${run}`] };
  const containers = await docker.listContainers({ all: true, filters });
  for (let i = 0; i < containers.length; i += 16) {
    await Promise.all(
      containers.slice(i, i + 16).map((c) =>
        docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => undefined),
      ),
    );
  }
  for (const n of await docker.listNetworks({ filters }))
    await docker
      .getNetwork(n.Id)
      .remove()
      .catch(() => undefined);
}
process.once('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

async function ensureImage(): Promise<void> {
  try {
    await docker.getImage(IMAGE).inspect();
    return;
  } catch {
    // built below
  }
  const root = join(scratchDir('topology-rootfs'), 'rootfs');
  for (const d of ['bin', 'tmp', 'www']) mkdirSync(join(root, d), { recursive: true });
  if (!existsSync('/bin/busybox'))
    throw new Error('/bin/busybox is missing: bash scripts/bootstrap.sh --test-services');
  await sh('cp', ['/bin/busybox', join(root, 'bin', 'busybox')]);
  for (const applet of ['sh', 'sleep', 'httpd', 'wget']) symlinkSync('busybox', join(root, 'bin', applet));
  const tar = join(root, '..', 'rootfs.tar');
  await sh('tar', ['-C', root, '-cf', tar, '.']);
  const progress = await docker.importImage(tar, { repo: 'tunnel-test/busybox', tag: '1' });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(progress, (error: Error | null) => (error ? reject(error) : resolve())),
  );
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

const netName = (i: number) => `${run}-net-${i}`;
const ctrName = (i: number) => `${run}-c${String(i).padStart(3, '0')}`;
const cfName = ctrName(0);

try {
  await ensureImage();
  const setupStart = performance.now();
  await inBatches([...Array(NETWORKS).keys()], 4, (i) =>
    docker.createNetwork({ Name: netName(i), Driver: 'bridge', Labels: { [LABEL]: run } }),
  );
  // Container 0 stands in for cloudflared, on the first five networks; the others are on one
  // network each, every fifth on a second one; every fourth publishes its port on 127.0.0.1.
  await inBatches([...Array(CONTAINERS).keys()], 4, async (i) => {
    const c = await docker.createContainer({
      name: ctrName(i),
      Image: IMAGE,
      Cmd: ['sleep', '3600'],
      Labels: { [LABEL]: run, 'tunnel.project': `project-${i % 25}` },
      ExposedPorts: { '8080/tcp': {} },
      HostConfig: {
        NetworkMode: netName(i % NETWORKS),
        ...(i % 4 === 1 ? { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } } : {}),
        ...(i === 0 ? { ExtraHosts: ['host.docker.internal:host-gateway'] } : {}),
      },
    });
    const extra = i === 0 ? [1, 2, 3, 4] : i % 5 === 0 ? [(i + 7) % NETWORKS] : [];
    for (const n of extra) await docker.getNetwork(netName(n)).connect({ Container: c.id });
    if (i < CONTAINERS - CREATED_ONLY) await c.start();
  });
  const setupSeconds = (performance.now() - setupStart) / 1000;

  const store = SqliteStateStore.open({ path: join(scratchDir('topology'), 'state.db') });
  const hints = { container: cfName };
  // Cold: a new topology each time, so every container is inspected, and the cache written.
  const cold: number[] = [];
  let snapshot: TopologySnapshot | null = null;
  for (let i = 0; i < SNAPSHOT_RUNS; i++) {
    const topology = new DockerTopology({ watch: false, cache: store.topology, cloudflared: hints });
    const start = performance.now();
    snapshot = await topology.refresh();
    cold.push(performance.now() - start);
    await topology.close();
  }
  // Warm: one topology refreshing; unchanged containers are not inspected again.
  const warmTopology = new DockerTopology({ watch: false, cache: store.topology, cloudflared: hints });
  await warmTopology.refresh();
  const warm: number[] = [];
  for (let i = 0; i < SNAPSHOT_RUNS; i++) {
    const start = performance.now();
    await warmTopology.refresh();
    warm.push(performance.now() - start);
  }
  await warmTopology.close();
  await store.close();
  if (!snapshot) throw new Error('no snapshot');
  const ours = snapshot.containers.filter((c) => c.labels[LABEL] === run);
  if (ours.length !== CONTAINERS) throw new Error(`the snapshot holds ${ours.length} of ${CONTAINERS} containers`);
  const userNetworks = snapshot.networks.filter((n) => n.name.startsWith(`${run}-net-`)).length;

  // A realistic mix: containers by name (shared network, none shared, stopped, another
  // project's under the guard), aliases and unknown names, host ports.
  const requests: TargetRequest[] = [];
  for (let i = 0; i < SELECTIONS; i++) {
    const k = i % 10;
    const project = Actor.project(`project-${i % 25}`);
    if (k < 6) requests.push({ actor: project, container: ctrName(1 + (i % (CONTAINERS - 1))), port: 8080 });
    else if (k < 8) requests.push({ actor: Actor.admin(), port: 3000 + (i % 100), scheme: 'https' });
    else if (k === 8) requests.push({ actor: Actor.admin(), container: `${run}-missing-${i % 7}`, port: 80 });
    else requests.push({ actor: Actor.admin(), container: ctrName(i % CONTAINERS), port: 9999 });
  }
  const outcomes = { selected: 0, refused: 0 };
  const pick = (request: TargetRequest) => {
    try {
      selectTarget(snapshot as TopologySnapshot, request, { ownershipGuard: true });
      outcomes.selected += 1;
    } catch {
      outcomes.refused += 1;
    }
  };
  for (let i = 0; i < 1_000; i++) pick(requests[i % requests.length] as TargetRequest);
  outcomes.selected = 0;
  outcomes.refused = 0;
  const micros: number[] = [];
  for (const request of requests) {
    const start = process.hrtime.bigint();
    pick(request);
    micros.push(Number(process.hrtime.bigint() - start) / 1000);
  }

  const snapshot200Ms = round(percentile(cold, 50));
  const selectP99Us = round(percentile(micros, 99));
  report(
    [
      `engine: real dockerd at ${engine.socketPath} (API ${snapshot.docker.available ? snapshot.docker.apiVersion : '?'}), ${ours.length} containers (${CONTAINERS - CREATED_ONLY} running, ${CREATED_ONLY} created) on ${userNetworks} user networks; set up in ${round(setupSeconds, 1)} s`,
      `snapshot, cold (every container inspected, cache written): p50 ${round(percentile(cold, 50))} ms, max ${round(Math.max(...cold))} ms over ${SNAPSHOT_RUNS} runs — target < 300 ms ${snapshot200Ms < 300 ? 'met' : 'MISSED'}`,
      `snapshot, warm (unchanged containers not re-inspected): p50 ${round(percentile(warm, 50))} ms, max ${round(Math.max(...warm))} ms`,
      `selectTarget x ${SELECTIONS} (${outcomes.selected} selected, ${outcomes.refused} refused): p50 ${round(percentile(micros, 50))} µs, p99 ${selectP99Us} µs, max ${round(Math.max(...micros))} µs — target p99 < 100 µs ${selectP99Us < 100 ? 'met' : 'MISSED'}`,
    ],
    { snapshot200Ms, selectP99Us },
  );
} finally {
  await cleanup();
}
