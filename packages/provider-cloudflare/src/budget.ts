import { type Clock, isTunnelError, TunnelError } from '@tunnel/core';

export interface RequestBudgetOptions {
  /** Requests allowed per window (cloudflare.requestsPerFiveMinutes). */
  readonly limit: number;
  /** @default 300_000 (Cloudflare counts per 5 minutes) */
  readonly windowMs?: number;
  readonly clock: Clock;
  /** How many times a call answered 429 is sent again, each after the pause. @default 5 */
  readonly rateLimitRetries?: number;
  /** The pause after a 429 that named no wait. @default 60_000 */
  readonly defaultPauseMs?: number;
}

/**
 * The request budget every Cloudflare API call goes through, written once and shared by every
 * port of one token (DNS, tunnel status, remote ingress):
 * - it stays under `limit` requests per sliding window: a call over budget waits (on the
 *   injected clock) until the oldest request in the window ages out;
 * - after a 429 it pauses every call, not only the refused one, until `retry-after` has passed,
 *   then sends the refused call again (a 429 means Cloudflare did not act on it), up to
 *   `rateLimitRetries` times — instead of hammering an API that already said no.
 * Calls are admitted one at a time in arrival order, so a burst cannot overshoot the window.
 */
export class RequestBudget {
  readonly limit: number;
  readonly windowMs: number;
  readonly #clock: Clock;
  readonly #rateLimitRetries: number;
  readonly #defaultPauseMs: number;
  /** Admission times in the current window, oldest first. */
  readonly #sent: number[] = [];
  #pausedUntil = 0;
  #turn: Promise<void> = Promise.resolve();

  constructor(options: RequestBudgetOptions) {
    if (!Number.isInteger(options.limit) || options.limit < 1) {
      throw new TunnelError('INVALID_INPUT', `A request budget needs a positive limit, got ${options.limit}.`, {
        hint: 'Set cloudflare.requestsPerFiveMinutes to a whole number between 1 and 1200.',
      });
    }
    this.limit = options.limit;
    this.windowMs = options.windowMs ?? 300_000;
    this.#clock = options.clock;
    this.#rateLimitRetries = options.rateLimitRetries ?? 5;
    this.#defaultPauseMs = options.defaultPauseMs ?? 60_000;
  }

  /** Epoch ms until which every call waits (0 or a past instant when not paused). */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** Requests admitted within the current window. */
  get used(): number {
    this.#prune(this.#clock.now());
    return this.#sent.length;
  }

  /** Holds every call (queued and future) until `ms` from now; never shortens a longer pause. */
  pauseFor(ms: number): void {
    this.#pausedUntil = Math.max(this.#pausedUntil, this.#clock.now() + Math.max(0, ms));
  }

  /** Resolves when one more request may be sent, and counts it. */
  acquire(): Promise<void> {
    const admitted = this.#turn.then(() => this.#admit());
    this.#turn = admitted.catch(() => undefined);
    return admitted;
  }

  /**
   * Runs one API request under the budget. `request` must throw core's RATE_LIMITED (with
   * `details.retryAfterMs`) for a 429; it is then paused for and sent again.
   */
  async run<T>(request: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      await this.acquire();
      try {
        return await request();
      } catch (error) {
        if (!isTunnelError(error, 'RATE_LIMITED')) throw error;
        const wait = error.details?.retryAfterMs;
        this.pauseFor(typeof wait === 'number' && wait >= 0 ? wait : this.#defaultPauseMs);
        if (attempt >= this.#rateLimitRetries) {
          throw new TunnelError(error.code, error.message, {
            hint: error.hint,
            cause: error,
            details: { ...error.details, retryAfterMs: Math.max(0, this.#pausedUntil - this.#clock.now()) },
          });
        }
      }
    }
  }

  async #admit(): Promise<void> {
    for (;;) {
      const now = this.#clock.now();
      if (now < this.#pausedUntil) {
        await this.#clock.sleep(this.#pausedUntil - now);
        continue;
      }
      this.#prune(now);
      const oldest = this.#sent[0];
      if (oldest !== undefined && this.#sent.length >= this.limit) {
        await this.#clock.sleep(oldest + this.windowMs - now);
        continue;
      }
      this.#sent.push(now);
      return;
    }
  }

  #prune(now: number): void {
    while (this.#sent.length > 0 && (this.#sent[0] as number) <= now - this.windowMs) this.#sent.shift();
  }
}
