import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Actor } from '../domain/actor.js';
import type { AuditEntry, AuditQuery, NewAuditEntry } from '../domain/audit.js';
import type { Domain, Zone } from '../domain/domain.js';
import type { HealthSample } from '../domain/health.js';
import { type CnameRoute, canTransition, ROUTE_STATES, type RouteState, type ServiceScheme } from '../domain/route.js';
import type { OriginSettings } from '../domain/route-options.js';
import type { ContainerInfo, ContainerPort, DockerNetwork, TopologySnapshot } from '../domain/topology.js';
import { type ErrorCode, TunnelError } from '../errors.js';
import type {
  ApiTokenRecord,
  AuditRepository,
  DomainRepository,
  HealthRepository,
  IngressOwnerRepository,
  LabelProblem,
  LabelPublication,
  LabelRepository,
  NewRoute,
  ReplacedRecordRepository,
  RestartRequest,
  RestartRequestQueue,
  RouteFilter,
  RouteRepository,
  RouteUpdate,
  StateStore,
  TokenRepository,
  TopologyCache,
} from '../ports/state-store.js';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, type Migration } from './migrations.js';

export interface SqliteStateStoreOptions {
  /** Database file; created (with its directory) if missing. */
  path: string;
  /** How long a writer waits for another process's write lock. @default 5000 */
  busyTimeoutMs?: number;
  /** For tests of the upgrade path only. @default MIGRATIONS */
  migrations?: readonly Migration[];
}

/** Rows are returned to at most this many per query, whatever the caller asks. */
const MAX_LIMIT = 100_000;
const DEFAULT_PRUNE_BATCH = 1000;

interface RouteRow {
  id: string;
  hostname: string;
  zone_id: string;
  zone_name: string;
  owner: string;
  service_container: string | null;
  service_port: number;
  service_scheme: string;
  target: string;
  target_reason: string;
  dns_record_id: string | null;
  state: string;
  last_error_code: string | null;
  last_error_message: string | null;
  created_at: number;
  updated_at: number;
  path: string;
  origin_request: string | null;
}

/** The column order `rawToRoute` reads. */
const ROUTE_COLUMNS =
  'id, hostname, zone_id, zone_name, owner, service_container, service_port, service_scheme, target, target_reason, dns_record_id, state, last_error_code, last_error_message, created_at, updated_at, path, origin_request';
type RawRouteRow = [
  string,
  string,
  string,
  string,
  string,
  string | null,
  number,
  string,
  string,
  string,
  string | null,
  string,
  string | null,
  string | null,
  number,
  number,
  string,
  string | null,
];

/** `origin_request` holds the canonical settings as JSON; null for none. */
const originFrom = (text: string | null): OriginSettings | null =>
  text === null ? null : (JSON.parse(text) as OriginSettings);
const originTo = (settings: OriginSettings | null | undefined): string | null =>
  settings && Object.keys(settings).length > 0 ? JSON.stringify(settings) : null;

const rawToRoute = (r: RawRouteRow): CnameRoute => ({
  id: r[0],
  hostname: r[1],
  path: r[16] === '' ? null : r[16],
  originRequest: originFrom(r[17]),
  zoneId: r[2],
  zoneName: r[3],
  owner: r[4],
  service: { container: r[5], port: r[6], scheme: r[7] as ServiceScheme },
  target: r[8],
  targetReason: r[9],
  dnsRecordId: r[10],
  state: r[11] as RouteState,
  lastError: r[12] === null ? null : { code: r[12] as ErrorCode, message: r[13] ?? '' },
  createdAt: r[14],
  updatedAt: r[15],
});

const toRoute = (row: RouteRow): CnameRoute => ({
  id: row.id,
  hostname: row.hostname,
  path: row.path === '' ? null : row.path,
  originRequest: originFrom(row.origin_request),
  zoneId: row.zone_id,
  zoneName: row.zone_name,
  owner: row.owner,
  service: {
    container: row.service_container,
    port: row.service_port,
    scheme: row.service_scheme as ServiceScheme,
  },
  target: row.target,
  targetReason: row.target_reason,
  dnsRecordId: row.dns_record_id,
  state: row.state as RouteState,
  lastError:
    row.last_error_code === null
      ? null
      : { code: row.last_error_code as ErrorCode, message: row.last_error_message ?? '' },
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

interface AuditRow {
  id: number;
  at: number;
  actor: string;
  project: string | null;
  action: string;
  target: string | null;
  params: string;
  outcome: string;
  error_code: string | null;
  message: string | null;
  duration_ms: number;
}

const toAudit = (row: AuditRow): AuditEntry => ({
  id: row.id,
  at: row.at,
  actor: row.actor,
  project: row.project,
  action: row.action,
  target: row.target,
  params: JSON.parse(row.params) as Record<string, unknown>,
  outcome: row.outcome as 'ok' | 'error',
  errorCode: row.error_code as ErrorCode | null,
  message: row.message,
  durationMs: row.duration_ms,
});

interface HealthRow {
  at: number;
  status: string;
  process_state: string;
  ready_connections: number | null;
  latency_ms: number | null;
  api_status: string | null;
  failing_check: string | null;
  detail: string | null;
}

const toSample = (row: HealthRow): HealthSample => ({
  at: row.at,
  status: row.status as HealthSample['status'],
  processState: row.process_state as HealthSample['processState'],
  readyConnections: row.ready_connections,
  latencyMs: row.latency_ms,
  apiStatus: row.api_status as HealthSample['apiStatus'],
  failingCheck: row.failing_check as HealthSample['failingCheck'],
  detail: row.detail,
});

interface TokenRow {
  id: string;
  actor_kind: string;
  project: string | null;
  label: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

const toToken = (row: TokenRow): ApiTokenRecord => ({
  id: row.id,
  actor: row.actor_kind === 'admin' ? Actor.admin() : Actor.project(row.project ?? ''),
  label: row.label,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
  revokedAt: row.revoked_at,
});

function clampLimit(limit: number | undefined, fallback: number): number {
  if (limit === undefined) return fallback;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new TunnelError('INVALID_INPUT', `Invalid limit ${limit}.`, {
      hint: 'A limit is a positive integer.',
    });
  }
  return Math.min(limit, MAX_LIMIT);
}

/** Maps SQLite failures to TunnelErrors; everything else passes through. */
function mapSqliteError(error: unknown, path: string): unknown {
  if (error instanceof TunnelError) return error;
  const code = (error as { code?: string }).code ?? '';
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    return new TunnelError('STATE_CORRUPT', `The state database ${path} is not a valid SQLite database.`, {
      hint: 'Restore the file from a backup (see README, "Backup and restore"), or move it aside to start empty.',
      cause: error,
    });
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_READONLY') || code === 'SQLITE_PERM') {
    return new TunnelError('STATE_CORRUPT', `The state database ${path} cannot be opened for writing (${code}).`, {
      hint: 'Check that the directory exists and that this user may write the file and its -wal/-shm companions.',
      cause: error,
    });
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new TunnelError('LOCK_TIMEOUT', `The state database ${path} stayed locked by another process.`, {
      hint: 'Another Tunnel Manager process holds a long write; retry, or raise database.busyTimeoutMs.',
      cause: error,
    });
  }
  return error;
}

/**
 * The embedded StateStore on SQLite (better-sqlite3): WAL so readers never wait for the writer,
 * `busy_timeout` so concurrent writers queue instead of failing, and every write transaction
 * `BEGIN IMMEDIATE` so a read-then-write never dies with SQLITE_BUSY on lock upgrade.
 */
export class SqliteStateStore implements StateStore {
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
  readonly path: string;
  readonly #db: Database.Database;
  #closed = false;

  private constructor(db: Database.Database, path: string) {
    this.#db = db;
    this.path = path;
    this.routes = this.#routes();
    this.domains = this.#domains();
    this.health = this.#health();
    this.audit = this.#audit();
    this.topology = this.#topology();
    this.tokens = this.#tokens();
    this.restarts = this.#restarts();
    this.ingressOwners = this.#ingressOwners();
    this.replaced = this.#replaced();
    this.labels = this.#labels();
  }

  /** Opens (creating if needed) and migrates the database. */
  static open(options: SqliteStateStoreOptions): SqliteStateStore {
    const { path } = options;
    let db: Database.Database | undefined;
    try {
      if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: options.busyTimeoutMs ?? 5000 });
      db.pragma('journal_mode = WAL');
      // NORMAL in WAL mode: a killed process never loses a commit; only power loss can lose
      // the last ones, and the owner marks on records let the reconciler recover those.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      migrate(db, options.migrations ?? MIGRATIONS, path);
      return new SqliteStateStore(db, path);
    } catch (error) {
      db?.close();
      throw mapSqliteError(error, path);
    }
  }

  /** The schema version the file is at (for `tunnel doctor`). */
  schemaVersion(): number {
    return currentVersion(this.#db);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#db.close();
  }

  /** Runs `fn` in an IMMEDIATE transaction, mapping SQLite errors. */
  #write<T>(fn: () => T): T {
    try {
      return this.#db.transaction(fn).immediate();
    } catch (error) {
      throw mapSqliteError(error, this.path);
    }
  }

  readonly #statements = new Map<string, Database.Statement>();

  /** Prepared statements for queries built from filters, cached by their SQL text. */
  #statement(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #read<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw mapSqliteError(error, this.path);
    }
  }

  #routes(): RouteRepository {
    const db = this.#db;
    const getById = db.prepare<[string], RouteRow>('SELECT * FROM cnames WHERE id = ?');
    const findLive = db.prepare<[string, string], RouteRow>(
      "SELECT * FROM cnames WHERE hostname = ? AND path = ? AND state NOT IN ('deleted','failed')",
    );
    const listLive = db.prepare<[string], RouteRow>(
      "SELECT * FROM cnames WHERE hostname = ? AND state NOT IN ('deleted','failed') ORDER BY created_at, id",
    );
    const countLiveByOwner = db.prepare<[string], { n: number }>(
      "SELECT count(*) AS n FROM cnames WHERE owner = ? AND state NOT IN ('deleted','failed')",
    );
    const insert = db.prepare(`
      INSERT INTO cnames (id, hostname, zone_id, zone_name, owner, service_container, service_port,
        service_scheme, target, target_reason, dns_record_id, state, created_at, updated_at, path, origin_request)
      VALUES (@id, @hostname, @zoneId, @zoneName, @owner, @container, @port, @scheme, @target,
        @targetReason, NULL, 'reserved', @createdAt, @createdAt, @path, @originRequest)`);
    const update = db.prepare(`
      UPDATE cnames SET state = @state, service_container = @container, service_port = @port,
        service_scheme = @scheme, target = @target, target_reason = @targetReason,
        dns_record_id = @dnsRecordId, last_error_code = @errorCode,
        last_error_message = @errorMessage, updated_at = @updatedAt, path = @path,
        origin_request = @originRequest
      WHERE id = @id`);
    const countByState = db.prepare<[], { state: RouteState; n: number }>(
      'SELECT state, count(*) AS n FROM cnames GROUP BY state',
    );

    return {
      reserve: async (route: NewRoute, { quota }) =>
        this.#write(() => {
          // One owner per hostname (its DNS record is one), one route per (hostname, path).
          const path = route.path ?? '';
          const siblings = listLive.all(route.hostname);
          const holder = siblings.find((r) => r.owner !== route.owner) ?? siblings.find((r) => r.path === path) ?? null;
          if (holder) {
            throw new TunnelError(
              'HOSTNAME_TAKEN',
              `${route.hostname} is already held by ${holder.owner === route.owner ? 'you' : 'another project'}.`,
              {
                hint:
                  holder.owner === route.owner
                    ? 'Use the existing route, or delete it first.'
                    : 'Pick another hostname; an admin can release this one.',
                details: {
                  hostname: route.hostname,
                  owner: holder.owner,
                  state: holder.state,
                  ...(holder.path === '' ? {} : { path: holder.path }),
                },
              },
            );
          }
          if (quota !== null && (countLiveByOwner.get(route.owner)?.n ?? 0) >= quota) {
            throw new TunnelError('QUOTA_EXCEEDED', `${route.owner} already holds ${quota} routes, its quota.`, {
              hint: 'Delete a route you no longer need, or ask the operator to raise policy.quotaPerProject.',
              details: { quota },
            });
          }
          insert.run({
            id: route.id,
            hostname: route.hostname,
            zoneId: route.zoneId,
            zoneName: route.zoneName,
            owner: route.owner,
            container: route.service.container,
            port: route.service.port,
            scheme: route.service.scheme,
            target: route.target,
            targetReason: route.targetReason,
            createdAt: route.createdAt,
            path,
            originRequest: originTo(route.originRequest),
          });
          return toRoute(getById.get(route.id) as RouteRow);
        }),
      get: async (id) =>
        this.#read(() => {
          const row = getById.get(id);
          return row ? toRoute(row) : null;
        }),
      findLive: async (hostname, path = null) =>
        this.#read(() => {
          const row = findLive.get(hostname, path ?? '');
          return row ? toRoute(row) : null;
        }),
      listLive: async (hostname) => this.#read(() => listLive.all(hostname).map(toRoute)),
      list: async (filter: RouteFilter = {}) =>
        this.#read(() => {
          const where: string[] = [];
          const params: unknown[] = [];
          if (filter.owner !== undefined) {
            where.push('owner = ?');
            params.push(filter.owner);
          }
          if (filter.hostname !== undefined) {
            where.push('hostname = ?');
            params.push(filter.hostname);
          }
          if (filter.zoneId !== undefined) {
            where.push('zone_id = ?');
            params.push(filter.zoneId);
          }
          if (filter.states) {
            if (filter.states.length === 0) return [];
            where.push(`state IN (${filter.states.map(() => '?').join(',')})`);
            params.push(...filter.states);
          } else {
            where.push("state <> 'deleted'");
          }
          const limit = clampLimit(filter.limit, MAX_LIMIT);
          const offset = filter.offset ?? 0;
          const sql = `SELECT ${ROUTE_COLUMNS} FROM cnames WHERE ${where.join(' AND ')} ORDER BY hostname, created_at LIMIT ? OFFSET ?`;
          // Raw rows (arrays) and one fixed-shape mapper: building 10,000 keyed row objects first
          // costs more than the query itself.
          const out: CnameRoute[] = [];
          for (const row of this.#statement(sql)
            .raw()
            .iterate(...params, limit, offset)) {
            out.push(rawToRoute(row as RawRouteRow));
          }
          return out;
        }),
      update: async (id, patch: RouteUpdate, options = {}) =>
        this.#write(() => {
          const row = getById.get(id);
          if (!row) {
            throw new TunnelError('NOT_FOUND', `No route with id ${id}.`, {
              hint: 'List routes to find the current id.',
            });
          }
          const current = toRoute(row);
          if (options.expectState !== undefined && current.state !== options.expectState) {
            throw new TunnelError(
              'CONCURRENT_CHANGE',
              `Route ${current.hostname} is "${current.state}", not "${options.expectState}" as expected.`,
              {
                hint: 'Another process changed it; read it again before retrying.',
                details: { hostname: current.hostname, state: current.state },
              },
            );
          }
          const state = patch.state ?? current.state;
          if (state !== current.state && !canTransition(current.state, state)) {
            throw new TunnelError(
              'INTERNAL',
              `Route ${current.hostname} cannot move from "${current.state}" to "${state}".`,
              {
                hint: 'This is a bug in the pipeline; report it with the route’s audit log.',
              },
            );
          }
          const service = patch.service ?? current.service;
          const lastError = patch.lastError === undefined ? current.lastError : patch.lastError;
          update.run({
            id,
            state,
            container: service.container,
            port: service.port,
            scheme: service.scheme,
            target: patch.target ?? current.target,
            targetReason: patch.targetReason ?? current.targetReason,
            dnsRecordId: patch.dnsRecordId === undefined ? current.dnsRecordId : patch.dnsRecordId,
            errorCode: lastError?.code ?? null,
            errorMessage: lastError?.message ?? null,
            updatedAt: patch.updatedAt,
            path: (patch.path === undefined ? current.path : patch.path) ?? '',
            originRequest: originTo(patch.originRequest === undefined ? current.originRequest : patch.originRequest),
          });
          return toRoute(getById.get(id) as RouteRow);
        }),
      countByState: async () =>
        this.#read(() => {
          const counts = Object.fromEntries(ROUTE_STATES.map((s) => [s, 0])) as Record<RouteState, number>;
          for (const row of countByState.all()) counts[row.state] = row.n;
          return counts;
        }),
    };
  }

  #domains(): DomainRepository {
    const db = this.#db;
    const clear = db.prepare('DELETE FROM domains');
    const insert = db.prepare(
      'INSERT INTO domains (id, name, status, account_id, refreshed_at) VALUES (?, ?, ?, ?, ?)',
    );
    const list = db.prepare<
      [],
      { id: string; name: string; status: string; account_id: string | null; refreshed_at: number }
    >('SELECT * FROM domains ORDER BY name');
    return {
      replaceAll: async (zones: readonly Zone[], refreshedAt: number) =>
        this.#write(() => {
          clear.run();
          for (const z of zones) insert.run(z.id, z.name, z.status, z.accountId, refreshedAt);
        }),
      list: async (): Promise<Domain[]> =>
        this.#read(() =>
          list.all().map((r) => ({
            id: r.id,
            name: r.name,
            status: r.status,
            accountId: r.account_id,
            refreshedAt: r.refreshed_at,
          })),
        ),
    };
  }

  #health(): HealthRepository {
    const db = this.#db;
    const insert = db.prepare(`
      INSERT INTO tunnel_health (at, status, process_state, ready_connections, latency_ms,
        api_status, failing_check, detail)
      VALUES (@at, @status, @processState, @readyConnections, @latencyMs, @apiStatus,
        @failingCheck, @detail)`);
    const listAll = db.prepare<[number, number], HealthRow>(
      'SELECT * FROM tunnel_health WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?',
    );
    const pruneBatch = db.prepare(
      'DELETE FROM tunnel_health WHERE id IN (SELECT id FROM tunnel_health WHERE at < ? ORDER BY at LIMIT ?)',
    );
    return {
      // The column holds whole milliseconds (a STRICT INTEGER): the monitor measures fractions.
      insert: async (sample) =>
        this.#write(
          () =>
            void insert.run({ ...sample, latencyMs: sample.latencyMs === null ? null : Math.round(sample.latencyMs) }),
        ),
      list: async ({ since, limit }) => this.#read(() => listAll.all(since ?? 0, clampLimit(limit, 100)).map(toSample)),
      prune: async (before, batchSize = DEFAULT_PRUNE_BATCH) => this.#pruneInBatches(pruneBatch, before, batchSize),
    };
  }

  async #pruneInBatches(statement: Database.Statement, before: number, batchSize: number): Promise<number> {
    const size = clampLimit(batchSize, DEFAULT_PRUNE_BATCH);
    let total = 0;
    for (;;) {
      // One short transaction per batch, so other writers get the lock in between.
      const removed = this.#write(() => statement.run(before, size).changes);
      total += removed;
      if (removed < size) return total;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #audit(): AuditRepository {
    const db = this.#db;
    const insert = db.prepare(`
      INSERT INTO audit_log (at, actor, project, action, target, params, outcome, error_code,
        message, duration_ms)
      VALUES (@at, @actor, @project, @action, @target, @params, @outcome, @errorCode, @message,
        @durationMs)`);
    const pruneBatch = db.prepare(
      'DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE at < ? ORDER BY at LIMIT ?)',
    );
    return {
      append: async (entry: NewAuditEntry) =>
        this.#write(() => {
          const info = insert.run({ ...entry, params: JSON.stringify(entry.params) });
          return { ...entry, id: Number(info.lastInsertRowid) };
        }),
      query: async (query: AuditQuery = {}) =>
        this.#read(() => {
          const where: string[] = [];
          const params: unknown[] = [];
          const eq = (column: string, value: string | undefined) => {
            if (value === undefined) return;
            where.push(`${column} = ?`);
            params.push(value);
          };
          eq('project', query.project);
          eq('action', query.action);
          eq('actor', query.actor);
          eq('target', query.target);
          if (query.since !== undefined) {
            where.push('at >= ?');
            params.push(query.since);
          }
          if (query.until !== undefined) {
            where.push('at < ?');
            params.push(query.until);
          }
          const sql = `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, id DESC LIMIT ?`;
          return (this.#statement(sql).all(...params, clampLimit(query.limit, 100)) as AuditRow[]).map(toAudit);
        }),
      prune: async (before, batchSize = DEFAULT_PRUNE_BATCH) => this.#pruneInBatches(pruneBatch, before, batchSize),
    };
  }

  #topology(): TopologyCache {
    const db = this.#db;
    const stmts = {
      clearContainers: db.prepare('DELETE FROM docker_containers'),
      clearNetworks: db.prepare('DELETE FROM docker_networks'),
      network: db.prepare(
        'INSERT INTO docker_networks (id, name, driver, internal, gateway, subnet) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      container: db.prepare(
        'INSERT INTO docker_containers (id, name, image, command, state, network_mode, labels, extra_hosts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      attach: db.prepare(
        'INSERT INTO container_networks (container_id, network_id, network_name, ip_address, gateway, aliases) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      port: db.prepare(
        'INSERT INTO container_ports (container_id, container_port, protocol, exposed, host_ip, host_port) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      header: db.prepare(
        "INSERT INTO meta (key, value) VALUES ('topology', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
      ),
      getHeader: db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'topology'"),
      networks: db.prepare<
        [],
        { id: string; name: string; driver: string; internal: number; gateway: string | null; subnet: string | null }
      >('SELECT * FROM docker_networks ORDER BY name'),
      containers: db.prepare<
        [],
        {
          id: string;
          name: string;
          image: string;
          command: string;
          state: string;
          network_mode: string;
          labels: string;
          extra_hosts: string;
        }
      >('SELECT * FROM docker_containers ORDER BY name'),
      attachments: db.prepare<
        [],
        {
          container_id: string;
          network_id: string;
          network_name: string;
          ip_address: string | null;
          gateway: string | null;
          aliases: string;
        }
      >('SELECT * FROM container_networks ORDER BY network_name'),
      ports: db.prepare<
        [],
        {
          container_id: string;
          container_port: number;
          protocol: string;
          exposed: number;
          host_ip: string | null;
          host_port: number | null;
        }
      >('SELECT * FROM container_ports ORDER BY container_port, host_ip, host_port'),
    };
    return {
      save: async (snapshot: TopologySnapshot) =>
        this.#write(() => {
          stmts.clearContainers.run();
          stmts.clearNetworks.run();
          for (const n of snapshot.networks) {
            stmts.network.run(n.id, n.name, n.driver, n.internal ? 1 : 0, n.gateway, n.subnet);
          }
          for (const c of snapshot.containers) {
            stmts.container.run(
              c.id,
              c.name,
              c.image,
              c.command,
              c.state,
              c.networkMode,
              JSON.stringify(c.labels),
              JSON.stringify(c.extraHosts),
            );
            for (const n of c.networks) {
              stmts.attach.run(c.id, n.networkId, n.networkName, n.ipAddress, n.gateway, JSON.stringify(n.aliases));
            }
            for (const p of c.ports) {
              // An exposed-only port is one row without a host binding; a published one, a row
              // per binding.
              if (p.published.length === 0)
                stmts.port.run(c.id, p.containerPort, p.protocol, p.exposed ? 1 : 0, null, null);
              for (const b of p.published)
                stmts.port.run(c.id, p.containerPort, p.protocol, p.exposed ? 1 : 0, b.hostIp, b.hostPort);
            }
          }
          stmts.header.run(
            JSON.stringify({
              takenAt: snapshot.takenAt,
              docker: snapshot.docker,
              cloudflared: snapshot.cloudflared,
              // A small list kept in the header: no table (and no migration) for it.
              ...(snapshot.hostListeners === undefined ? {} : { hostListeners: snapshot.hostListeners }),
            }),
          );
        }),
      load: async () =>
        this.#read(() => {
          const header = stmts.getHeader.get();
          if (!header) return null;
          const head = JSON.parse(header.value) as Pick<
            TopologySnapshot,
            'takenAt' | 'docker' | 'cloudflared' | 'hostListeners'
          >;
          const networks: DockerNetwork[] = stmts.networks.all().map((n) => ({
            id: n.id,
            name: n.name,
            driver: n.driver,
            internal: n.internal === 1,
            gateway: n.gateway,
            subnet: n.subnet,
          }));
          const attachments = groupBy(stmts.attachments.all(), (a) => a.container_id);
          const portRows = groupBy(stmts.ports.all(), (p) => p.container_id);
          const containers: ContainerInfo[] = stmts.containers.all().map((c) => {
            const ports = new Map<string, ContainerPort>();
            for (const p of portRows.get(c.id) ?? []) {
              const key = `${p.container_port}/${p.protocol}`;
              const prev = ports.get(key);
              const binding =
                p.host_ip !== null && p.host_port !== null ? [{ hostIp: p.host_ip, hostPort: p.host_port }] : [];
              ports.set(key, {
                containerPort: p.container_port,
                protocol: p.protocol as ContainerPort['protocol'],
                exposed: p.exposed === 1,
                published: [...(prev?.published ?? []), ...binding],
              });
            }
            return {
              id: c.id,
              name: c.name,
              image: c.image,
              command: c.command,
              state: c.state as ContainerInfo['state'],
              labels: JSON.parse(c.labels) as Record<string, string>,
              networkMode: c.network_mode,
              extraHosts: JSON.parse(c.extra_hosts) as string[],
              networks: (attachments.get(c.id) ?? []).map((a) => ({
                networkId: a.network_id,
                networkName: a.network_name,
                ipAddress: a.ip_address,
                gateway: a.gateway,
                aliases: JSON.parse(a.aliases) as string[],
              })),
              ports: [...ports.values()],
            };
          });
          return { ...head, networks, containers };
        }),
    };
  }

  #tokens(): TokenRepository {
    const db = this.#db;
    const insert = db.prepare(
      'INSERT INTO api_tokens (id, hash, actor_kind, project, label, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    const byHash = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE hash = ? AND revoked_at IS NULL');
    const list = db.prepare<[], TokenRow>('SELECT * FROM api_tokens ORDER BY created_at, id');
    const revoke = db.prepare('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    const touch = db.prepare('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
    return {
      insert: async (t) =>
        this.#write(() => {
          insert.run(
            t.id,
            t.hash,
            t.actor.kind,
            t.actor.kind === 'project' ? t.actor.project : null,
            t.label,
            t.createdAt,
          );
        }),
      findByHash: async (hash) =>
        this.#read(() => {
          const row = byHash.get(hash);
          return row ? toToken(row) : null;
        }),
      list: async () => this.#read(() => list.all().map(toToken)),
      revoke: async (id, at) => this.#write(() => revoke.run(at, id).changes > 0),
      touch: async (id, at) => this.#write(() => void touch.run(at, id)),
    };
  }

  #labels(): LabelRepository {
    const db = this.#db;
    type PublicationRow = {
      hostname: string;
      path: string;
      project: string;
      service: string;
      origin_request: string | null;
      containers: string;
      missing_since: number | null;
      updated_at: number;
    };
    type ProblemRow = {
      container_id: string;
      container_name: string;
      project: string | null;
      hostname: string | null;
      code: string;
      message: string;
      first_seen: number;
      last_seen: number;
      count: number;
    };
    const stmts = {
      publications: db.prepare<[], PublicationRow>('SELECT * FROM label_publications ORDER BY hostname, path'),
      savePublication: db.prepare(
        `INSERT INTO label_publications (hostname, path, project, service, origin_request, containers, missing_since, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(hostname, path) DO UPDATE SET project = excluded.project, service = excluded.service,
           origin_request = excluded.origin_request, containers = excluded.containers, missing_since = excluded.missing_since, updated_at = excluded.updated_at`,
      ),
      removePublication: db.prepare('DELETE FROM label_publications WHERE hostname = ? AND path = ?'),
      problems: db.prepare<[], ProblemRow>('SELECT * FROM label_problems ORDER BY container_name'),
      clearProblems: db.prepare('DELETE FROM label_problems'),
      insertProblem: db.prepare(
        `INSERT INTO label_problems (container_id, container_name, project, hostname, code, message, first_seen, last_seen, count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
    };
    const toPublication = (r: PublicationRow): LabelPublication => ({
      hostname: r.hostname,
      path: r.path === '' ? null : r.path,
      project: r.project,
      service: JSON.parse(r.service) as LabelPublication['service'],
      originRequest: r.origin_request === null ? null : (JSON.parse(r.origin_request) as OriginSettings),
      containers: JSON.parse(r.containers) as string[],
      missingSince: r.missing_since,
      updatedAt: r.updated_at,
    });
    const toProblem = (r: ProblemRow): LabelProblem => ({
      containerId: r.container_id,
      containerName: r.container_name,
      project: r.project,
      hostname: r.hostname,
      code: r.code,
      message: r.message,
      firstSeen: r.first_seen,
      lastSeen: r.last_seen,
      count: r.count,
    });
    return {
      listPublications: async () => this.#read(() => stmts.publications.all().map(toPublication)),
      savePublication: async (p) =>
        this.#write(() => {
          stmts.savePublication.run(
            p.hostname,
            p.path ?? '',
            p.project,
            JSON.stringify(p.service),
            p.originRequest === null ? null : JSON.stringify(p.originRequest),
            JSON.stringify(p.containers),
            p.missingSince,
            p.updatedAt,
          );
        }),
      removePublication: async (hostname, path) =>
        this.#write(() => {
          stmts.removePublication.run(hostname, path ?? '');
        }),
      replaceProblems: async (problems, at) =>
        this.#write(() => {
          const before = new Map(stmts.problems.all().map((r) => [r.container_id, r]));
          stmts.clearProblems.run();
          for (const p of problems) {
            const prev = before.get(p.containerId);
            stmts.insertProblem.run(
              p.containerId,
              p.containerName,
              p.project,
              p.hostname,
              p.code,
              p.message,
              prev?.first_seen ?? at,
              at,
              (prev?.count ?? 0) + 1,
            );
          }
        }),
      listProblems: async () => this.#read(() => stmts.problems.all().map(toProblem)),
    };
  }

  #restarts(): RestartRequestQueue {
    const db = this.#db;
    const add = db.prepare('INSERT INTO restart_requests (at, reason, requested_by) VALUES (?, ?, ?)');
    const all = db.prepare<[], { id: number; at: number; reason: string; requested_by: string }>(
      'SELECT * FROM restart_requests ORDER BY id',
    );
    const clear = db.prepare('DELETE FROM restart_requests WHERE id <= ?');
    const count = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM restart_requests');
    return {
      add: async (r) => this.#write(() => void add.run(r.at, r.reason, r.requestedBy)),
      take: async (): Promise<RestartRequest[]> =>
        this.#write(() => {
          const rows = all.all();
          const last = rows[rows.length - 1];
          if (last) clear.run(last.id);
          return rows.map((r) => ({ id: r.id, at: r.at, reason: r.reason, requestedBy: r.requested_by }));
        }),
      pending: async () => this.#read(() => count.get()?.n ?? 0),
    };
  }

  // The repositories of migration 2 prepare their statements on first use, so a store opened
  // with older migrations only (tests of the upgrade) still opens.
  #ingressOwners(): IngressOwnerRepository {
    const db = this.#db;
    let prepared: {
      list: Database.Statement<[string], IngressOwnerRow>;
      clear: Database.Statement;
      insert: Database.Statement;
    } | null = null;
    const q = () =>
      (prepared ??= {
        list: db.prepare<[string], IngressOwnerRow>(
          'SELECT hostname, path, service, owner, instance FROM ingress_rule_owners WHERE tunnel_id = ? ORDER BY position',
        ),
        clear: db.prepare('DELETE FROM ingress_rule_owners WHERE tunnel_id = ?'),
        insert: db.prepare(
          'INSERT INTO ingress_rule_owners (tunnel_id, position, hostname, path, service, owner, instance) VALUES (?, ?, ?, ?, ?, ?, ?)',
        ),
      });
    return {
      list: async (tunnelId) =>
        this.#read(() =>
          q()
            .list.all(tunnelId)
            .map((r) => ({ ...r })),
        ),
      replace: async (tunnelId, entries) =>
        this.#write(() => {
          q().clear.run(tunnelId);
          entries.forEach((e, i) => {
            q().insert.run(tunnelId, i, e.hostname, e.path, e.service, e.owner, e.instance);
          });
        }),
    };
  }

  #replaced(): ReplacedRecordRepository {
    const db = this.#db;
    let prepared: {
      get: Database.Statement<[string], ReplacedRow>;
      clear: Database.Statement;
      insert: Database.Statement;
    } | null = null;
    const q = () =>
      (prepared ??= {
        get: db.prepare<[string], ReplacedRow>(
          'SELECT record_id, name, type, content, proxied, ttl, comment FROM replaced_records WHERE route_id = ? ORDER BY position',
        ),
        clear: db.prepare('DELETE FROM replaced_records WHERE route_id = ?'),
        insert: db.prepare(
          'INSERT INTO replaced_records (route_id, position, record_id, name, type, content, proxied, ttl, comment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
        ),
      });
    return {
      save: async (routeId, records) =>
        this.#write(() => {
          q().clear.run(routeId);
          records.forEach((r, i) => {
            q().insert.run(routeId, i, r.recordId, r.name, r.type, r.content, r.proxied ? 1 : 0, r.ttl, r.comment);
          });
        }),
      get: async (routeId) =>
        this.#read(() =>
          q()
            .get.all(routeId)
            .map((r) => ({
              recordId: r.record_id,
              name: r.name,
              type: r.type,
              content: r.content,
              proxied: r.proxied === 1,
              ttl: r.ttl,
              comment: r.comment,
            })),
        ),
    };
  }
}

interface IngressOwnerRow {
  hostname: string;
  path: string;
  service: string;
  owner: string;
  instance: string | null;
}

interface ReplacedRow {
  record_id: string;
  name: string;
  type: string;
  content: string;
  proxied: number;
  ttl: number;
  comment: string | null;
}

/** `Map.groupBy` arrives in Node 21; this is the same for Node 20. */
function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}

function currentVersion(db: Database.Database): number {
  const table = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

function migrate(db: Database.Database, migrations: readonly Migration[], path: string): void {
  db.transaction(() => {
    db.exec(
      'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT',
    );
  }).immediate();
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  const found = currentVersion(db);
  if (found > latest) {
    throw new TunnelError(
      'STATE_CORRUPT',
      `The state database ${path} has schema version ${found}, newer than this Tunnel Manager supports (${latest}).`,
      {
        hint: 'It was written by a newer release: upgrade Tunnel Manager. It is never migrated down; to go back, restore a backup taken before the upgrade.',
        details: { found, supported: latest },
      },
    );
  }
  for (const migration of migrations) {
    // Each migration re-checks inside its own IMMEDIATE transaction, so two processes opening a
    // new database at once apply every migration exactly once.
    // "Applied" is per version, not "below the highest": migrations numbered on parallel
    // branches (2 and 3) may land in either order, and a database that has 3 still needs 2.
    db.transaction(() => {
      if (db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?').get(migration.version)) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }).immediate();
  }
}

export { LATEST_SCHEMA_VERSION };
