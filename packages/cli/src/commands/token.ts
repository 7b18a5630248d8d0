import type { CommandContext } from '../context.js';
import { notWired } from './not-wired.js';

export async function tokenCreate(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('token', 'the TunnelManager');
}

export async function tokenList(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('token', 'the TunnelManager');
}

export async function tokenRevoke(_cx: CommandContext, ..._args: unknown[]): Promise<number> {
  notWired('token', 'the TunnelManager');
}
