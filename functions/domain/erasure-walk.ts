import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { MAX_ID_TIME } from '../core/ids.js';
import type { ChatType, ConversationRef } from '../core/model.js';
import { type Db, queryAll, send } from '../store/db.js';
import { eventsBetween } from '../store/event-store.js';
import { keys } from '../store/keys.js';

/**
 * The erasure's closing walk (functions/domain/erasure.ts): after the table Scan, what a write that landed
 * behind the Scan's position while it ran can have left naming the user, read by key instead of by Scan.
 * Such a write goes through the user's own partition: a peer's send to them writes their side of the
 * chat with it (conversation item, copy, inbound budget `B#{user}`), a group's fan-out to them writes
 * their conversation item and copy. So the walk reads `U#{user}`, and from each conversation item found
 * there the partitions that conversation has on both sides (for a single chat: the peer's conversation
 * item, copies, gap and held-delete records, change markers and mark entries about it).
 *
 * What it cannot find: a copy of a message the user sent that a fan-out wrote into another member's
 * partition behind the Scan (nothing in the user's partition points to it). docs/compliance.md,
 * "Erasure", says what prevents that and what is not promised.
 */

type Item = Record<string, unknown>;

/** Every item the walk finds that may name the user, and the groups their conversation items name. */
export async function itemsNamingUser(
  db: Db,
  userId: string,
  events: { eventsSince: number; eventShards: number },
): Promise<{ items: Item[]; groups: string[] }> {
  const own = await partition(db, keys.userPk(userId));
  const conversations = own.filter((item) => String(item.sk).startsWith(keys.conversationSkPrefix));
  const reads: Promise<Item[]>[] = [
    partition(db, keys.changePk(userId)),
    partition(db, keys.idempotency(userId, '').pk),
    partition(db, keys.requestBudget(userId, '').pk),
    getItem(db, { pk: keys.policyPk, sk: keys.userPolicySk(userId) }),
    // The outbox is not keyed by user: its events since the erasure began, every shard.
    ...Array.from({ length: events.eventShards }, (_, shard) =>
      eventsBetween(db, shard, { from: events.eventsSince, to: MAX_ID_TIME }),
    ),
  ];
  const marks = new Set<number>();
  for (const item of conversations) {
    const ref: ConversationRef = {
      owner: userId,
      chatType: item.chatType as ChatType,
      convId: String(item.convId),
    };
    for (const mark of marksOf(item)) marks.add(mark);
    reads.push(...conversationPartitions(db, ref));
    if (ref.chatType === 'single') reads.push(peerSide(db, ref.convId, userId));
  }
  for (const mark of marks) reads.push(partition(db, keys.markPk(userId, mark)));
  const groups = conversations.filter((item) => item.chatType === 'group').map((item) => String(item.convId));
  return { items: [...own, ...(await Promise.all(reads)).flat()], groups };
}

/** A conversation's partitions of its owner's: copies, gap records, held-delete records. */
function conversationPartitions(db: Db, ref: ConversationRef): Promise<Item[]>[] {
  return [
    partition(db, keys.historyPk(ref)),
    partition(db, keys.gapPk(ref)),
    partition(db, keys.heldDeletesPk(ref)),
  ];
}

/** The peer's side of their single chat with the user: the conversation item and everything about it. */
async function peerSide(db: Db, peer: string, userId: string): Promise<Item[]> {
  const ref: ConversationRef = { owner: peer, chatType: 'single', convId: userId };
  const [conversation] = await getItem(db, keys.conversation(ref));
  const aboutUser = (item: Item) => item.chatType === 'single' && item.convId === userId;
  const reads = [
    ...conversationPartitions(db, ref),
    partition(db, keys.changePk(peer)).then((items) => items.filter(aboutUser)),
    ...marksOf(conversation).map((mark) =>
      partition(db, keys.markPk(peer, mark)).then((items) => items.filter(aboutUser)),
    ),
  ];
  return [...(conversation ? [conversation] : []), ...(await Promise.all(reads)).flat()];
}

function marksOf(item: Item | undefined): number[] {
  return Array.isArray(item?.marks) ? item.marks.map(Number) : [];
}

function partition(db: Db, pk: string): Promise<Item[]> {
  return queryAll<Item>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': pk },
    ConsistentRead: true,
  });
}

async function getItem(db: Db, key: { pk: string; sk: string }): Promise<Item[]> {
  const result = await send<{ Item?: Item }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: key, ConsistentRead: true }),
  );
  return result.Item ? [result.Item] : [];
}
