import { readFileSync } from 'node:fs';

/** What the kernel says about a pid. */
export interface ProcInfo {
  readonly alive: boolean;
  /** Start time in clock ticks since boot (`/proc/<pid>/stat` field 22): with the pid, it names one process for good. */
  readonly startTicks: number | null;
}

/**
 * Reads `/proc/<pid>/stat`. A zombie counts as dead (it is only waiting to be reaped), which
 * matters for processes adopted from a daemon that died: their new parent may never reap them.
 * Without `/proc` (not Linux), falls back to `kill(pid, 0)`.
 */
export function procInfo(pid: number): ProcInfo {
  if (!Number.isInteger(pid) || pid <= 0) return { alive: false, startTicks: null };
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      // No such process — unless there is no /proc at all.
      try {
        readFileSync('/proc/self/stat');
        return { alive: false, startTicks: null };
      } catch {
        return { alive: signalZero(pid), startTicks: null };
      }
    }
    return { alive: signalZero(pid), startTicks: null };
  }
  // The command name (field 2) is in parentheses and may contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = Number(fields[19]);
  return {
    alive: state !== 'Z' && state !== 'X' && state !== 'x',
    startTicks: Number.isFinite(startTicks) ? startTicks : null,
  };
}

function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `pid` is alive and is the same process that was recorded with `startTicks`. */
export function isSameProcess(pid: number, startTicks: number | null): boolean {
  const info = procInfo(pid);
  if (!info.alive) return false;
  return startTicks === null || info.startTicks === null || info.startTicks === startTicks;
}
