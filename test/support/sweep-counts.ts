import { expect } from 'vitest';
import type { SweepCounts } from '../../functions/store/sweep-store.js';

/**
 * The sweep counts at least once (functions/domain/sweep-shard.ts): a run that a stop or a crash split
 * between invocations counts each user, conversation and copy at least once, and at most once per
 * invocation. `exact` names the counts that must equal the clean run's (a clean stop replays nothing, so
 * its copies and batches add up exactly).
 */
export function expectCountedAtLeastOnce(
  counts: SweepCounts,
  clean: SweepCounts,
  options: { invocations: number; exact?: (keyof SweepCounts)[] },
): void {
  for (const name of ['users', 'conversations', 'messagesDeleted', 'batches'] as const) {
    if (options.exact?.includes(name)) expect(counts[name], name).toBe(clean[name]);
    expect(counts[name], name).toBeGreaterThanOrEqual(clean[name]);
    expect(counts[name], name).toBeLessThanOrEqual(options.invocations * clean[name]);
  }
}
