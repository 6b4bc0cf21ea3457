import { DAY_MS } from '../core/clock.js';
import { type LimitName as AllLimits, RateLimitedError } from '../core/errors.js';
import type { Key } from '../store/db.js';
import { type BucketState, bucketKey, bucketStateOf, spendAction } from '../store/rate-limit-store.js';
import type { TransactItem } from '../store/transactions.js';
import { bucketNow } from './bucket-clock.js';
import type { Deps } from './deps.js';

export { TOLERATED_SKEW_MS } from './bucket-clock.js';

/**
 * Per-user limits, so one user cannot make the service slow or expensive for everyone: token buckets
 * that refill continuously. An operation reads its buckets with its other items and spends in its own
 * transaction (no extra request); over a limit it is refused with 429 and `Retry-After` (when one token
 * will be back) before anything is written.
 */
export type LimitName = Extract<AllLimits, 'send' | 'sendCopies' | 'createGroup' | 'addMembers'>;

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
  if (name === 'sendCopies' && c.sendCopiesPerSecond > 0) {
    return {
      perMs: c.sendCopiesPerSecond / 1000,
      capacity: Math.max(1, c.sendCopiesBurst),
      what: `${c.sendCopiesPerSecond} message copies a second (a copy per KB of content per recipient the send writes)`,
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
 * Time in a bucket is *bucket time* (bucket-clock.ts), never one instance's raw clock, so that no clock
 * can hold a bucket in the future for the others.
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
  // A cost beyond the bucket's size could never be paid: it takes the whole bucket instead.
  count = Math.min(count, rule.capacity);
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
      limit: name,
    });
  }
  return spendAction(deps.db.tableName, state, { tokens: available - count, at: now });
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
    limit: name,
  });
}
