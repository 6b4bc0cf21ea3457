import { ForbiddenError } from '../core/errors.js';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, maxId, minId, nextId, previousId } from '../core/ids.js';
import type { ConversationRef, Message, MessageType } from '../core/model.js';
import { type ConversationState, isMemberView, readConversation } from '../store/conversation.js';
import { readFirstViewPage, readView, viewHead, viewIsEmpty } from '../store/member-view.js';
import { conversationCutoff } from './conversation-retention.js';
import type { Deps } from './deps.js';
import { NO_CUTOFF } from './retention.js';

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

/** An inclusive range of message ids. */
interface IdRange {
  lowestId: string;
  highestId: string;
}

/**
 * One page of the caller's own copy of a conversation, in one round trip: the conversation item (its
 * watermark, head and, in a group, membership), the caller's retention policy (unless this process knows
 * it) and the page's Query are sent together. The Query reads the range the request names (and the
 * retention cutoff when known); what the conversation item then says is not visible (at or below the
 * watermark, above the head: a copy whose message is still being applied) is dropped. Only when that
 * cut the page short and more is there is a second Query sent, on the exact range: paging up past
 * copies still being applied, or down from below the watermark while the purge of a delete is pending.
 */
export function fetchHistory(
  deps: Deps,
  ref: ConversationRef,
  request: HistoryRequest,
): Promise<HistoryPage> {
  return readPage(deps, ref, request, deps.retention.knownCutoff(ref.owner) ?? NO_CUTOFF, true);
}

/**
 * A page whose first Query starts past `bound` (a cutoff known before the conversation is read). A
 * conversation with its own policy longer than its owner's shows copies below that bound: its page is
 * read again from its own cutoff (a second round trip, for those conversations alone).
 */
async function readPage(
  deps: Deps,
  ref: ConversationRef,
  request: HistoryRequest,
  bound: number,
  mayReadAgain: boolean,
): Promise<HistoryPage> {
  const wanted = request.pageSize + 1;
  const filters = { types: request.types, senders: request.from };
  const filtered = Boolean(request.types?.length || request.from?.length);
  const asked = requestedRange(request, bound);
  const [state, userCutoff, first] = await Promise.all([
    readableConversation(deps, ref),
    deps.retention.cutoffFor(ref.owner),
    readFirstViewPage(deps.db, ref, {
      ...asked,
      direction: request.direction,
      limit: wanted,
      // What the page needs, filtered or not: a filter is no reason to read more (its cursor goes on).
      budget: wanted,
      ...filters,
    }),
  ]);
  if (viewIsEmpty(state)) return { messages: [], cursor: null };
  const cutoff = conversationCutoff(state, userCutoff, deps.clock.now());
  if (cutoff < bound && mayReadAgain) return readPage(deps, ref, request, cutoff, false);
  const visible = visibleRange(asked, state, cutoff);
  if (visible.lowestId > visible.highestId) return { messages: [], cursor: null };

  const found = first.messages.filter((m) => m.msgId >= visible.lowestId && m.msgId <= visible.highestId);
  let resumeAfter: string | undefined;
  const stoppedAt = first.lastReadId;
  if (
    found.length < wanted &&
    stoppedAt !== undefined &&
    !pastTheEnd(stoppedAt, visible, request.direction)
  ) {
    // The first Query stopped inside the visible range, or before it (it began among hidden copies).
    const before = beforeTheStart(stoppedAt, visible, request.direction);
    // The page may read `wanted` copies of the visible range. Unfiltered, the first Query's visible
    // copies are the ones it found; filtered, a copy it skipped may have been visible (a non-match
    // looks like a hidden copy), so every copy it read counts: a filtered page never reads more than
    // an unfiltered one of the same size would.
    const left = before ? wanted : wanted - (filtered ? first.scanned : found.length);
    if (left > 0) {
      const rest = await readView(deps.db, ref, state.shared, {
        ...(before ? visible : narrowedAfter(visible, stoppedAt, request.direction)),
        direction: request.direction,
        limit: wanted - found.length,
        budget: left,
        ...filters,
      });
      found.push(...rest.messages);
      resumeAfter = rest.resumeAfter;
    } else {
      resumeAfter = stoppedAt;
    }
  }
  const messages = found.slice(0, request.pageSize);
  if (found.length > request.pageSize) return { messages, cursor: messages.at(-1)?.msgId ?? null };
  return { messages, cursor: resumeAfter ?? null };
}

/** The ids the request asks for, before the conversation is read: its cursor and times, and a known cutoff. */
function requestedRange(request: HistoryRequest, knownCutoff: number): IdRange {
  let lowestId = lowestIdAt(Math.max(knownCutoff, (request.startTime ?? 0) - 1) + 1);
  let highestId = highestIdAt(Math.min(request.endTime ?? MAX_ID_TIME, MAX_ID_TIME));
  if (request.startMsgId !== undefined) {
    if (request.direction === 'up') highestId = minId(highestId, previousId(request.startMsgId));
    else lowestId = maxId(lowestId, nextId(request.startMsgId));
  }
  return { lowestId, highestId };
}

/** What of `asked` the owner can see: above the watermark and the retention cutoff, at most the head. */
function visibleRange(asked: IdRange, state: ConversationState, cutoff: number): IdRange {
  let lowestId = maxId(asked.lowestId, lowestIdAt(cutoff + 1));
  if (state.clearedThrough !== undefined) lowestId = maxId(lowestId, nextId(state.clearedThrough));
  const head = viewHead(state);
  return { lowestId, highestId: head === undefined ? asked.highestId : minId(asked.highestId, head) };
}

/** The Query stopped at `id`, beyond the far end of the visible range: nothing more is visible. */
function pastTheEnd(id: string, visible: IdRange, direction: 'up' | 'down'): boolean {
  return direction === 'up' ? id < visible.lowestId : id > visible.highestId;
}

/** The Query stopped at `id` before reaching the visible range (everything it read was hidden). */
function beforeTheStart(id: string, visible: IdRange, direction: 'up' | 'down'): boolean {
  return direction === 'up' ? id > visible.highestId : id < visible.lowestId;
}

/** The visible range still to read after the Query stopped at `id` inside it. */
function narrowedAfter(visible: IdRange, id: string, direction: 'up' | 'down'): IdRange {
  return direction === 'up'
    ? { ...visible, highestId: previousId(id) }
    : { ...visible, lowestId: nextId(id) };
}

/**
 * The caller's side of the conversation (strongly consistent). In a group only a member may read or
 * change it: their own item says whether they are one (it is created when they join and marked when
 * they leave, in the same transactions as the membership).
 */
export async function readableConversation(deps: Deps, ref: ConversationRef): Promise<ConversationState> {
  const state = await readConversation(deps.db, ref);
  if (ref.chatType === 'group' && !isMemberView(state)) {
    throw new ForbiddenError('You are not a member of this group');
  }
  return state;
}
