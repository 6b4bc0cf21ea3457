import { describe, expect, it } from 'vitest';
import { LIST_TOKEN_LOOKBACK_MS, listTokenEpoch } from '../functions/domain/list-sync-token.js';
import { MAX_CLOCK_SKEW_MS } from '../functions/domain/retention.js';
import type { SyncHeadView } from '../functions/store/sync-store.js';

/** The epoch a list's first page hands out, from the sync head's copy in the index (no store needed). */
const NOW = Date.UTC(2026, 0, 10);
const MINUTE = 60_000;
const ago = (ms: number) => NOW - ms;

describe('listTokenEpoch', () => {
  it('goes back by the index lag bound plus the clock skew', () => {
    expect(LIST_TOKEN_LOOKBACK_MS).toBe(2 * 60 * MINUTE);
    expect(LIST_TOKEN_LOOKBACK_MS).toBeGreaterThan(MAX_CLOCK_SKEW_MS);
  });

  it.each<[string, SyncHeadView | undefined, number]>([
    ['no head in the index yet', undefined, 0],
    ['a head no ?since= ever began an epoch on (a pin made it)', { epoch: 0, starts: [] }, 0],
    ['a head from before epochs kept their starts', { epoch: 9, starts: [] }, 0],
    ['every known start within the lookback', { epoch: 3, starts: [{ epoch: 3, at: ago(MINUTE) }] }, 0],
    [
      'the newest epoch begun at or before the lookback',
      {
        epoch: 7,
        starts: [
          { epoch: 4, at: ago(4 * 60 * MINUTE) },
          { epoch: 5, at: ago(LIST_TOKEN_LOOKBACK_MS + MINUTE) },
          { epoch: 6, at: ago(LIST_TOKEN_LOOKBACK_MS - 1) },
          { epoch: 7, at: ago(MINUTE) },
        ],
      },
      5,
    ],
    [
      'exactly at the lookback counts',
      { epoch: 6, starts: [{ epoch: 6, at: ago(LIST_TOKEN_LOOKBACK_MS) }] },
      6,
    ],
    [
      'in any slot order (the ring wraps)',
      {
        epoch: 12,
        starts: [
          { epoch: 12, at: ago(MINUTE) },
          { epoch: 2, at: ago(30 * 60 * MINUTE) },
          { epoch: 10, at: ago(3 * 60 * MINUTE) },
          { epoch: 8, at: ago(3.5 * 60 * MINUTE) },
        ],
      },
      10,
    ],
    [
      'a long-idle user: the current epoch began days ago',
      { epoch: 3, starts: [{ epoch: 3, at: ago(5 * 24 * 60 * MINUTE) }] },
      3,
    ],
  ])('%s', (_name, head, expected) => {
    expect(listTokenEpoch(head, NOW)).toBe(expected);
  });
});
