import { decodeTime, encodeTime, monotonicFactory, ulid } from 'ulid';
import type { Clock } from './clock.js';

/**
 * Ids are ULIDs: 48 bits of milliseconds then 80 random bits, in Crockford base32, so sorting ids sorts
 * by time. A message's id is made from the timestamp its conversation gave it (see messageIdAt), so
 * within one conversation id order, position and timestamp agree, and a message's `timestamp` is always
 * its id's time: every time bound ("at or before T", retention cutoffs) is an exact key bound.
 */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const LOWEST_RANDOM = '0'.repeat(16);
const HIGHEST_RANDOM = 'Z'.repeat(16);
/** The largest time a ULID can encode (year 10889); later times are bad input. */
export const MAX_ID_TIME = 2 ** 48 - 1;

/** Random numbers in [0, 1): crypto-strength by default, seeded in simulations so runs replay exactly. */
export type RandomSource = () => number;

export interface IdGenerator {
  /** A new id at the clock's time; ids from one generator strictly increase, even within a millisecond. */
  next(): string;
  /** A new id at exactly `time` (ms), with a random tail: message ids, whose time the conversation chose. */
  at(time: number): string;
}

export function createIdGenerator(clock: Clock, random?: RandomSource): IdGenerator {
  // Separate state for the two: a message id at a millisecond ahead of the clock (a conversation taking
  // more than one message a millisecond) must not leave the next() ids after it unordered.
  const nextMonotonic = monotonicFactory(random);
  const atMonotonic = monotonicFactory(random);
  let latestAt = 0;
  /** Monotonic from this process whenever time does not go back (so same-millisecond ids keep their order). */
  function idAt(time: number): string {
    if (time < latestAt) return ulid(time, random);
    latestAt = time;
    return atMonotonic(time);
  }
  return { next: () => nextMonotonic(clock.now()), at: idAt };
}

export function timeOfId(id: string): number {
  return decodeTime(id);
}

/** The smallest id that any message at `ms` can have. */
export function lowestIdAt(ms: number): string {
  return encodeTime(Math.min(MAX_ID_TIME, Math.max(0, ms)), 10) + LOWEST_RANDOM;
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

export const minId = (a: string, b: string): string => (a < b ? a : b);
export const maxId = (a: string, b: string): string => (a > b ? a : b);

/** A ULID as its 16 bytes (26 base32 digits carry 130 bits, the first digit at most 7): compact storage. */
export function idToBytes(id: string): Uint8Array {
  let value = 0n;
  for (const digit of id) value = (value << 5n) | BigInt(CROCKFORD_BASE32.indexOf(digit));
  const bytes = new Uint8Array(16);
  for (let i = 15; i >= 0; i--) {
    bytes[i] = Number(value & 0xffn);
    value >>= 8n;
  }
  return bytes;
}

export function bytesToId(bytes: Uint8Array): string {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  let id = '';
  for (let i = 0; i < 26; i++) {
    id = (CROCKFORD_BASE32[Number(value & 31n)] as string) + id;
    value >>= 5n;
  }
  return id;
}
