import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationRef, Message } from '../core/model.js';
import { batchWriteAll, type Db, send } from './db.js';
import { keys } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';

/** Message copies: one per participant, in the owner's history partition. */

export interface HistoryRange {
  /** Lowest msgId that may be returned (inclusive). */
  lowestId: string;
  /** Highest msgId that may be returned (inclusive). */
  highestId: string;
  /** 'up' walks from newest to oldest, 'down' from oldest to newest. */
  direction: 'up' | 'down';
  limit: number;
  types?: readonly string[];
  senders?: readonly string[];
}

type CopyItem = StoredMessage & { pk: string; sk: string };

function toItem(owner: ConversationRef, message: Message): CopyItem {
  return { pk: keys.historyPk(owner), sk: keys.messageSk(message.msgId), ...toStoredMessage(message) };
}

function fromItem(item: CopyItem): Message {
  const { pk: _pk, sk: _sk, ...stored } = item;
  return fromStoredMessage(stored);
}

export async function putCopies(
  db: Db,
  copies: readonly { ref: ConversationRef; message: Message }[],
): Promise<void> {
  await batchWriteAll(
    db,
    copies.map(({ ref, message }) => ({ PutRequest: { Item: toItem(ref, message) } })),
  );
}

/**
 * Reads up to `limit` messages in the range, in walk order. The range is a key range, so messages
 * below a watermark or retention cutoff cost no reads; type/sender filters may need several Queries.
 */
export async function queryHistory(db: Db, ref: ConversationRef, range: HistoryRange): Promise<Message[]> {
  if (range.lowestId > range.highestId) return [];
  const filters: string[] = [];
  const values: Record<string, unknown> = {
    ':pk': keys.historyPk(ref),
    ':lo': keys.messageSk(range.lowestId),
    ':hi': keys.messageSk(range.highestId),
  };
  const names: Record<string, string> = {};
  if (range.types?.length) {
    names['#type'] = 'type';
    filters.push(`#type IN (${range.types.map((_, i) => `:type${i}`).join(', ')})`);
    range.types.forEach((t, i) => {
      values[`:type${i}`] = t;
    });
  }
  if (range.senders?.length) {
    names['#from'] = 'from';
    filters.push(`#from IN (${range.senders.map((_, i) => `:from${i}`).join(', ')})`);
    range.senders.forEach((s, i) => {
      values[`:from${i}`] = s;
    });
  }
  const messages: Message[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await send<{ Items?: CopyItem[]; LastEvaluatedKey?: Record<string, unknown> }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        FilterExpression: filters.length ? filters.join(' AND ') : undefined,
        ExpressionAttributeNames: filters.length ? names : undefined,
        ExpressionAttributeValues: values,
        ScanIndexForward: range.direction === 'down',
        Limit: range.limit - messages.length,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) messages.push(fromItem(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey && messages.length < range.limit);
  return messages;
}

/** The ids (only) of up to `limit` copies at or below `highestId`, oldest first: what a purge deletes. */
export async function copyIdsThrough(
  db: Db,
  ref: ConversationRef,
  highestId: string,
  limit: number,
): Promise<string[]> {
  const page = await send<{ Items?: { sk: string }[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': keys.historyPk(ref),
        ':lo': keys.messageSkPrefix,
        ':hi': keys.messageSk(highestId),
      },
      ProjectionExpression: 'sk',
      Limit: limit,
    }),
  );
  return (page.Items ?? []).map((item) => keys.msgIdOfSk(item.sk));
}

/** Deletes copies by id; ids the owner does not have are no-ops (BatchWriteItem deletes are idempotent). */
export async function deleteCopies(db: Db, ref: ConversationRef, msgIds: readonly string[]): Promise<void> {
  const pk = keys.historyPk(ref);
  await batchWriteAll(
    db,
    msgIds.map((msgId) => ({ DeleteRequest: { Key: { pk, sk: keys.messageSk(msgId) } } })),
  );
}
