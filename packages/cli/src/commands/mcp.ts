import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function mcp(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('mcp', 'the TunnelManager');
}
