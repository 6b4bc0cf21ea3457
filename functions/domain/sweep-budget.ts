import type { Timer } from '../core/clock.js';

/** Why a sweep invocation stops early: its time is short, its batch limit, or a worker failed. */
export type StopReason = 'time' | 'batches' | 'aborted';

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

/** Shared by the workers of one invocation. */
export type Budget = ReturnType<typeof createBudget>;
type Limits = { remainingMs: () => number; stopBeforeTimeoutMs: number; maxBatches: number };

export function createBudget(limits: Limits) {
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
    started: () => batches > 0,
    /** Stops every worker at its next check (a worker failed). */
    abort: () => {
      aborted = true;
    },
  };
}
