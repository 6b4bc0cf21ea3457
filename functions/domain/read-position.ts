import { NotFoundError } from '../core/errors.js';
import { maxId, minId } from '../core/ids.js';
import type { ChatType, ConversationRef } from '../core/model.js';
import { type ConversationState, markRead } from '../store/conversation.js';
import { changeableState, commit, readForWrite, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { unreadAbove } from './unread.js';

/** What a read acknowledgement answers: where the caller's read position is now, and what is unread. */
export interface ReadPosition {
  convId: string;
  chatType: ChatType;
  readThrough: string | null;
  unreadCount: number;
}

/**
 * `PUT …/read {msgId?}` (Easemob's conversation read ack): the caller has read through `msgId`, by
 * default through the newest message they have. The position only moves forward; unread becomes the
 * number of visible copies after it. The default target is fixed by the first read, so a message that
 * arrives meanwhile stays unread.
 */
export async function markConversationRead(
  deps: Deps,
  ref: ConversationRef,
  msgId?: string,
): Promise<ReadPosition> {
  let target = msgId;
  return withRetries(deps, 'read', async function attemptMarkRead() {
    const read = await readForWrite(deps, [ref]);
    const state = changeableState(read, ref);
    if (!state.exists) throw new NotFoundError('You have no such conversation');
    if (state.headMsgId === undefined) return positionOf(state);
    target ??= state.headMsgId;
    const through = minId(target, state.headMsgId);
    if (state.readThrough !== undefined && through <= state.readThrough) return positionOf(state);
    const from = state.clearedThrough === undefined ? through : maxId(through, state.clearedThrough);
    const unread = await unreadAbove(deps, state, from);
    const written = markRead(read.context(ref.owner), state, { through, unread });
    return (await commit(deps, written.actions)) === TRY_AGAIN ? TRY_AGAIN : positionOf(written.next);
  });
}

function positionOf(state: ConversationState): ReadPosition {
  return {
    convId: state.ref.convId,
    chatType: state.ref.chatType,
    readThrough: state.readThrough ?? null,
    unreadCount: state.unread,
  };
}
