import { type Clock, TunnelError } from '@tunnel/core';

/**
 * A token bucket per key (the HTTP front-end keys by API token id): `perMinute` calls may come
 * in a burst, then one more every `60 s / perMinute`. Time comes from the injected Clock.
 */
export class RateLimiter {
  readonly perMinute: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  /** @param perMinute `mcp.rateLimitPerMinute` */
  constructor(perMinute: number, clock: Clock) {
    if (!Number.isInteger(perMinute) || perMinute < 1) {
      throw new TunnelError('INVALID_INPUT', `Invalid rate limit ${perMinute}.`, {
        hint: 'A rate limit is a whole number of calls per minute, at least 1.',
      });
    }
    this.perMinute = perMinute;
    this.#clock = clock;
  }

  /** Takes one call from `key`'s budget: 0 when allowed, else the ms to wait for the next one. */
  take(key: string): number {
    const now = this.#clock.now();
    const perMs = this.perMinute / 60_000;
    const bucket = this.#buckets.get(key) ?? { tokens: this.perMinute, at: now };
    const tokens = Math.min(this.perMinute, bucket.tokens + Math.max(0, now - bucket.at) * perMs);
    if (tokens >= 1) {
      this.#buckets.set(key, { tokens: tokens - 1, at: now });
      return 0;
    }
    this.#buckets.set(key, { tokens, at: now });
    return Math.ceil((1 - tokens) / perMs);
  }

  /** Takes one call, or throws `RATE_LIMITED` with the wait in `details.retryAfterMs`. */
  admit(key: string): void {
    const waitMs = this.take(key);
    if (waitMs === 0) return;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    throw new TunnelError(
      'RATE_LIMITED',
      `Rate limit reached: at most ${this.perMinute} tool calls per minute with this token.`,
      {
        hint: `Wait ${seconds} s (details.retryAfterMs), then call again; batch your work into fewer calls.`,
        details: { retryAfterMs: waitMs, limitPerMinute: this.perMinute },
      },
    );
  }
}
