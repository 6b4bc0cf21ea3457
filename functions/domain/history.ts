import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { ForbiddenError } from '../core/errors.js';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, maxId, minId, nextId, previousId } from '../core/ids.js';
import type { ConversationRef, Message, MessageType } from '../core/model.js';
import { type ConversationState, conversationKey, isMemberView, stateOf } from '../store/conversation.js';
import { send } from '../store/db.js';
import { readHistory } from '../store/message-store.js';
import type { Deps } from './deps.js';

export interface HistoryRequest {
  pageSize: number;
  /** Exclusive: the page starts just past this message. */
  startMsgId?: string;
  direction: 'up' | 'down';
  types?: MessageType[];
  /** Senders to keep (useful in groups). */
  from?: string[];
  /** Inclusive server-time bounds, ms. */
  startTime?: number;
  endTime?: number;
}

export interface HistoryPage {
  messages: Message[];
  /**
   * Pass as `startMsgId` for the next page in the same direction; null when there is no more. With
   * filters a page may be short (even empty) with a cursor: the page read its budget; keep going.
   */
  cursor: string | null;
}

/** A page reads at most this many items per item asked for (matching or not): filters cannot make it scan on. */
export const HISTORY_SCAN_FACTOR = 10;

/**
 * One page of the caller's own copy of a conversation: two requests, the conversation item and one
 * Query. The Query's key range runs from above the watermark (and the retention cutoff) to the owner's
 * head, so hidden copies cost no reads and a copy whose message is still being applied is not shown.
 */
export async function fetchHistory(
  deps: Deps,
  ref: ConversationRef,
  request: HistoryRequest,
): Promise<HistoryPage> {
  const [state, cutoff] = await Promise.all([
    readableConversation(deps, ref),
    deps.retention.cutoffFor(ref.owner),
  ]);
  if (state.headMsgId === undefined) return { messages: [], cursor: null };
  let lowestId = lowestIdAt(Math.max(cutoff, (request.startTime ?? 0) - 1) + 1);
  if (state.clearedThrough !== undefined) lowestId = maxId(lowestId, nextId(state.clearedThrough));
  let highestId = minId(state.headMsgId, highestIdAt(Math.min(request.endTime ?? MAX_ID_TIME, MAX_ID_TIME)));
  if (request.startMsgId !== undefined) {
    if (request.direction === 'up') highestId = minId(highestId, previousId(request.startMsgId));
    else lowestId = maxId(lowestId, nextId(request.startMsgId));
  }
  const { messages: found, resumeAfter } = await readHistory(deps.db, ref, {
    lowestId,
    highestId,
    direction: request.direction,
    limit: request.pageSize + 1,
    types: request.types,
    senders: request.from,
    budget: HISTORY_SCAN_FACTOR * (request.pageSize + 1),
  });
  const messages = found.slice(0, request.pageSize);
  if (found.length > request.pageSize) return { messages, cursor: messages.at(-1)?.msgId ?? null };
  return { messages, cursor: resumeAfter ?? null };
}

/**
 * The caller's side of the conversation (strongly consistent). In a group only a member may read or
 * change it: their own item says whether they are one (it is created when they join and marked when
 * they leave, in the same transactions as the membership).
 */
export async function readableConversation(deps: Deps, ref: ConversationRef): Promise<ConversationState> {
  const { Item } = await send<{ Item?: Record<string, unknown> }>(
    deps.db,
    new GetCommand({ TableName: deps.db.tableName, Key: conversationKey(ref), ConsistentRead: true }),
  );
  const state = stateOf(ref, Item);
  if (ref.chatType === 'group' && !isMemberView(state)) {
    throw new ForbiddenError('You are not a member of this group');
  }
  return state;
}
