import type { SyncHeadView } from '../store/sync-store.js';
import { MAX_CLOCK_SKEW_MS } from './retention.js';

/**
 * The sync token of a list's first page (docs/consistency.md, section 3). The page is one Query of the
 * list index, which on AWS propagates every item on its own: it can show the sync head at a new epoch
 * while a conversation still shows its version from before a change of an older epoch. A token of the
 * head's epoch would then skip that change for good. So the page hands out an epoch that began long
 * enough before the Query that every change it might not show came later:
 *
 * - assumption: an item reaches the index within INDEX_LAG_BOUND_MS of its write (AWS says usually
 *   under a second and bounds it nowhere; an hour is generous);
 * - the epochs' start times are on the clocks of the instances that began them, up to MAX_CLOCK_SKEW_MS
 *   off this one's, so the token goes back by both.
 *
 * A change the page does not show was written after (Query time − bound), in an epoch at least the one
 * current then; the token's epoch began before that (by any clock within the skew), so `?since=` reads
 * its marker. Changes from the lookback before the page are reported again (duplicates, never misses).
 */
export const INDEX_LAG_BOUND_MS = 60 * 60 * 1000;
export const LIST_TOKEN_LOOKBACK_MS = INDEX_LAG_BOUND_MS + MAX_CLOCK_SKEW_MS;

/**
 * The newest epoch the head's index copy knows to have begun LIST_TOKEN_LOOKBACK_MS or more before `now`
 * (read before the Query), or 0, which began before everything: a head not in the index yet, one whose
 * first `?since=` is recent, and one whose known starts are all recent (its ring overwritten by a burst
 * of syncs after a long pause) all get 0, which costs a longer first delta and misses nothing. A lagging
 * copy of the head is as safe: every start it keeps is true too.
 */
export function listTokenEpoch(head: SyncHeadView | undefined, now: number): number {
  const before = now - LIST_TOKEN_LOOKBACK_MS;
  let epoch = 0;
  for (const start of head?.starts ?? []) {
    if (start.at <= before && start.epoch > epoch) epoch = start.epoch;
  }
  return Math.min(epoch, head?.epoch ?? 0);
}
