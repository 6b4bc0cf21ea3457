import { ForbiddenError } from '../core/errors.js';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, nextId, previousId } from '../core/ids.js';
import type { ConversationRef, Message, MessageType } from '../core/model.js';
import { type ConversationItem, getConversation } from '../store/conversation-store.js';
import { isMember } from '../store/group-store.js';
import { queryHistory } from '../store/message-store.js';
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
  /** Pass as `startMsgId` for the next page in the same direction; null when there is no more. */
  cursor: string | null;
}

/**
 * One page of the caller's own copy of a conversation. Everything the caller may not see (deleted
 * below the watermark, or past retention) is outside the Query's key range, so it costs no reads.
 */
export async function fetchHistory(
  deps: Deps,
  ref: ConversationRef,
  request: HistoryRequest,
): Promise<HistoryPage> {
  const [conversation, cutoff] = await Promise.all([
    readableConversation(deps, ref),
    deps.retention.cutoffFor(ref.owner),
  ]);
  const visibleAfter = Math.max(cutoff, conversation?.clearedThrough ?? -1, (request.startTime ?? 0) - 1);
  let lowestId = lowestIdAt(visibleAfter + 1);
  let highestId = highestIdAt(Math.min(request.endTime ?? MAX_ID_TIME, MAX_ID_TIME));
  if (request.startMsgId !== undefined) {
    if (request.direction === 'up') highestId = minId(highestId, previousId(request.startMsgId));
    else lowestId = maxId(lowestId, nextId(request.startMsgId));
  }
  const found = await queryHistory(deps.db, ref, {
    lowestId,
    highestId,
    direction: request.direction,
    limit: request.pageSize + 1,
    types: request.types,
    senders: request.from,
  });
  const messages = found.slice(0, request.pageSize);
  const more = found.length > request.pageSize;
  return { messages, cursor: more ? (messages.at(-1)?.msgId ?? null) : null };
}

/** The caller's conversation item; for a group, only while the caller is a member. */
export async function readableConversation(
  deps: Deps,
  ref: ConversationRef,
): Promise<ConversationItem | undefined> {
  if (ref.chatType === 'single') return getConversation(deps.db, ref);
  const [conversation, member] = await Promise.all([
    getConversation(deps.db, ref),
    isMember(deps.db, ref.convId, ref.owner),
  ]);
  if (!member) throw new ForbiddenError('You are not a member of this group');
  return conversation;
}

const minId = (a: string, b: string) => (a < b ? a : b);
const maxId = (a: string, b: string) => (a > b ? a : b);
