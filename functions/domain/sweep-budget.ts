/** Why a sweep invocation stops early: its time is short, its batch limit, or a worker failed. */
export type StopReason = 'time' | 'batches' | 'aborted';

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
