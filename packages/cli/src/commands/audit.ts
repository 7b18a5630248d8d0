import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function audit(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('audit', 'the TunnelManager');
}
