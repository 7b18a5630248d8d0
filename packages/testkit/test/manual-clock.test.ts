import { describe, expect, it } from 'vitest';
import { ManualClock } from '../src/index.js';

describe('ManualClock', () => {
  it('fires timers in order at their own instant, including ones scheduled by callbacks', async () => {
    const clock = new ManualClock(1000);
    const fired: Array<[string, number]> = [];
    clock.setTimer(300, () => fired.push(['b', clock.now()]));
    clock.setTimer(100, () => {
      fired.push(['a', clock.now()]);
      clock.setTimer(50, () => fired.push(['a2', clock.now()]));
    });
    const cancelled = clock.setTimer(200, () => fired.push(['x', clock.now()]));
    cancelled.cancel();
    await clock.advance(250);
    expect(fired).toEqual([
      ['a', 1100],
      ['a2', 1150],
    ]);
    expect(clock.now()).toBe(1250);
    expect(clock.pendingDelays()).toEqual([50]);
    await clock.advance(50);
    expect(fired.at(-1)).toEqual(['b', 1300]);
  });

  it('lets async work started by a timer finish before the next timer', async () => {
    const clock = new ManualClock(0);
    const log: string[] = [];
    const loop = async () => {
      for (let i = 0; i < 3; i++) {
        await clock.sleep(10);
        await Promise.resolve();
        log.push(`tick ${clock.now()}`);
      }
    };
    const done = loop();
    await clock.advance(30);
    await done;
    expect(log).toEqual(['tick 10', 'tick 20', 'tick 30']);
  });

  it('rejects a sleep when its signal aborts, and advances to the next timer', async () => {
    const clock = new ManualClock(0);
    const controller = new AbortController();
    const sleeping = clock.sleep(1000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleeping).rejects.toThrow('stop');
    expect(clock.pendingDelays()).toEqual([]);
    clock.setTimer(70, () => undefined);
    expect(await clock.advanceToNextTimer()).toBe(70);
    expect(await clock.advanceToNextTimer()).toBeNull();
  });
});
