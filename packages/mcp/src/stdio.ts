import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createTunnelMcpServer, type TunnelMcpServerOptions } from './server.js';

export interface StdioServerOptions extends Omit<TunnelMcpServerOptions, 'rateLimit'> {
  /** @default process.stdin */
  readonly stdin?: Readable;
  /** Only MCP messages may go here; log to stderr. @default process.stdout */
  readonly stdout?: Writable;
}

export interface RunningStdioServer {
  /**
   * Settles when the client has gone (stdin ended) or `close()` was called, and every tool call
   * already started has finished — after that it is safe to close the TunnelManager.
   */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/**
 * Serves the five tools over stdio for one actor, fixed for the life of the process: the
 * `tunnel mcp` command and the `tunnel-mcp` bin call this after resolving the identity
 * (see `resolveStdioActor`). Resolves once the transport listens.
 *
 * @example
 * const running = await runStdioServer({ manager, actor: Actor.project('shop') });
 * await running.closed;
 * await manager.close();
 */
export async function runStdioServer(options: StdioServerOptions): Promise<RunningStdioServer> {
  const stdin = options.stdin ?? process.stdin;
  const inFlight = new Set<Promise<unknown>>();
  const server = createTunnelMcpServer({ ...options, onCall: (call) => track(inFlight, call) });
  const transport = new StdioServerTransport(stdin, options.stdout ?? process.stdout);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      stdin.off('end', onEnd);
      await server.close();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    })();
    return closing;
  };
  const onEnd = () => void close();
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });
  transport.onclose = () => void close().then(resolveClosed);
  await server.connect(transport);
  // The SDK's transport ignores the end of stdin; the client has gone then.
  stdin.once('end', onEnd);
  return {
    closed,
    close: async () => {
      await close();
      await closed;
    },
  };
}

function track(inFlight: Set<Promise<unknown>>, call: Promise<unknown>): void {
  const settled = call.then(
    () => undefined,
    () => undefined,
  );
  inFlight.add(settled);
  void settled.then(() => inFlight.delete(settled));
}
