import type { Actor } from '../domain/actor.js';
import type { AuditEntry, AuditQuery, NewAuditEntry } from '../domain/audit.js';
import type { Domain, Zone } from '../domain/domain.js';
import type { HealthSample } from '../domain/health.js';
import type { CnameRoute, RouteError, RouteState, ServiceSpec } from '../domain/route.js';
import type { OriginSettings } from '../domain/route-options.js';
import type { TopologySnapshot } from '../domain/topology.js';

/*
 * The state store is asynchronous even though the embedded SQLite store is synchronous inside:
 * a server database (PostgreSQL, for a fleet of VMs) must be able to implement the same port.
 * It is split into small repositories, each with its own duties.
 */

export interface NewRoute {
  readonly id: string;
  readonly hostname: string;
  readonly zoneId: string;
  readonly zoneName: string;
  readonly owner: string;
  /** The rule's path regex; null (or absent) for the hostname's path-less rule. */
  readonly path?: string | null;
  /** The rule's origin settings; null (or absent) for none. */
  readonly originRequest?: OriginSettings | null;
  readonly service: ServiceSpec;
  readonly target: string;
  readonly targetReason: string;
  /** Epoch ms; also `updatedAt`. */
  readonly createdAt: number;
}

export interface RouteUpdate {
  readonly state?: RouteState;
  readonly service?: ServiceSpec;
  /** Moves the route to another path of its hostname (null: the path-less rule). */
  readonly path?: string | null;
  readonly originRequest?: OriginSettings | null;
  readonly target?: string;
  readonly targetReason?: string;
  readonly dnsRecordId?: string | null;
  readonly lastError?: RouteError | null;
  /** Epoch ms. */
  readonly updatedAt: number;
}

export interface RouteFilter {
  readonly owner?: string;
  readonly hostname?: string;
  readonly zoneId?: string;
  /** Only these states. Without it, every state but `deleted`. */
  readonly states?: readonly RouteState[];
  readonly limit?: number;
  readonly offset?: number;
}

/**
 * CNAME routes and their lifecycle state.
 *
 * Implementations:
 * - must allow at most one route per (hostname, path) among routes not `deleted` or `failed`
 *   (a null path is one value: the hostname's path-less rule), and must keep every such live
 *   route of a hostname with one owner (one DNS record, one owner);
 * - `reserve` must check both, and the owner's quota, and insert, as one atomic step across
 *   processes: `HOSTNAME_TAKEN` (details.owner) or `QUOTA_EXCEEDED` otherwise;
 * - a reserved route starts in state `reserved`;
 * - `update` with `expectState` must change nothing and fail with `CONCURRENT_CHANGE` when the
 *   stored state differs; an unknown id fails with `NOT_FOUND`;
 * - listing must be ordered by hostname, then creation time.
 */
export interface RouteRepository {
  reserve(route: NewRoute, options: { readonly quota: number | null }): Promise<CnameRoute>;
  get(id: string): Promise<CnameRoute | null>;
  /** The live route (not `deleted`/`failed`) of `hostname` at `path` (null: the path-less one), if any. */
  findLive(hostname: string, path?: string | null): Promise<CnameRoute | null>;
  /** Every live route of `hostname` (all its paths), oldest first. */
  listLive(hostname: string): Promise<CnameRoute[]>;
  list(filter?: RouteFilter): Promise<CnameRoute[]>;
  update(id: string, update: RouteUpdate, options?: { readonly expectState?: RouteState }): Promise<CnameRoute>;
  countByState(): Promise<Record<RouteState, number>>;
}

/**
 * Zones discovered from the DNS provider.
 *
 * Implementations must replace the whole set atomically (a zone no longer visible disappears)
 * and return zones ordered by name.
 */
export interface DomainRepository {
  replaceAll(zones: readonly Zone[], refreshedAt: number): Promise<void>;
  list(): Promise<Domain[]>;
}

/**
 * Health samples (`tunnel_health`).
 *
 * Implementations must return samples newest first and must prune in bounded batches so a
 * prune never holds the write lock for long.
 */
export interface HealthRepository {
  insert(sample: HealthSample): Promise<void>;
  list(options: { readonly since?: number; readonly limit: number }): Promise<HealthSample[]>;
  /** Deletes samples older than `before`, `batchSize` rows per transaction; returns how many. */
  prune(before: number, batchSize?: number): Promise<number>;
}

/**
 * The audit log. Append-only except for retention.
 *
 * Implementations must return entries newest first and must not drop parameters.
 */
export interface AuditRepository {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  query(query?: AuditQuery): Promise<AuditEntry[]>;
  prune(before: number, batchSize?: number): Promise<number>;
}

/** The owner mark of one remote ingress rule, keyed by the rule's hostname, path and service. */
export interface IngressOwnerEntry {
  /** '' for none (the catch-all). */
  readonly hostname: string;
  /** '' for none. */
  readonly path: string;
  readonly service: string;
  readonly owner: string;
  /** The instance that wrote the rule; null for a legacy mark (imported from an old file). */
  readonly instance: string | null;
}

/**
 * The owner marks of a tunnel's remote ingress rules. The tunnel configuration API has no room
 * for a comment, so the marks live here, in the state (losing a side file lost ownership).
 *
 * Implementations must replace a tunnel's whole set atomically, keep each tunnel's set apart,
 * and list it in the order it was written.
 */
export interface IngressOwnerRepository {
  list(tunnelId: string): Promise<IngressOwnerEntry[]>;
  replace(tunnelId: string, entries: readonly IngressOwnerEntry[]): Promise<void>;
}

/** A record an admin's adopt replaced, as it was (so deleting the route can put it back). */
export interface ReplacedRecord {
  /** The record's id at the provider before it was replaced. */
  readonly recordId: string;
  readonly name: string;
  readonly type: string;
  readonly content: string;
  readonly proxied: boolean;
  readonly ttl: number;
  readonly comment: string | null;
}

/**
 * What each adopting route replaced.
 *
 * Implementations must replace a route's records as a whole and return them in the order saved
 * (none for a route that replaced nothing).
 */
export interface ReplacedRecordRepository {
  save(routeId: string, records: readonly ReplacedRecord[]): Promise<void>;
  get(routeId: string): Promise<ReplacedRecord[]>;
}

/** The Docker topology cache (`docker_*` tables); replaced as a whole. */
export interface TopologyCache {
  save(snapshot: TopologySnapshot): Promise<void>;
  load(): Promise<TopologySnapshot | null>;
}

export interface ApiTokenRecord {
  readonly id: string;
  readonly actor: Actor;
  readonly label: string;
  readonly createdAt: number;
  readonly lastUsedAt: number | null;
  readonly revokedAt: number | null;
}

/**
 * Bearer tokens for the MCP HTTP endpoint.
 *
 * Implementations must store only the hash, never the token, and `findByHash` must not
 * return revoked tokens.
 */
export interface TokenRepository {
  insert(token: {
    readonly id: string;
    readonly hash: string;
    readonly actor: Actor;
    readonly label: string;
    readonly createdAt: number;
  }): Promise<void>;
  findByHash(hash: string): Promise<ApiTokenRecord | null>;
  list(): Promise<ApiTokenRecord[]>;
  /** Returns false when there was no such live token. */
  revoke(id: string, at: number): Promise<boolean>;
  touch(id: string, at: number): Promise<void>;
}

export interface RestartRequest {
  readonly id: number;
  readonly at: number;
  readonly reason: string;
  readonly requestedBy: string;
}

/**
 * Restart requests from processes that may not restart cloudflared themselves (only the daemon
 * restarts; MCP servers and the CLI record a request).
 *
 * `take` must hand each request to exactly one caller, even across processes.
 */
export interface RestartRequestQueue {
  add(request: Omit<RestartRequest, 'id'>): Promise<void>;
  take(): Promise<RestartRequest[]>;
  pending(): Promise<number>;
}

/** A route (hostname, path) published from container labels (see LabelPublisher). */
export interface LabelPublication {
  readonly hostname: string;
  /** The route's path regex; null for the hostname's path-less route. With `hostname`, the key. */
  readonly path: string | null;
  readonly project: string;
  readonly service: { readonly container: string; readonly port: number; readonly scheme: string };
  /** The canonical origin settings the labels asked for; null for none. */
  readonly originRequest: OriginSettings | null;
  /** Ids of the containers that asked for it at the last pass. */
  readonly containers: readonly string[];
  /** Since when no container asks for it; null while one does. */
  readonly missingSince: number | null;
  readonly updatedAt: number;
}

/** A container whose labels could not be published. */
export interface LabelProblem {
  readonly containerId: string;
  readonly containerName: string;
  readonly project: string | null;
  readonly hostname: string | null;
  /** An ErrorCode (`INVALID_INPUT`, `HOSTNAME_TAKEN`, …). */
  readonly code: string;
  readonly message: string;
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** How many passes found a problem with this container since it was first seen. */
  readonly count: number;
}

/**
 * What the label publisher keeps between passes and processes.
 *
 * `replaceProblems` must replace the whole set in one transaction, keeping `firstSeen` and
 * adding one to `count` for a container that already had a problem.
 */
export interface LabelRepository {
  listPublications(): Promise<LabelPublication[]>;
  savePublication(publication: LabelPublication): Promise<void>;
  /** Forgets the publication of (hostname, path); null: the path-less one. */
  removePublication(hostname: string, path: string | null): Promise<void>;
  replaceProblems(
    problems: readonly Omit<LabelProblem, 'firstSeen' | 'lastSeen' | 'count'>[],
    at: number,
  ): Promise<void>;
  listProblems(): Promise<LabelProblem[]>;
}

/**
 * The manager's state. See each repository for its duties. `close` must be safe to call twice.
 */
export interface StateStore {
  readonly routes: RouteRepository;
  readonly domains: DomainRepository;
  readonly health: HealthRepository;
  readonly audit: AuditRepository;
  readonly topology: TopologyCache;
  readonly tokens: TokenRepository;
  readonly restarts: RestartRequestQueue;
  readonly ingressOwners: IngressOwnerRepository;
  readonly replaced: ReplacedRecordRepository;
  readonly labels: LabelRepository;
  close(): Promise<void>;
}
