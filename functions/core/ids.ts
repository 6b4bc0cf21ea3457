import { decodeTime, encodeTime, monotonicFactory } from 'ulid';
import type { Clock } from './clock.js';

/**
 * Message ids are ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford base32, so sorting
 * ids sorts by server time. A message's `timestamp` is always read back from its id, which makes every
 * time bound ("at or before T", retention cutoffs) an exact key bound on the sort key.
 */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const LOWEST_RANDOM = '0'.repeat(16);
const HIGHEST_RANDOM = 'Z'.repeat(16);
/** The largest time a ULID can encode (year 10889); later times are bad input. */
export const MAX_ID_TIME = 2 ** 48 - 1;

export type IdGenerator = () => string;

/** Ids from one process are strictly increasing, even within one millisecond. */
export function createIdGenerator(clock: Clock): IdGenerator {
  const next = monotonicFactory();
  return function nextId() {
    return next(clock.now());
  };
}

export function timeOfId(id: string): number {
  return decodeTime(id);
}

/** The smallest id that any message at `ms` can have. */
export function lowestIdAt(ms: number): string {
  return encodeTime(Math.max(0, ms), 10) + LOWEST_RANDOM;
}

/** The largest id that any message at `ms` can have. */
export function highestIdAt(ms: number): string {
  return encodeTime(Math.min(MAX_ID_TIME, Math.max(0, ms)), 10) + HIGHEST_RANDOM;
}

const CROCKFORD_BASE32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** The id just before `id` in sort order (ids are fixed-length base32), for exclusive key bounds. */
export function previousId(id: string): string {
  return stepId(id, -1);
}

export function nextId(id: string): string {
  return stepId(id, 1);
}

function stepId(id: string, step: 1 | -1): string {
  const digits = id.split('');
  for (let i = digits.length - 1; i >= 0; i--) {
    const value = CROCKFORD_BASE32.indexOf(digits[i] as string) + step;
    if (value >= 0 && value < CROCKFORD_BASE32.length) {
      digits[i] = CROCKFORD_BASE32[value] as string;
      return digits.join('');
    }
    digits[i] = step === 1 ? '0' : 'Z';
  }
  // Stepping past the smallest or largest id: an empty range follows from the clamped bound.
  return step === 1 ? 'Z'.repeat(id.length) : '0'.repeat(id.length);
}
