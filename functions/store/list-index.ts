import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Conversation, ConversationRef } from '../core/model.js';
import { refOfItem, stateOf, toConversation } from './conversation.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import { LIST_INDEX } from './table.js';

/** The list index (table.ts): a user's listed conversations, last arrival first, and their sync head. */

export interface ListRange {
  /** Lowest list key that may be returned (inclusive): bounds out expired conversations. */
  lowestListSk: string;
  /** Only keys strictly below this (the cursor), if given; else from the top, sync head included. */
  belowListSk?: string;
  limit: number;
  /** A conversation whose visible latest message is at or before this (ms) is not shown. */
  cutoff: number;
}

export interface ListedPage {
  items: { ref: ConversationRef; listSk: string; conversation: Conversation }[];
  /** The sync epoch as this Query saw it (first pages only). */
  syncEpoch?: number;
}

/** Listed conversations, newest first: one Query per page (more only when many are filtered out). */
export async function queryListed(db: Db, owner: string, range: ListRange): Promise<ListedPage> {
  const highest = range.belowListSk ?? keys.syncHeadListSk;
  const result: ListedPage = { items: [] };
  if (range.lowestListSk >= highest && range.belowListSk !== undefined) return result;
  let startKey: Record<string, unknown> | undefined;
  do {
    // BETWEEN is inclusive: one more is asked for (the cursor's own item, or the sync head).
    const page = await send<{
      Items?: Record<string, unknown>[];
      LastEvaluatedKey?: Record<string, unknown>;
    }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        IndexName: LIST_INDEX.indexName,
        KeyConditionExpression: 'pk = :pk AND listSk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': keys.userPk(owner), ':lo': range.lowestListSk, ':hi': highest },
        ScanIndexForward: false,
        Limit: range.limit - result.items.length + 1,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      const listSk = item.listSk as string;
      if (listSk === keys.syncHeadListSk) {
        result.syncEpoch = Number(item.epoch ?? 0);
        continue;
      }
      if (listSk >= highest || result.items.length >= range.limit) continue;
      const ref = refOfItem(item);
      const conversation = toConversation(stateOf(ref, item));
      if (conversation && conversation.lastMessage.timestamp > range.cutoff) {
        result.items.push({ ref, listSk, conversation });
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey && result.items.length < range.limit);
  return result;
}
