import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll, type Db, type Key, sendConditional } from './db.js';
import { keys } from './keys.js';
import type { StoredMessage } from './stored-message.js';
import { transactWrite } from './transactions.js';

/**
 * The writes of an erasure (functions/domain/erasure.ts). Each is idempotent, so a page replayed after a
 * crash does nothing twice: a tombstone is conditioned on the message still naming the erased sender,
 * a conversation's removal on the item still existing.
 */

/** What an erased sender's messages say instead: they keep their place (msgId, position, time, type). */
export const ERASED_SENDER = 'erased';
const EMPTY_BODY = '{}';

/** A message as stored, with its sender's data gone. */
export function tombstoneOf(message: StoredMessage): StoredMessage {
  const { ext: _ext, ...rest } = message;
  return { ...rest, from: ERASED_SENDER, body: EMPTY_BODY, erased: true };
}

/**
 * A copy (a fan-out copy or a shared history's): its sender, body and ext go. False if it no longer
 * names the user (done before, or gone).
 */
export async function tombstoneCopy(db: Db, key: Key, userId: string): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: key,
      UpdateExpression: 'SET #from = :erased, body = :body, erased = :true REMOVE ext',
      ConditionExpression: '#from = :user',
      ExpressionAttributeNames: { '#from': 'from' },
      ExpressionAttributeValues: {
        ':erased': ERASED_SENDER,
        ':body': EMPTY_BODY,
        ':true': true,
        ':user': userId,
      },
    }),
  );
}

/**
 * A message kept inside an item: a conversation's (or mark entry's, or META's) `lastMessage`, a fan-out
 * log entry's `message`. Only if it is still that message from that user: a newer latest message, or an
 * item gone, is left alone.
 */
export async function tombstoneEmbedded(
  db: Db,
  key: Key,
  attribute: 'lastMessage' | 'message',
  message: StoredMessage,
  userId: string,
): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: key,
      UpdateExpression: 'SET #message = :tombstone',
      ConditionExpression: '#message.#from = :user AND #message.msgId = :msgId',
      ExpressionAttributeNames: { '#message': attribute, '#from': 'from' },
      ExpressionAttributeValues: {
        ':tombstone': tombstoneOf(message),
        ':user': userId,
        ':msgId': message.msgId,
      },
    }),
  );
}

/**
 * Removes another user's conversation item (their single chat with the erased user): with its pin
 * counted off their sync head in the same transaction. False if it was gone already.
 */
export async function deleteConversationItem(
  db: Db,
  key: Key,
  owner: string,
  pinned: boolean,
): Promise<boolean> {
  const outcome = await transactWrite(db, [
    { Delete: { TableName: db.tableName, Key: key, ConditionExpression: 'attribute_exists(pk)' } },
    ...(pinned
      ? [
          {
            Update: {
              TableName: db.tableName,
              Key: keys.syncHead(owner),
              // A pinned conversation's owner has a head: pinning counts there (sync-store.ts).
              UpdateExpression: 'ADD pinCount :minus',
              ExpressionAttributeValues: { ':minus': -1 },
            },
          },
        ]
      : []),
  ]);
  return outcome.committed;
}

/** Plain deletes (copies, markers, records): BatchWriteItem, unprocessed items retried. */
export async function deleteItems(db: Db, items: readonly Key[]): Promise<number> {
  if (items.length === 0) return 0;
  return batchWriteAll(
    db,
    items.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } })),
  );
}

/**
 * Removes one of the user's own conversation items only as read: every write to the conversation (a
 * message applied: `seq`; a delete, a mark: `rev`) changes one of them, so a write that landed since the
 * read fails this and the next walk meets what it wrote (functions/domain/erasure-walk.ts).
 */
export async function deleteIfUnchanged(db: Db, item: Record<string, unknown>): Promise<boolean> {
  const values: Record<string, unknown> = {};
  const conditions = ['attribute_exists(pk)'];
  for (const name of ['seq', 'rev'] as const) {
    if (item[name] === undefined) conditions.push(`attribute_not_exists(#${name})`);
    else {
      conditions.push(`#${name} = :${name}`);
      values[`:${name}`] = item[name];
    }
  }
  return sendConditional(
    db,
    new DeleteCommand({
      TableName: db.tableName,
      Key: { pk: item.pk as string, sk: item.sk as string },
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeNames: { '#seq': 'seq', '#rev': 'rev' },
      ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
    }),
  );
}
