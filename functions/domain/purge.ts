import { highestIdAt, timeOfId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type ConversationItem, getConversation, settlePurge } from '../store/conversation-store.js';
import { copyIdsThrough, deleteCopies } from '../store/message-store.js';
import type { Deps } from './deps.js';

/** Copies deleted per batch: one Query for their keys, then two BatchWriteItem calls of 25. */
export const PURGE_BATCH = 50;

export interface PurgeProgress {
  deleted: number;
  batches: number;
  /** True when no copy at or before the bound is left. */
  finished: boolean;
}

/**
 * Physically deletes the owner's copies at or before `through` (ms), oldest first, in batches of 50,
 * while `mayContinue` allows. Deletes are idempotent, so a batch replayed after a crash is harmless.
 * The one purge used by one-way deletes (inline) and by the retention sweep.
 *
 * `beforeDelete` sees each batch's ids (oldest first) after they were read and before they are deleted:
 * the sweep checkpoints there (write-ahead, so its counts stay exact across a crash) and stops the purge
 * by throwing, in which case nothing of that batch is deleted.
 */
export async function purgeThrough(
  deps: Deps,
  ref: ConversationRef,
  through: number,
  mayContinue: (progress: PurgeProgress) => boolean,
  beforeDelete?: (msgIds: readonly string[]) => Promise<void> | void,
): Promise<PurgeProgress> {
  const progress: PurgeProgress = { deleted: 0, batches: 0, finished: false };
  const highestId = highestIdAt(through);
  while (mayContinue(progress)) {
    const ids = await copyIdsThrough(deps.db, ref, highestId, PURGE_BATCH);
    if (ids.length > 0) {
      await beforeDelete?.(ids);
      await deleteCopies(deps.db, ref, ids);
      progress.deleted += ids.length;
      progress.batches++;
    }
    if (ids.length < PURGE_BATCH) {
      progress.finished = true;
      break;
    }
  }
  return progress;
}

/** What settling needs to know of the conversation item; its changeSk guards the write. */
export type SettleState = Pick<ConversationItem, 'changeSk' | 'lastMsgId'>;

/**
 * Once a purge finished: re-file the conversation in the purge index under its oldest remaining copy,
 * or take it out if none is left, and then off the list too (nothing is left to show, whatever a later
 * policy says). A caller that just wrote the item passes its state and saves a read; when that is stale
 * (a concurrent send or delete changed the item) it re-reads and tries again.
 */
export async function settleConversationPurge(
  deps: Deps,
  ref: ConversationRef,
  known?: SettleState,
): Promise<void> {
  let item: SettleState | undefined = known;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (attempt > 0 || !item) item = await getConversation(deps.db, ref);
    if (!item) return;
    const [oldest] = await copyIdsThrough(deps.db, ref, highestIdAt(Number.MAX_SAFE_INTEGER), 1);
    const emptied = oldest === undefined && item.lastMsgId !== undefined;
    const settled = await settlePurge(deps.db, ref, {
      seenChangeSk: item.changeSk,
      oldestRemaining: oldest === undefined ? undefined : timeOfId(oldest),
      unlistAs: emptied ? deps.newId() : undefined,
    });
    if (settled) return;
  }
  // Still contended: leaving the conversation filed as due is safe, the sweep settles it later.
}
