import { describe, expect, it } from 'vitest';
import type { Timer } from '../functions/core/clock.js';
import { createRateLimiter } from '../functions/core/rate-limiter.js';
import { createBudget } from '../functions/domain/sweep-budget.js';

/** A timer whose clock moves only by sleeping. */
function fakeTimer(): Timer & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    async sleep(ms) {
      slept.push(ms);
      now += ms;
    },
  };
}

describe('the delete-rate limiter', () => {
  it('lets a one-second burst through, then holds deletes to the cap', async () => {
    // Prepare
    const timer = fakeTimer();
    const limiter = createRateLimiter(200, 50, timer);
    // Act: 1,000 deletes in batches of 50.
    for (let i = 0; i < 20; i++) await limiter.take(50);
    // Assess: 200 free, 800 more at 200/s = 4 s.
    expect(timer.now()).toBeCloseTo(4000, 6);
    expect(timer.slept).toHaveLength(16); // the first four batches did not wait
    expect(timer.slept.every((ms) => Math.abs(ms - 250) < 1e-6)).toBe(true);
  });

  it('always lets a whole batch through when the cap is below one batch per second', async () => {
    const timer = fakeTimer();
    const limiter = createRateLimiter(10, 50, timer);
    await limiter.take(50);
    await limiter.take(50);
    expect(timer.now()).toBeCloseTo(5000, 6);
  });

  it('does nothing with a cap of 0', async () => {
    const timer = fakeTimer();
    const limiter = createRateLimiter(0, 50, timer);
    for (let i = 0; i < 100; i++) await limiter.take(50);
    expect(timer.slept).toEqual([]);
  });
});

describe('the invocation budget', () => {
  it('stops when the remaining time falls below the margin, or after the batch limit', () => {
    let remaining = 60_000;
    const budget = createBudget({ remainingMs: () => remaining, stopBeforeTimeoutMs: 20_000, maxBatches: 3 });
    expect(budget.stopReason()).toBeUndefined();
    expect([budget.takeBatch(), budget.takeBatch(), budget.takeBatch(), budget.takeBatch()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(budget.stopReason()).toBe('batches');

    const timed = createBudget({
      remainingMs: () => remaining,
      stopBeforeTimeoutMs: 20_000,
      maxBatches: 100,
    });
    remaining = 19_999;
    expect(timed.stopReason()).toBe('time');
    expect(timed.takeBatch()).toBe(false);
    const aborted = createBudget({ remainingMs: () => 1e9, stopBeforeTimeoutMs: 0, maxBatches: 100 });
    aborted.abort();
    expect(aborted.stopReason()).toBe('aborted');
  });
});
