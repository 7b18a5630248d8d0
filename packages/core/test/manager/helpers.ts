import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import {
  type CloudflareEmulator,
  InMemoryTopology,
  type SeedDnsRecord,
  startCloudflareEmulator,
} from '@tunnel/testkit';
import {
  type CnameRoute,
  type CreateTunnelManagerOptions,
  classifyRecord,
  createTunnelManager,
  type Domain,
  formatOwnerMark,
  isOurs,
  LocalFileIngressStore,
  mergeConfigInput,
  parseConfig,
  parseOwnerMark,
  ROUTE_STATES,
  SqliteStateStore,
  type TopologySnapshot,
  type TunnelConfig,
  type TunnelConfigInput,
  type TunnelManager,
} from '../../src/index.js';
import { container, onHost, snapshot } from '../topology/fixtures.js';

export const TUNNEL_ID = '6ff42ae2-765d-4adf-8112-31c55c1551ef';
export const TUNNEL_TARGET = `${TUNNEL_ID}.cfargotunnel.com`;
/** The instance id the worlds' managers derive from TUNNEL_ID (no `instance.id` configured). */
export const INSTANCE_ID = '6ff42ae2765d';
/** The mark this world's manager writes for `owner`. */
export const mark = (owner: string): string => formatOwnerMark(owner, INSTANCE_ID);
export const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
export const TOKEN = 'manager-test-token';
export const ZONE = {
  com: { id: '11111111111111111111111111111111', name: 'example.com' },
  org: { id: '22222222222222222222222222222222', name: 'example.org' },
  dev: { id: '33333333333333333333333333333333', name: 'dev.example.com' },
  pending: { id: '44444444444444444444444444444444', name: 'pending.test' },
} as const;

/** A cloudflared config.yml as an operator writes it, with one hand-written rule. */
export const INGRESS_CONFIG = `# cloudflared — written by hand
tunnel: ${TUNNEL_ID}
credentials-file: /etc/cloudflared/${TUNNEL_ID}.json

ingress:
  # the company site
  - hostname: www.example.com
    service: http://localhost:8080
  - hostname: static.example.com
    service: http://localhost:8081
  - service: http_status:404
`;

/** Records other people made: a hand-made A and CNAME, and a record marked for a project the DB does not know. */
export const FOREIGN_RECORDS: readonly SeedDnsRecord[] = [
  { zone: 'example.com', type: 'A', name: 'legacy.example.com', content: '203.0.113.10', proxied: true },
  { zone: 'example.com', type: 'CNAME', name: 'www.example.com', content: 'example.netlify.app' },
  { zone: 'example.com', type: 'CNAME', name: 'shop.example.com', content: 'shops.example.net' },
  { zone: 'example.com', type: 'TXT', name: 'txt.example.com', content: 'v=spf1 -all' },
  {
    zone: 'example.com',
    type: 'CNAME',
    name: 'ghost.example.com',
    content: TUNNEL_TARGET,
    proxied: true,
    comment: 'tunnel-manager:ghost',
  },
];

/**
 * cloudflared on the host; `web` publishes 8080 on loopback, `api` 9000 on every address, `hidden`
 * nothing; all four are labelled for project shop, `blogweb` for project blog.
 */
export function hostTopology(): TopologySnapshot {
  const labels = { 'tunnel.project': 'shop' };
  return snapshot(onHost, [
    container('web', { labels, networks: [['apps']], ports: [[8080, ['127.0.0.1:18080']]] }),
    container('api', { labels, networks: [['apps']], ports: [[9000, ['0.0.0.0:19000']]] }),
    container('hidden', { labels, networks: [['apps']], ports: [[7000]] }),
    container('stopped', { labels, state: 'exited', networks: [['apps']], ports: [[8080, ['127.0.0.1:18081']]] }),
    container('blogweb', {
      labels: { 'tunnel.project': 'blog' },
      networks: [['apps']],
      ports: [[8090, ['127.0.0.1:18090']]],
    }),
  ]);
}

export interface WorldOptions {
  readonly config?: TunnelConfigInput;
  readonly records?: readonly SeedDnsRecord[];
  /** null: register no Topology (then set docker.enabled in `config`). */
  readonly topology?: TopologySnapshot | null;
  readonly manager?: Omit<CreateTunnelManagerOptions, 'plugins'>;
}

export interface World {
  readonly dir: string;
  readonly cf: CloudflareEmulator;
  readonly config: TunnelConfig;
  /** The config input (JSON is YAML): child processes load it from `configFile`. */
  readonly configFile: string;
  readonly ingressPath: string;
  readonly topology: InMemoryTopology;
  readonly manager: TunnelManager;
  /** A second connection to the database, for looking (not the manager's own). */
  readonly db: SqliteStateStore;
  /** A second reader of the ingress file. */
  readonly ingress: LocalFileIngressStore;
  /** Builds another manager on the same files (another "process" in-process). */
  another(options?: Omit<CreateTunnelManagerOptions, 'plugins'>): TunnelManager;
  close(): Promise<void>;
}

export function configInput(dir: string, cf: CloudflareEmulator, extra: TunnelConfigInput = {}): TunnelConfigInput {
  const base: TunnelConfigInput = {
    dataDir: dir,
    ingress: { configPath: join(dir, 'config.yml') },
    cloudflare: { apiToken: TOKEN, baseUrl: cf.url, accountId: ACCOUNT_ID, tunnelId: TUNNEL_ID, maxRetries: 1 },
    cloudflared: { controller: 'none' },
    restart: { waitForRestart: false },
    locks: { staleMs: 2_000, mutationTimeoutMs: 60_000 },
  };
  return mergeConfigInput(base, extra);
}

export async function startEmulator(records: readonly SeedDnsRecord[] = FOREIGN_RECORDS): Promise<CloudflareEmulator> {
  return startCloudflareEmulator({
    seed: {
      accounts: [{ id: ACCOUNT_ID, name: 'Test account' }],
      zones: [ZONE.com, ZONE.org, ZONE.dev, { ...ZONE.pending, status: 'pending' }],
      records,
      tunnels: [{ id: TUNNEL_ID, accountId: ACCOUNT_ID, name: 'vm-tunnel', connectors: 1 }],
      tokens: [{ value: TOKEN, name: 'manager', permissions: 'all' }],
    },
  });
}

/** A temp dir, the emulator, a real config.yml and SQLite file, and a manager on them. */
export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'tm-manager-'));
  const cf = await startEmulator(options.records).catch((error: unknown) => {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  });
  try {
    return build(dir, cf, options);
  } catch (error) {
    await cf.close();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function build(dir: string, cf: CloudflareEmulator, options: WorldOptions): World {
  const ingressPath = join(dir, 'config.yml');
  writeFileSync(ingressPath, INGRESS_CONFIG);
  const input = configInput(dir, cf, options.config);
  const configFile = join(dir, 'tunnel-manager.yml');
  writeFileSync(configFile, JSON.stringify(input, null, 2));
  const config = parseConfig(input);
  const topology = new InMemoryTopology(options.topology === null ? undefined : (options.topology ?? hostTopology()));
  const make = (extra: Omit<CreateTunnelManagerOptions, 'plugins'> = {}) =>
    createTunnelManager(config, {
      plugins: [cloudflarePlugin],
      ...extra,
      overrides: { ...(options.topology === null ? {} : { Topology: topology }), ...extra.overrides },
    });
  const managers: TunnelManager[] = [];
  const manager = make(options.manager);
  managers.push(manager);
  const db = SqliteStateStore.open({ path: config.database.path });
  const ingress = new LocalFileIngressStore({ path: ingressPath, backupDir: join(dir, 'looker-backups'), backups: 0 });
  return {
    dir,
    cf,
    config,
    configFile,
    ingressPath,
    topology,
    manager,
    db,
    ingress,
    another(extra) {
      const m = make(extra);
      managers.push(m);
      return m;
    },
    async close() {
      for (const m of managers) await m.close().catch(() => {});
      await db.close();
      await cf.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Everything a mutation could change, to compare before and after. */
export interface Observed {
  readonly routes: readonly CnameRoute[];
  readonly domains: readonly Domain[];
  readonly restartRequests: number;
  readonly ingressBytes: string;
  readonly dnsWrites: number;
  readonly records: string;
}

export async function observe(world: World): Promise<Observed> {
  const zones = Object.values(ZONE).map((z) => z.id);
  return {
    routes: await world.db.routes.list({ states: ROUTE_STATES }),
    domains: await world.db.domains.list(),
    restartRequests: await world.db.restarts.pending(),
    ingressBytes: readFileSync(world.ingressPath, 'utf8'),
    dnsWrites: world.cf.requests.filter((r) => r.method !== 'GET').length,
    records: JSON.stringify(zones.flatMap((z) => world.cf.records(z))),
  };
}

/** The marked records (owner mark in the comment) the emulator holds for `name`. */
export function recordsNamed(world: World, name: string) {
  return Object.values(ZONE)
    .flatMap((z) => world.cf.records(z.id))
    .filter((r) => r.name === name);
}

/** The managed rules in the ingress file, read by a second reader. */
export async function managedRules(world: World) {
  return (await world.ingress.read()).rules.filter((r) => r.managed);
}

/**
 * Whether the database, DNS and the ingress file agree: every live route is active and has
 * exactly one record (its stored id, marked for its owner, a CNAME to the tunnel) and one managed
 * rule (its owner, its target); no marked record or managed rule exists without one. Returns the
 * disagreements (empty when they agree).
 */
export async function disagreements(world: World): Promise<string[]> {
  const problems: string[] = [];
  const routes = await world.db.routes.list({ states: ROUTE_STATES });
  const live = routes.filter((r) => r.state !== 'deleted' && r.state !== 'failed');
  const records = Object.values(ZONE).flatMap((z) => world.cf.records(z.id));
  // This instance's records only (another instance's, or another tunnel's, are not ours to judge).
  const marked = records.filter((r) => {
    const parsed = parseOwnerMark(r.comment);
    const holding = classifyRecord(
      { type: r.type, content: r.content, owner: parsed?.owner ?? null, instance: parsed?.instance ?? null },
      { id: INSTANCE_ID, tunnelTarget: TUNNEL_TARGET },
    );
    return isOurs(holding);
  });
  const rules = await managedRules(world);
  for (const route of live) {
    if (route.state !== 'active') problems.push(`${route.hostname} is ${route.state}`);
    const named = records.filter((r) => r.name === route.hostname);
    const good = named.filter(
      (r) => r.type === 'CNAME' && r.content === TUNNEL_TARGET && r.comment === mark(route.owner),
    );
    if (named.length !== 1 || good.length !== 1)
      problems.push(`${route.hostname} has ${named.length} records (${good.length} good)`);
    else if (good[0]?.id !== route.dnsRecordId)
      problems.push(`${route.hostname} stores record ${route.dnsRecordId}, DNS has ${good[0]?.id}`);
    const own = rules.filter((r) => r.hostname === route.hostname && (r.path ?? null) === route.path);
    if (
      own.length !== 1 ||
      own[0]?.managed?.owner !== route.owner ||
      own[0]?.managed?.instance !== INSTANCE_ID ||
      own[0]?.service !== route.target
    ) {
      problems.push(`${route.hostname}${route.path ? ` ${route.path}` : ''} has rules ${JSON.stringify(own)}`);
    }
  }
  for (const record of marked) {
    if (!live.some((r) => r.hostname === record.name && record.comment === mark(r.owner))) {
      if (record.name !== 'ghost.example.com') problems.push(`orphan record ${record.name} (${record.comment})`);
    }
  }
  for (const rule of rules) {
    if (!live.some((r) => r.hostname === rule.hostname && r.path === (rule.path ?? null)))
      problems.push(`orphan rule ${rule.hostname}${rule.path ? ` ${rule.path}` : ''}`);
  }
  return problems;
}
