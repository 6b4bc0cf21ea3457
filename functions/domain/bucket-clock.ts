import type { Deps } from './deps.js';

/**
 * Time in per-user limits (rate-limits.ts, request-budget.ts) is *bucket time*, never one instance's raw
 * clock, so that no clock can hold a bucket in the future for the others: clocks may each be up to an
 * hour off true time (two instances up to two hours apart) and a user under a limit is never refused
 * for it. Every bucket keeps the bucket time it was last written at (`at`); readers learn from it.
 */

/**
 * Clock skew the buckets tolerate: every instance within an hour of true time, so two instances are at
 * most two hours apart. A bucket time further ahead of this instance than that is not learned from (a
 * clock beyond the tolerance, or a stale value): the bucket refills nothing and is moved back to now.
 */
export const TOLERATED_SKEW_MS = 60 * 60 * 1000;
const MAX_LEAD_MS = 2 * TOLERATED_SKEW_MS;

/**
 * How far this instance's clock is behind the fastest clock it has seen in a bucket (per instance, only
 * ever grows; lost on a cold start and learned again at the first read). Shared by every kind of bucket:
 * it is a property of this instance's clock.
 */
const clockLead = new WeakMap<Deps, number>();

/**
 * Now in bucket time: this instance's clock plus its lead, raised first to what `seenAt` (a bucket's
 * time as read) shows. So bucket time is the fastest clock any instance wrote with, every instance
 * reads it the same way, and a bucket's time never runs ahead of a reader once it has read it:
 *
 * - A reader behind the writer's clock takes the gap it reads as its lead and counts on from there, not
 *   from its own clock. It cannot tell skew from the time between the write and its read, so its lead
 *   may fall short by that much (any user's bucket read sooner after a write refines it): it may count
 *   that short, never the whole skew. Counting from the later of its own clock and the bucket's would
 *   refuse a user under the limit on every slower instance for as long as the skew.
 * - A reader ahead refills for the time since the write plus its lead once, when its clock first sets
 *   bucket time: at most one bucket's worth per faster clock, and total refill never exceeds elapsed
 *   time on the fastest clock, so a user well over the limit is refused whatever the instances.
 *
 * A learned lead never puts bucket time past the fastest clock: the `at` it learns from was that
 * writer's bucket time when written, and clocks only move on since.
 */
export function bucketNow(deps: Deps, seenAt: number | undefined): number {
  const clock = deps.clock.now();
  let lead = clockLead.get(deps) ?? 0;
  if (seenAt !== undefined && seenAt - clock > lead && seenAt - clock <= MAX_LEAD_MS) {
    lead = seenAt - clock;
    clockLead.set(deps, lead);
  }
  return clock + lead;
}

/** A bucket time this instance does not learn from: further ahead of its clock than two instances can be. */
export function beyondTolerance(deps: Deps, seenAt: number): boolean {
  return seenAt - deps.clock.now() > MAX_LEAD_MS;
}
