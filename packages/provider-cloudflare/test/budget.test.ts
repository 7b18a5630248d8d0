import { isTunnelError, TunnelError } from '@tunnel/core';
import { ManualClock } from '@tunnel/testkit';
import { describe, expect, it } from 'vitest';
import { RequestBudget } from '../src/index.js';

const rateLimited = (retryAfterMs?: number) =>
  new TunnelError('RATE_LIMITED', 'Cloudflare rate-limited the request.', {
    hint: 'wait',
    ...(retryAfterMs === undefined ? {} : { details: { retryAfterMs } }),
  });

/** Starts `count` acquisitions and records the clock time each is admitted at. */
function admitTimes(budget: RequestBudget, clock: ManualClock, count: number): number[] {
  const times: number[] = [];
  for (let i = 0; i < count; i++) void budget.acquire().then(() => times.push(clock.now() - T0));
  return times;
}

const T0 = Date.UTC(2026, 0, 1);

describe('RequestBudget', () => {
  it('admits `limit` requests per window and holds the rest until the oldest ages out', async () => {
    const clock = new ManualClock(T0);
    const budget = new RequestBudget({ limit: 5, clock });
    const times = admitTimes(budget, clock, 7);
    await clock.advance(0);
    expect(times).toEqual([0, 0, 0, 0, 0]);
    expect(budget.used).toBe(5);
    await clock.advance(299_999);
    expect(times).toHaveLength(5);
    await clock.advance(1);
    expect(times).toEqual([0, 0, 0, 0, 0, 300_000, 300_000]);
  });

  it('slides: capacity comes back as each old request leaves the window', async () => {
    const clock = new ManualClock(T0);
    const budget = new RequestBudget({ limit: 2, windowMs: 1_000, clock });
    await budget.acquire();
    await clock.advance(600);
    await budget.acquire();
    const times = admitTimes(budget, clock, 2);
    await clock.advance(400);
    expect(times).toEqual([1_000]);
    await clock.advance(600);
    expect(times).toEqual([1_000, 1_600]);
  });

  it('after a 429, pauses every call — queued and new — until retry-after has passed, then resends', async () => {
    const clock = new ManualClock(T0);
    const budget = new RequestBudget({ limit: 100, clock });
    const sent: Array<{ call: string; at: number }> = [];
    let refuse = true;
    const request = (call: string) => async () => {
      sent.push({ call, at: clock.now() - T0 });
      if (call === 'a' && refuse) {
        refuse = false;
        throw rateLimited(30_000);
      }
      return call;
    };
    const a = budget.run(request('a'));
    await clock.advance(0);
    const b = budget.run(request('b'));
    await clock.advance(10_000);
    const c = budget.run(request('c'));
    await clock.advance(19_999);
    expect(sent).toEqual([{ call: 'a', at: 0 }]);
    expect(budget.pausedUntil - T0).toBe(30_000);
    await clock.advance(1);
    expect(await Promise.all([a, b, c])).toEqual(['a', 'b', 'c']);
    expect(sent.slice(1).map((s) => s.at)).toEqual([30_000, 30_000, 30_000]);
  });

  it('gives up after rateLimitRetries with RATE_LIMITED and the remaining wait', async () => {
    const clock = new ManualClock(T0);
    const budget = new RequestBudget({ limit: 100, clock, rateLimitRetries: 2, defaultPauseMs: 5_000 });
    let calls = 0;
    const work = budget.run(async () => {
      calls += 1;
      throw rateLimited();
    });
    const outcome = work.then(
      () => null,
      (error: unknown) => error,
    );
    await clock.advance(10_000);
    const error = await outcome;
    expect(calls).toBe(3);
    expect(isTunnelError(error, 'RATE_LIMITED')).toBe(true);
    expect((error as TunnelError).details?.retryAfterMs).toBe(5_000);
  });

  it('passes other failures through without pausing', async () => {
    const clock = new ManualClock(T0);
    const budget = new RequestBudget({ limit: 100, clock });
    const boom = new TunnelError('PROVIDER_UNAVAILABLE', 'down', { hint: 'retry' });
    await expect(budget.run(async () => Promise.reject(boom))).rejects.toBe(boom);
    expect(budget.pausedUntil).toBe(0);
  });

  it('refuses a limit that is not a positive integer', () => {
    const clock = new ManualClock(T0);
    expect(() => new RequestBudget({ limit: 0, clock })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });
});
