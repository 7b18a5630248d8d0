import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function cnameAdd(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('cname', 'the TunnelManager');
}

export async function cnameRemove(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('cname', 'the TunnelManager');
}

export async function cnameList(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('cname', 'the TunnelManager');
}
