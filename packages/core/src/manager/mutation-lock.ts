import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { lockSync } from 'proper-lockfile';
import { TunnelError } from '../errors.js';
import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import { NoopLogger } from '../runtime/loggers.js';
import { SystemClock } from '../runtime/system-clock.js';

/** The lock file's name inside `dataDir` (a directory, as proper-lockfile makes it). */
export const MUTATION_LOCK_NAME = 'mutation.lock';

export interface MutationLockOptions {
  /** The state directory; the lock is `<dataDir>/mutation.lock`. */
  readonly dataDir: string;
  /** `locks.staleMs`: a lock not refreshed for this long belongs to a dead process (proper-lockfile's floor is 2,000). */
  readonly staleMs: number;
  /** `locks.mutationTimeoutMs`: how long `run` waits before `LOCK_TIMEOUT`. */
  readonly timeoutMs: number;
  /** @default SystemClock */
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** Handed to the critical section: says whether the lock is still ours. */
export interface LockGuard {
  /** Throws `LOCK_TIMEOUT` when another process took the lock over as stale (we stalled too long). */
  assertHeld(): void;
}

/**
 * The cross-process mutation lock: every process that changes routes (MCP servers, the CLI, the
 * daemon) runs its critical section under it, so at most one pipeline runs on a VM at a time.
 *
 * - Callers in one process queue in order; across processes they poll the lock with jittered
 *   backoff. Both count towards `timeoutMs`, after which `run` fails with `LOCK_TIMEOUT`.
 * - The holder refreshes the lock's mtime; a holder that died stops refreshing, and after
 *   `staleMs` the next process takes the lock over.
 * - A holder that stalls past `staleMs` may lose the lock: `assertHeld` says so before each side
 *   effect, instead of the process being killed (proper-lockfile's default).
 */
export class MutationLock {
  readonly path: string;
  readonly #dataDir: string;
  readonly #staleMs: number;
  readonly #timeoutMs: number;
  readonly #clock: Clock;
  readonly #logger: Logger;
  /** Settles when the last caller queued in this process has left its critical section. */
  #tail: Promise<void> = Promise.resolve();
  #dirReady = false;

  constructor(options: MutationLockOptions) {
    this.#dataDir = options.dataDir;
    this.path = join(options.dataDir, MUTATION_LOCK_NAME);
    this.#staleMs = options.staleMs;
    this.#timeoutMs = options.timeoutMs;
    this.#clock = options.clock ?? new SystemClock();
    this.#logger = (options.logger ?? new NoopLogger()).child({ component: 'mutation-lock' });
  }

  /** Runs `fn` holding the lock; releases it however `fn` ends. */
  async run<T>(fn: (guard: LockGuard) => Promise<T>): Promise<T> {
    const deadline = this.#clock.now() + this.#timeoutMs;
    const previous = this.#tail;
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => {
      leave = resolve;
    });
    this.#tail = previous.then(() => mine);
    try {
      if (!(await this.#waitFor(previous, deadline))) throw this.#timeout('another caller in this process');
      const { release, guard } = await this.#acquire(deadline);
      try {
        return await fn(guard);
      } finally {
        try {
          release();
        } catch {
          // Already released: the lock was taken over (assertHeld told the critical section).
        }
      }
    } finally {
      leave();
    }
  }

  /** Resolves true when `previous` settles before the deadline. */
  async #waitFor(previous: Promise<void>, deadline: number): Promise<boolean> {
    const timer = new AbortController();
    const expired = this.#clock
      .sleep(Math.max(0, deadline - this.#clock.now()), timer.signal)
      .then(() => false)
      .catch(() => true);
    const done = await Promise.race([previous.then(() => true), expired]);
    timer.abort();
    return done;
  }

  async #acquire(deadline: number): Promise<{ release: () => void; guard: LockGuard }> {
    if (!this.#dirReady) {
      mkdirSync(this.#dataDir, { recursive: true });
      this.#dirReady = true;
    }
    let lost: Error | null = null;
    for (let attempt = 0; ; attempt++) {
      try {
        // Synchronous calls: each async one is a thread-pool round trip, and this is on every mutation's path.
        const release = lockSync(this.#dataDir, {
          lockfilePath: this.path,
          realpath: false,
          stale: this.#staleMs,
          retries: 0,
          onCompromised: (error) => {
            lost = error;
            this.#logger.error('the mutation lock was taken over while held', { error: error.message });
          },
        });
        const guard: LockGuard = {
          assertHeld: () => {
            if (lost) {
              throw new TunnelError('LOCK_TIMEOUT', 'The mutation lock was lost while this change was being made.', {
                hint: 'Another process took the lock over as stale (this one stalled). Retry; run `tunnel reconcile` if the change was left half-done.',
                cause: lost,
              });
            }
          },
        };
        return { release, guard };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') {
          throw new TunnelError('STATE_CORRUPT', `Cannot take the mutation lock ${this.path}.`, {
            hint: 'Check that dataDir exists and that this user may write it.',
            cause: error,
          });
        }
        if (this.#clock.now() >= deadline) throw this.#timeout('another process');
        // Short, jittered polls: a mutation takes milliseconds, and racing processes spread out.
        await this.#clock.sleep(Math.min(40, 2 + attempt * 3) * (0.5 + Math.random()));
      }
    }
  }

  #timeout(holder: string): TunnelError {
    return new TunnelError(
      'LOCK_TIMEOUT',
      `The mutation lock stayed held by ${holder} for over ${this.#timeoutMs} ms.`,
      {
        hint: 'Retry in a moment. A lock left by a process that died is taken over once it is stale (locks.staleMs).',
        details: { lock: this.path, timeoutMs: this.#timeoutMs },
      },
    );
  }
}
