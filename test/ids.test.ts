import { describe, expect, it } from 'vitest';
import { ManualClock } from '../functions/core/clock.js';
import { createIdGenerator, timeOfId } from '../functions/core/ids.js';

describe('the id generator', () => {
  it('keeps next() ids in order after a message id at a millisecond ahead of the clock', () => {
    // Prepare: a clock that stands still, as within one busy millisecond.
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const ids = createIdGenerator(clock);
    // Act: a conversation took the next millisecond for its second message, then more ids are made.
    const before = ids.next();
    const message = ids.at(clock.now() + 1);
    const after = Array.from({ length: 50 }, () => ids.next());
    // Assess
    expect(timeOfId(message)).toBe(clock.now() + 1);
    expect([before, ...after]).toEqual([before, ...after].sort());
    expect(new Set([before, ...after]).size).toBe(51);
  });
});
