import type { Timer } from '../core/clock.js';

/** What bounds one sweep invocation: its time left, an optional batch limit, and the delete rate. */

export type { Timer };
export type StopReason = 'time' | 'batches' | 'aborted';

/**
 * A token bucket of `perSecond` deletes that refills continuously and holds one second's worth (at
 * least `minBurst`, so a whole batch fits). A caller that overdraws sleeps until the debt is repaid, so
 * concurrent callers queue fairly. `perSecond` 0 (or less) means no cap.
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

/** Shared by the workers of one invocation. */
export type Budget = ReturnType<typeof createBudget>;

export function createBudget(limits: {
  remainingMs: () => number;
  stopBeforeTimeoutMs: number;
  maxBatches: number;
}) {
  let batches = 0;
  let aborted = false;
  /** Why the invocation should stop now, or undefined to go on. */
  function stopReason(): StopReason | undefined {
    if (aborted) return 'aborted';
    if (batches >= limits.maxBatches) return 'batches';
    return limits.remainingMs() < limits.stopBeforeTimeoutMs ? 'time' : undefined;
  }
  return {
    stopReason,
    /** Reserves one more batch; false when the invocation must stop first. */
    takeBatch(): boolean {
      if (stopReason() !== undefined) return false;
      batches++;
      return true;
    },
    /** Stops every worker at its next check (a worker failed). */
    abort: () => {
      aborted = true;
    },
  };
}
