import type { Readable, Writable } from 'node:stream';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { createTunnelMcpServer, type TunnelMcpServerOptions } from './server.js';

export interface StdioServerOptions extends Omit<TunnelMcpServerOptions, 'rateLimit'> {
  /** @default process.stdin */
  readonly stdin?: Readable;
  /** Only MCP messages may go here; log to stderr. @default process.stdout */
  readonly stdout?: Writable;
}

export interface RunningStdioServer {
  /**
   * Settles when the client has gone (stdin ended) or `close()` was called, once every request
   * already received has been answered — after that it is safe to close the TunnelManager.
   */
  readonly closed: Promise<void>;
  /** Stops reading, answers the requests already received, then closes. Safe to call twice. */
  close(): Promise<void>;
}

type RequestId = string | number;

const isRequest = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId; method: string } =>
  'method' in m && 'id' in m;
const isResponse = (m: JSONRPCMessage): m is JSONRPCMessage & { id: RequestId } =>
  'id' in m && ('result' in m || 'error' in m);

/**
 * Serves the five tools over stdio for one actor, fixed for the life of the process: the
 * `tunnel mcp` command and the `tunnel-mcp` bin call this after resolving the identity
 * (see `resolveStdioActor`). Resolves once the transport listens.
 *
 * A client may write its requests and close stdin at once (`echo … | tunnel-mcp`): every
 * request read before the end is answered before the server closes.
 *
 * @example
 * const running = await runStdioServer({ manager, actor: Actor.project('shop') });
 * await running.closed;
 * await manager.close();
 */
export async function runStdioServer(options: StdioServerOptions): Promise<RunningStdioServer> {
  const stdin = options.stdin ?? process.stdin;
  const server = createTunnelMcpServer(options);
  const transport = new StdioServerTransport(stdin, options.stdout ?? process.stdout);

  // Requests read but not yet answered. The SDK's transport reads stdin synchronously into
  // onmessage, so by the time stdin ends every request in it is counted here.
  const unanswered = new Set<RequestId>();
  let answered: () => void = () => {};
  const allAnswered = () =>
    unanswered.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          answered = resolve;
        });

  let reportClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => {
    reportClosed = resolve;
  });
  let closing = false;
  const close = (): Promise<void> => {
    if (closing) return closed;
    // Set before anything runs: server.close() calls back into here (through the transport's
    // onclose) synchronously.
    closing = true;
    void (async () => {
      stdin.off('end', onEnd);
      stdin.pause();
      await allAnswered();
      await server.close().catch(() => {});
    })().finally(reportClosed);
    return closed;
  };
  const onEnd = () => void close();
  transport.onclose = () => {
    // Closed under us (or by us, after the wait): nothing more can be answered.
    unanswered.clear();
    answered();
    void close();
  };

  // Protocol.connect keeps a handler set before it and calls it first.
  transport.onmessage = (message: JSONRPCMessage) => {
    if (isRequest(message)) unanswered.add(message.id);
  };
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    try {
      await send(message);
    } finally {
      if (isResponse(message) && unanswered.delete(message.id) && unanswered.size === 0) answered();
    }
  };
  await server.connect(transport);
  // The SDK's transport ignores the end of stdin; the client has gone then.
  stdin.once('end', onEnd);
  return { closed, close };
}
