import { ThrottledError } from '../core/errors.js';
import { highestIdAt, timeOfId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type ConversationState, fileForSettle, settlePurge, unreadAfter } from '../store/conversation.js';
import { mayShowShared } from '../store/member-view.js';
import { deleteCopies, dueCopyIds } from '../store/message-store.js';
import { commit, readForWrite, type Snapshot, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { unreadAbove } from './unread.js';

/** Copies deleted per batch: one Query for their keys, then two BatchWriteItem calls of 25. */
export const PURGE_BATCH = 50;

export interface PurgeProgress {
  deleted: number;
  batches: number;
  /** True when no copy at or before the bound is left. */
  finished: boolean;
}

/**
 * Physically deletes the owner's copies at or before `through` (a msgId: a watermark, or the highest id
 * of a retention cutoff), oldest first, in batches of 50, while `mayContinue` allows. Those copies are
 * invisible already. Deletes are idempotent, so a batch replayed after a crash is harmless. One-way
 * deletes purge this way inline; the retention sweep purges in rounds (sweep-round.ts).
 */
export async function purgeThrough(
  deps: Deps,
  ref: ConversationRef,
  through: string,
  mayContinue: (progress: PurgeProgress) => boolean,
): Promise<PurgeProgress> {
  const progress: PurgeProgress = { deleted: 0, batches: 0, finished: false };
  while (mayContinue(progress)) {
    const { ids } = await dueCopyIds(deps.db, ref, through, PURGE_BATCH);
    if (ids.length > 0) {
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

/**
 * A delete's purge, inline: a few batches within a small time budget; the sweep finishes the rest (the
 * delete filed the conversation as due).
 */
export async function purgeInline(
  deps: Deps,
  ref: ConversationRef,
  through: string,
): Promise<{ purged: number; purgePending: boolean }> {
  const started = deps.timer.now();
  const progress = await purgeThrough(
    deps,
    ref,
    through,
    (p) =>
      p.batches < deps.config.inlinePurgeBatches &&
      deps.timer.now() - started < deps.config.inlinePurgeBudgetMs,
  );
  if (progress.finished) await settleConversationPurge(deps, ref, { purgedThrough: through });
  return { purged: progress.deleted, purgePending: !progress.finished };
}

/**
 * Settles a finished purge on a state read before it (the sweep reads a whole round's conversations
 * in one request) and the oldest copy left above the bound, read alongside: when the purge changed
 * nothing the owner sees, that is one conditional write (on `rev`, as read) with no read of its own.
 * Whatever else (no copy left, unread copies purged by retention, a write since the read) settles the
 * careful way: read again, then decide.
 */
export async function settleReadPurge(
  deps: Deps,
  read: Snapshot,
  ref: ConversationRef,
  purge: { purgedThrough: string; oldestRemaining: string | undefined },
): Promise<void> {
  const state = read.state(ref);
  const unreadPurged = state.unread > 0 && purgedPastRead(state, purge.purgedThrough);
  if (!state.exists || purge.oldestRemaining === undefined || unreadPurged) {
    return settleConversationPurge(deps, ref, { purgedThrough: purge.purgedThrough });
  }
  const written = settlePurge(read.context(ref.owner), state, {
    oldestRemaining: timeOfId(purge.oldestRemaining),
    emptied: false,
  });
  if (!written) return;
  try {
    if ((await commit(deps, written.actions)) === TRY_AGAIN) {
      await settleConversationPurge(deps, ref, { purgedThrough: purge.purgedThrough });
    }
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
  }
}

/**
 * Once a purge finished: re-file the conversation in the purge index under its oldest remaining copy,
 * or take it out if none is left. A purge that went past what the owner had hidden (retention) changed
 * what they see: unread is recounted, and with no copy left the conversation leaves the list.
 * Contended for long (a busy conversation), it leaves the conversation filed as due: the sweep settles
 * it later.
 */
export async function settleConversationPurge(
  deps: Deps,
  ref: ConversationRef,
  options: { purgedThrough?: string } = {},
): Promise<void> {
  try {
    await withRetries(deps, 'settle', async function attemptSettle() {
      const read = await readForWrite(deps, [ref]);
      const state = read.state(ref);
      if (!state.exists) return true;
      const oldest = (await dueCopyIds(deps.db, ref, highestIdAt(Number.MAX_SAFE_INTEGER), 1)).ids[0];
      const after = unreadAfter(state);
      const beyondHidden =
        options.purgedThrough !== undefined && purgedPastRead(state, options.purgedThrough);
      const unread = beyondHidden ? await unreadAbove(deps, state, after) : undefined;
      const written = settlePurge(read.context(ref.owner), state, {
        oldestRemaining: oldest === undefined ? undefined : timeOfId(oldest),
        unread,
        emptied: oldest === undefined && !mayShowShared(state),
      });
      if (!written) return true;
      return (await commit(deps, written.actions)) === TRY_AGAIN ? TRY_AGAIN : true;
    });
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
  }
}

/**
 * Before a purge takes copies its owners count as unread (retention past their read position), each such
 * conversation is filed as due now (fileForSettle): a purger that dies before its settle leaves it where
 * the next sweep meets it, whatever the policies by then, and recounts it.
 */
export async function fileUnreadPurges(
  deps: Deps,
  read: Snapshot,
  purges: readonly { ref: ConversationRef; through: string }[],
): Promise<void> {
  const unreadTaken = purges.filter(({ ref, through }) => {
    const state = read.state(ref);
    return state.unread > 0 && purgedPastRead(state, through);
  });
  await Promise.all(
    unreadTaken.map(({ ref }) =>
      commit(deps, fileForSettle(read.context(ref.owner), read.state(ref)).actions),
    ),
  );
}

/** The purge went past what the owner had hidden or read: retention took copies that counted as unread. */
function purgedPastRead(state: ConversationState, purgedThrough: string): boolean {
  const after = unreadAfter(state);
  return after === undefined || purgedThrough > after;
}
