import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function domainsList(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('domains', 'the TunnelManager');
}
