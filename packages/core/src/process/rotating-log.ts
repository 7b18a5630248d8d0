import {
  closeSync,
  copyFileSync,
  existsSync,
  openSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
} from 'node:fs';

/** The shortest time between two checks of a fast-growing log. */
export const MIN_CHECK_MS = 50;
/**
 * A fast-growing log is rotated while it still has room for this long at its measured rate:
 * the daemon's event loop can be late (a busy machine), and the check must not be.
 */
const HEADROOM_MS = 250;

/**
 * A log file a child process writes to directly (its stdout and stderr are this file, opened
 * with O_APPEND), rotated by copy-and-truncate. Writing directly, not through a pipe to the
 * daemon, is what lets cloudflared outlive a daemon restart: a pipe would break (SIGPIPE) when
 * the daemon dies. O_APPEND makes the child's next write land at the new end after a truncate.
 */
export class RotatingLogFile {
  readonly path: string;
  readonly #maxBytes: number;
  readonly #files: number;
  /** The size and time of the last `check`, to measure how fast the file grows. */
  #last: { size: number; at: number } | null = null;

  /** @param files rotated copies kept (`<path>.1` newest … `<path>.<files>` oldest) */
  constructor(path: string, options: { maxBytes: number; files: number }) {
    this.path = path;
    this.#maxBytes = options.maxBytes;
    this.#files = options.files;
  }

  /** A file descriptor to hand to a child's stdout/stderr; the caller closes it after spawning. */
  openForAppend(): number {
    return openSync(this.path, 'a', 0o640);
  }

  /** Rotates when the file has grown past its limit; returns whether it did. */
  rotateIfNeeded(): boolean {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return false;
    }
    if (size <= this.#maxBytes) return false;
    return this.#rotate();
  }

  #rotate(): boolean {
    const rotated = (n: number) => `${this.path}.${n}`;
    rmSync(rotated(this.#files), { force: true });
    for (let n = this.#files - 1; n >= 1; n--) {
      if (existsSync(rotated(n))) renameSync(rotated(n), rotated(n + 1));
    }
    // Lines written between the copy and the truncate are lost; that is the price of not
    // restarting cloudflared to reopen its log (logrotate's copytruncate makes the same trade).
    copyFileSync(this.path, rotated(1));
    truncateSync(this.path, 0);
    return true;
  }

  /**
   * Checks the file and says when to check next. A fixed timer lets a fast writer run far past
   * the limit between two checks (cloudflared logging fast grew 10 MB files to 28 MB), so the
   * next check comes sooner the fuller the file and the faster it grows — at half the time the
   * measured rate needs to fill it, never sooner than `MIN_CHECK_MS` — and the file is rotated
   * early, while it has room for `HEADROOM_MS` more at that rate, so a late check does not overshoot.
   */
  check(now: number, maxDelayMs: number): { rotated: boolean; nextCheckInMs: number } {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      this.#last = null;
      return { rotated: false, nextCheckInMs: maxDelayMs };
    }
    const last = this.#last;
    const elapsed = last ? now - last.at : 0;
    // Bytes per ms; a shrunk file (rotated, or truncated by someone else) starts a new measure.
    const rate = last && elapsed > 0 && size >= last.size ? (size - last.size) / elapsed : 0;
    const margin = rate * HEADROOM_MS;
    let rotated = false;
    if (size > this.#maxBytes || (rate > 0 && size + margin > this.#maxBytes)) {
      rotated = this.#rotate();
      if (rotated) size = 0;
    }
    this.#last = { size, at: now };
    const room = Math.max(0, this.#maxBytes - size);
    const nextCheckInMs =
      rate > 0 ? Math.min(maxDelayMs, Math.max(MIN_CHECK_MS, Math.floor(room / (2 * rate)))) : maxDelayMs;
    return { rotated, nextCheckInMs };
  }

  /** The last `bytes` of the file as text (empty when it does not exist). */
  tail(bytes = 8192): string {
    let fd: number;
    try {
      fd = openSync(this.path, 'r');
    } catch {
      return '';
    }
    try {
      const size = statSync(this.path).size;
      const length = Math.min(bytes, size);
      const buffer = Buffer.alloc(length);
      readSync(fd, buffer, 0, length, size - length);
      return buffer.toString('utf8');
    } finally {
      closeSync(fd);
    }
  }
}

/** The line of a cloudflared log tail that explains an exit: the last error line, if any. */
export function explainFromLog(tail: string): string | null {
  const found = tail
    .split('\n')
    .map((l) => l.trim())
    .reverse()
    .find((l) => / ERR |^panic:|^Incorrect Usage|error parsing YAML|requires the ID|^open |Validation failed/.test(l));
  if (found === undefined) return null;
  // zerolog's timestamp says nothing the status does not already.
  const line = found.replace(/^\d{4}-\d{2}-\d{2}T\S+ /, '');
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}
