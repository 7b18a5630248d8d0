import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function status(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('status', 'the TunnelManager');
}
