import { DAY_MS } from '../core/clock.js';
import { ValidationError } from '../core/errors.js';
import { highestIdAt, lowestIdAt, ULID_PATTERN } from '../core/ids.js';
import type { ChatType, Conversation } from '../core/model.js';
import { type ConversationItem, queryChangedSince, queryListed } from '../store/conversation-store.js';
import type { Deps } from './deps.js';

/** The four forms of GET /v1/conversations. */
export type ListRequest =
  /** No paging parameters: the SDK's default of the 10 latest conversations of the last 7 days. */
  | { form: 'recent' }
  | { form: 'cursor'; limit: number; cursor?: string }
  | { form: 'page'; pageSize: number; pageNum: number }
  /** Incremental sync: what changed since a sync token. */
  | { form: 'since'; since: string; limit: number };

export interface ConversationPage {
  conversations: Conversation[];
  cursor: string | null;
  /** On a first page: pass as `?since=` later to get everything changed after this page was read. */
  syncToken?: string;
  /** In the `since` form: conversations that left the list (deleted, emptied or expired). */
  removed?: { convId: string; chatType: ChatType }[];
}

export const RECENT_COUNT = 10;
export const RECENT_DAYS = 7;

export async function listConversations(
  deps: Deps,
  owner: string,
  request: ListRequest,
): Promise<ConversationPage> {
  const now = deps.clock.now();
  const cutoff = await deps.retention.cutoffFor(owner);
  if (request.form === 'since') return changesSince(deps, owner, request, cutoff);
  // A sync token covers the whole walk that starts here: everything that changes from now on.
  const syncToken = highestIdAt(now - deps.config.syncGraceMs - 1);
  const lowestListSk = lowestIdAt(cutoff + 1);

  if (request.form === 'recent') {
    const recentFloor = lowestIdAt(Math.max(cutoff, now - RECENT_DAYS * DAY_MS) + 1);
    const items = await queryListed(deps.db, owner, { lowestListSk: recentFloor, limit: RECENT_COUNT });
    return { conversations: items.map(toConversation), cursor: null, syncToken };
  }
  if (request.form === 'cursor') {
    const belowListSk = request.cursor === undefined ? undefined : decodeListCursor(request.cursor);
    const items = await queryListed(deps.db, owner, { lowestListSk, belowListSk, limit: request.limit + 1 });
    return {
      ...pageOf(items, request.limit),
      ...(request.cursor === undefined ? { syncToken } : {}),
    };
  }
  // Page numbers: read through to the requested page (cost grows with pageNum; cursors do not).
  const skip = (request.pageNum - 1) * request.pageSize;
  const items = await queryListed(deps.db, owner, { lowestListSk, limit: skip + request.pageSize + 1 });
  return {
    ...pageOf(items.slice(skip), request.pageSize),
    ...(request.pageNum === 1 ? { syncToken } : {}),
  };
}

function pageOf(
  items: ConversationItem[],
  limit: number,
): Pick<ConversationPage, 'conversations' | 'cursor'> {
  const page = items.slice(0, limit);
  const last = page.at(-1);
  // Listed items always have a listSk; the check only narrows the type.
  const more = items.length > limit && last?.listSk !== undefined;
  return {
    conversations: page.map(toConversation),
    cursor: more ? encodeListCursor(last.listSk as string) : null,
  };
}

async function changesSince(
  deps: Deps,
  owner: string,
  request: Extract<ListRequest, { form: 'since' }>,
  cutoff: number,
): Promise<ConversationPage> {
  if (!ULID_PATTERN.test(request.since))
    throw new ValidationError('since: not a sync token from this service');
  const items = await queryChangedSince(deps.db, owner, request.since, request.limit + 1);
  const page = items.slice(0, request.limit);
  const conversations: Conversation[] = [];
  const removed: { convId: string; chatType: ChatType }[] = [];
  for (const item of page) {
    if (isListed(item, cutoff)) conversations.push(toConversation(item));
    else removed.push({ convId: item.convId, chatType: item.chatType });
  }
  const last = page.at(-1);
  const next = last?.changeSk ?? request.since;
  // Continue with `cursor` while there is more; `syncToken` is where the next sync starts either way.
  return { conversations, removed, cursor: items.length > request.limit ? next : null, syncToken: next };
}

function isListed(item: ConversationItem, cutoff: number): boolean {
  return item.listSk !== undefined && item.lastMessage !== undefined && item.lastMessage.timestamp > cutoff;
}

export function toConversation(item: ConversationItem): Conversation {
  if (!item.lastMessage) throw new Error(`listed conversation ${item.sk} has no last message`);
  return {
    convId: item.convId,
    chatType: item.chatType,
    lastMessage: item.lastMessage,
    unreadCount: item.unreadCount ?? 0,
    updatedAt: item.updatedAt ?? item.lastMessage.timestamp,
  };
}

const LIST_SK_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}#(single|group)#[^#]+$/;

function encodeListCursor(listSk: string): string {
  return Buffer.from(listSk).toString('base64url');
}

function decodeListCursor(cursor: string): string {
  const listSk = Buffer.from(cursor, 'base64url').toString();
  if (!LIST_SK_PATTERN.test(listSk)) throw new ValidationError('cursor: not a cursor from this service');
  return listSk;
}
