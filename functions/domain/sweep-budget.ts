import type { Timer } from '../core/clock.js';

/**
 * What bounds one sweep invocation: its time limit (the Lambda context's remaining time), an optional
 * batch limit, and the delete rate. Time is injected so tests can drive it.
 */

export type { Timer };

export interface RateLimiter {
  /** Waits until `count` more deletes fit under the rate. */
  take(count: number): Promise<void>;
}

/**
 * A token bucket of `perSecond` tokens that refills continuously and holds one second's worth (at
 * least `minBurst`, so a whole batch fits). A caller that overdraws sleeps until the debt is repaid,
 * so concurrent callers queue fairly. `perSecond` 0 (or less) means no cap.
 */
export function createRateLimiter(perSecond: number, minBurst: number, timer: Timer): RateLimiter {
  if (!(perSecond > 0)) return { take: async () => undefined };
  const capacity = Math.max(perSecond, minBurst);
  let tokens = capacity;
  let last = timer.now();
  return {
    async take(count) {
      const now = timer.now();
      tokens = Math.min(capacity, tokens + ((now - last) * perSecond) / 1000);
      last = now;
      tokens -= count;
      if (tokens < 0) await timer.sleep((-tokens * 1000) / perSecond);
    },
  };
}

export type StopReason = 'time' | 'batches' | 'aborted';

/** Shared by the workers of one invocation. */
export interface Budget {
  /** Why the invocation should stop now, or undefined to go on. */
  stopReason(): StopReason | undefined;
  /** Reserves one more batch; false when the invocation must stop first. */
  takeBatch(): boolean;
  /** Stops every worker at its next check (a worker failed). */
  abort(): void;
}

export function createBudget(options: {
  remainingMs: () => number;
  stopBeforeTimeoutMs: number;
  maxBatches: number;
}): Budget {
  let batches = 0;
  let aborted = false;
  function stopReason(): StopReason | undefined {
    if (aborted) return 'aborted';
    if (batches >= options.maxBatches) return 'batches';
    if (options.remainingMs() < options.stopBeforeTimeoutMs) return 'time';
    return undefined;
  }
  return {
    stopReason,
    takeBatch() {
      if (stopReason() !== undefined) return false;
      batches++;
      return true;
    },
    abort() {
      aborted = true;
    },
  };
}
