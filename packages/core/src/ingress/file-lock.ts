import {
  closeSync,
  fstatSync,
  openSync,
  rmdirSync,
  type Stats,
  statSync,
  unlinkSync,
  utimesSync,
  writeSync,
} from 'node:fs';

/*
 * A cross-process lock next to a file: `<path>.lock`, created with O_CREAT|O_EXCL and removed
 * on release. It keeps proper-lockfile's protocol (the same name, mtime refreshed while held,
 * a lock not refreshed for `staleMs` is taken over) so it excludes, and is excluded by, a
 * proper-lockfile lock on the same path — which is a directory of that name. It is a file here
 * because on ext4 removing a directory costs 0.4–3 ms (it goes through the orphan list) where
 * unlinking an empty file costs 0.05 ms, and the lock is taken on every ingress write.
 */

/** A lock this process holds. */
export interface HeldFileLock {
  /** Throws (via `onLost`) when the lock is no longer this holder's: it was taken over as stale. */
  assertHeld(): void;
  /** Removes the lock if it is still this holder's. Idempotent. */
  release(): void;
}

interface Holder {
  readonly lockPath: string;
  readonly ino: number;
  readonly birth: number;
  released: boolean;
  timer: NodeJS.Timeout | null;
}

/** Locks this process holds, removed on a normal exit (a killed process leaves a stale one). */
const held = new Set<Holder>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const holder of held) releaseHolder(holder);
  });
}

const isOurs = (holder: Holder, stat: Stats) => stat.ino === holder.ino && stat.birthtimeMs === holder.birth;

function releaseHolder(holder: Holder): void {
  if (holder.released) return;
  holder.released = true;
  held.delete(holder);
  if (holder.timer) clearInterval(holder.timer);
  try {
    if (isOurs(holder, statSync(holder.lockPath))) unlinkSync(holder.lockPath);
  } catch {}
}

/** Removes a stale lock: a file (ours) or a directory (proper-lockfile's). ENOENT is fine. */
function removeStale(lockPath: string, stat: Stats): void {
  try {
    if (stat.isDirectory()) rmdirSync(lockPath);
    else unlinkSync(lockPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/**
 * Tries once to take the lock on `path`. Returns null when another live holder has it (its
 * lock was refreshed within `staleMs`); throws on file-system errors. `onLost` builds the
 * error {@link HeldFileLock.assertHeld} throws when the lock was taken over meanwhile.
 */
export function tryLockFile(path: string, staleMs: number, onLost: () => Error): HeldFileLock | null {
  const lockPath = `${path}.lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(lockPath, 'wx', 0o644);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let stat: Stats;
      try {
        stat = statSync(lockPath);
      } catch (statError) {
        if ((statError as NodeJS.ErrnoException).code === 'ENOENT') continue; // released meanwhile
        throw statError;
      }
      if (attempt > 0 || stat.mtimeMs >= Date.now() - staleMs) return null;
      removeStale(lockPath, stat);
      continue;
    }
    let stat: Stats;
    try {
      writeSync(fd, `${process.pid}\n`);
      stat = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    const holder: Holder = { lockPath, ino: stat.ino, birth: stat.birthtimeMs, released: false, timer: null };
    // Keep the lock fresh while a (slow) write holds it, as proper-lockfile does.
    holder.timer = setInterval(
      () => {
        try {
          if (!isOurs(holder, statSync(lockPath))) return;
          const now = new Date();
          utimesSync(lockPath, now, now);
        } catch {}
      },
      Math.max(500, staleMs / 2),
    );
    holder.timer.unref();
    held.add(holder);
    installExitHook();
    return {
      assertHeld() {
        let ours = false;
        try {
          ours = !holder.released && isOurs(holder, statSync(lockPath));
        } catch {}
        if (!ours) throw onLost();
      },
      release() {
        releaseHolder(holder);
      },
    };
  }
  return null;
}
