/** Time is passed in (never read deep in domain code) so tests and simulations can drive it. */
export interface Clock {
  /** Wall-clock ms: message timestamps, retention cutoffs, record times. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that only moves when told to: for tests and benchmarks. */
export class ManualClock implements Clock {
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
  set(ms: number): void {
    this.current = ms;
  }
}

/** Elapsed time and sleeping, for budgets and backoff: the real ones by default, a fake in tests. */
export interface Timer {
  /** Monotonic ms. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTimer: Timer = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const DAY_MS = 86_400_000;

/** A DynamoDB TTL attribute (epoch seconds): `days` after `now` (ms). */
export function ttlAfter(now: number, days: number): number {
  return Math.floor((now + days * DAY_MS) / 1000);
}

/**
 * Whether a DynamoDB TTL attribute (epoch seconds; undefined: never) has passed at `now` (ms). TTL
 * deletes an expired item lazily (on AWS usually within two days, and until then reads still return
 * it), so a reader that must not act on an expired item checks this instead of the item's presence.
 */
export function isExpired(expiresAt: unknown, now: number): boolean {
  return typeof expiresAt === 'number' && expiresAt * 1000 <= now;
}
