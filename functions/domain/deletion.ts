import { highestIdAt, maxId, minId, timeOfId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { eventAction } from '../events/outbox.js';
import {
  type ConversationState,
  clear,
  hide,
  isListed,
  markRead,
  removeCopies,
  unlist,
  unreadAfter,
} from '../store/conversation.js';
import { isHeld, listHolds } from '../store/hold-store.js';
import {
  newestInView,
  removeFromViewAction,
  type ViewCopy,
  viewCopyKeys,
  viewCopyOf,
} from '../store/member-view.js';
import { copyKey, keepDeletedCopyAction } from '../store/message-store.js';
import {
  changeableState,
  commit,
  readForWrite,
  type Snapshot,
  TRY_AGAIN,
  withRetries,
} from './conversation-writes.js';
import type { Deps } from './deps.js';
import { purgeInline } from './purge.js';
import { unreadAbove } from './unread.js';

/**
 * One-way deletes (docs/consistency.md, section 4): each changes only the caller's copies and
 * conversation item, in one transaction decided on a strongly consistent read and conditioned on the
 * item not having changed since. What a delete covers is fixed by its first read, so a message accepted
 * while it runs is never hidden by it.
 */

export interface PurgeReport {
  /** Copies physically deleted during this request. */
  purged: number;
  /** True when copies remain hidden but not yet deleted: the sweep finishes them. */
  purgePending: boolean;
}

/**
 * Deletes the caller's copies of these messages (ids unique, checked at the edge). Ids the caller does
 * not have, or cannot see (hidden, or still being delivered), are ignored. Returns how many it deleted.
 */
export async function deleteMessagesByIds(
  deps: Deps,
  ref: ConversationRef,
  msgIds: readonly string[],
): Promise<number> {
  // How many of the ids this call deleted (the caller's visible copies among them).
  return withRetries(deps, 'delete', async function attemptDeleteByIds() {
    // The holds are read with every attempt: one that answered before it keeps the copies stored.
    const [read, holds] = await Promise.all([
      readForWrite(deps, [ref], viewCopyKeys(ref, msgIds)),
      listHolds(deps.db),
    ]);
    const state = changeableState(read, ref);
    if (state.headMsgId === undefined) return 0;
    const copies = new Map(msgIds.map((id) => [id, viewCopyOf(read.item, state, id)]));
    const visible = msgIds.filter(
      (id) =>
        copies.get(id) !== undefined &&
        id <= (state.headMsgId as string) &&
        (state.clearedThrough === undefined || id > state.clearedThrough),
    );
    if (visible.length === 0) return 0;
    const after = unreadAfter(state);
    // A recalled message no longer counts as unread (its recall recorded the gap): not dropped twice.
    const isRecalled = (id: string) => {
      const copy = copies.get(id) as ViewCopy;
      return copy.own
        ? read.item(copyKey(ref, id))?.recalled !== undefined
        : copy.message.recalled !== undefined;
    };
    const unreadIds = visible.filter((id) => (after === undefined || id > after) && !isRecalled(id));
    const gone = new Set(visible);
    const latestGone = state.lastMessage !== undefined && gone.has(state.lastMessage.msgId);
    const latest = latestGone
      ? ((await newestInView(deps.db, state, {
          above: state.clearedThrough,
          atOrBelow: state.headMsgId,
          excluding: gone,
        })) ?? null)
      : undefined;
    // Under a hold the caller's own copies become tombstones (a shared copy's tombstone deletes nothing).
    const held = isHeld(holds, ref.owner, ref);
    const heldIds = held ? visible.filter((id) => (copies.get(id) as ViewCopy).own) : [];
    const written = removeCopies(read.context(ref.owner), state, {
      msgIds: visible,
      unreadIds,
      latest,
      heldIds,
    });
    const removals = visible.map((id) =>
      held && (copies.get(id) as ViewCopy).own
        ? keepDeletedCopyAction(deps.db.tableName, ref, id)
        : removeFromViewAction(deps.db.tableName, ref, copies.get(id) as ViewCopy),
    );
    const deleted = eventAction(deps, 'message.deleted', {
      ...conversationData(ref),
      scope: 'ids',
      msgIds: visible,
    });
    const committed = await commit(deps, [...written.actions, ...removals, deleted]);
    return committed === true ? visible.length : committed;
  });
}

/**
 * Hides every message at or before `before` (ms): the watermark rises to the newest visible copy at or
 * before it, one write whatever the history's size; then a few batches are purged inline and the sweep
 * does the rest. A message accepted after this answered sorts above the watermark, whatever the clocks.
 * A `before` at or after this instance's now that is not a message's own time means "everything so far"
 * (the caller's now): it covers every message the caller could have seen, those a fast instance stamped
 * ahead of the clocks included (their timestamps are up to an hour in the future, and every later
 * message of the conversation follows them). A message's own time (an app deleting "up to this
 * message") keeps its meaning even when it is ahead of the clock (a busy conversation's messages are
 * stamped a millisecond apart, so they run ahead of it).
 */
export async function deleteMessagesBefore(
  deps: Deps,
  ref: ConversationRef,
  before: number,
): Promise<PurgeReport> {
  let target: string | undefined;
  const mayMeanNow = mayMeanEverything(deps, before);
  const through = await withRetries(deps, 'delete', async function attemptDeleteBefore() {
    const read = await readForWrite(deps, [ref]);
    const state = changeableState(read, ref);
    if (state.headMsgId === undefined) return undefined;
    // Fixed at the first read: a message applied meanwhile is after it and stays.
    if (target === undefined) {
      const atOrBefore = await newestInView(deps.db, state, {
        above: state.clearedThrough,
        atOrBelow: minId(highestIdAt(before), state.headMsgId),
      });
      // A message's own time: that of a visible one, or of the watermark (a retry of this very delete).
      const messageTime =
        atOrBefore?.timestamp === before ||
        (state.clearedThrough !== undefined && timeOfId(state.clearedThrough) === before);
      // "Now": everything the owner sees, up to their latest message.
      target =
        mayMeanNow && !messageTime ? (state.lastMessage?.msgId ?? atOrBefore?.msgId) : atOrBefore?.msgId;
    }
    if (target === undefined || (state.clearedThrough !== undefined && target <= state.clearedThrough)) {
      return state.clearedThrough;
    }
    const written = await hideThrough(deps, read, state, target);
    const deleted = eventAction(deps, 'message.deleted', {
      ...conversationData(ref),
      scope: 'before',
      before,
      through: target,
    });
    return (await commit(deps, [...written.actions, deleted])) === TRY_AGAIN ? TRY_AGAIN : target;
  });
  if (through === undefined) return { purged: 0, purgePending: false };
  return purgeInline(deps, ref, through);
}

/** Whose conversation a one-way delete's event names. */
function conversationData(ref: ConversationRef) {
  return { owner: ref.owner, chatType: ref.chatType, convId: ref.convId };
}

/**
 * Whether a delete before `before` may mean "everything so far": the time is not past on this instance's
 * clock. It does unless it is the time of the newest visible message at or before it (deleteMessagesBefore).
 */
export function mayMeanEverything(deps: Deps, before: number): boolean {
  return before >= deps.clock.now();
}

/** The write that moves the watermark to `through` (a visible copy at or below the head). */
async function hideThrough(deps: Deps, read: Snapshot, state: ConversationState, through: string) {
  const after = unreadAfter(state);
  const unreadHidden =
    state.unread > 0 && (after === undefined || through > after)
      ? state.unread - (await unreadAbove(deps, state, through))
      : 0;
  const nothingLeft = state.lastMessage !== undefined && state.lastMessage.msgId <= through;
  return hide(read.context(state.ref.owner), state, {
    through,
    unreadHidden,
    latest: nothingLeft ? null : undefined,
  });
}

/**
 * A conversation delete (keeping the history) that a message overtook: the message arrived after the
 * delete's first read, and lists the conversation again, as it would have right after the delete. What
 * the delete saw is read (the read position moves to its target); what arrived since stays unread. Pin
 * and marks stay (the arrival is ordered first; docs/consistency.md, section 4).
 */
async function readThroughArrival(
  deps: Deps,
  read: Snapshot,
  state: ConversationState,
  target: string | undefined,
) {
  if (target === undefined || state.headMsgId === undefined) return undefined;
  if (state.readThrough !== undefined && target <= state.readThrough) return undefined;
  const from = state.clearedThrough === undefined ? target : maxId(target, state.clearedThrough);
  const unread = await unreadAbove(deps, state, from);
  return markRead(read.context(state.ref.owner), state, { through: target, unread });
}

/**
 * Takes the conversation off the caller's list. With `deleteMessages` everything the caller has goes
 * too (the watermark rises to their head as first read; a message that arrives meanwhile stays and keeps
 * the conversation listed); without, the history stays fetchable. A later message lists it again.
 */
export async function deleteConversation(
  deps: Deps,
  ref: ConversationRef,
  deleteMessages: boolean,
): Promise<PurgeReport> {
  let target: string | undefined;
  const through = await withRetries(deps, 'delete', async function attemptDeleteConversation() {
    const read = await readForWrite(deps, [ref]);
    const state = changeableState(read, ref);
    if (!state.exists) return undefined;
    target ??= state.headMsgId;
    if (!deleteMessages) {
      if (!isListed(state)) return undefined;
      const written =
        state.headMsgId === target
          ? unlist(read.context(ref.owner), state)
          : await readThroughArrival(deps, read, state, target);
      if (written === undefined) return undefined;
      const deleted = eventAction(deps, 'conversation.deleted', {
        ...conversationData(ref),
        deleteMessages: false,
      });
      return (await commit(deps, [...written.actions, deleted])) === TRY_AGAIN ? TRY_AGAIN : undefined;
    }
    if (target === undefined) return undefined;
    if (state.clearedThrough !== undefined && state.clearedThrough >= target && !isListed(state))
      return target;
    const written =
      state.headMsgId === target
        ? clear(read.context(ref.owner), state)
        : await hideThrough(deps, read, state, target);
    const deleted = eventAction(deps, 'conversation.deleted', {
      ...conversationData(ref),
      deleteMessages: true,
      through: target,
    });
    return (await commit(deps, [...written.actions, deleted])) === TRY_AGAIN ? TRY_AGAIN : target;
  });
  if (through === undefined) return { purged: 0, purgePending: false };
  return purgeInline(deps, ref, through);
}
