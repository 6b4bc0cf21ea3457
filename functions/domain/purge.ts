import { ThrottledError } from '../core/errors.js';
import { highestIdAt, maxId, timeOfId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type ConversationState, fileForSettle, settlePurge, unreadAfter } from '../store/conversation.js';
import { hasHeldDeletes, purgeHeldDeletes } from '../store/held-delete-store.js';
import { isHeld, listHolds } from '../store/hold-store.js';
import { mayShowShared, oldestInView } from '../store/member-view.js';
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
  /** True when a legal hold stopped it: what is left stays stored (and filed) until the hold goes. */
  held?: boolean;
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
    // Every batch reads the holds (with its keys): a hold that answered before binds it.
    const [holds, { ids }] = await Promise.all([
      listHolds(deps.db),
      dueCopyIds(deps.db, ref, through, PURGE_BATCH),
    ]);
    if (isHeld(holds, ref.owner, ref)) {
      progress.held = true;
      break;
    }
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
 * delete filed the conversation as due). Under a legal hold it deletes nothing and leaves the
 * conversation filed as due, so the first sweep after the release purges it.
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
      const [oldestRead, heldDeletes] = await Promise.all([
        dueCopyIds(deps.db, ref, highestIdAt(Number.MAX_SAFE_INTEGER), 1),
        hasHeldDeletes(deps.db, ref),
      ]);
      const oldest = oldestRead.ids[0];
      const after = unreadAfter(state);
      const beyondHidden =
        options.purgedThrough !== undefined && purgedPastRead(state, options.purgedThrough);
      const unread = beyondHidden ? await unreadAbove(deps, state, after) : undefined;
      // Tombstones a hold kept stay due now: the next sweep deletes them (it leaves them while held).
      const written = settlePurge(read.context(ref.owner), state, {
        oldestRemaining: heldDeletes ? 0 : oldest === undefined ? undefined : timeOfId(oldest),
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

/** Deletes every tombstone a released hold kept in the conversation, and their records. */
export async function purgeAllHeldDeletes(deps: Deps, ref: ConversationRef): Promise<number> {
  let deleted = 0;
  for (;;) {
    const page = await purgeHeldDeletes(deps.db, ref);
    deleted += page.deleted;
    if (!page.more) return deleted;
  }
}

/**
 * A conversation the sweep met under a legal hold: nothing is deleted and it stays filed where it is,
 * but what its owner sees follows retention as it would without the hold (the hold is invisible to
 * them): unread stops counting what retention expired (at or below `bound`), and with nothing visible
 * left the conversation leaves the list. Writes nothing when that changes nothing.
 */
export async function settleHeldView(deps: Deps, ref: ConversationRef, bound: string): Promise<void> {
  try {
    await withRetries(deps, 'settle', async function attemptHeldSettle() {
      const read = await readForWrite(deps, [ref]);
      const state = read.state(ref);
      if (!state.exists || state.headMsgId === undefined || state.purgeSk === undefined) return true;
      const after = unreadAfter(state);
      const unreadExpired = state.unread > 0 && purgedPastRead(state, bound);
      const latestExpired = state.lastMessage !== undefined && state.lastMessage.msgId <= bound;
      if (!unreadExpired && !latestExpired) return true;
      const from = after === undefined ? bound : maxId(after, bound);
      const unread = unreadExpired ? await unreadAbove(deps, state, from) : undefined;
      const hidden = state.clearedThrough === undefined ? bound : maxId(state.clearedThrough, bound);
      const visible = latestExpired
        ? await oldestInView(deps.db, state, { above: hidden, atOrBelow: state.headMsgId })
        : true;
      const written = settlePurge(read.context(ref.owner), state, {
        keepFiling: true,
        unread,
        emptied: visible === undefined,
      });
      if (!written) return true;
      return (await commit(deps, written.actions)) === TRY_AGAIN ? TRY_AGAIN : true;
    });
  } catch (error) {
    if (!(error instanceof ThrottledError)) throw error;
  }
}
