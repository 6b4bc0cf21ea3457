import { type Clock, DAY_MS } from '../core/clock.js';
import type { RetentionDays } from '../core/model.js';
import type { Db } from '../store/db.js';
import { getPoliciesFor, type PendingPolicy, type RetentionPolicies } from '../store/policy-store.js';

/** Nothing is expired: the cutoff before every possible message time. */
export const NO_CUTOFF = -1;

/** The most two instances' clocks may disagree (docs/consistency.md, section 8). */
export const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * How far behind the policy's cutoff the sweep deletes: a policy change computes its floor (what stays
 * hidden) on the admin instance's clock, the sweep its bound on its own; with each up to an hour off,
 * two hours keep every copy the sweep deletes at or below the floor of any later change.
 */
export const SWEEP_CLOCK_MARGIN_MS = 2 * MAX_CLOCK_SKEW_MS;

/**
 * How far ahead of its own clock a policy change computes its floor: an instance up to two hours ahead
 * of it (each up to an hour off) may already have told a device, in a `?since=` answer, that messages up
 * to its own cutoff had expired; the floor keeps them expired, so the device stays as a fresh fetch.
 */
export const FLOOR_CLOCK_MARGIN_MS = 2 * MAX_CLOCK_SKEW_MS;

/** Messages at or before the returned time (ms) are expired for a user with this retention. */
export function cutoffFor(days: RetentionDays, now: number): number {
  return days === null ? NO_CUTOFF : now - days * DAY_MS;
}

/**
 * The policies in force at `at`: each pending shortening whose `effectiveAt` has come replaces the days
 * it waits on. Every reader evaluates them at its own clock, so no job applies a pending change.
 *
 * A user's pending override scheduled while they followed the app default (a shortening of it then) is
 * in force at once when the default in force keeps less than it: the default was shortened since, and
 * the override must keep its user at its days from then on, not drop them to the default until its
 * `effectiveAt` and lengthen their retention there (what a device was told had expired would show again).
 */
export function inForceAt(policies: RetentionPolicies, at: number): RetentionPolicies {
  const due = (pending?: PendingPolicy) => pending !== undefined && pending.effectiveAt <= at;
  const appNow = due(policies.appPending) ? (policies.appPending as PendingPolicy).days : policies.appDays;
  const dueUsers = [...policies.userPending].filter(
    ([userId, pending]) =>
      due(pending) || (!policies.userDays.has(userId) && keepsLess(appNow, pending.days)),
  );
  if (!due(policies.appPending) && dueUsers.length === 0) return policies;
  const userDays = new Map(policies.userDays);
  const userPending = new Map(policies.userPending);
  for (const [userId, pending] of dueUsers) {
    userDays.set(userId, pending.days);
    userPending.delete(userId);
  }
  const app = policies.appPending;
  return due(app)
    ? { ...policies, appDays: (app as PendingPolicy).days, appPending: undefined, userDays, userPending }
    : { ...policies, userDays, userPending };
}

/** A policy of `next` days keeps less than one of `current` (null keeps forever). */
export function keepsLess(next: RetentionDays, current: RetentionDays): boolean {
  return next !== null && (current === null || next < current);
}

/** Days in force for the user, as stored (evaluate pending changes with inForceAt first). */
export function daysFor(policies: RetentionPolicies, userId: string): RetentionDays {
  const override = policies.userDays.get(userId);
  return override !== undefined ? override : policies.appDays;
}

/**
 * What the user sees hidden by retention now: the days in force, and never less than a floor (what an
 * earlier policy had hidden when it was changed). Never goes down as time passes or policies change.
 */
export function visibleCutoff(stored: RetentionPolicies, userId: string, now: number): number {
  const policies = inForceAt(stored, now);
  const userFloor = policies.userFloors.get(userId) ?? NO_CUTOFF;
  const floor = policies.userDays.has(userId) ? userFloor : Math.max(userFloor, policies.appFloor);
  return Math.max(floor, cutoffFor(daysFor(policies, userId), now));
}

/**
 * What the sweep may physically delete for the user at `now`: only what every policy in force for them
 * at some moment of the sweep's clock window expires (never by a floor: a lengthened policy or a hold
 * keeps those copies), cut at the window's start. So a pending shortening binds the sweep two hours
 * after its `effectiveAt` (a fast instance cannot delete early), and a pending override that keeps more
 * than the app default now does (the default was shortened at once after it was scheduled) keeps its
 * copies from the window's start, before any instance, slow or fast, has it in force.
 */
export function deletableCutoff(policies: RetentionPolicies, userId: string, now: number): number {
  const { from, to } = sweepWindow(now);
  return cutoffFor(
    longestDuring(policies, from, to, (inForce) => daysFor(inForce, userId)),
    from,
  );
}

/**
 * The moments of its own clock a sweep at `now` answers for: from its clock margin behind (what it may
 * delete by) to the most another instance's clock may be ahead of it (what a user may have in force).
 */
export function sweepWindow(now: number): { from: number; to: number } {
  return { from: now - SWEEP_CLOCK_MARGIN_MS, to: now + MAX_CLOCK_SKEW_MS };
}

/**
 * The longest of `daysOf` the policies in force at any moment of [from, to]: they change only at a
 * pending change's `effectiveAt`, so the window's start and each such moment inside it are all there is.
 * Pending changes are not monotone: one scheduled before a shortening at once may keep more than it.
 */
export function longestDuring(
  policies: RetentionPolicies,
  from: number,
  to: number,
  daysOf: (inForce: RetentionPolicies) => RetentionDays,
): RetentionDays {
  const changes = [policies.appPending, ...policies.userPending.values()]
    .map((pending) => pending?.effectiveAt)
    .filter((at): at is number => at !== undefined && at > from && at <= to);
  let longest = daysOf(inForceAt(policies, from));
  for (const at of changes) {
    const days = daysOf(inForceAt(policies, at));
    if (keepsLess(longest, days)) longest = days;
  }
  return longest;
}

/**
 * Reads a user's retention with a short per-process cache, so reads cost no policy lookups most of the
 * time. The cutoff itself always uses the current time: expiry is exact, only policy edits may take
 * up to `cacheMs` to reach other processes (this process drops its cache when it writes a policy). A
 * stale cache only hides too much after a lengthening (floors keep what was hidden hidden), and too
 * little for up to `cacheMs` after a shortening.
 */
export interface RetentionReader {
  cutoffFor(userId: string): Promise<number>;
  /**
   * The cutoff from the policies as stored now (strongly consistent, no cache): for an answer a device
   * keeps (a sync's `retentionCutoff`), which must never run ahead of what the policies say.
   */
  currentCutoff(userId: string): Promise<number>;
  /**
   * The cutoff now if this process knows the user's policy (cached and fresh), else undefined, without
   * a request: a read can bound its key range by it before the policy lookup (if any) has answered.
   */
  knownCutoff(userId: string): number | undefined;
  invalidate(): void;
}

const MAX_CACHED_USERS = 10_000;

export function createRetentionReader(db: Db, clock: Clock, cacheMs: number): RetentionReader {
  const cache = new Map<string, { policies: RetentionPolicies; readAt: number }>();
  const fresh = (userId: string, now: number) => {
    const cached = cache.get(userId);
    return cached && now - cached.readAt < cacheMs && now >= cached.readAt ? cached : undefined;
  };
  async function readCutoff(userId: string, now: number) {
    const policies = await getPoliciesFor(db, userId);
    if (cache.size >= MAX_CACHED_USERS) cache.clear();
    cache.set(userId, { policies, readAt: now });
    return visibleCutoff(policies, userId, now);
  }
  return {
    async cutoffFor(userId) {
      const now = clock.now();
      const cached = fresh(userId, now);
      return cached ? visibleCutoff(cached.policies, userId, now) : readCutoff(userId, now);
    },
    currentCutoff(userId) {
      return readCutoff(userId, clock.now());
    },
    knownCutoff(userId) {
      const now = clock.now();
      const cached = fresh(userId, now);
      return cached ? visibleCutoff(cached.policies, userId, now) : undefined;
    },
    invalidate() {
      cache.clear();
    },
  };
}
