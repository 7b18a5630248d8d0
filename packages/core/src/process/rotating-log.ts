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
