import { readFileSync } from 'node:fs';

/**
 * Whether `pid` is a live process. A killed child stays a zombie until its parent's event loop
 * reaps it, and `process.kill(pid, 0)` still succeeds on a zombie — so tests that check "the old
 * cloudflared is gone" read the state from /proc instead (gone or `Z` means dead).
 */
export function isProcessRunning(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state is the first field after the parenthesised command name (which may hold spaces).
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}
