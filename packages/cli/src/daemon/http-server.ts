import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '@tunnel/core';
import type { DaemonMetrics } from './metrics.js';

/** Serves one path (e.g. the MCP endpoint); must answer or end the response. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export interface DaemonHttpServerOptions {
  readonly host: string;
  /** 0 for any free port. */
  readonly port: number;
  readonly metrics?: DaemonMetrics;
  /** The `/healthz` body: the daemon's own state. `ok: false` answers 503. */
  readonly healthz?: () => { readonly ok: boolean };
  /** More routes by exact path (the MCP endpoint). */
  readonly routes?: ReadonlyMap<string, RouteHandler>;
  readonly logger?: Logger;
}

export interface DaemonHttpServer {
  readonly server: Server;
  /** e.g. `http://127.0.0.1:9180` */
  readonly origin: string;
  readonly port: number;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then cuts what is left. */
  close(graceMs?: number): Promise<void>;
}

function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The daemon's HTTP endpoint on `node:http`: `GET /healthz` (the daemon's state as JSON),
 * `GET /metrics` (Prometheus text), and the extra routes (the MCP Streamable HTTP endpoint).
 * Every request is counted in `tunnel_http_requests_total` by route and status.
 */
export async function startDaemonHttpServer(options: DaemonHttpServerOptions): Promise<DaemonHttpServer> {
  const routes = options.routes ?? new Map<string, RouteHandler>();
  const sockets = new Set<Socket>();
  const handle = async (req: IncomingMessage, res: ServerResponse, path: string): Promise<void> => {
    if (path === '/healthz') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
      const body = options.healthz?.() ?? { ok: true };
      return sendText(res, body.ok ? 200 : 503, `${JSON.stringify(body)}\n`, 'application/json');
    }
    if (path === '/metrics' && options.metrics) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendText(res, 405, 'method not allowed\n');
      const { contentType, body } = await options.metrics.render();
      return sendText(res, 200, body, contentType);
    }
    const route = routes.get(path);
    if (route) return route(req, res);
    sendText(res, 404, 'not found\n');
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://daemon').pathname;
    const label = path === '/healthz' || path === '/metrics' || routes.has(path) ? path : 'other';
    res.once('finish', () => options.metrics?.observeHttp(label, res.statusCode));
    Promise.resolve(handle(req, res, path)).catch((error: unknown) => {
      options.logger?.error('HTTP request failed', { path: label, error });
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    server,
    origin: `http://${host}:${address.port}`,
    port: address.port,
    async close(graceMs = 5_000) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}
