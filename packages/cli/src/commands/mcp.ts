import { resolveStdioActor, runStdioServer } from '@tunnel/mcp';
import { type CommandContext, UsageError } from '../context.js';
import type { McpOptions } from '../program.js';
import { openManager } from './shared.js';

/**
 * `tunnel mcp [--project P | --admin]`: the five MCP tools over stdio for one actor (flags,
 * else TUNNEL_PROJECT / TUNNEL_ADMIN), until the client closes stdin or SIGTERM/SIGINT.
 * stdout carries only MCP messages; logs go to stderr.
 */
export async function mcp(cx: CommandContext, opts: McpOptions): Promise<number> {
  let actor: ReturnType<typeof resolveStdioActor>;
  try {
    actor = resolveStdioActor({ project: opts.project, admin: opts.admin, env: cx.io.env });
  } catch (error) {
    // A missing or bad identity is a usage error (exit 2), as `tunnel-mcp` has it.
    const e = error as { message: string; hint?: string };
    throw new UsageError(`refusing to start: ${e.message}${e.hint ? ` (${e.hint})` : ''}`);
  }
  // A stray console.log anywhere below would corrupt the MCP stream.
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  const config = await cx.config();
  const manager = await openManager(cx, 'all');
  const running = await runStdioServer({
    manager,
    actor,
    defaultDomain: config.policy.defaultDomain ?? null,
    logger: await cx.logger(),
  });
  const stop = () => void running.close();
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // Every request read has been answered; the manager is closed after this (deferred by openManager).
  await running.closed;
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  return 0;
}
