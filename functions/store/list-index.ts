import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Conversation, ConversationRef } from '../core/model.js';
import { type ConversationState, refOfItem, stateOf, toConversation } from './conversation-state.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import { LARGE_GROUPS_LIST_SK, largeGroupsOf } from './large-groups.js';
import { listReachOf } from './list-reach.js';
import { type SyncHeadView, syncHeadViewOf } from './sync-store.js';
import { LIST_INDEX, PINNED_INDEX } from './table.js';

/**
 * The three ways to list a user's conversations, each one Query per page:
 * - all of them, last arrival first: the list index (with the user's sync head at its top);
 * - the pinned ones, most recently pinned first: the sparse pinned index;
 * - those with a mark, in list order: the mark's entries in the base table (conversation-stamp.ts).
 */

export interface ListedItem {
  ref: ConversationRef;
  /** The side as the item says (a large group's is derived further from META: member-view.ts). */
  state: ConversationState;
  /** The item's sort key in the list it came from: the next page's cursor. */
  sortKey: string;
  conversation: Conversation;
}

export interface ListedPage {
  items: ListedItem[];
  /** The sync head as this Query saw it (first pages of the full list only; absent if not there yet). */
  syncHead?: SyncHeadView;
  /** The user's large groups as this Query saw them (first pages of the full list only). */
  largeGroups?: string[];
  /** The lists' reach as that item said (list-reach.ts), when it was read and has one. */
  listReach?: number;
}

interface PageQuery {
  indexName?: string;
  pk: string;
  /** The sort key attribute of the index (or `sk` for the base table). */
  sortKey: string;
  /** Inclusive lower bound. */
  lowest: string;
  /** Exclusive upper bound (a cursor), or undefined for the top. */
  below?: string;
  limit: number;
  /** A conversation whose visible latest message is at or before its cutoff (ms) is not shown. */
  cutoffOf: CutoffOf;
  /**
   * Derives the sides as they are now (large groups' from META, member-view.ts) before they are
   * filtered: an item's own latest may be expired, or it may be unlisted, while its group's is not.
   */
  derive?: Derive;
}

/** A conversation's retention cutoff (ms): its own policy, or its owner's (conversation-retention.ts). */
export type CutoffOf = (state: ConversationState) => number;

/** Sides as read from the index, as they are now (same order, same length). */
export type Derive = (states: ConversationState[]) => Promise<ConversationState[]>;

/** The top of every list: above any key a conversation can have (the sync head's `~` included). */
const TOP = '~~';

async function queryPage(db: Db, query: PageQuery): Promise<ListedPage> {
  const highest = query.below ?? TOP;
  const result: ListedPage = { items: [] };
  if (query.lowest >= highest) return result;
  let startKey: Record<string, unknown> | undefined;
  do {
    // BETWEEN is inclusive: one more is asked for (the cursor's own item, or the sync head), and
    // from the top one more again (the large-groups item).
    const page = await send<{
      Items?: Record<string, unknown>[];
      LastEvaluatedKey?: Record<string, unknown>;
    }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        IndexName: query.indexName,
        KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :lo AND :hi',
        ExpressionAttributeNames: { '#pk': 'pk', '#sk': query.sortKey },
        ExpressionAttributeValues: { ':pk': query.pk, ':lo': query.lowest, ':hi': highest },
        ScanIndexForward: false,
        // Only the base table can be read strongly consistent (the mark lists are there).
        ConsistentRead: query.indexName === undefined ? true : undefined,
        Limit: query.limit - result.items.length + (query.below === undefined ? 2 : 1),
        ExclusiveStartKey: startKey,
      }),
    );
    const listed: { sortKey: string; state: ConversationState }[] = [];
    for (const item of page.Items ?? []) {
      const sortKey = item[query.sortKey] as string;
      if (sortKey === keys.syncHeadListSk) {
        result.syncHead = syncHeadViewOf(item);
        continue;
      }
      if (sortKey === LARGE_GROUPS_LIST_SK) {
        result.largeGroups = largeGroupsOf(item);
        result.listReach = listReachOf(item);
        continue;
      }
      if (sortKey >= highest) continue;
      listed.push({ sortKey, state: stateOf(refOfItem(item), item) });
    }
    const states = listed.map((entry) => entry.state);
    const now = query.derive ? await query.derive(states) : states;
    listed.forEach(({ sortKey }, i) => {
      const state = now[i] as ConversationState;
      const conversation = toConversation(state);
      if (result.items.length >= query.limit) return;
      if (conversation && conversation.lastMessage.timestamp > query.cutoffOf(state)) {
        result.items.push({ ref: state.ref, state, sortKey, conversation });
      }
    });
    startKey = page.LastEvaluatedKey;
  } while (startKey && result.items.length < query.limit);
  return result;
}

export interface ListRange {
  /** Lowest list key that may be returned (inclusive): bounds out expired conversations. */
  lowestListSk: string;
  /** Only keys strictly below this (the cursor), if given; else from the top, sync head included. */
  belowListSk?: string;
  limit: number;
  cutoffOf: CutoffOf;
}

/** Listed conversations, newest first. */
export function queryListed(db: Db, owner: string, range: ListRange): Promise<ListedPage> {
  return queryPage(db, {
    indexName: LIST_INDEX.indexName,
    pk: keys.userPk(owner),
    sortKey: LIST_INDEX.sortKey,
    lowest: range.lowestListSk,
    below: range.belowListSk,
    limit: range.limit,
    cutoffOf: range.cutoffOf,
  });
}

/** Pinned conversations, most recently pinned first. */
export function queryPinned(
  db: Db,
  owner: string,
  range: { belowPinSk?: string; limit: number; cutoffOf: CutoffOf; derive?: Derive },
): Promise<ListedPage> {
  return queryPage(db, {
    indexName: PINNED_INDEX.indexName,
    pk: keys.userPk(owner),
    sortKey: PINNED_INDEX.sortKey,
    lowest: '0',
    below: range.belowPinSk,
    limit: range.limit,
    cutoffOf: range.cutoffOf,
    derive: range.derive,
  });
}

/** Conversations with `mark`, in list order. */
export function queryMarked(
  db: Db,
  owner: string,
  mark: number,
  range: { lowestListSk: string; belowListSk?: string; limit: number; cutoffOf: CutoffOf },
): Promise<ListedPage> {
  return queryPage(db, {
    pk: keys.markPk(owner, mark),
    sortKey: 'sk',
    lowest: range.lowestListSk,
    below: range.belowListSk,
    limit: range.limit,
    cutoffOf: range.cutoffOf,
  });
}
