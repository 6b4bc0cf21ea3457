import type { Timer } from './clock.js';

/**
 * A token bucket of `perSecond` (0: no cap) that refills continuously and holds one second's worth, at
 * least `minBurst`. A caller that overdraws sleeps until the debt is repaid: callers queue fairly.
 */
export function createRateLimiter(perSecond: number, minBurst: number, timer: Timer) {
  const capacity = Math.max(perSecond, minBurst);
  let tokens = capacity;
  let last = timer.now();
  return {
    async take(count: number): Promise<void> {
      if (!(perSecond > 0)) return;
      const now = timer.now();
      tokens = Math.min(capacity, tokens + ((now - last) * perSecond) / 1000) - count;
      last = now;
      if (tokens < 0) await timer.sleep((-tokens * 1000) / perSecond);
    },
  };
}
