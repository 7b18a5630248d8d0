import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import {
  Actor,
  type BearerTokenVerifier,
  type Clock,
  type Logger,
  NoopLogger,
  SystemClock,
  type TunnelManagerApi,
} from '@tunnel/core';
import { RateLimiter } from './rate-limit.js';
import { createTunnelMcpServer } from './server.js';

export interface McpHttpHandlerOptions {
  /** The façade every tool calls. */
  readonly manager: TunnelManagerApi;
  /** Resolves `Authorization: Bearer <token>` to an actor; an `ApiTokenService` from `@tunnel/core`. */
  readonly tokens: BearerTokenVerifier;
  /**
   * Tool calls per token per minute (`mcp.rateLimitPerMinute`), or a limiter to share between
   * handlers. Over the limit a call gets the tool error `RATE_LIMITED` with `details.retryAfterMs`.
   */
  readonly rateLimit: number | RateLimiter;
  /** The URL path served; other paths are left to the caller (the handler returns false). @default '/mcp' */
  readonly path?: string;
  /** `policy.defaultDomain`. @default null */
  readonly defaultDomain?: string | null;
  /**
   * Browser origins allowed to call (a request without `Origin` — any non-browser client — is
   * always allowed). @default loopback origins only (`http(s)://localhost|127.0.0.1|[::1]` on any port)
   */
  readonly allowedOrigins?: readonly string[];
  /** For the rate limiter. @default SystemClock */
  readonly clock?: Clock;
  /** @default NoopLogger */
  readonly logger?: Logger;
}

/**
 * A `node:http` request listener for the MCP endpoint. Resolves `true` when it answered the
 * request (its path), `false` when the request is someone else's (the caller routes it on).
 */
export type McpHttpHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

const REALM = 'Bearer realm="tunnel-manager"';
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

function sendJsonRpcError(
  res: ServerResponse,
  status: number,
  code: number,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ jsonrpc: '2.0', error: { code, message }, id: null }));
}

function originAllowed(origin: string, allowed: readonly string[] | undefined): boolean {
  if (allowed) return allowed.includes(origin);
  try {
    const url = new URL(origin);
    return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header ?? '');
  return match?.[1] ?? null;
}

/**
 * The MCP Streamable HTTP endpoint, for mounting on a `node:http` server (the daemon does, on
 * `mcp.http.host:port` + `mcp.http.path`). Stateless: every POST is authenticated on its own,
 * gets a server bound to that token's actor, and gets a JSON response; GET and DELETE (session
 * streams) answer 405.
 *
 * - no `Authorization: Bearer` header → 401; an unknown, malformed or revoked token → 401
 *   (`WWW-Authenticate: Bearer … error="invalid_token"`); checked before anything else is read;
 * - a browser `Origin` that is not allowed → 403 (DNS-rebinding protection);
 * - a project token acts only as that project: the tools cannot name another one;
 * - each token has its own rate-limit bucket.
 *
 * @example
 * const handle = createMcpHttpHandler({ manager, tokens: new ApiTokenService({ store, clock }), rateLimit: 120 });
 * http.createServer(async (req, res) => {
 *   if (await handle(req, res)) return;
 *   res.writeHead(404).end();
 * });
 */
export function createMcpHttpHandler(options: McpHttpHandlerOptions): McpHttpHandler {
  const path = options.path ?? '/mcp';
  const logger = options.logger ?? new NoopLogger();
  const limiter =
    typeof options.rateLimit === 'number'
      ? new RateLimiter(options.rateLimit, options.clock ?? new SystemClock())
      : options.rateLimit;

  return async (req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== path) return false;
    try {
      const origin = req.headers.origin;
      if (origin !== undefined && !originAllowed(origin, options.allowedOrigins)) {
        sendJsonRpcError(res, 403, -32000, `Origin ${JSON.stringify(origin.slice(0, 100))} is not allowed.`);
        return true;
      }
      const token = bearerToken(req.headers.authorization);
      if (token === null) {
        sendJsonRpcError(
          res,
          401,
          -32001,
          'Missing bearer token: send "Authorization: Bearer <token>". An operator creates one with `tunnel token create --project <name>`.',
          { 'www-authenticate': REALM },
        );
        return true;
      }
      const verified = await options.tokens.verify(token);
      if (verified === null) {
        logger.warn('mcp: rejected a bearer token', { remote: req.socket.remoteAddress });
        sendJsonRpcError(
          res,
          401,
          -32001,
          'Invalid bearer token: unknown or revoked. Ask the operator for a new one (`tunnel token create`).',
          { 'www-authenticate': `${REALM}, error="invalid_token"` },
        );
        return true;
      }
      if (req.method !== 'POST') {
        sendJsonRpcError(
          res,
          405,
          -32000,
          'Method not allowed: this endpoint is stateless; send each message as a POST.',
          {
            allow: 'POST',
          },
        );
        return true;
      }
      const server = createTunnelMcpServer({
        manager: options.manager,
        actor: verified.actor,
        defaultDomain: options.defaultDomain ?? null,
        rateLimit: { limiter, key: verified.id },
        logger: logger.child({ actor: Actor.describe(verified.actor), token: verified.id }),
      });
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res);
      return true;
    } catch (error) {
      logger.error('mcp: request failed', { error });
      sendJsonRpcError(res, 500, -32603, 'Internal server error.');
      return true;
    }
  };
}

export interface McpHttpServerOptions extends McpHttpHandlerOptions {
  /** @default '127.0.0.1' (`mcp.http.host`) */
  readonly host?: string;
  /** 0 picks a free port. @default 8787 (`mcp.http.port`) */
  readonly port?: number;
}

export interface RunningMcpHttpServer {
  /** e.g. `http://127.0.0.1:8787/mcp` */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * A `node:http` server with only the MCP endpoint (404 elsewhere), listening on loopback by
 * default. For the standalone `tunnel-mcp --http`; the daemon mounts `createMcpHttpHandler` instead.
 */
export async function startMcpHttpServer(options: McpHttpServerOptions): Promise<RunningMcpHttpServer> {
  const handle = createMcpHttpHandler(options);
  const server = createServer((req, res) => {
    void handle(req, res).then((handled) => {
      if (!handled) sendJsonRpcError(res, 404, -32000, `Not found: the MCP endpoint is ${options.path ?? '/mcp'}.`);
    });
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}${options.path ?? '/mcp'}`,
    port,
    server,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
