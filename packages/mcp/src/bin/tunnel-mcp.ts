#!/usr/bin/env node
import { parseArgs } from 'node:util';
import {
  type Actor,
  ApiTokenService,
  createTunnelManager,
  JsonLogger,
  type Logger,
  loadConfig,
  resolvePort,
  type TunnelConfig,
  type TunnelManager,
  toTunnelError,
} from '@tunnel/core';
import { cloudflarePlugin } from '@tunnel/provider-cloudflare';
import { dockerPlugin } from '@tunnel/provider-docker';
import { startMcpHttpServer } from '../http.js';
import { resolveStdioActor } from '../identity.js';
import { runStdioServer } from '../stdio.js';

const USAGE = `Usage:
  tunnel-mcp --project <name> [--config <file>]   serve one project's agent over stdio
  tunnel-mcp --admin [--config <file>]            serve the meta-supervisor (every project) over stdio
  tunnel-mcp --http [--host <addr>] [--port <n>] [--config <file>]
                                                  serve Streamable HTTP; each request carries
                                                  "Authorization: Bearer <token>" (tunnel token create)

Options:
  --project <name>   The project every call acts for (or env TUNNEL_PROJECT).
  --admin            Act as admin (or env TUNNEL_ADMIN=1).
  --config <file>    Config file (or env TUNNEL_CONFIG; default /etc/tunnel-manager/config.yml).
  --http             Streamable HTTP instead of stdio, at mcp.http.host:port + mcp.http.path.
  --host <addr>      Overrides mcp.http.host (default 127.0.0.1).
  --port <n>         Overrides mcp.http.port (default 8787; 0 picks a free port).
  -h, --help         Show this help.

Over stdio, only MCP messages go to stdout; logs go to stderr as JSON lines.`;

/** Exit codes: 2 for a usage or identity problem, 1 for anything else that stops the start. */
const EXIT_USAGE = 2;
const EXIT_FAILURE = 1;

function fail(code: number, message: string, hint?: string): never {
  process.stderr.write(`tunnel-mcp: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(code);
}

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        project: { type: 'string' },
        admin: { type: 'boolean' },
        config: { type: 'string' },
        http: { type: 'boolean' },
        host: { type: 'string' },
        port: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return fail(EXIT_USAGE, (error as Error).message, 'Run `tunnel-mcp --help` for the usage.');
  }
}

function openManager(config: TunnelConfig, logger: Logger): TunnelManager {
  // With Docker off there is no topology to ask: the manager then takes every service, and
  // cloudflared, to be on the host (a disabled Docker topology would not know where cloudflared is).
  return createTunnelManager(config, {
    plugins: config.docker.enabled ? [cloudflarePlugin, dockerPlugin] : [cloudflarePlugin],
    overrides: { Logger: logger },
  });
}

/** Closes the manager once, on the first of: the client leaving, SIGTERM, SIGINT. */
function onShutdown(stop: () => Promise<void>, logger: Logger): void {
  let stopping = false;
  const shutdown = (why: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('mcp server stopping', { why });
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('mcp server did not stop cleanly', { error });
        process.exit(EXIT_FAILURE);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

async function serveStdio(actor: Actor, config: TunnelConfig, logger: Logger): Promise<void> {
  // stdout carries only MCP messages: a stray console.log anywhere below would corrupt the stream.
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  const manager = openManager(config, logger);
  const running = await runStdioServer({
    manager,
    actor,
    defaultDomain: config.policy.defaultDomain ?? null,
    logger,
  });
  const stop = async () => {
    await running.close();
    await manager.close();
  };
  onShutdown(stop, logger);
  await running.closed;
  await manager.close();
  process.exit(0);
}

async function serveHttp(
  values: ReturnType<typeof parseCommandLine>,
  config: TunnelConfig,
  logger: Logger,
): Promise<void> {
  let port = config.mcp.http.port;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!/^\d+$/.test(values.port) || port > 65_535) {
      fail(EXIT_USAGE, `--port ${JSON.stringify(values.port)} is not a port.`, 'Give a number 0–65535.');
    }
  }
  const manager = openManager(config, logger);
  const container = manager.container;
  if (!container) fail(EXIT_FAILURE, 'The manager was built without a container.');
  const clock = resolvePort(container, 'Clock');
  const tokens = new ApiTokenService({ store: resolvePort(container, 'StateStore'), clock });
  const running = await startMcpHttpServer({
    manager,
    tokens,
    rateLimit: config.mcp.rateLimitPerMinute,
    path: config.mcp.http.path,
    host: values.host ?? config.mcp.http.host,
    port,
    defaultDomain: config.policy.defaultDomain ?? null,
    clock,
    logger,
  });
  logger.info('mcp http listening', { url: running.url });
  // One line on stdout for whoever started it (tests, scripts): where to connect.
  process.stdout.write(`${JSON.stringify({ url: running.url, port: running.port })}\n`);
  onShutdown(async () => {
    await running.close();
    await manager.close();
  }, logger);
}

async function main(): Promise<void> {
  const values = parseCommandLine();
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  let actor: Actor | null = null;
  if (values.http) {
    if (values.project !== undefined || values.admin) {
      fail(
        EXIT_USAGE,
        '--http takes no --project or --admin: over HTTP each bearer token carries its own identity.',
        'Create a token per project with `tunnel token create --project <name>`.',
      );
    }
  } else {
    if (values.host !== undefined || values.port !== undefined) {
      fail(EXIT_USAGE, '--host and --port apply only with --http.', 'Add --http, or drop them for stdio.');
    }
    try {
      actor = resolveStdioActor({ project: values.project, admin: values.admin });
    } catch (error) {
      const e = toTunnelError(error);
      fail(EXIT_USAGE, `refusing to start: ${e.message}`, e.hint);
    }
  }
  let config: TunnelConfig;
  try {
    config = loadConfig(values.config === undefined ? {} : { file: values.config });
  } catch (error) {
    const e = toTunnelError(error);
    return fail(EXIT_FAILURE, e.message, e.hint);
  }
  const logger = new JsonLogger({ level: config.daemon.logLevel }).child({ component: 'mcp' });
  try {
    if (actor) await serveStdio(actor, config, logger);
    else await serveHttp(values, config, logger);
  } catch (error) {
    const e = toTunnelError(error);
    logger.error('mcp server failed', { error });
    fail(EXIT_FAILURE, e.message, e.hint);
  }
}

void main();
