import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, nextId } from '../core/ids.js';
import type { ConversationRef, Message } from '../core/model.js';
import { batchWriteAll, countAll, type Db, type Key, send, type WriteRequest } from './db.js';
import { keys } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import type { TransactItem } from './transactions.js';

/**
 * Message copies: one per participant, in the owner's history partition, keyed by msgId (which sorts as
 * the conversation's sequence does). Every read here is strongly consistent: history pages must show
 * every applied copy (no gap), and the others decide writes.
 */

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
  /**
   * Most items the Queries may read, matching or not (DynamoDB's Limit counts items before the filter):
   * bounds the work of a filtered page. @default no bound but `limit`
   */
  budget?: number;
}

export interface HistoryRead {
  messages: Message[];
  /** Set when the budget ran out before the range did: the id to continue after. */
  resumeAfter?: string;
}

/**
 * `hidden`: a member's tombstone of a shared copy they deleted (member-view.ts): it carries the message's
 * fields, so type and sender filters treat it as they treated the copy.
 */
type CopyItem = StoredMessage & { pk: string; sk: string; seq?: number; hidden?: boolean };

/**
 * A partition of copies: an owner's own copies of a conversation, or a large group's shared history
 * (one copy of each message since the group switched to shared mode).
 */
export type CopyHome = ConversationRef | { sharedGroupId: string };

export function sharedHistoryOf(groupId: string): CopyHome {
  return { sharedGroupId: groupId };
}

function pkOf(home: CopyHome): string {
  return 'sharedGroupId' in home ? keys.sharedHistoryPk(home.sharedGroupId) : keys.historyPk(home);
}

export function copyKey(home: CopyHome, msgId: string): Key {
  return { pk: pkOf(home), sk: keys.messageSk(msgId) };
}

function toItem(home: CopyHome, message: Message, seq: number): CopyItem {
  return { ...copyKey(home, message.msgId), ...toStoredMessage(message), seq };
}

export function messageOfCopy(item: Record<string, unknown>): Message {
  const { pk: _pk, sk: _sk, seq: _seq, hidden: _hidden, ...stored } = item as CopyItem;
  return fromStoredMessage(stored);
}

/** Whether a copy item read is a member's tombstone of a shared copy. */
export function isTombstone(item: Record<string, unknown> | undefined): boolean {
  return item?.hidden === true;
}

/** The position a copy item holds (copies written before positions were stored have none). */
export function positionOfCopy(item: Record<string, unknown>): number | undefined {
  return item.seq === undefined ? undefined : Number(item.seq);
}

/**
 * The Put of a member's tombstone of shared copy `message` at `seq`: the member deleted it (one-way), so
 * their view of the group no longer shows it. In their own partition, where a purge finds it.
 */
export function putTombstoneAction(
  tableName: string,
  ref: ConversationRef,
  message: Message,
  seq: number,
): TransactItem {
  // Without its body and ext: what it hides may be recalled or edited, and type and sender filters need
  // neither (a tombstone keeps the message's other fields).
  const { body: _body, ext: _ext, ...fields } = toItem(ref, message, seq);
  return { Put: { TableName: tableName, Item: { ...fields, hidden: true } } };
}

/**
 * The Update that turns the owner's own copy into a tombstone instead of deleting it: a one-way delete
 * under a legal hold (hold-store.ts). The copy keeps every field, so it is still stored, and every read
 * treats it as deleted (`hidden`); once the hold is released the sweep deletes it (held-delete-store.ts
 * records which ones).
 */
export function keepDeletedCopyAction(tableName: string, ref: ConversationRef, msgId: string): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: copyKey(ref, msgId),
      UpdateExpression: 'SET #hidden = :hidden',
      ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(#hidden)',
      ExpressionAttributeNames: { '#hidden': 'hidden' },
      ExpressionAttributeValues: { ':hidden': true },
    },
  };
}

/** One copy's item (seeding a table without a request per message: bench and tests). */
export function copyItem(home: CopyHome, message: Message, seq: number): Record<string, unknown> {
  return toItem(home, message, seq);
}

/** The Put action of one copy, for a transaction. */
export function putCopyAction(
  tableName: string,
  home: CopyHome,
  message: Message,
  seq: number,
): TransactItem {
  return { Put: { TableName: tableName, Item: toItem(home, message, seq) } };
}

/** The Delete action of one copy, for a transaction: only if it is still there. */
export function deleteCopyAction(tableName: string, ref: ConversationRef, msgId: string): TransactItem {
  return {
    Delete: { TableName: tableName, Key: copyKey(ref, msgId), ConditionExpression: 'attribute_exists(pk)' },
  };
}

/** Writes copies outside a transaction (a group's fan-out; rewriting one is harmless, see send.ts). */
export async function putCopies(
  db: Db,
  copies: readonly { ref: ConversationRef; message: Message; seq: number }[],
): Promise<void> {
  await batchWriteAll(
    db,
    copies.map(({ ref, message, seq }) => ({ PutRequest: { Item: toItem(ref, message, seq) } })),
  );
}

/** One Query of a history range: what it returned, how many items it read, and where it stopped. */
export interface HistoryPageRead {
  /** The matching copies read, in walk order (tombstones excluded). */
  messages: Message[];
  /** The ids of the tombstones read (matching the filters), in walk order. */
  hidden: string[];
  /** The position of each copy and tombstone read that has one. */
  positions: Map<string, number>;
  /** Items read, matching or not (DynamoDB's ScannedCount). */
  scanned: number;
  /** The id of the last item read when the Query stopped before the end of its range, else undefined. */
  lastReadId?: string;
}

/**
 * One Query of `range` (at most `limit` matches, `budget` items read), continuing after `afterId` in
 * walk order if given. Strongly consistent.
 */
export async function readHistoryPage(
  db: Db,
  ref: CopyHome,
  range: HistoryRange & { afterId?: string },
): Promise<HistoryPageRead> {
  if (range.lowestId > range.highestId) return { messages: [], hidden: [], positions: new Map(), scanned: 0 };
  const filters: string[] = [];
  const values: Record<string, unknown> = {
    ':pk': pkOf(ref),
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
  const budget = range.budget ?? Number.POSITIVE_INFINITY;
  const page = await send<{
    Items?: CopyItem[];
    ScannedCount?: number;
    LastEvaluatedKey?: Record<string, unknown>;
  }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      FilterExpression: filters.length ? filters.join(' AND ') : undefined,
      ExpressionAttributeNames: filters.length ? names : undefined,
      ExpressionAttributeValues: values,
      ScanIndexForward: range.direction === 'down',
      ConsistentRead: true,
      // Filtered, a Query reads up to the budget at once (its matches may be few); unfiltered, just enough.
      Limit: filters.length ? budget : Math.min(range.limit, budget),
      ExclusiveStartKey: range.afterId === undefined ? undefined : copyKey(ref, range.afterId),
    }),
  );
  const lastKey = page.LastEvaluatedKey?.sk;
  const items = page.Items ?? [];
  return {
    messages: items.filter((item) => !isTombstone(item)).map(messageOfCopy),
    hidden: items.filter(isTombstone).map((item) => keys.msgIdOfSk(item.sk)),
    positions: new Map(
      items.flatMap((item) => (item.seq === undefined ? [] : [[keys.msgIdOfSk(item.sk), Number(item.seq)]])),
    ),
    scanned: page.ScannedCount ?? 0,
    ...(typeof lastKey === 'string' ? { lastReadId: keys.msgIdOfSk(lastKey) } : {}),
  };
}

/** The copies unread counts skip: tombstones (hidden) and recalled messages (their gap is recorded). */
const NOT_COUNTED = 'attribute_not_exists(#hidden) AND attribute_not_exists(#recalled)';
const NOT_COUNTED_NAMES = { '#hidden': 'hidden', '#recalled': 'recalled' };

/** How many copies there are in (`above`, `atOrBelow`]: reads their keys only. */
export async function countCopies(
  db: Db,
  ref: CopyHome,
  range: { above?: string; atOrBelow: string },
): Promise<number> {
  const lowest = keys.messageSk(lowIdAbove(range.above));
  const highest = keys.messageSk(range.atOrBelow);
  if (lowest > highest) return 0;
  return countAll(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
    // A tombstone (a shared copy hidden, or a copy deleted under a legal hold) is no copy the owner has;
    // a recalled message's counts as none either (unread never counts it).
    FilterExpression: NOT_COUNTED,
    ExpressionAttributeNames: NOT_COUNTED_NAMES,
    ExpressionAttributeValues: { ':pk': pkOf(ref), ':lo': lowest, ':hi': highest },
    ConsistentRead: true,
  });
}

/**
 * The oldest copy in (`above`, `atOrBelow`], by id and position (`seq`; copies written before positions
 * were stored have none): where unread counting starts. Reads one copy.
 */
export async function oldestPositionIn(
  db: Db,
  ref: ConversationRef,
  range: { above?: string; atOrBelow: string },
): Promise<{ msgId: string; seq?: number } | undefined> {
  const lowest = keys.messageSk(lowIdAbove(range.above));
  const highest = keys.messageSk(range.atOrBelow);
  if (lowest > highest) return undefined;
  // Tombstones (copies deleted under a legal hold) and recalled copies are skipped: usually none, so the
  // first read is one item; past them, pages of 50 (DynamoDB's Limit counts the items the filter drops).
  let startKey: Record<string, unknown> | undefined;
  let limit = 1;
  do {
    const page = await send<{
      Items?: { sk: string; seq?: number }[];
      LastEvaluatedKey?: Record<string, unknown>;
    }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
        FilterExpression: NOT_COUNTED,
        ExpressionAttributeNames: NOT_COUNTED_NAMES,
        ExpressionAttributeValues: { ':pk': keys.historyPk(ref), ':lo': lowest, ':hi': highest },
        ProjectionExpression: 'sk, seq',
        ConsistentRead: true,
        Limit: limit,
        ExclusiveStartKey: startKey,
      }),
    );
    const item = page.Items?.[0];
    if (item) {
      return { msgId: keys.msgIdOfSk(item.sk), seq: item.seq === undefined ? undefined : Number(item.seq) };
    }
    startKey = page.LastEvaluatedKey;
    limit = 50;
  } while (startKey);
  return undefined;
}

/**
 * The ids (only) of up to `limit` copies at or below `highestId`, oldest first, and whether more are
 * there (a Query stops at 1 MB whatever its limit): a purge's and the sweep's key read of one
 * conversation, or of a group's shared history. Its range ends at the bound: a Query's limit counts
 * every item it reads, so reading on to find the first copy above would read up to `limit` copies that
 * stay (oldestCopyAbove reads one).
 */
export function dueCopyIds(
  db: Db,
  ref: CopyHome,
  highestId: string,
  limit: number,
): Promise<{ ids: string[]; more: boolean }> {
  return copyIdsIn(db, ref, { lowSk: keys.messageSkPrefix, highSk: keys.messageSk(highestId), limit });
}

/** The id of the oldest copy above `id`, if any: where a conversation's purge leaves its oldest copy. */
export async function oldestCopyAbove(db: Db, ref: ConversationRef, id: string): Promise<string | undefined> {
  const { ids } = await copyIdsIn(db, ref, {
    lowSk: keys.messageSk(nextId(id)),
    highSk: keys.messageSk(highestIdAt(MAX_ID_TIME)),
    limit: 1,
  });
  return ids[0];
}

/** One strongly consistent Query of copy keys in [lowSk, highSk], oldest first. */
async function copyIdsIn(
  db: Db,
  ref: CopyHome,
  range: { lowSk: string; highSk: string; limit: number },
): Promise<{ ids: string[]; more: boolean }> {
  const page = await send<{ Items?: { sk: string }[]; LastEvaluatedKey?: Record<string, unknown> }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': pkOf(ref), ':lo': range.lowSk, ':hi': range.highSk },
      ProjectionExpression: 'sk',
      ConsistentRead: true,
      Limit: range.limit,
    }),
  );
  const ids = (page.Items ?? []).map((item) => keys.msgIdOfSk(item.sk));
  return { ids, more: page.LastEvaluatedKey !== undefined };
}

/** The delete request of one copy, for a BatchWriteItem (idempotent: an absent copy is a no-op). */
export function deleteCopyRequest(ref: CopyHome, msgId: string): WriteRequest {
  return { DeleteRequest: { Key: copyKey(ref, msgId) } };
}

/** Deletes copies by id; ids the owner does not have are no-ops (BatchWriteItem deletes are idempotent). */
export async function deleteCopies(db: Db, ref: ConversationRef, msgIds: readonly string[]): Promise<void> {
  await batchWriteAll(
    db,
    msgIds.map((msgId) => deleteCopyRequest(ref, msgId)),
  );
}

/** The smallest id strictly above `id` (or the smallest id of all). */
function lowIdAbove(id: string | undefined): string {
  return id === undefined ? lowestIdAt(0) : nextId(id);
}
