import { isTunnelError } from '@tunnel/core';
import { ManualClock } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../src/index.js';

describe('RateLimiter (injected clock)', () => {
  it('allows a burst of perMinute calls, then one more every 60 s / perMinute', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(60, clock);
    for (let i = 0; i < 60; i++) expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1000);
    await clock.advance(400);
    expect(limiter.take('a')).toBe(600);
    await clock.advance(600);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(1000);
  });

  it('keeps one bucket per key', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(2, clock);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 30_000]);
    expect([limiter.take('b'), limiter.take('b')]).toEqual([0, 0]);
  });

  it('refills to the burst size and no further', async () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(3, clock);
    for (let i = 0; i < 3; i++) limiter.take('a');
    await clock.advance(3_600_000);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    expect(limiter.take('a')).toBe(20_000);
  });

  it('admit throws RATE_LIMITED with the wait, in ms and in the hint', () => {
    const clock = new ManualClock();
    const limiter = new RateLimiter(1, clock);
    limiter.admit('a');
    let caught: unknown;
    try {
      limiter.admit('a');
    } catch (error) {
      caught = error;
    }
    expect(isTunnelError(caught, 'RATE_LIMITED')).toBe(true);
    if (!isTunnelError(caught)) return;
    expect(caught.details).toEqual({ retryAfterMs: 60_000, limitPerMinute: 1 });
    expect(caught.hint).toMatch(/Wait 60 s/);
    expect(caught.retryable).toBe(true);
  });

  it('refuses a limit that is not a positive whole number', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      let caught: unknown;
      try {
        new RateLimiter(bad, new ManualClock());
      } catch (error) {
        caught = error;
      }
      expect(isTunnelError(caught, 'INVALID_INPUT') && caught.hint).toMatch(/whole number/);
    }
  });
});
