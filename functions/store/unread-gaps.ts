import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { maxId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Gap records: the positions above an owner's read position that hold no copy, so unread is counted
 * from positions instead of by reading copies (docs/consistency.md, section 4, "Counting unread").
 * A position's copy goes missing above the read position in three ways only, each recorded by the
 * write that makes the gap, in its transaction:
 * - a delete by ids of unread copies: one record per write, listing those ids;
 * - a position passed over without a copy (a group log entry skipped: only entries written before
 *   entries waited for their fan-out): one record, filed at `at`, the smallest id above the head it
 *   followed. (A single chat's two sides move to each position in one transaction: no gap there.)
 * - an unread message recalled: its copy stays as a tombstone, which counts as no copy.
 * Purges leave no gap record: they take copies at or below the watermark (below the read position), or,
 * for retention, copies the settle then counts past (it counts from the oldest copy left).
 * Records are small and only read above a position (`gapsAbove`); those below every read position are
 * never read again.
 */
interface GapRecord {
  pk: string;
  sk: string;
  /** The unread copies a delete removed. */
  ids?: string[];
  /** Positions passed over without a copy, just above `at`. */
  count?: number;
  at?: string;
}

/** The record of unread copies deleted by ids in one write (`unique`: that write's revision). */
export function deletedGapAction(
  tableName: string,
  ref: ConversationRef,
  ids: readonly string[],
  unique: string,
): TransactItem {
  const highest = ids.reduce(maxId);
  const item: GapRecord = { pk: keys.gapPk(ref), sk: keys.gapSk(highest, unique), ids: [...ids] };
  return { Put: { TableName: tableName, Item: item } };
}

/**
 * The record of an unread message recalled: its copy stays (a tombstone) but counts no more. One per
 * message and owner, written once (a replayed recall finds it and drops nothing again); every unread
 * count skips recalled copies when it looks for the oldest copy above a position (message-store.ts).
 */
export function recalledGapAction(tableName: string, ref: ConversationRef, msgId: string): TransactItem {
  const item: GapRecord = { pk: keys.gapPk(ref), sk: recalledGapSk(msgId), ids: [msgId] };
  return { Put: { TableName: tableName, Item: item, ConditionExpression: 'attribute_not_exists(pk)' } };
}

/** Where a recall's gap record of `msgId` lives: read along to know whether unread dropped for it already. */
export function recalledGapKey(ref: ConversationRef, msgId: string): { pk: string; sk: string } {
  return { pk: keys.gapPk(ref), sk: recalledGapSk(msgId) };
}

function recalledGapSk(msgId: string): string {
  return keys.gapSk(msgId, 'recall');
}

/** The record of `count` positions passed over without a copy, right above the id `at`. */
export function skippedGapAction(
  tableName: string,
  ref: ConversationRef,
  gap: { at: string; count: number; unique: string },
): TransactItem {
  const item: GapRecord = {
    pk: keys.gapPk(ref),
    sk: keys.gapSk(gap.at, gap.unique),
    count: gap.count,
    at: gap.at,
  };
  return { Put: { TableName: tableName, Item: item } };
}

/**
 * How many positions above the copy `id` hold no copy. Reads the records that stand for an id above it
 * only: one Query of small items, whatever the number of copies (strongly consistent: it decides a write).
 */
export async function gapsAbove(db: Db, ref: ConversationRef, id: string): Promise<number> {
  let gaps = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await send<{ Items?: GapRecord[]; LastEvaluatedKey?: Record<string, unknown> }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: {
          ':pk': keys.gapPk(ref),
          ':lo': keys.gapSkAbove(id),
          ':hi': keys.gapSkTop,
        },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const record of page.Items ?? []) {
      if (record.ids) gaps += record.ids.filter((deleted) => deleted > id).length;
      else if (record.at !== undefined && record.at > id) gaps += record.count ?? 0;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return gaps;
}
