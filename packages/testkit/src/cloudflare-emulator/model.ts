import { randomBytes, randomUUID } from 'node:crypto';

/**
 * The emulator's data, held in the shapes the Cloudflare API v4 returns, so a response is the
 * stored object (or a projection of it). Everything here is plain JSON: the state file is this
 * structure written out.
 */

/** What a token may do; the emulator checks one of these per route. */
export type EmulatorPermission = 'zone:read' | 'dns:read' | 'dns:edit' | 'tunnel:read' | 'tunnel:edit';

export const EMULATOR_PERMISSIONS: readonly EmulatorPermission[] = [
  'zone:read',
  'dns:read',
  'dns:edit',
  'tunnel:read',
  'tunnel:edit',
];

/** The permission implied by each one (edit implies read, as Cloudflare's templates grant). */
const IMPLIED: Record<EmulatorPermission, readonly EmulatorPermission[]> = {
  'zone:read': [],
  'dns:read': [],
  'dns:edit': ['dns:read'],
  'tunnel:read': [],
  'tunnel:edit': ['tunnel:read'],
};

export type ZonePlan = 'free' | 'pro' | 'business' | 'enterprise';
export type TunnelStatus = 'inactive' | 'degraded' | 'healthy' | 'down';

export interface AccountState {
  id: string;
  name: string;
}

export interface ZoneState {
  id: string;
  name: string;
  status: 'initializing' | 'pending' | 'active' | 'moved';
  paused: boolean;
  type: 'full' | 'partial' | 'secondary';
  development_mode: number;
  name_servers: string[];
  original_name_servers: string[] | null;
  original_registrar: string | null;
  original_dnshost: string | null;
  created_on: string;
  modified_on: string;
  activated_on: string | null;
  account: { id: string; name: string };
  owner: { id: string | null; type: 'user' | 'organization'; email: string | null };
  permissions: string[];
  plan: {
    id: string;
    name: string;
    price: number;
    currency: string;
    frequency: string;
    is_subscribed: boolean;
    can_subscribe: boolean;
    legacy_id: string;
    legacy_discount: boolean;
    externally_managed: boolean;
  };
  meta: { phishing_detected: boolean; cdn_only: boolean; dns_only: boolean; foundation_dns: boolean };
}

export interface RecordState {
  id: string;
  zone_id: string;
  zone_name: string;
  name: string;
  type: string;
  content: string;
  proxiable: boolean;
  proxied: boolean;
  ttl: number;
  settings: Record<string, unknown>;
  meta: Record<string, unknown>;
  comment: string | null;
  tags: string[];
  created_on: string;
  modified_on: string;
  comment_modified_on?: string;
}

export interface ConnectionState {
  id: string;
  colo_name: string;
  is_pending_reconnect: boolean;
  opened_at: string;
  origin_ip: string;
}

export interface ConnectorState {
  id: string;
  arch: string;
  version: string;
  run_at: string;
  config_version: number;
  features: string[];
  conns: ConnectionState[];
}

export interface TunnelState {
  id: string;
  account_id: string;
  name: string;
  created_at: string;
  deleted_at: string | null;
  status: TunnelStatus;
  config_src: 'local' | 'cloudflare';
  conns_active_at: string | null;
  conns_inactive_at: string | null;
  connectors: ConnectorState[];
  /** The remote configuration (`{ingress, originRequest, "warp-routing"}`), null until the first PUT. */
  config: Record<string, unknown> | null;
  config_version: number;
  config_created_at: string;
}

export interface TokenState {
  /** The bearer value. */
  value: string;
  name: string;
  permissions: EmulatorPermission[];
  /** Zones the token may see; null means every zone of its accounts. */
  zoneIds: string[] | null;
  /** Accounts the token may act in; null means every account. */
  accountIds: string[] | null;
}

/** Everything the emulator stores; the state file holds exactly this. */
export interface EmulatorData {
  version: 1;
  accounts: AccountState[];
  zones: ZoneState[];
  records: RecordState[];
  tunnels: TunnelState[];
  tokens: TokenState[];
}

export const emptyData = (): EmulatorData => ({
  version: 1,
  accounts: [],
  zones: [],
  records: [],
  tunnels: [],
  tokens: [],
});

// --- seeds: what tests and the sandbox plant ---

export interface SeedAccount {
  /** @default 32 random hex digits */
  readonly id?: string;
  readonly name: string;
}

export interface SeedZone {
  /** @default 32 random hex digits */
  readonly id?: string;
  /** The zone apex, e.g. `example.com` (stored lower-case). */
  readonly name: string;
  /** @default 'active' */
  readonly status?: ZoneState['status'];
  /** @default the first account (one is made when there is none) */
  readonly accountId?: string;
  /** Decides the comment limit (100 on free, 500 otherwise) and whether tags are allowed. @default 'free' */
  readonly plan?: ZonePlan;
}

export interface SeedDnsRecord {
  /** @default 32 random hex digits */
  readonly id?: string;
  /** The zone's id; or give `zone` (its name). */
  readonly zoneId?: string;
  readonly zone?: string;
  readonly type: string;
  /** Fully qualified, or relative to the zone (`www`, `@`). */
  readonly name: string;
  readonly content: string;
  /** @default false */
  readonly proxied?: boolean;
  /** @default 1 (automatic) */
  readonly ttl?: number;
  /** @default null */
  readonly comment?: string | null;
  readonly tags?: readonly string[];
}

export interface SeedConnector {
  /** @default a random UUID */
  readonly id?: string;
  /** How many connections this connector holds to the edge (cloudflared opens 4). @default 4 */
  readonly connections?: number;
  /** @default '2025.8.0' */
  readonly version?: string;
  /** Connections waiting to reconnect do not count as active. @default 0 */
  readonly pendingReconnect?: number;
}

export interface SeedTunnel {
  /** @default a random UUID */
  readonly id?: string;
  /** @default the first account (one is made when there is none) */
  readonly accountId?: string;
  /** @default `tunnel-<first 8 characters of the id>` */
  readonly name?: string;
  /** @default 'healthy' when it has connections, else 'inactive' */
  readonly status?: TunnelStatus;
  /** @default 'cloudflare' when `config` is given, else 'local' */
  readonly configSrc?: 'local' | 'cloudflare';
  /** A number of connectors with 4 connections each, or each connector spelled out. @default 0 */
  readonly connectors?: number | readonly SeedConnector[];
  /** An initial remote configuration (stored as version 1). */
  readonly config?: Record<string, unknown>;
}

export interface SeedToken {
  /** The bearer value clients send. */
  readonly value: string;
  /** @default 'token-<n>' */
  readonly name?: string;
  /** `'all'` grants every permission. */
  readonly permissions: readonly EmulatorPermission[] | 'all';
  /** Restricts the token to these zones (by id). @default every zone */
  readonly zoneIds?: readonly string[];
  /** Restricts the token to these accounts (by id). @default every account */
  readonly accountIds?: readonly string[];
}

/** State to plant at start (or later through `emulator.seed`). Order: accounts, zones, records, tunnels, tokens. */
export interface EmulatorSeed {
  readonly accounts?: readonly SeedAccount[];
  readonly zones?: readonly SeedZone[];
  readonly records?: readonly SeedDnsRecord[];
  readonly tunnels?: readonly SeedTunnel[];
  readonly tokens?: readonly SeedToken[];
}

export const hexId = (): string => randomBytes(16).toString('hex');
export const uuid = (): string => randomUUID();

export function expandPermissions(permissions: readonly EmulatorPermission[] | 'all'): EmulatorPermission[] {
  const base = permissions === 'all' ? EMULATOR_PERMISSIONS : permissions;
  for (const p of base) {
    if (!EMULATOR_PERMISSIONS.includes(p)) {
      throw new Error(
        `Unknown emulator permission ${JSON.stringify(p)}; use one of ${EMULATOR_PERMISSIONS.join(', ')}`,
      );
    }
  }
  return [...new Set(base.flatMap((p) => [p, ...IMPLIED[p]]))];
}

const PLAN_NAMES: Record<ZonePlan, string> = {
  free: 'Free Website',
  pro: 'Pro Website',
  business: 'Business Website',
  enterprise: 'Enterprise Website',
};

export function planOf(zone: ZoneState): ZonePlan {
  return (Object.entries(PLAN_NAMES).find(([, name]) => name === zone.plan.name)?.[0] as ZonePlan) ?? 'free';
}

export function newZone(seed: SeedZone, account: AccountState, at: string): ZoneState {
  const plan = seed.plan ?? 'free';
  const status = seed.status ?? 'active';
  return {
    id: seed.id ?? hexId(),
    name: seed.name.toLowerCase().replace(/\.$/, ''),
    status,
    paused: false,
    type: 'full',
    development_mode: 0,
    name_servers: ['ada.ns.cloudflare.com', 'bob.ns.cloudflare.com'],
    original_name_servers: null,
    original_registrar: null,
    original_dnshost: null,
    created_on: at,
    modified_on: at,
    activated_on: status === 'active' ? at : null,
    account: { id: account.id, name: account.name },
    owner: { id: null, type: 'user', email: null },
    permissions: ['#dns_records:edit', '#dns_records:read', '#zone:read'],
    plan: {
      id: hexId(),
      name: PLAN_NAMES[plan],
      price: 0,
      currency: 'USD',
      frequency: '',
      is_subscribed: false,
      can_subscribe: false,
      legacy_id: plan,
      legacy_discount: false,
      externally_managed: false,
    },
    meta: { phishing_detected: false, cdn_only: false, dns_only: false, foundation_dns: false },
  };
}

export function newConnectors(spec: number | readonly SeedConnector[] | undefined, at: string): ConnectorState[] {
  const list: readonly SeedConnector[] =
    typeof spec === 'number' ? Array.from({ length: spec }, () => ({})) : (spec ?? []);
  const colos = ['ams01', 'fra02', 'lhr01', 'cdg03'];
  return list.map((c) => {
    const pending = c.pendingReconnect ?? 0;
    const total = c.connections ?? 4;
    return {
      id: c.id ?? uuid(),
      arch: 'linux_amd64',
      version: c.version ?? '2025.8.0',
      run_at: at,
      config_version: 0,
      features: ['ha-origin', 'allow_remote_config', 'serialized_headers', 'support_datagram_v2'],
      conns: Array.from({ length: total }, (_, i) => ({
        id: uuid(),
        colo_name: colos[i % colos.length] as string,
        is_pending_reconnect: i < pending,
        opened_at: at,
        origin_ip: '198.51.100.7',
      })),
    };
  });
}

export const activeConnections = (tunnel: TunnelState): number =>
  tunnel.connectors.reduce((n, c) => n + c.conns.filter((x) => !x.is_pending_reconnect).length, 0);
