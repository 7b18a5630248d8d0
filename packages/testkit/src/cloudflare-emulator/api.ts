import { createHash } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import {
  type AccountState,
  activeConnections,
  type EmulatorData,
  type EmulatorPermission,
  type EmulatorSeed,
  expandPermissions,
  hexId,
  newConnectors,
  newZone,
  planOf,
  type RecordState,
  type SeedAccount,
  type SeedConnector,
  type SeedDnsRecord,
  type SeedToken,
  type SeedTunnel,
  type SeedZone,
  type TokenState,
  type TunnelState,
  type TunnelStatus,
  uuid,
  type ZoneState,
} from './model.js';

/**
 * The Cloudflare API v4 behaviour the manager depends on, as plain functions over the stored
 * data: one `handle(request)` per HTTP request, no I/O. The HTTP server (server.ts) adds the
 * transport concerns: the request log, faults, the rate limiter and persistence.
 *
 * Error codes and HTTP statuses follow reference/cloudflare-api.md. Where Cloudflare does not
 * document the exact answer, the emulator is strict (it refuses rather than guesses) and the
 * code used is marked "assumed" below.
 */

/** A failure answered with the v4 error envelope. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** Cloudflare error codes the emulator answers with. */
export const CF_CODES = {
  AUTHENTICATION: 10000,
  PERMISSION: 9109,
  /** assumed: pagination and query parameter out of bounds */
  INVALID_PARAMETER: 1001,
  /** assumed: tunnel id unknown */
  TUNNEL_NOT_FOUND: 1003,
  DNS_VALIDATION: 1004,
  TUNNEL_CONFIG_INVALID: 1056,
  MALFORMED_JSON: 6007,
  NO_ROUTE: 7000,
  METHOD_NOT_ALLOWED: 7001,
  INVALID_IDENTIFIER: 7003,
  RECORD_NOT_PROXIABLE: 9004,
  INVALID_ADDRESS: 9005,
  INVALID_TTL: 9021,
  RECORD_NOT_FOUND: 81044,
  CNAME_NAME_TAKEN: 81053,
  NAME_HAS_CNAME: 81054,
  RECORD_EXISTS: 81057,
  IDENTICAL_RECORD: 81058,
  RATE_LIMITED: 971,
} as const;

export interface ApiRequest {
  readonly method: string;
  /** After the `/client/v4` prefix, e.g. `/zones/abc/dns_records`. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly body: unknown;
  /** The bearer token sent, or null. */
  readonly token: string | null;
}

export interface ApiResponse {
  readonly status: number;
  readonly body: unknown;
  readonly headers?: Readonly<Record<string, string>>;
  /** The request changed stored state (the server persists it). */
  readonly mutated: boolean;
}

export interface ApiModelOptions {
  readonly now: () => number;
  /** Changes per `dns_records/batch` call. */
  readonly batchLimit: number;
}

/** The v4 envelope of a successful answer. */
export function envelope(result: unknown, resultInfo?: Record<string, number>): Record<string, unknown> {
  return {
    success: true,
    errors: [],
    messages: [],
    result,
    ...(resultInfo ? { result_info: resultInfo } : {}),
  };
}

/** The v4 envelope of an error: `result` is null. */
export function errorEnvelope(code: number, message: string): Record<string, unknown> {
  return { success: false, errors: [{ code, message }], messages: [], result: null };
}

const ZONE_ID = /^[0-9a-f]{32}$/;
const TUNNEL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PROXIABLE = new Set(['A', 'AAAA', 'CNAME']);
const SUPPORTED_TYPES = new Set(['A', 'AAAA', 'CNAME', 'TXT', 'MX', 'NS']);
const HOSTNAME =
  /^(?=.{1,253}$)(\*\.)?([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** Rule keys the tunnel configuration keeps; the API stores rules in cloudflared's own shape. */
const RULE_KEYS = ['hostname', 'path', 'service', 'originRequest'] as const;

type Handler = (ctx: Ctx, params: string[]) => ApiResponse;

interface Ctx {
  readonly req: ApiRequest;
  readonly token: TokenState;
}

const ok = (result: unknown, mutated = false, resultInfo?: Record<string, number>): ApiResponse => ({
  status: 200,
  body: envelope(result, resultInfo),
  mutated,
});

const dnsInvalid = (message: string) => new ApiFailure(400, CF_CODES.DNS_VALIDATION, message);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The record fields a create/put/patch body may carry. */
interface RecordInput {
  type?: unknown;
  name?: unknown;
  content?: unknown;
  proxied?: unknown;
  ttl?: unknown;
  comment?: unknown;
  tags?: unknown;
  priority?: unknown;
}

export class ApiModel {
  readonly data: EmulatorData;
  readonly #now: () => number;
  batchLimit: number;
  readonly #routes: Array<{ method: string; pattern: RegExp; handler: Handler }> = [];

  constructor(data: EmulatorData, options: ApiModelOptions) {
    this.data = data;
    this.#now = options.now;
    this.batchLimit = options.batchLimit;
    const r = (method: string, pattern: string, handler: Handler) =>
      this.#routes.push({ method, pattern: new RegExp(`^${pattern.replaceAll(':p', '([^/]+)')}/?$`), handler });
    r('GET', '/user/tokens/verify', (ctx) => this.#verifyToken(ctx));
    r('GET', '/zones', (ctx) => this.#listZones(ctx));
    r('GET', '/zones/:p', (ctx, [z]) => ok(this.#zoneFor(ctx, z, 'zone:read')));
    r('GET', '/zones/:p/dns_records', (ctx, [z]) => this.#listRecords(ctx, z));
    r('POST', '/zones/:p/dns_records', (ctx, [z]) => this.#createRecord(ctx, z));
    r('POST', '/zones/:p/dns_records/batch', (ctx, [z]) => this.#batch(ctx, z));
    r('GET', '/zones/:p/dns_records/:p', (ctx, [z, id]) => this.#getRecord(ctx, z, id));
    r('PATCH', '/zones/:p/dns_records/:p', (ctx, [z, id]) => this.#updateRecord(ctx, z, id, 'patch'));
    r('PUT', '/zones/:p/dns_records/:p', (ctx, [z, id]) => this.#updateRecord(ctx, z, id, 'put'));
    r('DELETE', '/zones/:p/dns_records/:p', (ctx, [z, id]) => this.#deleteRecord(ctx, z, id));
    r('GET', '/accounts/:p/cfd_tunnel', (ctx, [a]) => this.#listTunnels(ctx, a));
    r('GET', '/accounts/:p/cfd_tunnel/:p', (ctx, [a, t]) => ok(this.#tunnelJson(this.#tunnelFor(ctx, a, t, false))));
    r('GET', '/accounts/:p/cfd_tunnel/:p/connections', (ctx, [a, t]) => this.#connections(ctx, a, t));
    r('GET', '/accounts/:p/cfd_tunnel/:p/configurations', (ctx, [a, t]) => this.#getConfig(ctx, a, t));
    r('PUT', '/accounts/:p/cfd_tunnel/:p/configurations', (ctx, [a, t]) => this.#putConfig(ctx, a, t));
  }

  /** Answers one API request; never throws. */
  handle(req: ApiRequest): ApiResponse {
    try {
      let methodMismatch = false;
      for (const route of this.#routes) {
        const match = route.pattern.exec(req.path);
        if (!match) continue;
        if (route.method !== req.method) {
          methodMismatch = true;
          continue;
        }
        const token = this.#authenticate(req.token);
        return route.handler({ req, token }, match.slice(1).map(decodeURIComponent));
      }
      if (methodMismatch) {
        throw new ApiFailure(405, CF_CODES.METHOD_NOT_ALLOWED, 'Method not allowed for this endpoint');
      }
      throw new ApiFailure(404, CF_CODES.NO_ROUTE, 'No route for that URI');
    } catch (error) {
      if (error instanceof ApiFailure) {
        return {
          status: error.status,
          body: errorEnvelope(error.code, error.message),
          headers: error.headers,
          mutated: false,
        };
      }
      throw error;
    }
  }

  // --- auth ---

  /** The token a bearer value names, or 403/10000. */
  #authenticate(value: string | null): TokenState {
    const token = value === null ? undefined : this.data.tokens.find((t) => t.value === value);
    if (!token) throw new ApiFailure(403, CF_CODES.AUTHENTICATION, 'Authentication error');
    return token;
  }

  #require(ctx: Ctx, permission: EmulatorPermission): void {
    if (!ctx.token.permissions.includes(permission)) {
      throw new ApiFailure(403, CF_CODES.PERMISSION, 'Unauthorized to access requested resource');
    }
  }

  #tokenSeesZone(token: TokenState, zone: ZoneState): boolean {
    return (
      (token.zoneIds === null || token.zoneIds.includes(zone.id)) &&
      (token.accountIds === null || token.accountIds.includes(zone.account.id))
    );
  }

  #verifyToken(ctx: Ctx): ApiResponse {
    const id = createHash('sha256').update(ctx.token.value).digest('hex').slice(0, 32);
    return ok({ id, status: 'active' });
  }

  // --- zones ---

  #zoneFor(ctx: Ctx, zoneId: string | undefined, permission: EmulatorPermission): ZoneState {
    const id = zoneId ?? '';
    if (!ZONE_ID.test(id)) {
      throw new ApiFailure(
        400,
        CF_CODES.INVALID_IDENTIFIER,
        `Could not route to ${ctx.req.path}, perhaps your object identifier is invalid?`,
      );
    }
    const zone = this.data.zones.find((z) => z.id === id);
    if (!zone) {
      throw new ApiFailure(
        404,
        CF_CODES.INVALID_IDENTIFIER,
        `Could not route to ${ctx.req.path}, perhaps your object identifier is invalid?`,
      );
    }
    if (!this.#tokenSeesZone(ctx.token, zone)) {
      throw new ApiFailure(403, CF_CODES.PERMISSION, 'Unauthorized to access requested resource');
    }
    this.#require(ctx, permission);
    return zone;
  }

  #listZones(ctx: Ctx): ApiResponse {
    this.#require(ctx, 'zone:read');
    const q = ctx.req.query;
    const { page, perPage } = pagination(q, { perPage: 20, min: 5, max: 50 });
    const filters: Array<(z: ZoneState) => boolean> = [];
    const name = q.get('name');
    if (name !== null) filters.push((z) => z.name === name.toLowerCase());
    const status = q.get('status');
    if (status !== null) filters.push((z) => z.status === status);
    const accountId = q.get('account.id');
    if (accountId !== null) filters.push((z) => z.account.id === accountId);
    const accountName = q.get('account.name');
    if (accountName !== null) filters.push((z) => z.account.name === accountName);
    const matchAny = matchMode(q) === 'any';
    let zones = this.data.zones.filter(
      (z) =>
        this.#tokenSeesZone(ctx.token, z) &&
        (filters.length === 0 || (matchAny ? filters.some((f) => f(z)) : filters.every((f) => f(z)))),
    );
    const order = oneOf(q, 'order', ['name', 'status', 'account.id', 'account.name']) ?? 'name';
    const key = (z: ZoneState) =>
      order === 'name'
        ? z.name
        : order === 'status'
          ? z.status
          : order === 'account.id'
            ? z.account.id
            : z.account.name;
    zones = sortBy(zones, key, oneOf(q, 'direction', ['asc', 'desc']) ?? 'asc');
    return paged(zones, page, perPage);
  }

  // --- DNS records ---

  /** The records of one zone, in creation order (a new array of the stored objects). */
  zoneRecords(zoneId: string): RecordState[] {
    return this.data.records.filter((r) => r.zone_id === zoneId);
  }

  #replaceZoneRecords(zoneId: string, records: RecordState[]): void {
    const others = this.data.records.filter((r) => r.zone_id !== zoneId);
    this.data.records.length = 0;
    this.data.records.push(...others, ...records);
  }

  #listRecords(ctx: Ctx, zoneId: string | undefined): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:read');
    const q = ctx.req.query;
    for (const key of q.keys()) {
      if (key === 'search' || key === 'tag' || key.startsWith('tag.') || key === 'tag_match') {
        throw new ApiFailure(400, CF_CODES.INVALID_PARAMETER, `The emulator does not implement the filter ${key}.`);
      }
    }
    const { page, perPage } = pagination(q, { perPage: 100, min: 1, max: 5_000_000 });
    const filters = recordFilters(q);
    const matchAny = matchMode(q) === 'any';
    let records = this.zoneRecords(zone.id).filter(
      (r) => filters.length === 0 || (matchAny ? filters.some((f) => f(r)) : filters.every((f) => f(r))),
    );
    const order = oneOf(q, 'order', ['type', 'name', 'content', 'ttl', 'proxied']);
    if (order) {
      records = sortBy(
        records,
        (r) => (order === 'ttl' ? r.ttl : order === 'proxied' ? Number(r.proxied) : r[order]),
        oneOf(q, 'direction', ['asc', 'desc']) ?? 'asc',
      );
    }
    return paged(records, page, perPage);
  }

  #getRecord(ctx: Ctx, zoneId: string | undefined, id: string | undefined): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:read');
    return ok(findRecord(this.zoneRecords(zone.id), id));
  }

  #createRecord(ctx: Ctx, zoneId: string | undefined): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:edit');
    const records = this.zoneRecords(zone.id);
    const record = this.#newRecord(zone, records, bodyObject(ctx.req.body));
    this.data.records.push(record);
    return ok(record, true);
  }

  #updateRecord(ctx: Ctx, zoneId: string | undefined, id: string | undefined, mode: 'patch' | 'put'): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:edit');
    const records = this.zoneRecords(zone.id);
    const updated = this.#changedRecord(zone, records, findRecord(records, id), bodyObject(ctx.req.body), mode);
    this.#replaceZoneRecords(
      zone.id,
      records.map((r) => (r.id === updated.id ? updated : r)),
    );
    return ok(updated, true);
  }

  #deleteRecord(ctx: Ctx, zoneId: string | undefined, id: string | undefined): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:edit');
    const records = this.zoneRecords(zone.id);
    const record = findRecord(records, id);
    this.#replaceZoneRecords(
      zone.id,
      records.filter((r) => r !== record),
    );
    return ok({ id: record.id }, true);
  }

  /**
   * `POST dns_records/batch`: deletes, then patches, then puts, then posts, against a working
   * copy that replaces the zone's records only if every change succeeded (one transaction).
   */
  #batch(ctx: Ctx, zoneId: string | undefined): ApiResponse {
    const zone = this.#zoneFor(ctx, zoneId, 'dns:edit');
    const body = bodyObject(ctx.req.body);
    const list = (key: string): Record<string, unknown>[] => {
      const value = body[key];
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value) || !value.every(isObject)) throw dnsInvalid(`${key} must be an array of objects.`);
      return value;
    };
    const deletes = list('deletes');
    const patches = list('patches');
    const puts = list('puts');
    const posts = list('posts');
    const total = deletes.length + patches.length + puts.length + posts.length;
    if (total > this.batchLimit) {
      throw dnsInvalid(`The batch holds ${total} changes; this zone allows at most ${this.batchLimit} per request.`);
    }
    let working = [...this.zoneRecords(zone.id)];
    const at = (op: string, index: number, run: () => RecordState): RecordState => {
      try {
        return run();
      } catch (error) {
        if (error instanceof ApiFailure) {
          throw new ApiFailure(error.status, error.code, `${op}[${index}]: ${error.message}`, error.headers);
        }
        throw error;
      }
    };
    const result = {
      deletes: deletes.map((d, i) =>
        at('deletes', i, () => {
          const record = findRecord(working, d.id);
          working = working.filter((r) => r !== record);
          return record;
        }),
      ),
      patches: patches.map((p, i) =>
        at('patches', i, () => {
          const updated = this.#changedRecord(zone, working, findRecord(working, p.id), p, 'patch');
          working = working.map((r) => (r.id === updated.id ? updated : r));
          return updated;
        }),
      ),
      puts: puts.map((p, i) =>
        at('puts', i, () => {
          const updated = this.#changedRecord(zone, working, findRecord(working, p.id), p, 'put');
          working = working.map((r) => (r.id === updated.id ? updated : r));
          return updated;
        }),
      ),
      posts: posts.map((p, i) =>
        at('posts', i, () => {
          const record = this.#newRecord(zone, working, p);
          working.push(record);
          return record;
        }),
      ),
    };
    this.#replaceZoneRecords(zone.id, working);
    return ok(result, total > 0);
  }

  #newRecord(zone: ZoneState, records: readonly RecordState[], input: RecordInput, id = hexId()): RecordState {
    const at = new Date(this.#now()).toISOString();
    const fields = validateRecord(zone, input, null);
    checkConflicts(records, fields, null);
    return {
      id,
      zone_id: zone.id,
      zone_name: zone.name,
      ...fields,
      proxiable: PROXIABLE.has(fields.type),
      settings: fields.type === 'CNAME' ? { flatten_cname: false } : {},
      meta: {},
      created_on: at,
      modified_on: at,
      ...(fields.comment === null ? {} : { comment_modified_on: at }),
    };
  }

  #changedRecord(
    zone: ZoneState,
    records: readonly RecordState[],
    current: RecordState,
    input: RecordInput,
    mode: 'patch' | 'put',
  ): RecordState {
    const fields = validateRecord(zone, input, mode === 'patch' ? current : null);
    checkConflicts(records, fields, current.id);
    const at = new Date(this.#now()).toISOString();
    return {
      ...current,
      ...fields,
      proxiable: PROXIABLE.has(fields.type),
      modified_on: at,
      ...(fields.comment !== current.comment ? { comment_modified_on: at } : {}),
    };
  }

  // --- tunnels ---

  #accountFor(ctx: Ctx, accountId: string | undefined, permission: EmulatorPermission): AccountState {
    const account = this.data.accounts.find((a) => a.id === accountId);
    if (!account) {
      throw new ApiFailure(
        404,
        CF_CODES.INVALID_IDENTIFIER,
        `Could not route to ${ctx.req.path}, perhaps your object identifier is invalid?`,
      );
    }
    if (ctx.token.accountIds !== null && !ctx.token.accountIds.includes(account.id)) {
      throw new ApiFailure(403, CF_CODES.PERMISSION, 'Unauthorized to access requested resource');
    }
    this.#require(ctx, permission);
    return account;
  }

  #tunnelFor(ctx: Ctx, accountId: string | undefined, tunnelId: string | undefined, edit: boolean): TunnelState {
    const account = this.#accountFor(ctx, accountId, edit ? 'tunnel:edit' : 'tunnel:read');
    if (!TUNNEL_ID.test(tunnelId ?? '')) {
      throw new ApiFailure(400, CF_CODES.INVALID_IDENTIFIER, 'tunnel_id must be a UUID');
    }
    const tunnel = this.data.tunnels.find((t) => t.id === tunnelId && t.account_id === account.id);
    if (!tunnel) throw new ApiFailure(404, CF_CODES.TUNNEL_NOT_FOUND, 'Tunnel not found');
    return tunnel;
  }

  #tunnelJson(t: TunnelState): Record<string, unknown> {
    return {
      id: t.id,
      account_tag: t.account_id,
      created_at: t.created_at,
      deleted_at: t.deleted_at,
      name: t.name,
      connections: t.connectors.flatMap((c) =>
        c.conns.map((conn) => ({
          ...conn,
          uuid: conn.id,
          client_id: c.id,
          client_version: c.version,
        })),
      ),
      conns_active_at: t.conns_active_at,
      conns_inactive_at: t.conns_inactive_at,
      tun_type: 'cfd_tunnel',
      metadata: {},
      status: t.status,
      remote_config: t.config_src === 'cloudflare',
      config_src: t.config_src,
    };
  }

  #listTunnels(ctx: Ctx, accountId: string | undefined): ApiResponse {
    const account = this.#accountFor(ctx, accountId, 'tunnel:read');
    const q = ctx.req.query;
    const { page, perPage } = pagination(q, { perPage: 1000, min: 1, max: 1000 });
    const name = q.get('name');
    const deleted = q.get('is_deleted');
    const tunnels = this.data.tunnels.filter(
      (t) =>
        t.account_id === account.id &&
        (name === null || t.name === name) &&
        (deleted === null || (deleted === 'true') === (t.deleted_at !== null)),
    );
    const all = paged(tunnels, page, perPage);
    const body = all.body as { result: TunnelState[] };
    return { ...all, body: { ...body, result: body.result.map((t) => this.#tunnelJson(t)) } };
  }

  #connections(ctx: Ctx, accountId: string | undefined, tunnelId: string | undefined): ApiResponse {
    const tunnel = this.#tunnelFor(ctx, accountId, tunnelId, false);
    return ok(
      tunnel.connectors.map((c) => ({
        id: c.id,
        features: c.features,
        version: c.version,
        arch: c.arch,
        config_version: c.config_version,
        conns: c.conns.map((conn) => ({ ...conn, client_id: c.id, client_version: c.version })),
        run_at: c.run_at,
      })),
    );
  }

  #configJson(t: TunnelState): Record<string, unknown> {
    return {
      account_id: t.account_id,
      tunnel_id: t.id,
      version: t.config_version,
      config: t.config,
      source: t.config_src,
      created_at: t.config_created_at,
    };
  }

  #getConfig(ctx: Ctx, accountId: string | undefined, tunnelId: string | undefined): ApiResponse {
    return ok(this.#configJson(this.#tunnelFor(ctx, accountId, tunnelId, false)));
  }

  #putConfig(ctx: Ctx, accountId: string | undefined, tunnelId: string | undefined): ApiResponse {
    const tunnel = this.#tunnelFor(ctx, accountId, tunnelId, true);
    const body = bodyObject(ctx.req.body);
    this.setTunnelConfig(tunnel, body.config);
    return ok(this.#configJson(tunnel), true);
  }

  /**
   * Validates and stores a remote configuration as the PUT endpoint does: full replacement,
   * version + 1, rules kept in cloudflared's shape (unknown rule keys are dropped), `warp-routing`
   * defaulted. Refuses (1056) what cloudflared's structural validation refuses.
   */
  setTunnelConfig(tunnel: TunnelState, config: unknown): void {
    const invalid = (why: string) =>
      new ApiFailure(400, CF_CODES.TUNNEL_CONFIG_INVALID, `Bad Configuration: Validation failed: ${why}\n`);
    if (!isObject(config)) throw invalid('config must be an object');
    const ingress = config.ingress;
    if (!Array.isArray(ingress) || ingress.length === 0) {
      throw invalid("The config file doesn't contain any ingress rules");
    }
    const rules = ingress.map((rule, index) => {
      if (!isObject(rule)) throw invalid(`Rule #${index + 1} is not an object`);
      if (typeof rule.service !== 'string' || rule.service === '') {
        throw invalid(`Rule #${index + 1} is missing a service`);
      }
      for (const key of ['hostname', 'path'] as const) {
        if (rule[key] !== undefined && typeof rule[key] !== 'string')
          throw invalid(`Rule #${index + 1}: ${key} must be a string`);
      }
      if (rule.originRequest !== undefined && !isObject(rule.originRequest)) {
        throw invalid(`Rule #${index + 1}: originRequest must be an object`);
      }
      const kept: Record<string, unknown> = {};
      for (const key of RULE_KEYS) if (rule[key] !== undefined) kept[key] = rule[key];
      return kept;
    });
    const matchesAll = (rule: Record<string, unknown>) =>
      (rule.hostname === undefined || rule.hostname === '' || rule.hostname === '*') &&
      (rule.path === undefined || rule.path === '');
    rules.forEach((rule, index) => {
      const last = index === rules.length - 1;
      if (last && !matchesAll(rule)) {
        throw invalid('The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)');
      }
      if (!last && matchesAll(rule)) {
        throw invalid(
          `Rule #${index + 1} is matching all URLs, but it's not the last rule. Remove it or move it to the end.`,
        );
      }
    });
    const stored: Record<string, unknown> = { ingress: rules };
    if (config.originRequest !== undefined) stored.originRequest = config.originRequest;
    stored['warp-routing'] = config['warp-routing'] ?? { enabled: false };
    tunnel.config = stored;
    tunnel.config_version += 1;
    tunnel.config_created_at = new Date(this.#now()).toISOString();
  }

  // --- control: seeding and driving state from tests and the sandbox ---

  addAccount(seed: SeedAccount): AccountState {
    const account = { id: seed.id ?? hexId(), name: seed.name };
    if (this.data.accounts.some((a) => a.id === account.id)) throw new Error(`Account ${account.id} exists already`);
    this.data.accounts.push(account);
    return account;
  }

  #defaultAccount(accountId: string | undefined): AccountState {
    if (accountId !== undefined) {
      const account = this.data.accounts.find((a) => a.id === accountId);
      if (!account) throw new Error(`No account ${accountId} in the emulator`);
      return account;
    }
    return this.data.accounts[0] ?? this.addAccount({ name: 'Emulated account' });
  }

  addZone(seed: SeedZone): ZoneState {
    const zone = newZone(seed, this.#defaultAccount(seed.accountId), new Date(this.#now()).toISOString());
    if (this.data.zones.some((z) => z.id === zone.id || z.name === zone.name)) {
      throw new Error(`Zone ${zone.name} (${zone.id}) exists already`);
    }
    this.data.zones.push(zone);
    return zone;
  }

  /**
   * Plants a record as someone else would, through the same rules as the API (so a seed
   * cannot create a state Cloudflare would refuse, like a CNAME beside an A record).
   */
  addRecord(seed: SeedDnsRecord): RecordState {
    const zone = this.data.zones.find((z) => z.id === seed.zoneId || (seed.zone !== undefined && z.name === seed.zone));
    if (!zone) throw new Error(`No zone ${seed.zoneId ?? seed.zone} in the emulator`);
    try {
      const record = this.#newRecord(
        zone,
        this.zoneRecords(zone.id),
        {
          type: seed.type,
          name: seed.name,
          content: seed.content,
          proxied: seed.proxied ?? false,
          ttl: seed.ttl ?? 1,
          comment: seed.comment ?? null,
          ...(seed.tags ? { tags: [...seed.tags] } : {}),
        },
        seed.id,
      );
      this.data.records.push(record);
      return record;
    } catch (error) {
      if (error instanceof ApiFailure) throw new Error(`Cannot seed ${seed.name}: ${error.message} (${error.code})`);
      throw error;
    }
  }

  /**
   * Plants many records fast (no per-record conflict scan), for benchmarks and large zones.
   * The caller promises the names are distinct and CNAME-clean.
   */
  addRecordsUnchecked(zoneId: string, seeds: readonly Omit<SeedDnsRecord, 'zoneId' | 'zone'>[]): number {
    const zone = this.data.zones.find((z) => z.id === zoneId);
    if (!zone) throw new Error(`No zone ${zoneId} in the emulator`);
    for (const seed of seeds) {
      const fields = validateRecord(zone, { ...seed, comment: seed.comment ?? null, ttl: seed.ttl ?? 1 }, null);
      const at = new Date(this.#now()).toISOString();
      this.data.records.push({
        id: seed.id ?? hexId(),
        zone_id: zone.id,
        zone_name: zone.name,
        ...fields,
        proxiable: PROXIABLE.has(fields.type),
        settings: {},
        meta: {},
        created_on: at,
        modified_on: at,
      });
    }
    return seeds.length;
  }

  addTunnel(seed: SeedTunnel): TunnelState {
    const account = this.#defaultAccount(seed.accountId);
    const at = new Date(this.#now()).toISOString();
    const id = seed.id ?? uuid();
    if (this.data.tunnels.some((t) => t.id === id)) throw new Error(`Tunnel ${id} exists already`);
    const connectors = newConnectors(seed.connectors, at);
    const tunnel: TunnelState = {
      id,
      account_id: account.id,
      name: seed.name ?? `tunnel-${id.slice(0, 8)}`,
      created_at: at,
      deleted_at: null,
      status: 'inactive',
      config_src: seed.configSrc ?? (seed.config ? 'cloudflare' : 'local'),
      conns_active_at: null,
      conns_inactive_at: at,
      connectors: [],
      config: null,
      config_version: 0,
      config_created_at: at,
    };
    this.#setConnectors(tunnel, connectors, seed.status);
    if (seed.config) {
      try {
        this.setTunnelConfig(tunnel, seed.config);
      } catch (error) {
        if (error instanceof ApiFailure) throw new Error(`Cannot seed tunnel ${id}: ${error.message.trim()}`);
        throw error;
      }
    }
    this.data.tunnels.push(tunnel);
    return tunnel;
  }

  /** Changes what the API reports about a tunnel (status, connectors, config source). */
  setTunnel(
    tunnelId: string,
    change: {
      readonly status?: TunnelStatus;
      readonly connectors?: number | readonly SeedConnector[];
      readonly configSrc?: 'local' | 'cloudflare';
    },
  ): TunnelState {
    const tunnel = this.data.tunnels.find((t) => t.id === tunnelId);
    if (!tunnel) throw new Error(`No tunnel ${tunnelId} in the emulator`);
    if (change.configSrc) tunnel.config_src = change.configSrc;
    if (change.connectors !== undefined) {
      this.#setConnectors(tunnel, newConnectors(change.connectors, new Date(this.#now()).toISOString()), change.status);
    } else if (change.status) {
      tunnel.status = change.status;
    }
    return tunnel;
  }

  #setConnectors(tunnel: TunnelState, connectors: TunnelState['connectors'], status: TunnelStatus | undefined): void {
    const at = new Date(this.#now()).toISOString();
    const wasActive = activeConnections(tunnel) > 0;
    tunnel.connectors = connectors;
    const active = activeConnections(tunnel) > 0;
    if (active && !wasActive) tunnel.conns_active_at = at;
    if (!active && wasActive) tunnel.conns_inactive_at = at;
    // Cloudflare derives the status from the connections: healthy with some, down once it had
    // some and lost them, inactive if it never had any. `status` overrides (e.g. degraded).
    tunnel.status = status ?? (active ? 'healthy' : tunnel.conns_active_at ? 'down' : 'inactive');
  }

  addToken(seed: SeedToken): TokenState {
    if (this.data.tokens.some((t) => t.value === seed.value)) throw new Error('A token with that value exists already');
    const token: TokenState = {
      value: seed.value,
      name: seed.name ?? `token-${this.data.tokens.length + 1}`,
      permissions: expandPermissions(seed.permissions),
      zoneIds: seed.zoneIds ? [...seed.zoneIds] : null,
      accountIds: seed.accountIds ? [...seed.accountIds] : null,
    };
    this.data.tokens.push(token);
    return token;
  }

  removeToken(value: string): boolean {
    const index = this.data.tokens.findIndex((t) => t.value === value);
    if (index >= 0) this.data.tokens.splice(index, 1);
    return index >= 0;
  }

  seed(seed: EmulatorSeed): SeededState {
    return {
      accounts: (seed.accounts ?? []).map((a) => this.addAccount(a)),
      zones: (seed.zones ?? []).map((z) => this.addZone(z)),
      records: (seed.records ?? []).map((r) => this.addRecord(r)),
      tunnels: (seed.tunnels ?? []).map((t) => this.addTunnel(t)),
      tokens: (seed.tokens ?? []).map((t) => this.addToken(t)),
    };
  }
}

/** What `seed` planted, with the ids the emulator gave. */
export interface SeededState {
  readonly accounts: AccountState[];
  readonly zones: ZoneState[];
  readonly records: RecordState[];
  readonly tunnels: TunnelState[];
  readonly tokens: TokenState[];
}

// --- helpers ---

function bodyObject(body: unknown): Record<string, unknown> {
  if (!isObject(body)) throw new ApiFailure(400, CF_CODES.MALFORMED_JSON, 'Malformed JSON in request body');
  return body;
}

function findRecord(records: readonly RecordState[], id: unknown): RecordState {
  const record = typeof id === 'string' ? records.find((r) => r.id === id) : undefined;
  if (!record) throw new ApiFailure(404, CF_CODES.RECORD_NOT_FOUND, 'Record does not exist.');
  return record;
}

function pagination(
  q: URLSearchParams,
  bounds: { perPage: number; min: number; max: number },
): { page: number; perPage: number } {
  const int = (name: string, fallback: number, min: number, max: number) => {
    const raw = q.get(name);
    if (raw === null) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new ApiFailure(400, CF_CODES.INVALID_PARAMETER, `${name} must be an integer between ${min} and ${max}`);
    }
    return value;
  };
  return {
    page: int('page', 1, 1, 1_000_000_000),
    perPage: int('per_page', bounds.perPage, bounds.min, bounds.max),
  };
}

/** A page of `items`; past the last page, an empty `result` (the SDK stops only on that). */
function paged<T>(items: readonly T[], page: number, perPage: number): ApiResponse {
  const slice = items.slice((page - 1) * perPage, page * perPage);
  return ok(slice, false, {
    page,
    per_page: perPage,
    count: slice.length,
    total_count: items.length,
    total_pages: Math.ceil(items.length / perPage),
  });
}

function oneOf<T extends string>(q: URLSearchParams, name: string, allowed: readonly T[]): T | undefined {
  const raw = q.get(name);
  if (raw === null) return undefined;
  if (!allowed.includes(raw as T)) {
    throw new ApiFailure(400, CF_CODES.INVALID_PARAMETER, `${name} must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

function matchMode(q: URLSearchParams): 'any' | 'all' {
  return oneOf(q, 'match', ['any', 'all']) ?? 'all';
}

function sortBy<T>(items: readonly T[], key: (item: T) => string | number, direction: 'asc' | 'desc'): T[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...items].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -sign : x > y ? sign : 0;
  });
}

/** The list filters, each a predicate; text filters are case-insensitive as Cloudflare's are. */
function recordFilters(q: URLSearchParams): Array<(r: RecordState) => boolean> {
  const filters: Array<(r: RecordState) => boolean> = [];
  const type = q.get('type');
  if (type !== null) filters.push((r) => r.type === type.toUpperCase());
  const proxied = q.get('proxied');
  if (proxied !== null) filters.push((r) => r.proxied === (proxied === 'true'));
  const text = (field: 'name' | 'content' | 'comment') => {
    const get = (r: RecordState) => (r[field] ?? '').toLowerCase();
    const ops: Record<string, (value: string, want: string) => boolean> = {
      exact: (v, w) => v === w,
      contains: (v, w) => v.includes(w),
      startswith: (v, w) => v.startsWith(w),
      endswith: (v, w) => v.endsWith(w),
    };
    const plain = q.get(field);
    if (plain !== null) filters.push((r) => get(r) === plain.toLowerCase());
    for (const [op, test] of Object.entries(ops)) {
      const want = q.get(`${field}.${op}`);
      if (want !== null) {
        filters.push((r) => (field === 'comment' && r.comment === null ? false : test(get(r), want.toLowerCase())));
      }
    }
  };
  text('name');
  text('content');
  text('comment');
  if (q.has('comment.present')) filters.push((r) => r.comment !== null && r.comment !== '');
  if (q.has('comment.absent')) filters.push((r) => r.comment === null || r.comment === '');
  return filters;
}

interface RecordFields {
  type: string;
  name: string;
  content: string;
  proxied: boolean;
  ttl: number;
  comment: string | null;
  tags: string[];
}

/** Canonical record name: `@` is the apex, relative names get the zone appended. */
function recordName(zone: ZoneState, raw: string): string {
  const name = raw.trim().toLowerCase().replace(/\.$/, '');
  if (name === '@' || name === '') return zone.name;
  return name === zone.name || name.endsWith(`.${zone.name}`) ? name : `${name}.${zone.name}`;
}

/**
 * Validates a create/put body (or a patch over `base`), returning the stored fields. Refuses
 * what Cloudflare refuses for the record types the manager meets.
 */
function validateRecord(zone: ZoneState, input: RecordInput, base: RecordState | null): RecordFields {
  const pick = <K extends keyof RecordInput>(key: K): unknown =>
    input[key] !== undefined ? input[key] : base ? (base as unknown as Record<string, unknown>)[key] : undefined;
  const typeRaw = pick('type');
  if (typeof typeRaw !== 'string' || typeRaw === '') throw dnsInvalid('DNS record type is required.');
  const type = typeRaw.toUpperCase();
  if (!SUPPORTED_TYPES.has(type)) {
    throw dnsInvalid(`The emulator supports record types ${[...SUPPORTED_TYPES].join(', ')}; got ${type}.`);
  }
  const nameRaw = pick('name');
  if (typeof nameRaw !== 'string') throw dnsInvalid('DNS record name is required.');
  const name = recordName(zone, nameRaw);
  if (!HOSTNAME.test(name)) throw dnsInvalid(`DNS name ${JSON.stringify(name)} is invalid.`);
  const contentRaw = pick('content');
  if (typeof contentRaw !== 'string' || contentRaw === '') throw dnsInvalid('DNS record content is required.');
  let content = contentRaw;
  if (type === 'A' && !isIPv4(content)) {
    throw new ApiFailure(400, CF_CODES.INVALID_ADDRESS, 'Content for A record must be a valid IPv4 address.');
  }
  if (type === 'AAAA' && !isIPv6(content)) {
    throw new ApiFailure(400, CF_CODES.INVALID_ADDRESS, 'Content for AAAA record must be a valid IPv6 address.');
  }
  if (type === 'CNAME' || type === 'MX' || type === 'NS') {
    content = content.toLowerCase().replace(/\.$/, '');
    if (!HOSTNAME.test(content)) throw dnsInvalid(`Content for ${type} record must be a hostname.`);
  }
  if (type === 'TXT' && content.length > 2048) throw dnsInvalid('TXT content must be at most 2048 characters.');
  const proxiedRaw = pick('proxied') ?? false;
  if (typeof proxiedRaw !== 'boolean') throw dnsInvalid('proxied must be a boolean.');
  if (proxiedRaw && !PROXIABLE.has(type)) {
    throw new ApiFailure(400, CF_CODES.RECORD_NOT_PROXIABLE, 'This record type cannot be proxied.');
  }
  const ttlRaw = pick('ttl') ?? 1;
  const minTtl = planOf(zone) === 'enterprise' ? 30 : 60;
  if (
    typeof ttlRaw !== 'number' ||
    !Number.isInteger(ttlRaw) ||
    (ttlRaw !== 1 && (ttlRaw < minTtl || ttlRaw > 86_400))
  ) {
    throw new ApiFailure(400, CF_CODES.INVALID_TTL, `TTL must be between ${minTtl} and 86400 seconds, or 1 for Auto.`);
  }
  // Proxied records always answer with Cloudflare's own TTL: the API stores Auto.
  const ttl = proxiedRaw ? 1 : ttlRaw;
  const commentRaw = pick('comment') ?? null;
  if (commentRaw !== null && typeof commentRaw !== 'string') throw dnsInvalid('comment must be a string.');
  const limit = planOf(zone) === 'free' ? 100 : 500;
  if (commentRaw !== null && commentRaw.length > limit) {
    throw dnsInvalid(`DNS record comment is ${commentRaw.length} characters long; this zone allows ${limit}.`);
  }
  if (commentRaw !== null && /[\r\n]/.test(commentRaw)) throw dnsInvalid('DNS record comment cannot contain newlines.');
  const tagsRaw = pick('tags') ?? [];
  if (!Array.isArray(tagsRaw) || !tagsRaw.every((t) => typeof t === 'string')) {
    throw dnsInvalid('tags must be an array of strings.');
  }
  if (tagsRaw.length > 0 && planOf(zone) === 'free')
    throw dnsInvalid('DNS record tags are not available on the Free plan.');
  return {
    type,
    name,
    content,
    proxied: proxiedRaw,
    ttl,
    comment: commentRaw === '' ? null : commentRaw,
    tags: [...tagsRaw],
  };
}

/**
 * Cloudflare's name rules: an identical record (type, name, content) is refused with 81058; a
 * CNAME cannot share its name with any record (81053); no record can join a CNAME (81054).
 */
function checkConflicts(records: readonly RecordState[], fields: RecordFields, selfId: string | null): void {
  const same = records.filter((r) => r.id !== selfId && r.name === fields.name);
  if (same.some((r) => r.type === fields.type && r.content.toLowerCase() === fields.content.toLowerCase())) {
    throw new ApiFailure(400, CF_CODES.IDENTICAL_RECORD, 'An identical record already exists.');
  }
  if (fields.type === 'CNAME' && same.length > 0) {
    throw new ApiFailure(400, CF_CODES.CNAME_NAME_TAKEN, 'An A, AAAA, or CNAME record with that host already exists.');
  }
  if (same.some((r) => r.type === 'CNAME')) {
    throw new ApiFailure(400, CF_CODES.NAME_HAS_CNAME, 'A CNAME record with that host already exists.');
  }
}
