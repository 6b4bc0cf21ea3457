import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationRef } from '../core/model.js';
import { batchWriteAll, type Db, send, type WriteRequest } from './db.js';
import { keys } from './keys.js';
import { copyKey } from './message-store.js';
import type { TransactItem } from './transactions.js';

/**
 * Held deletes (`U#{owner}#HD#{type}#{convId} / R{rev}`): which copies the owner deleted by id while a
 * legal hold covered them. Those copies stay stored as tombstones (message-store.ts,
 * keepDeletedCopyAction) that every read treats as deleted; these records say which tombstones may go
 * once no hold covers the conversation (the sweep, or the owner's next inline purge, deletes both). One
 * record per delete, in its transaction, so a conversation with none costs one empty Query.
 */
interface HeldDeleteItem {
  pk: string;
  sk: string;
  /** A delete's record: the ids it kept. A held version's record has none. */
  ids?: string[];
}

/**
 * A message as it was before a recall or an edit rewrote the owner's copy (or the shared copy they saw)
 * while a hold covered it (`V{msgId}#{rev}`, with the held-delete records): the hold keeps what the
 * owner had. Never read by the API; the sweep deletes it with the records once no hold covers the
 * conversation (the revision filed it due now).
 */
export function heldVersionAction(
  tableName: string,
  ref: ConversationRef,
  before: Record<string, unknown> & { msgId: string },
  rev: number,
): TransactItem {
  const { pk: _pk, sk: _sk, ...message } = before;
  return {
    Put: {
      TableName: tableName,
      Item: { pk: keys.heldDeletesPk(ref), sk: `V${before.msgId}#${String(rev).padStart(12, '0')}`, message },
    },
  };
}

/** The record of copies kept as tombstones by one delete (`rev`: the conversation's revision it wrote). */
export function heldDeleteAction(
  tableName: string,
  ref: ConversationRef,
  ids: readonly string[],
  rev: number,
): TransactItem {
  const item: HeldDeleteItem = { pk: keys.heldDeletesPk(ref), sk: keys.heldDeletesSk(rev), ids: [...ids] };
  return { Put: { TableName: tableName, Item: item } };
}

/** Whether any record is left (one key read): a settle keeps such a conversation due now. */
export async function hasHeldDeletes(db: Db, ref: ConversationRef): Promise<boolean> {
  const page = await send<{ Items?: unknown[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.heldDeletesPk(ref) },
      ProjectionExpression: 'pk',
      ConsistentRead: true,
      Limit: 1,
    }),
  );
  return (page.Items ?? []).length > 0;
}

/**
 * Deletes the tombstones the records name and then the records (a crash in between leaves records of
 * absent copies: deleting them again is a no-op). At most `limit` records a call; returns how many
 * tombstones it deleted and whether records are left.
 */
export async function purgeHeldDeletes(
  db: Db,
  ref: ConversationRef,
  limit = 100,
): Promise<{ deleted: number; more: boolean }> {
  const page = await send<{ Items?: HeldDeleteItem[]; LastEvaluatedKey?: Record<string, unknown> }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.heldDeletesPk(ref) },
      ConsistentRead: true,
      Limit: limit,
    }),
  );
  const records = page.Items ?? [];
  if (records.length === 0) return { deleted: 0, more: false };
  const ids = [...new Set(records.flatMap((record) => record.ids ?? []))];
  const tombstones: WriteRequest[] = ids.map((id) => ({ DeleteRequest: { Key: copyKey(ref, id) } }));
  await batchWriteAll(db, tombstones);
  await batchWriteAll(
    db,
    records.map((record) => ({ DeleteRequest: { Key: { pk: record.pk, sk: record.sk } } })),
  );
  return { deleted: ids.length, more: page.LastEvaluatedKey !== undefined };
}
