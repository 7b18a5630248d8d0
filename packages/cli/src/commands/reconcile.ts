import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function reconcile(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('reconcile', 'the TunnelManager');
}
