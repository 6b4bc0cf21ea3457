import { DAY_MS } from '../core/clock.js';
import { RateLimitedError } from '../core/errors.js';
import type { Key } from '../store/db.js';
import { type BucketState, bucketKey, bucketStateOf, spendAction } from '../store/rate-limit-store.js';
import type { TransactItem } from '../store/transactions.js';
import type { Deps } from './deps.js';

/**
 * Per-user limits, so one user cannot make the service slow or expensive for everyone: token buckets
 * that refill continuously. An operation reads its buckets with its other items and spends in its own
 * transaction (no extra request); over a limit it is refused with 429 and `Retry-After` (when one token
 * will be back) before anything is written.
 */
export type LimitName = 'send' | 'createGroup' | 'addMembers';

interface Rule {
  /** Tokens added per ms. */
  perMs: number;
  capacity: number;
  what: string;
}

function ruleOf(deps: Deps, name: LimitName): Rule | undefined {
  const c = deps.config;
  if (name === 'send' && c.sendsPerSecond > 0) {
    return {
      perMs: c.sendsPerSecond / 1000,
      capacity: Math.max(1, c.sendBurst),
      what: `${c.sendsPerSecond} messages a second`,
    };
  }
  if (name === 'createGroup' && c.groupsPerDay > 0) {
    return {
      perMs: c.groupsPerDay / DAY_MS,
      capacity: c.groupsPerDay,
      what: `${c.groupsPerDay} new groups a day`,
    };
  }
  if (name === 'addMembers' && c.memberAddsPerMinute > 0) {
    return {
      perMs: c.memberAddsPerMinute / 60_000,
      capacity: c.memberAddsPerMinute,
      what: `${c.memberAddsPerMinute} members added a minute`,
    };
  }
  return undefined;
}

/** The bucket to read for a limit that is on; undefined when it is off. */
export function limitKey(deps: Deps, owner: string, name: LimitName): Key | undefined {
  return ruleOf(deps, name) ? bucketKey(owner, name) : undefined;
}

/**
 * Spends `count` tokens of the bucket read as `item`: the transaction action to add, or undefined when
 * the limit is off. Throws RateLimitedError when there are not enough.
 *
 * Time in a bucket is *bucket time* (`bucketNow`), never one instance's raw clock, so that no clock can
 * hold a bucket in the future for the others: clocks may each be up to an hour off true time (two
 * instances up to two hours apart) and a user under the limit is never refused for it.
 */
export function spend(
  deps: Deps,
  owner: string,
  name: LimitName,
  item: Record<string, unknown> | undefined,
  count = 1,
): TransactItem | undefined {
  const rule = ruleOf(deps, name);
  if (!rule || count === 0) return undefined;
  const state: BucketState = bucketStateOf(owner, name, item);
  const now = bucketNow(deps, state.exists ? state.at : undefined);
  // Never negative; zero when the bucket's time is beyond the tolerated skew (it is then moved to now).
  const elapsed = state.exists ? Math.max(0, now - state.at) : 0;
  const available = state.exists
    ? Math.min(rule.capacity, state.tokens + elapsed * rule.perMs)
    : rule.capacity;
  if (available < count) {
    if (available < 1) rememberEmpty(deps, owner, name, deps.clock.now() + (1 - available) / rule.perMs);
    const retryAfterSeconds = Math.max(1, Math.ceil((count - available) / rule.perMs / 1000));
    throw new RateLimitedError(`Too many requests: at most ${rule.what}; retry in ${retryAfterSeconds} s`, {
      retryAfterSeconds,
    });
  }
  return spendAction(deps.db.tableName, state, { tokens: available - count, at: now });
}

/**
 * Clock skew the buckets tolerate: every instance within an hour of true time, so two instances are at
 * most two hours apart. A bucket time further ahead of this instance than that is not learned from (a
 * clock beyond the tolerance, or a stale value): the bucket refills nothing and is moved back to now.
 */
export const TOLERATED_SKEW_MS = 60 * 60 * 1000;
const MAX_LEAD_MS = 2 * TOLERATED_SKEW_MS;

/**
 * How far this instance's clock is behind the fastest clock it has seen in a bucket (per instance, only
 * ever grows; lost on a cold start and learned again at the first read).
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
 */
function bucketNow(deps: Deps, seenAt: number | undefined): number {
  const clock = deps.clock.now();
  let lead = clockLead.get(deps) ?? 0;
  if (seenAt !== undefined && seenAt - clock > lead && seenAt - clock <= MAX_LEAD_MS) {
    lead = seenAt - clock;
    clockLead.set(deps, lead);
  }
  return clock + lead;
}

/**
 * Buckets this instance has read empty, and when (by its clock) the first token is back. Until then a
 * request is refused before it reads anything, so a client that ignores Retry-After costs the store
 * nothing. Sound: only time adds tokens, and other instances can only spend them (an instance whose
 * clock runs ahead may refill a little early; refusing here until this clock says so is the stricter
 * answer for a fraction of a second). Per instance, bounded, forgotten when it is cold.
 */
const knownEmpty = new WeakMap<Deps, Map<string, number>>();
const KNOWN_EMPTY_MAX = 10_000;

function rememberEmpty(deps: Deps, owner: string, name: LimitName, tokenBackAt: number): void {
  let buckets = knownEmpty.get(deps);
  if (!buckets) {
    buckets = new Map();
    knownEmpty.set(deps, buckets);
  }
  if (buckets.size >= KNOWN_EMPTY_MAX) buckets.clear();
  buckets.set(`${name}|${owner}`, tokenBackAt);
}

/** Refuses at once (429) when this instance read the bucket empty and no token is back yet. */
export function refuseIfKnownEmpty(deps: Deps, owner: string, name: LimitName): void {
  const rule = ruleOf(deps, name);
  const buckets = knownEmpty.get(deps);
  if (!rule || !buckets) return;
  const key = `${name}|${owner}`;
  const tokenBackAt = buckets.get(key);
  if (tokenBackAt === undefined) return;
  const now = deps.clock.now();
  if (now >= tokenBackAt) {
    buckets.delete(key);
    return;
  }
  const retryAfterSeconds = Math.max(1, Math.ceil((tokenBackAt - now) / 1000));
  throw new RateLimitedError(`Too many requests: at most ${rule.what}; retry in ${retryAfterSeconds} s`, {
    retryAfterSeconds,
  });
}
