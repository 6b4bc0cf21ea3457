import { type Clock, DAY_MS } from '../core/clock.js';
import type { RetentionDays } from '../core/model.js';
import type { Db } from '../store/db.js';
import { getPoliciesFor, type RetentionPolicies } from '../store/policy-store.js';

/** Nothing is expired: the cutoff before every possible message time. */
export const NO_CUTOFF = -1;

/** Messages at or before the returned time (ms) are expired for a user with this retention. */
export function cutoffFor(days: RetentionDays, now: number): number {
  return days === null ? NO_CUTOFF : now - days * DAY_MS;
}

export function daysFor(policies: RetentionPolicies, userId: string): RetentionDays {
  const override = policies.userDays.get(userId);
  return override !== undefined ? override : policies.appDays;
}

/**
 * Reads a user's retention with a short per-process cache, so reads cost no policy lookups most of the
 * time. The cutoff itself always uses the current time: expiry is exact, only policy edits may take
 * up to `cacheMs` to reach other processes (this process drops its cache when it writes a policy).
 */
export interface RetentionReader {
  cutoffFor(userId: string): Promise<number>;
  /**
   * The cutoff now if this process knows the user's policy (cached and fresh), else undefined, without
   * a request: a read can bound its key range by it before the policy lookup (if any) has answered.
   */
  knownCutoff(userId: string): number | undefined;
  invalidate(): void;
}

const MAX_CACHED_USERS = 10_000;

export function createRetentionReader(db: Db, clock: Clock, cacheMs: number): RetentionReader {
  const cache = new Map<string, { days: RetentionDays; readAt: number }>();
  const fresh = (userId: string, now: number) => {
    const cached = cache.get(userId);
    return cached && now - cached.readAt < cacheMs && now >= cached.readAt ? cached : undefined;
  };
  return {
    async cutoffFor(userId) {
      const now = clock.now();
      const cached = fresh(userId, now);
      if (cached) return cutoffFor(cached.days, now);
      const days = daysFor(await getPoliciesFor(db, userId), userId);
      if (cache.size >= MAX_CACHED_USERS) cache.clear();
      cache.set(userId, { days, readAt: now });
      return cutoffFor(days, now);
    },
    knownCutoff(userId) {
      const now = clock.now();
      const cached = fresh(userId, now);
      return cached ? cutoffFor(cached.days, now) : undefined;
    },
    invalidate() {
      cache.clear();
    },
  };
}
