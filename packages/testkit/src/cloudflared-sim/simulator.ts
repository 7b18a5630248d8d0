import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_METRICS_ADDRESS, type SimCommand } from './args.js';
import type { SimConfig } from './config.js';
import { FaultSpecError, NO_FAULTS, parseFaultUpdate, type SimFaults } from './faults.js';

/** The version the simulation reports (`build_info`, `--version`). */
export const SIM_VERSION = '2026.8.0';
/** cloudflared opens four connections to the edge (`--ha-connections`). */
const HA_CONNECTIONS = 4;
/** cloudflared's fixed metrics ports on a host, tried in order for the default address. */
export const KNOWN_METRICS_PORTS = [20241, 20242, 20243, 20244, 20245] as const;
/** Time to "reach the edge" before the first connection registers. */
const CONNECT_DELAY_MS = 150;
const CONNECTION_STAGGER_MS = 25;
/** cloudflared's default `--autoupdate-freq` (24 h). */
export const DEFAULT_AUTOUPDATE_FREQ_MS = 86_400_000;
/** cloudflared's default `--retries`: the backoff grows to 2^5 s, then retries go on at that pace forever. */
const MAX_RETRIES = 5;

/** How the simulated edge treats this process (decided from its credentials and flags at start). */
export interface SimEdgeOptions {
  /**
   * Whether the edge accepts the credentials. When not (a secret that is another tunnel's), every
   * registration fails with "Unauthorized: Invalid tunnel secret" and is retried forever, as
   * cloudflared's supervisor does (it hopes for edge propagation lag).
   */
  readonly authorized: boolean;
  /** Auto-update is on (no `--no-autoupdate`, a non-zero frequency): logged at start, as cloudflared does. */
  readonly autoupdate: { readonly enabled: boolean; readonly freqMs: number };
}

/** What `GET /sim/state` returns. */
export interface SimState {
  readonly pid: number;
  readonly startedAt: number;
  readonly tunnelId: string;
  readonly connectorId: string;
  readonly metricsAddress: string;
  readonly configPath: string | null;
  readonly configSha256: string | null;
  readonly gracePeriodMs: number;
  readonly readyConnections: number;
  /** `cloudflared_tunnel_ha_connections`: connections being served or (re)tried, not only ready ones. */
  readonly haConnections: number;
  /** Whether the edge accepted the credentials. */
  readonly authorized: boolean;
  /** Whether cloudflared would update itself (it was started without `--no-autoupdate`). */
  readonly autoupdate: { readonly enabled: boolean; readonly freqMs: number };
  readonly shuttingDown: boolean;
  readonly faults: SimFaults;
}

export interface SimulatorIo {
  /** One log line (cloudflared logs to stderr). */
  log(level: 'DBG' | 'INF' | 'WRN' | 'ERR', message: string): void;
  /** Ends the process. */
  exit(code: number): void;
}

/** zerolog's console format, as cloudflared prints it: `2026-01-01T00:00:00Z INF message`. */
export function formatLogLine(level: string, message: string, now = new Date()): string {
  return `${now.toISOString().replace(/\.\d{3}Z$/, 'Z')} ${level} ${message}`;
}

const goSignalName: Record<string, string> = { SIGTERM: 'terminated', SIGINT: 'interrupt' };

/**
 * One simulated cloudflared process: the metrics server (`/ready`, `/healthcheck`, `/metrics`,
 * `/config`), four simulated edge connections, graceful shutdown, and the fault modes. Runs
 * inside the `cloudflared-sim` executable; `process`-level effects go through `io`.
 */
export class Simulator {
  readonly #command: SimCommand;
  readonly #config: SimConfig;
  readonly #io: SimulatorIo;
  readonly #tunnelId: string;
  readonly #edge: SimEdgeOptions;
  readonly #connectorId = randomUUID();
  readonly #startedAt = Date.now();
  #faults: SimFaults;
  #registered = 0;
  /** Connection slots cloudflared serves (1 until the first registers, then all of them). */
  #slots = 0;
  #dialTimer: NodeJS.Timeout | null = null;
  #dialAttempt = 0;
  #flapDown = false;
  #shuttingDown = false;
  #server: Server | null = null;
  #address = '';
  #connectTimers: NodeJS.Timeout[] = [];
  #crashTimer: NodeJS.Timeout | null = null;
  #flapTimer: NodeJS.Timeout | null = null;
  #pidfileWritten = false;
  readonly #held = new Set<ServerResponse>();

  constructor(
    command: SimCommand,
    config: SimConfig,
    tunnelId: string,
    io: SimulatorIo,
    edge: SimEdgeOptions = { authorized: true, autoupdate: { enabled: false, freqMs: DEFAULT_AUTOUPDATE_FREQ_MS } },
  ) {
    this.#command = command;
    this.#config = config;
    this.#tunnelId = tunnelId;
    this.#io = io;
    this.#edge = edge;
    this.#faults = command.faults;
  }

  /** Starts the metrics server and the connections; resolves with the bound address. */
  async start(): Promise<string> {
    this.#io.log('INF', `Starting tunnel tunnelID=${this.#tunnelId}`);
    this.#io.log('INF', `Version ${SIM_VERSION} (simulated cloudflared, pid ${process.pid})`);
    for (const w of this.#config.warnings) this.#io.log('WRN', w);
    if (this.#config.path) this.#io.log('INF', `Settings: config=${this.#config.path}`);
    if (this.#edge.autoupdate.enabled) {
      // zerolog prints a duration field in milliseconds.
      this.#io.log('INF', `Autoupdate frequency is set autoupdateFreq=${this.#edge.autoupdate.freqMs}`);
    }
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => socket.setNoDelay(true));
    this.#address = await this.#listen(this.#server, this.#command.metrics);
    this.#io.log('INF', `Starting metrics server on ${this.#address}/metrics`);
    this.#scheduleConnections(CONNECT_DELAY_MS + this.#faults.slowStartMs);
    this.#applyTimedFaults(NO_FAULTS);
    return this.#address;
  }

  /** The first SIGTERM/SIGINT: stop serving new requests, drain in-flight ones within the grace period. */
  beginGracefulShutdown(signal: string): void {
    if (this.#shuttingDown) return;
    this.#shuttingDown = true;
    this.#io.log('INF', `Initiating graceful shutdown due to signal ${goSignalName[signal] ?? signal} ...`);
    const wait = Math.min(this.#faults.drainMs, this.#command.gracePeriodMs);
    setTimeout(() => void this.#finishShutdown(), wait);
  }

  state(): SimState {
    return {
      pid: process.pid,
      startedAt: this.#startedAt,
      tunnelId: this.#tunnelId,
      connectorId: this.#connectorId,
      metricsAddress: this.#address,
      configPath: this.#config.path,
      configSha256: this.#config.sha256,
      gracePeriodMs: this.#command.gracePeriodMs,
      readyConnections: this.#readyConnections(),
      haConnections: this.#haConnections(),
      authorized: this.#edge.authorized,
      autoupdate: this.#edge.autoupdate,
      shuttingDown: this.#shuttingDown,
      faults: this.#faults,
    };
  }

  async #finishShutdown(): Promise<void> {
    for (let i = 0; i < this.#registered; i++) {
      this.#io.log('INF', `Unregistered tunnel connection connIndex=${i} event=0`);
    }
    this.#registered = 0;
    this.#slots = 0;
    this.#stopTimers();
    for (const res of this.#held) res.destroy();
    const server = this.#server;
    if (server) {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      this.#io.log('INF', 'Metrics server stopped');
    }
    this.#io.log('INF', 'Tunnel server stopped');
    this.#io.exit(0);
  }

  #readyConnections(): number {
    if (this.#shuttingDown || this.#faults.hang || this.#flapDown) return 0;
    return this.#registered;
  }

  /**
   * cloudflared's `ha_connections` gauge goes up when a connection's serve loop starts and down
   * when it returns (`supervisor/tunnel.go`): it counts connections being served or retried,
   * not ready ones. Only the first is tried until one registers; then all of them run.
   */
  #haConnections(): number {
    return this.#shuttingDown ? 0 : this.#slots;
  }

  /** Whether a dial to the edge fails now, and the error cloudflared logs for it. */
  #dialFailure(): { log: string } | null {
    if (this.#faults.edgeUnreachable) {
      return {
        log: 'Failed to dial a quic connection error="failed to dial to edge with quic: timeout: no recent network activity"',
      };
    }
    if (!this.#edge.authorized) {
      return { log: 'Register tunnel error from server side error="Unauthorized: Invalid tunnel secret"' };
    }
    return null;
  }

  /** Connection 0 dials, fails, backs off and dials again, forever — as long as the failure lasts. */
  #scheduleDial(delayMs: number): void {
    if (this.#dialTimer) clearTimeout(this.#dialTimer);
    this.#dialTimer = setTimeout(() => {
      this.#dialTimer = null;
      if (this.#shuttingDown) return;
      const failure = this.#dialFailure();
      if (!failure) {
        this.#dialAttempt = 0;
        this.#scheduleConnections(0);
        return;
      }
      this.#dialAttempt += 1;
      const maxWaitS = 2 ** Math.min(this.#dialAttempt, MAX_RETRIES);
      const where = 'connIndex=0 event=0 ip=198.41.200.13';
      this.#io.log('ERR', `${failure.log} ${where}`);
      this.#io.log('INF', `Retrying connection in up to ${maxWaitS}s ${where}`);
      // Half the maximum: cloudflared waits a random time up to it.
      this.#scheduleDial((maxWaitS * 1000) / 2);
    }, delayMs);
  }

  async #listen(server: Server, address: string): Promise<string> {
    const tryListen = (host: string, port: number) =>
      new Promise<AddressInfo>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        server.once('error', onError);
        server.listen({ host, port, exclusive: true }, () => {
          server.off('error', onError);
          resolve(server.address() as AddressInfo);
        });
      });
    const render = (a: AddressInfo) => (a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    const { host, port } = splitHostPort(address);
    const bindHost = host === 'localhost' || host === '' ? '127.0.0.1' : host;
    if (address === DEFAULT_METRICS_ADDRESS) {
      // cloudflared's default: the known ports first, so a watchdog can find it; then any port.
      for (const known of KNOWN_METRICS_PORTS) {
        try {
          return render(await tryListen(bindHost, known));
        } catch {
          // taken: try the next one
        }
      }
    }
    try {
      return render(await tryListen(bindHost, port));
    } catch (error) {
      throw new Error(`failed to bind to address (${address}): ${(error as Error).message}`);
    }
  }

  #scheduleConnections(delayMs: number): void {
    for (const t of this.#connectTimers) clearTimeout(t);
    this.#connectTimers = [];
    this.#slots = Math.max(this.#slots, 1);
    if (this.#dialFailure()) {
      this.#scheduleDial(delayMs);
      return;
    }
    if (this.#dialTimer) clearTimeout(this.#dialTimer);
    this.#dialTimer = null;
    for (let i = 0; i < HA_CONNECTIONS; i++) {
      const timer = setTimeout(
        () => {
          if (this.#shuttingDown) return;
          if (this.#dialFailure()) {
            // The edge went away while the others were still connecting.
            this.#scheduleDial(0);
            return;
          }
          this.#registered = Math.max(this.#registered, i + 1);
          // Once one is up, cloudflared starts the next connection's serve loop.
          this.#slots = Math.min(HA_CONNECTIONS, Math.max(this.#slots, i + 2));
          this.#io.log(
            'INF',
            `Registered tunnel connection connIndex=${i} connection=${randomUUID()} event=0 ip=198.41.200.${13 + i} location=sim0${i + 1} protocol=quic`,
          );
          this.#writePidfileOnce();
        },
        delayMs + i * CONNECTION_STAGGER_MS,
      );
      this.#connectTimers.push(timer);
    }
  }

  #writePidfileOnce(): void {
    const pidfile = this.#command.pidfile;
    if (!pidfile || this.#pidfileWritten) return;
    this.#pidfileWritten = true;
    try {
      writeFileSync(pidfile, String(process.pid));
    } catch (error) {
      this.#io.log('ERR', `Unable to write pid to ${pidfile} error="${(error as Error).message}"`);
    }
  }

  /** Re-arms the crash and flap timers after the faults changed. */
  #applyTimedFaults(previous: SimFaults): void {
    const now = this.#faults;
    if (now.crashAfterMs !== previous.crashAfterMs || this.#crashTimer === null) {
      if (this.#crashTimer) clearTimeout(this.#crashTimer);
      this.#crashTimer = null;
      if (now.crashAfterMs !== null) {
        this.#crashTimer = setTimeout(() => {
          process.stderr.write('panic: simulated crash (fault crash-after)\n\ngoroutine 1 [running]:\nmain.main()\n');
          this.#io.exit(2);
        }, now.crashAfterMs);
      }
    }
    if (now.flapMs !== previous.flapMs) {
      if (this.#flapTimer) clearInterval(this.#flapTimer);
      this.#flapTimer = null;
      this.#flapDown = false;
      if (now.flapMs !== null) {
        this.#flapTimer = setInterval(() => {
          this.#flapDown = !this.#flapDown;
          this.#io.log(
            this.#flapDown ? 'ERR' : 'INF',
            this.#flapDown
              ? 'Connection terminated error="simulated flap" connIndex=0'
              : 'Registered tunnel connection connIndex=0 event=0 (after flap)',
          );
        }, now.flapMs);
      }
    }
    if (now.hang !== previous.hang && now.hang) {
      this.#io.log('ERR', 'Connection terminated error="simulated hang: the edge is unreachable" connIndex=0');
    }
  }

  #stopTimers(): void {
    for (const t of this.#connectTimers) clearTimeout(t);
    if (this.#dialTimer) clearTimeout(this.#dialTimer);
    if (this.#crashTimer) clearTimeout(this.#crashTimer);
    if (this.#flapTimer) clearInterval(this.#flapTimer);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith('/sim/')) {
      this.#control(req, res, path);
      return;
    }
    if (this.#faults.noHttp) {
      // Accept and never answer, like a wedged process.
      this.#held.add(res);
      res.on('close', () => this.#held.delete(res));
      return;
    }
    switch (path) {
      case '/ready': {
        const ready = this.#readyConnections();
        const status = ready > 0 ? 200 : 503;
        // Go's http server sniffs the JSON body as text/plain.
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(JSON.stringify({ status, readyConnections: ready, connectorId: this.#connectorId }));
        return;
      }
      case '/healthcheck':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('OK\n');
        return;
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(this.#metrics());
        return;
      case '/config':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(
          JSON.stringify({
            // A locally-managed tunnel runs at version -1; remote pushes start at 0.
            version: -1,
            config: {
              ingress: this.#config.ingress,
              'warp-routing': this.#config.warpRouting ?? { enabled: false },
              originRequest: this.#config.originRequest ?? {},
            },
          }),
        );
        return;
      case '/quicktunnel':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('{"hostname":""}');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('404 page not found\n');
    }
  }

  #metrics(): string {
    return [
      '# HELP build_info Build and version information',
      '# TYPE build_info gauge',
      `build_info{goversion="go1.24.6",revision="sim",type="sim",version="${SIM_VERSION}"} 1`,
      '# HELP cloudflared_orchestration_config_version Configuration Version',
      '# TYPE cloudflared_orchestration_config_version gauge',
      'cloudflared_orchestration_config_version -1',
      '# HELP cloudflared_tunnel_ha_connections Number of active ha connections',
      '# TYPE cloudflared_tunnel_ha_connections gauge',
      `cloudflared_tunnel_ha_connections ${this.#haConnections()}`,
      '# HELP cloudflared_tunnel_request_errors Amount of errors due to proxying',
      '# TYPE cloudflared_tunnel_request_errors counter',
      'cloudflared_tunnel_request_errors 0',
      '# HELP cloudflared_tunnel_response_by_code Count of responses by HTTP status code',
      '# TYPE cloudflared_tunnel_response_by_code counter',
      'cloudflared_tunnel_response_by_code{status_code="200"} 0',
      '# HELP cloudflared_tunnel_total_requests Amount of requests proxied through all the tunnels',
      '# TYPE cloudflared_tunnel_total_requests counter',
      'cloudflared_tunnel_total_requests 0',
      '',
    ].join('\n');
  }

  #control(req: IncomingMessage, res: ServerResponse, path: string): void {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (path === '/sim/state' && req.method === 'GET') {
      reply(200, this.state());
      return;
    }
    if (path !== '/sim/fault' || req.method !== 'POST') {
      reply(404, { error: 'GET /sim/state or POST /sim/fault' });
      return;
    }
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    req.on('end', () => {
      try {
        const update = parseFaultUpdate(JSON.parse(text || '{}'));
        const previous = this.#faults;
        const { reset, ...changes } = update;
        this.#faults = { ...(reset ? NO_FAULTS : previous), ...changes };
        this.#io.log('INF', `Simulation faults set: ${JSON.stringify(this.#faults)}`);
        this.#applyTimedFaults(previous);
        if (changes.slowStartMs !== undefined && changes.slowStartMs > 0) {
          // A slow start at run time: drop every connection and come back after the delay.
          for (let i = 0; i < this.#registered; i++) {
            this.#io.log('ERR', `Connection terminated error="simulated reconnect" connIndex=${i}`);
          }
          this.#registered = 0;
          this.#scheduleConnections(changes.slowStartMs);
        }
        if (!previous.edgeUnreachable && this.#faults.edgeUnreachable) {
          // The edge went away: every connection drops and is retried, and none comes back.
          for (let i = 0; i < this.#registered; i++) {
            this.#io.log('ERR', `Connection terminated error="timeout: no recent network activity" connIndex=${i}`);
          }
          this.#registered = 0;
          this.#scheduleConnections(0);
        } else if (previous.edgeUnreachable && !this.#faults.edgeUnreachable && this.#registered === 0) {
          this.#scheduleConnections(0);
        }
        if (previous.noHttp && !this.#faults.noHttp) {
          for (const held of this.#held) held.destroy();
        }
        reply(200, this.state());
      } catch (error) {
        reply(400, {
          error: error instanceof FaultSpecError ? error.message : `bad JSON: ${(error as Error).message}`,
        });
      }
    });
  }
}

/** Splits `host:port`, `[v6]:port` or `:port`. */
export function splitHostPort(address: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(address);
  if (!match) throw new Error(`address ${address}: missing port in address`);
  return { host: match[1] ?? match[2] ?? '', port: Number(match[3]) };
}
