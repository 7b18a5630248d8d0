import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { dirname } from 'node:path';
import { ApiModel, CF_CODES, envelope, errorEnvelope, type SeededState } from './api.js';
import {
  type EmulatorData,
  type EmulatorSeed,
  emptyData,
  type RecordState,
  type SeedConnector,
  type SeedDnsRecord,
  type SeedToken,
  type SeedTunnel,
  type SeedZone,
  type TokenState,
  type TunnelState,
  type TunnelStatus,
  type ZoneState,
} from './model.js';

/** The prefix the API is served under; `url` ends with it, as the SDK's `baseURL` does. */
export const API_PREFIX = '/client/v4';
/** The control API (seeding, faults, the log) for processes that did not start the emulator. */
export const CONTROL_PREFIX = '/__emulator';

/** A rate limit window, like Cloudflare's 1,200 requests per 5 minutes per token. */
export interface RateLimitOptions {
  /** Requests allowed per window and token. @default 1200 */
  readonly requests?: number;
  /** @default 300_000 (5 minutes) */
  readonly windowMs?: number;
}

/**
 * A failure the next matching request(s) meet instead of (or on top of) their normal answer.
 * Exactly one of `status`, `drop` should be set; `delayMs` combines with either or stands alone.
 */
export interface FaultSpec {
  /** How many matching requests the fault applies to. @default 1 */
  readonly times?: number;
  /** Let this many matching requests through untouched first (to fail the Nth one). @default 0 */
  readonly skip?: number;
  /** Only requests with this method (upper-case). @default any */
  readonly method?: string;
  /** Only requests whose path (after `/client/v4`) contains this string or matches this RegExp. @default any */
  readonly path?: string | RegExp;
  /** Answer with this HTTP status and a v4 error envelope; nothing is applied. */
  readonly status?: number;
  /** The Cloudflare error code in that envelope. @default the status itself */
  readonly code?: number;
  /** @default `Injected fault` */
  readonly message?: string;
  /** Sent as `retry-after` (seconds) with the status. */
  readonly retryAfterSeconds?: number;
  /** Wait this long (real milliseconds: network latency) before answering. */
  readonly delayMs?: number;
  /**
   * Destroy the connection without an answer: `before` the request is handled (nothing
   * applied) or `after` it was (applied, answer lost — the retry-after-timeout case).
   */
  readonly drop?: 'before' | 'after';
}

/** One API request as the emulator received it. */
export interface LoggedRequest {
  /** Emulator clock, epoch ms. */
  readonly at: number;
  readonly method: string;
  /** After `/client/v4`, e.g. `/zones/…/dns_records`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** The parsed JSON body, the raw text if it was not JSON, or null. */
  readonly body: unknown;
  /** The bearer token sent, or null. */
  readonly token: string | null;
  /** The HTTP status answered, `dropped`, or 0 while the request is still being handled. */
  status: number | 'dropped';
}

export interface CloudflareEmulatorOptions {
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** State planted at start (after loading `statePath`, if that file exists it wins and the seed is skipped). */
  readonly seed?: EmulatorSeed;
  /**
   * Persist every change to this JSON file (atomically: temp file + rename) and load it at
   * start when it exists. The sandbox keeps its emulated Cloudflare across restarts this way.
   * @default no persistence
   */
  readonly statePath?: string;
  /** Changes allowed per `dns_records/batch` call (200 on free zones, 3,500 on paid). @default 200 */
  readonly batchLimit?: number;
  /** Turns the rate limiter on (429 + `retry-after` for the rest of the window). @default off */
  readonly rateLimit?: RateLimitOptions | false;
  /** The emulator's clock (timestamps, rate-limit windows); pass a ManualClock in tests. @default Date.now */
  readonly clock?: { now(): number };
  /** Keep at most this many entries in the request log (oldest dropped). @default 100_000 */
  readonly maxLogEntries?: number;
}

/** A running emulator. */
export interface CloudflareEmulator {
  /** The API base URL, e.g. `http://127.0.0.1:41234/client/v4` (the SDK's `baseURL`). */
  readonly url: string;
  /** The origin, e.g. `http://127.0.0.1:41234` (the control API is under `/__emulator`). */
  readonly origin: string;
  readonly port: number;
  /** The stored data (live; mutate it only through the methods below). */
  readonly data: EmulatorData;
  /** Every API request received, oldest first. */
  readonly requests: readonly LoggedRequest[];
  /** Requests matching a method and/or path fragment. */
  requestsTo(filter: { method?: string; path?: string | RegExp }): LoggedRequest[];
  clearRequests(): void;
  seed(seed: EmulatorSeed): SeededState;
  addZone(seed: SeedZone): ZoneState;
  /** Plants a record as someone else would (the API's name rules apply). */
  addRecord(seed: SeedDnsRecord): RecordState;
  /** Plants many records without the per-record conflict scan (large zones, benchmarks). */
  addRecordsUnchecked(zoneId: string, seeds: readonly Omit<SeedDnsRecord, 'zoneId' | 'zone'>[]): number;
  addTunnel(seed: SeedTunnel): TunnelState;
  addToken(seed: SeedToken): TokenState;
  removeToken(value: string): boolean;
  /** Every record of a zone, in creation order (copies). */
  records(zoneId: string): RecordState[];
  /** A tunnel's stored state (live: read it, change it through `setTunnel`). */
  tunnel(tunnelId: string): TunnelState | undefined;
  /** Sets what the API reports for a tunnel: status, connectors (count or detail), config source. */
  setTunnel(
    tunnelId: string,
    change: {
      status?: TunnelStatus;
      connectors?: number | readonly SeedConnector[];
      configSrc?: 'local' | 'cloudflare';
    },
  ): TunnelState;
  /** Replaces a tunnel's remote configuration as a dashboard edit would (version + 1). */
  setTunnelConfig(tunnelId: string, config: Record<string, unknown>): TunnelState;
  /** Queues a fault for the next matching request(s). */
  injectFault(fault: FaultSpec): void;
  /** Faults still queued. */
  pendingFaults(): number;
  clearFaults(): void;
  /** Turns the rate limiter on (or off with `false`); windows restart. */
  setRateLimit(rateLimit: RateLimitOptions | false): void;
  setBatchLimit(limit: number): void;
  close(): Promise<void>;
}

interface QueuedFault {
  spec: FaultSpec;
  remaining: number;
  skip: number;
}

function loadState(path: string): EmulatorData {
  const data = JSON.parse(readFileSync(path, 'utf8')) as EmulatorData;
  if (data?.version !== 1 || !Array.isArray(data.zones) || !Array.isArray(data.records)) {
    throw new Error(`${path} is not a Cloudflare emulator state file (version 1)`);
  }
  return { ...emptyData(), ...data };
}

function saveState(path: string, data: EmulatorData): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(data));
  renameSync(temp, path);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function bearer(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  return match?.[1] ?? null;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

function faultMatches(spec: FaultSpec, method: string, path: string): boolean {
  if (spec.method && spec.method.toUpperCase() !== method) return false;
  if (spec.path === undefined) return true;
  return typeof spec.path === 'string' ? path.includes(spec.path) : spec.path.test(path);
}

/**
 * Starts a Cloudflare API v4 emulator on loopback: stateful, authenticated per token, with the
 * DNS and tunnel endpoints the manager uses, a request log, fault injection, an optional rate
 * limiter and optional persistence. Point the official SDK at `url` (its `baseURL`).
 *
 * @example
 * const cf = await startCloudflareEmulator({ seed: { zones: [{ name: 'example.com' }], tokens: [{ value: 't', permissions: 'all' }] } });
 * const client = new Cloudflare({ apiToken: 't', baseURL: cf.url, maxRetries: 0 });
 */
export async function startCloudflareEmulator(options: CloudflareEmulatorOptions = {}): Promise<CloudflareEmulator> {
  const clock = options.clock ?? { now: () => Date.now() };
  const statePath = options.statePath;
  const loaded = statePath && existsSync(statePath) ? loadState(statePath) : null;
  const data = loaded ?? emptyData();
  const model = new ApiModel(data, { now: () => clock.now(), batchLimit: options.batchLimit ?? 200 });
  if (!loaded && options.seed) model.seed(options.seed);
  const persist = () => {
    if (statePath) saveState(statePath, data);
  };
  persist();

  const maxLog = options.maxLogEntries ?? 100_000;
  const log: LoggedRequest[] = [];
  let faults: QueuedFault[] = [];
  let rateLimit: Required<RateLimitOptions> | null = null;
  let windows = new Map<string, { start: number; count: number }>();
  const setRateLimit = (value: RateLimitOptions | false | undefined) => {
    rateLimit = value ? { requests: value.requests ?? 1200, windowMs: value.windowMs ?? 300_000 } : null;
    windows = new Map();
  };
  setRateLimit(options.rateLimit);

  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const takeFault = (method: string, path: string): FaultSpec | undefined => {
    const queued = faults.find((f) => faultMatches(f.spec, method, path));
    if (!queued) return undefined;
    if (queued.skip > 0) {
      queued.skip -= 1;
      return undefined;
    }
    queued.remaining -= 1;
    if (queued.remaining <= 0) faults = faults.filter((f) => f !== queued);
    return queued.spec;
  };

  /** Fixed window per token, like Cloudflare's: over the limit, 429 until the window ends. */
  const rateLimited = (token: string | null): number | null => {
    if (!rateLimit) return null;
    const now = clock.now();
    const key = token ?? '(anonymous)';
    let window = windows.get(key);
    if (!window || now >= window.start + rateLimit.windowMs) {
      window = { start: now, count: 0 };
      windows.set(key, window);
    }
    window.count += 1;
    if (window.count <= rateLimit.requests) return null;
    return Math.max(1, Math.ceil((window.start + rateLimit.windowMs - now) / 1000));
  };

  const handleApi = async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname.slice(API_PREFIX.length) || '/';
    const raw = await readBody(req);
    let body: unknown = null;
    let malformed = false;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
        malformed = true;
      }
    }
    const entry: LoggedRequest = {
      at: clock.now(),
      method,
      path,
      query: Object.fromEntries(url.searchParams),
      body,
      token: bearer(req),
      status: 0,
    };
    log.push(entry);
    if (log.length > maxLog) log.splice(0, log.length - maxLog);

    const fault = takeFault(method, path);
    if (fault?.delayMs) await delay(fault.delayMs);
    if (fault?.drop === 'before') {
      entry.status = 'dropped';
      req.socket.destroy();
      return;
    }
    if (fault?.status !== undefined) {
      entry.status = fault.status;
      send(
        res,
        fault.status,
        errorEnvelope(fault.code ?? fault.status, fault.message ?? 'Injected fault'),
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
      );
      return;
    }
    const wait = rateLimited(entry.token);
    if (wait !== null) {
      entry.status = 429;
      send(res, 429, errorEnvelope(CF_CODES.RATE_LIMITED, 'Please wait and consider throttling your request speed'), {
        'retry-after': String(wait),
      });
      return;
    }
    const answer = malformed
      ? { status: 400, body: errorEnvelope(CF_CODES.MALFORMED_JSON, 'Malformed JSON in request body'), mutated: false }
      : model.handle({ method, path, query: url.searchParams, body, token: entry.token });
    if (answer.mutated) persist();
    if (fault?.drop === 'after') {
      entry.status = 'dropped';
      req.socket.destroy();
      return;
    }
    entry.status = answer.status;
    send(res, answer.status, answer.body, { ...answer.headers });
  };

  const emulator: CloudflareEmulator = {
    url: '',
    origin: '',
    port: 0,
    data,
    requests: log,
    requestsTo: ({ method, path }) =>
      log.filter(
        (r) =>
          (method === undefined || r.method === method.toUpperCase()) &&
          (path === undefined || (typeof path === 'string' ? r.path.includes(path) : path.test(r.path))),
      ),
    clearRequests: () => {
      log.length = 0;
    },
    seed: (seed) => {
      const seeded = model.seed(seed);
      persist();
      return seeded;
    },
    addZone: (seed) => {
      const zone = model.addZone(seed);
      persist();
      return zone;
    },
    addRecord: (seed) => {
      const record = model.addRecord(seed);
      persist();
      return record;
    },
    addRecordsUnchecked: (zoneId, seeds) => {
      const n = model.addRecordsUnchecked(zoneId, seeds);
      persist();
      return n;
    },
    addTunnel: (seed) => {
      const tunnel = model.addTunnel(seed);
      persist();
      return tunnel;
    },
    addToken: (seed) => {
      const token = model.addToken(seed);
      persist();
      return token;
    },
    removeToken: (value) => {
      const removed = model.removeToken(value);
      persist();
      return removed;
    },
    records: (zoneId) => model.zoneRecords(zoneId).map((r) => structuredClone(r)),
    tunnel: (tunnelId) => data.tunnels.find((t) => t.id === tunnelId),
    setTunnel: (tunnelId, change) => {
      const tunnel = model.setTunnel(tunnelId, change);
      persist();
      return tunnel;
    },
    setTunnelConfig: (tunnelId, config) => {
      const tunnel = data.tunnels.find((t) => t.id === tunnelId);
      if (!tunnel) throw new Error(`No tunnel ${tunnelId} in the emulator`);
      model.setTunnelConfig(tunnel, config);
      persist();
      return tunnel;
    },
    injectFault: (fault) => {
      if (fault.status === undefined && fault.drop === undefined && fault.delayMs === undefined) {
        throw new Error('A fault needs a status, a drop or a delayMs');
      }
      faults.push({ spec: fault, remaining: fault.times ?? 1, skip: fault.skip ?? 0 });
    },
    pendingFaults: () => faults.reduce((n, f) => n + f.remaining, 0),
    clearFaults: () => {
      faults = [];
    },
    setRateLimit,
    setBatchLimit: (limit) => {
      model.batchLimit = limit;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const done = (error: unknown) => {
      if (!res.headersSent && !res.destroyed) {
        send(res, 500, errorEnvelope(500, `Emulator error: ${(error as Error)?.message ?? String(error)}`));
      }
    };
    if (url.pathname === API_PREFIX || url.pathname.startsWith(`${API_PREFIX}/`)) {
      handleApi(req, res, url).catch(done);
    } else if (url.pathname.startsWith(`${CONTROL_PREFIX}/`)) {
      handleControl(emulator, req, res, url).catch((error: unknown) => {
        if (!res.headersSent) send(res, 400, { error: (error as Error).message });
      });
    } else {
      send(res, 404, errorEnvelope(CF_CODES.NO_ROUTE, 'No route for that URI'));
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const origin = `http://${host}:${address.port}`;
  Object.assign(emulator, { url: `${origin}${API_PREFIX}`, origin, port: address.port });
  return emulator;
}

/**
 * The control API, for a sandbox or test in another process:
 * - `GET  /__emulator/state` — the stored data;
 * - `POST /__emulator/seed` — body: an EmulatorSeed; answers what was planted;
 * - `POST /__emulator/tunnels/<id>` — body: `{status?, connectors?, configSrc?}`;
 * - `POST /__emulator/faults` — body: a FaultSpec (`path` as a string);
 * - `POST /__emulator/rate-limit` — body: `{requests, windowMs}` or `false`;
 * - `GET  /__emulator/requests`, `DELETE /__emulator/requests` — the request log.
 */
async function handleControl(
  emulator: CloudflareEmulator,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  const method = req.method ?? 'GET';
  const path = url.pathname.slice(CONTROL_PREFIX.length);
  const raw = await readBody(req);
  const body: unknown = raw ? JSON.parse(raw) : null;
  const tunnel = /^\/tunnels\/([^/]+)$/.exec(path);
  if (method === 'GET' && path === '/state') return send(res, 200, envelope(emulator.data));
  if (method === 'POST' && path === '/seed') return send(res, 200, envelope(emulator.seed(body as EmulatorSeed)));
  if (method === 'POST' && tunnel) {
    return send(res, 200, envelope(emulator.setTunnel(decodeURIComponent(tunnel[1] ?? ''), body as never)));
  }
  if (method === 'POST' && path === '/faults') {
    emulator.injectFault(body as FaultSpec);
    return send(res, 200, envelope({ pending: emulator.pendingFaults() }));
  }
  if (method === 'POST' && path === '/rate-limit') {
    emulator.setRateLimit(body as RateLimitOptions | false);
    return send(res, 200, envelope(null));
  }
  if (method === 'GET' && path === '/requests') return send(res, 200, envelope(emulator.requests));
  if (method === 'DELETE' && path === '/requests') {
    emulator.clearRequests();
    return send(res, 200, envelope(null));
  }
  send(res, 404, { error: `No control route ${method} ${path}` });
}

/**
 * A ready-to-use seed: one account, the zone `example.com`, one remotely-configured tunnel with
 * two connectors, and one token with every permission. The CLI uses it when started empty.
 */
export function defaultEmulatorSeed(token = 'emulator-token'): EmulatorSeed {
  return {
    accounts: [{ id: '0123456789abcdef0123456789abcdef', name: 'Emulated account' }],
    zones: [{ id: '023e105f4ecef8ad9ca31a8372d0c353', name: 'example.com' }],
    tunnels: [
      {
        id: 'f70ff985-a4ef-4643-bbbc-4a0ed4fc8415',
        name: 'tunnel-manager',
        connectors: 2,
        config: { ingress: [{ service: 'http_status:404' }] },
      },
    ],
    tokens: [{ value: token, name: 'emulator', permissions: 'all' }],
  };
}
