import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { ProcessStatus } from '../ports/process-controller.js';

/** What one `GET /ready` said. */
export interface ReadyResult {
  /** An HTTP answer arrived (any status). */
  readonly answered: boolean;
  /** 200: at least one edge connection is up. */
  readonly ok: boolean;
  readonly statusCode: number | null;
  /** From the body; null when it was not cloudflared's `/ready` shape. */
  readonly readyConnections: number | null;
  readonly connectorId: string | null;
  /** Until the answer (or the failure); null on timeout. */
  readonly latencyMs: number | null;
  /** Why it failed, for the sample's detail. */
  readonly error: string | null;
}

/**
 * Asks a cloudflared metrics server whether the tunnel can serve (`GET <metricsUrl>/ready`).
 *
 * Implementations must resolve (never reject) within about `timeoutMs`, with `answered: false`
 * and an `error` when there was no HTTP answer.
 */
export interface ReadinessProbe {
  check(metricsUrl: string, timeoutMs: number): Promise<ReadyResult>;
}

const MAX_BODY = 4096;

interface ReadyBody {
  readonly status?: unknown;
  readonly readyConnections?: unknown;
  readonly connectorId?: unknown;
}

function parseBody(text: string): ReadyBody | null {
  try {
    const value = JSON.parse(text) as unknown;
    return value !== null && typeof value === 'object' ? (value as ReadyBody) : null;
  } catch {
    return null;
  }
}

/** The probe over real HTTP (node:http, no keep-alive: one check every 30 s needs no pool). */
export class HttpReadinessProbe implements ReadinessProbe {
  check(metricsUrl: string, timeoutMs: number): Promise<ReadyResult> {
    const started = performance.now();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (result: ReadyResult) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(result);
      };
      const failed = (error: string, latency: number | null): ReadyResult => ({
        answered: false,
        ok: false,
        statusCode: null,
        readyConnections: null,
        connectorId: null,
        latencyMs: latency,
        error,
      });
      let req: ReturnType<typeof request>;
      try {
        req = request(`${metricsUrl.replace(/\/+$/, '')}/ready`, { method: 'GET', agent: false });
      } catch (error) {
        resolve(failed(`bad metrics URL ${metricsUrl}: ${(error as Error).message}`, null));
        return;
      }
      const timer = setTimeout(() => {
        req.destroy();
        finish(failed(`no answer from ${metricsUrl}/ready within ${timeoutMs} ms`, null));
      }, timeoutMs);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size <= MAX_BODY) chunks.push(chunk);
        });
        res.on('error', (error) =>
          finish(failed(`reading ${metricsUrl}/ready: ${error.message}`, performance.now() - started)),
        );
        res.on('end', () => {
          const latencyMs = performance.now() - started;
          const statusCode = res.statusCode ?? 0;
          const body = parseBody(Buffer.concat(chunks).toString('utf8'));
          const readyConnections = typeof body?.readyConnections === 'number' ? body.readyConnections : null;
          const ok = statusCode === 200;
          finish({
            answered: true,
            ok,
            statusCode,
            readyConnections,
            connectorId: typeof body?.connectorId === 'string' ? body.connectorId : null,
            latencyMs,
            error: ok
              ? null
              : `${metricsUrl}/ready answered ${statusCode}${readyConnections !== null ? ` (readyConnections ${readyConnections})` : ''}`,
          });
        });
      });
      req.on('error', (error: NodeJS.ErrnoException) =>
        finish(failed(`${metricsUrl}/ready: ${error.code ?? error.message}`, performance.now() - started)),
      );
      req.end();
    });
  }
}

/** One place the tunnel's readiness is read from. */
export interface ReadyTarget {
  /** The replica id, or `tunnel` when the controller reports no replicas. */
  readonly id: string;
  readonly metricsUrl: string;
}

export interface ReplicaReadiness extends ReadyResult {
  readonly id: string;
  readonly metricsUrl: string;
}

/** The ports cloudflared tries for its default metrics address, in order. */
export const CLOUDFLARED_KNOWN_METRICS_PORTS = [20241, 20242, 20243, 20244, 20245] as const;

export interface TunnelReadinessOptions {
  readonly probe?: ReadinessProbe;
  /** `cloudflared.metricsUrl`; without it, and without replica URLs from the controller, the known ports are searched. */
  readonly metricsUrl?: string | undefined;
  /** `health.readyTimeoutMs`. */
  readonly timeoutMs: number;
  /** @default '127.0.0.1' */
  readonly discoveryHost?: string;
  /** @default 20241–20245 */
  readonly discoveryPorts?: readonly number[];
}

/**
 * Where to ask `/ready`, and the asking. The address comes from the controller (each replica's
 * metrics URL), else from `cloudflared.metricsUrl`, else from a search of cloudflared's fixed
 * ports 20241–20245 for a server that answers `/ready` in cloudflared's shape; the found address
 * is kept until it stops answering.
 */
export class TunnelReadiness {
  readonly probe: ReadinessProbe;
  readonly timeoutMs: number;
  readonly #configured: string | undefined;
  readonly #host: string;
  readonly #ports: readonly number[];
  #discovered: string | null = null;

  constructor(options: TunnelReadinessOptions) {
    this.probe = options.probe ?? new HttpReadinessProbe();
    this.timeoutMs = options.timeoutMs;
    this.#configured = options.metricsUrl?.replace(/\/+$/, '');
    this.#host = options.discoveryHost ?? '127.0.0.1';
    this.#ports = options.discoveryPorts ?? CLOUDFLARED_KNOWN_METRICS_PORTS;
  }

  /** The address found by the last search, if any. */
  get discoveredUrl(): string | null {
    return this.#discovered;
  }

  /**
   * Checks every running replica (or the one tunnel) named in `status`. Replicas that are not
   * running are left out: the process check speaks for them.
   */
  async check(status: ProcessStatus | null, only?: readonly string[]): Promise<ReplicaReadiness[]> {
    const replicas = status?.replicas;
    if (replicas && replicas.length > 0 && replicas.some((r) => r.metricsUrl)) {
      const live = replicas.filter(
        (r) => r.state === 'running' && r.metricsUrl && (only === undefined || only.includes(r.id)),
      );
      return Promise.all(
        live.map(async (r) => {
          const url = r.metricsUrl as string;
          return { id: r.id, metricsUrl: url, ...(await this.probe.check(url, this.timeoutMs)) };
        }),
      );
    }
    const known = this.#configured ?? this.#discovered;
    if (known === null) {
      const found = await this.#discover();
      // The search already asked /ready there; that answer is this check's.
      if (found) return [{ id: 'tunnel', metricsUrl: found.url, ...found.result }];
    }
    const url = known;
    if (url === null) {
      return [
        {
          id: 'tunnel',
          metricsUrl: '',
          answered: false,
          ok: false,
          statusCode: null,
          readyConnections: null,
          connectorId: null,
          latencyMs: null,
          error: `no cloudflared metrics server found on ${this.#host}:${this.#ports[0]}–${this.#ports[this.#ports.length - 1]}; set cloudflared.metricsUrl`,
        },
      ];
    }
    const result = await this.probe.check(url, this.timeoutMs);
    if (!result.answered && url === this.#discovered) this.#discovered = null;
    return [{ id: 'tunnel', metricsUrl: url, ...result }];
  }

  async #discover(): Promise<{ url: string; result: ReadyResult } | null> {
    for (const port of this.#ports) {
      const url = `http://${this.#host}:${port}`;
      const result = await this.probe.check(url, this.timeoutMs);
      // Only a server answering in cloudflared's /ready shape counts; any other service on the
      // port does not.
      if (result.answered && result.readyConnections !== null) {
        this.#discovered = url;
        return { url, result };
      }
    }
    return null;
  }
}
