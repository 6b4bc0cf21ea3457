import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatType, ConversationRef, Message } from '../core/model.js';
import { type Db, isConditionFailure, itemOfConditionFailure, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import { CHANGE_INDEX, LIST_INDEX } from './table.js';

/**
 * A user's conversation item. `listSk` is present only while the conversation is listed (the list index
 * is sparse); `clearedThrough` is the one-way delete watermark in ms: copies at or before it are hidden
 * and due for purge. `purgeShard`/`purgeSk` put the item in the purge index (see table.ts).
 */
export interface ConversationItem {
  pk: string;
  sk: string;
  owner: string;
  convId: string;
  chatType: ChatType;
  lastMsgId?: string;
  lastMessage?: Message;
  unreadCount?: number;
  updatedAt?: number;
  listSk?: string;
  changeSk: string;
  clearedThrough?: number;
  purgeShard?: string;
  purgeSk?: string;
}

type Item = Record<string, unknown>;

/** The item as DynamoDB holds it: its latest message in stored form (see stored-message.ts). */
type RawConversationItem = Omit<ConversationItem, 'lastMessage'> & { lastMessage?: StoredMessage };

function fromItem(raw: RawConversationItem): ConversationItem;
function fromItem(raw: RawConversationItem | undefined): ConversationItem | undefined;
function fromItem(raw: RawConversationItem | undefined): ConversationItem | undefined {
  if (!raw?.lastMessage) return raw as ConversationItem | undefined;
  return { ...raw, lastMessage: fromStoredMessage(raw.lastMessage) };
}

export async function getConversation(db: Db, ref: ConversationRef): Promise<ConversationItem | undefined> {
  const result = await send<{ Item?: RawConversationItem }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: keys.conversation(ref), ConsistentRead: true }),
  );
  return fromItem(result.Item);
}

export interface ApplyMessageInput {
  message: Message;
  /** Recipients count it as unread; the sender is reading the conversation, so theirs resets. */
  unread: 'increment' | 'reset';
  changeSk: string;
  purgeShard: string;
}

/**
 * Makes `message` the conversation's latest and lists it, creating the item if needed. Conditional, so
 * concurrent or retried sends never move "latest" backwards nor count a retry twice, and a message at or
 * before the watermark never becomes latest. Returns false when the condition kept the item as it was.
 */
export async function applyMessage(db: Db, ref: ConversationRef, input: ApplyMessageInput): Promise<boolean> {
  const { message } = input;
  const unread =
    input.unread === 'increment'
      ? 'unreadCount = if_not_exists(unreadCount, :zero) + :one'
      : 'unreadCount = :zero';
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.conversation(ref),
      UpdateExpression: [
        'SET #owner = :owner, convId = :convId, chatType = :chatType',
        'lastMsgId = :msgId, lastMessage = :message, updatedAt = :time, listSk = :listSk, changeSk = :changeSk',
        'purgeShard = if_not_exists(purgeShard, :purgeShard), purgeSk = if_not_exists(purgeSk, :purgeSk)',
        unread,
      ].join(', '),
      ConditionExpression:
        '(attribute_not_exists(lastMsgId) OR lastMsgId < :msgId) AND ' +
        '(attribute_not_exists(clearedThrough) OR clearedThrough < :time)',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: {
        ':owner': ref.owner,
        ':convId': ref.convId,
        ':chatType': ref.chatType,
        ':msgId': message.msgId,
        ':message': toStoredMessage(message),
        ':time': message.timestamp,
        ':listSk': keys.listSk(message.msgId, ref.chatType, ref.convId),
        ':changeSk': input.changeSk,
        ':purgeShard': input.purgeShard,
        ':purgeSk': keys.purgeSk(message.timestamp, ref),
        ':zero': 0,
        ...(input.unread === 'increment' ? { ':one': 1 } : {}),
      },
    }),
  );
}

export interface ListRange {
  /** Lowest list key that may be returned (inclusive): bounds out expired conversations. */
  lowestListSk: string;
  /** Only keys strictly below this (the cursor), if given. */
  belowListSk?: string;
  limit: number;
}

/** Listed conversations, newest latest message first: one Query on the list index per page. */
export async function queryListed(db: Db, owner: string, range: ListRange): Promise<ConversationItem[]> {
  const highest = range.belowListSk ?? '~';
  if (range.lowestListSk >= highest) return [];
  const items: ConversationItem[] = [];
  let startKey: Item | undefined;
  do {
    // The cursor bound is inclusive in BETWEEN, so ask for one more and drop it below.
    const page = await send<{ Items?: RawConversationItem[]; LastEvaluatedKey?: Item }>(
      db,
      new QueryCommand({
        TableName: db.tableName,
        IndexName: LIST_INDEX.indexName,
        KeyConditionExpression: 'pk = :pk AND listSk BETWEEN :lo AND :hi',
        ExpressionAttributeValues: { ':pk': keys.userPk(owner), ':lo': range.lowestListSk, ':hi': highest },
        ScanIndexForward: false,
        Limit: range.limit - items.length + 1,
        ExclusiveStartKey: startKey,
      }),
    );
    for (const item of page.Items ?? []) {
      if (item.listSk !== undefined && item.listSk < highest && items.length < range.limit)
        items.push(fromItem(item));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey && items.length < range.limit);
  return items;
}

/** Conversations whose item changed after `afterChangeSk`, oldest change first. */
export async function queryChangedSince(
  db: Db,
  owner: string,
  afterChangeSk: string,
  limit: number,
): Promise<ConversationItem[]> {
  const page = await send<{ Items?: RawConversationItem[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      IndexName: CHANGE_INDEX.indexName,
      KeyConditionExpression: 'pk = :pk AND changeSk > :after',
      ExpressionAttributeValues: { ':pk': keys.userPk(owner), ':after': afterChangeSk },
      Limit: limit,
    }),
  );
  return (page.Items ?? []).map((item) => fromItem(item));
}

/**
 * Raises the watermark to `through` (it only ever rises) and marks the conversation due for purge.
 * Returns the item after the write, or as it stands when the watermark was already at least as high;
 * undefined when the conversation does not exist.
 */
export async function raiseWatermark(
  db: Db,
  ref: ConversationRef,
  through: number,
  changeSk: string,
  purgeShard: string,
): Promise<ConversationItem | undefined> {
  try {
    const result = await send<{ Attributes?: RawConversationItem }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.conversation(ref),
        UpdateExpression:
          'SET clearedThrough = :through, changeSk = :changeSk, purgeShard = :purgeShard, purgeSk = :purgeSk',
        ConditionExpression:
          'attribute_exists(pk) AND (attribute_not_exists(clearedThrough) OR clearedThrough < :through)',
        ExpressionAttributeValues: {
          ':through': through,
          ':changeSk': changeSk,
          ':purgeShard': purgeShard,
          ':purgeSk': keys.purgeSk(0, ref),
        },
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return fromItem(result.Attributes);
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return fromItem(itemOfConditionFailure(error) as RawConversationItem | undefined);
  }
}

/** What the conversation shows after its latest message went away: an older message, or nothing. */
export interface LatestReplacement {
  /** The item as the caller read it; the write applies only if its latest and listing are unchanged. */
  seen: Pick<ConversationItem, 'lastMsgId' | 'listSk'>;
  next: Message | undefined;
  changeSk: string;
}

/**
 * Points the conversation at `next` (or unlists it when there is none), only if no other write moved
 * its latest meanwhile. An unlisted conversation stays unlisted. Returns false if the condition failed.
 */
export async function replaceLatest(
  db: Db,
  ref: ConversationRef,
  input: LatestReplacement,
): Promise<boolean> {
  const { next, seen } = input;
  const listed = seen.listSk !== undefined;
  const values: Item = { ':changeSk': input.changeSk };
  const conditions = [
    'attribute_exists(pk)',
    listed ? 'attribute_exists(listSk)' : 'attribute_not_exists(listSk)',
  ];
  if (seen.lastMsgId === undefined) {
    conditions.push('attribute_not_exists(lastMsgId)');
  } else {
    conditions.push('lastMsgId = :expected');
    values[':expected'] = seen.lastMsgId;
  }
  let update = 'SET changeSk = :changeSk REMOVE lastMsgId, lastMessage, listSk';
  if (next) {
    update = 'SET changeSk = :changeSk, lastMsgId = :msgId, lastMessage = :message';
    values[':msgId'] = next.msgId;
    values[':message'] = toStoredMessage(next);
    if (listed) {
      update += ', listSk = :listSk';
      values[':listSk'] = keys.listSk(next.msgId, ref.chatType, ref.convId);
    }
  }
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.conversation(ref),
      UpdateExpression: update,
      ConditionExpression: conditions.join(' AND '),
      ExpressionAttributeValues: values,
    }),
  );
}

/** Takes the conversation off the caller's list, keeping its history. False if there is no conversation. */
export async function unlistConversation(db: Db, ref: ConversationRef, changeSk: string): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.conversation(ref),
      UpdateExpression: 'SET changeSk = :changeSk, unreadCount = :zero REMOVE listSk',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':changeSk': changeSk, ':zero': 0 },
    }),
  );
}

/**
 * Clears the conversation for its owner: the watermark rises to `through` (the latest message's time,
 * so a message still in flight stays visible), it leaves the list and becomes due for purge. Applies
 * only if its latest message is still the one the caller saw; returns false otherwise.
 */
export async function clearConversation(
  db: Db,
  ref: ConversationRef,
  input: { seenLastMsgId: string; through: number; changeSk: string; purgeShard: string },
): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.conversation(ref),
      UpdateExpression:
        'SET clearedThrough = :through, changeSk = :changeSk, unreadCount = :zero, ' +
        'purgeShard = :purgeShard, purgeSk = :purgeSk REMOVE listSk, lastMsgId, lastMessage',
      ConditionExpression:
        'lastMsgId = :seen AND (attribute_not_exists(clearedThrough) OR clearedThrough < :through)',
      ExpressionAttributeValues: {
        ':seen': input.seenLastMsgId,
        ':through': input.through,
        ':changeSk': input.changeSk,
        ':zero': 0,
        ':purgeShard': input.purgeShard,
        ':purgeSk': keys.purgeSk(0, ref),
      },
    }),
  );
}

/**
 * After a purge: files the conversation in the purge index under its oldest remaining copy's time, or
 * takes it out when no copy is left; with `unlistAs` (a new changeSk) it also leaves the list, as a
 * conversation with no copy has nothing to show. Only if nothing changed it since `seenChangeSk` (a
 * send or delete meanwhile would be missed otherwise); returns false then, and the caller re-reads.
 */
export async function settlePurge(
  db: Db,
  ref: ConversationRef,
  input: { seenChangeSk: string; oldestRemaining: number | undefined; unlistAs?: string },
): Promise<boolean> {
  const values: Item = { ':seen': input.seenChangeSk };
  let update = 'REMOVE purgeShard, purgeSk';
  if (input.oldestRemaining !== undefined) {
    update = 'SET purgeSk = :purgeSk';
    values[':purgeSk'] = keys.purgeSk(input.oldestRemaining, ref);
  } else if (input.unlistAs !== undefined) {
    update = 'SET changeSk = :changeSk REMOVE purgeShard, purgeSk, lastMsgId, lastMessage, listSk';
    values[':changeSk'] = input.unlistAs;
  }
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.conversation(ref),
      UpdateExpression: update,
      ConditionExpression: 'changeSk = :seen',
      ExpressionAttributeValues: values,
    }),
  );
}
