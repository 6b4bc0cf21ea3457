import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isExpired } from '../core/clock.js';
import { previewOf } from '../core/message-preview.js';
import type { Group, Message } from '../core/model.js';
import { type Db, type Key, queryAll, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import { putCopyAction, sharedHistoryOf } from './message-store.js';
import { registerSharedGroup } from './shared-groups.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import type { TransactItem } from './transactions.js';
import { UpdateExpression } from './update-expression.js';

/**
 * Groups: a META item and one item per member, all in the group's partition (one Query reads all), and
 * the fan-out log in a partition of its own. META holds the group conversation's sequence (`seq`, head
 * msgId) and `membersVersion`, bumped by every membership change: a send allocates its position only if
 * the member list it read is still current, so membership and fan-out never disagree.
 */

export interface GroupMeta {
  groupId: string;
  name: string;
  owner: string;
  createdAt: number;
  seq: number;
  headMsgId?: string;
  membersVersion: number;
  memberCount: number;
  /**
   * Shared mode (a large group): each message is stored once, in the group's shared history, and each
   * member's side is derived from their positions (member-view.ts). One way: never back to fan-out.
   */
  shared: boolean;
  /** The switch to shared mode has begun (members are being moved); sends still fan out until `shared`. */
  switching: boolean;
  /** In shared mode: the newest message's bounded preview, what members' lists show as latest. */
  lastMessage?: Message;
}

export interface GroupView {
  meta: GroupMeta;
  members: string[];
}

type Item = Record<string, unknown>;

export function metaKey(groupId: string): Key {
  return { pk: keys.groupPk(groupId), sk: keys.groupMetaSk };
}

/** Creates the group's META item (no members yet), for a transaction: fails it if the id is taken. */
export function createGroupMetaAction(
  tableName: string,
  group: Pick<Group, 'groupId' | 'name' | 'owner' | 'createdAt'>,
  /** Members joining in the same transaction (each with its member item and conversation). */
  foundingMembers: number,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: {
        ...metaKey(group.groupId),
        groupId: group.groupId,
        name: group.name,
        owner: group.owner,
        createdAt: group.createdAt,
        seq: 0,
        membersVersion: foundingMembers > 0 ? 1 : 0,
        memberCount: foundingMembers,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/** The group with all its members (strongly consistent), or undefined if it does not exist. */
export async function readGroup(db: Db, groupId: string): Promise<GroupView | undefined> {
  const items = await queryAll<Item>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.groupPk(groupId) },
    ConsistentRead: true,
  });
  const meta = items.find((item) => item.sk === keys.groupMetaSk);
  if (!meta) return undefined;
  return {
    meta: metaOf(groupId, meta),
    members: items.filter((item) => item !== meta).map((item) => item.userId as string),
  };
}

/** META still at the position and member list as read: no send took a position, no member came or went. */
function requirePositionAndMembers(u: UpdateExpression, meta: GroupMeta): void {
  u.require(`${u.name('seq')} = ${u.value(meta.seq)}`);
  u.require(`${u.name('membersVersion')} = ${u.value(meta.membersVersion)}`);
}

/** META as read from its item. */
export function metaOf(groupId: string, meta: Item): GroupMeta {
  return {
    groupId,
    name: meta.name as string,
    owner: meta.owner as string,
    createdAt: meta.createdAt as number,
    seq: Number(meta.seq ?? 0),
    headMsgId: meta.headMsgId as string | undefined,
    membersVersion: Number(meta.membersVersion ?? 0),
    memberCount: Number(meta.memberCount ?? 0),
    shared: meta.shared === true,
    switching: meta.switching === true,
    ...(meta.lastMessage ? { lastMessage: fromStoredMessage(meta.lastMessage as StoredMessage) } : {}),
  };
}

export function groupOf(view: GroupView): Group {
  const { groupId, name, owner, createdAt } = view.meta;
  return { groupId, name, owner, createdAt, members: view.members };
}

/**
 * Takes position `seq` for `message` (condition: nobody took it first and the members are the ones the
 * sender read) and records the message in the fan-out log, in one transaction with the caller's
 * idempotency record. The log entry is written without a TTL: it stays until every member has the
 * message (`settleLog`), however long that takes, so a member behind always finds what it misses.
 */
export function allocateActions(
  tableName: string,
  meta: GroupMeta,
  input: { message: Message; seq: number },
): TransactItem[] {
  const u = new UpdateExpression();
  requirePositionAndMembers(u, meta);
  // A send that read META before the switch to shared mode must not fan out after it.
  u.require(`attribute_not_exists(${u.name('shared')})`);
  u.set('seq', input.seq).set('headMsgId', input.message.msgId);
  return [
    { Update: u.toUpdate(tableName, metaKey(meta.groupId)) },
    {
      Put: {
        TableName: tableName,
        Item: {
          pk: keys.groupLogPk(meta.groupId),
          sk: keys.groupLogSk(input.seq),
          seq: input.seq,
          message: toStoredMessage(input.message),
        },
      },
    },
  ];
}

/**
 * Shared mode: takes position `seq` for `message` and stores its one copy in the group's shared
 * history (condition: nobody took the position first, and the group is in shared mode). META keeps the
 * head and the latest message's preview: every member's side is derived from them (member-view.ts).
 */
export function sharedAllocateActions(
  tableName: string,
  meta: GroupMeta,
  input: { message: Message; seq: number },
): TransactItem[] {
  const u = new UpdateExpression();
  u.require(`${u.name('seq')} = ${u.value(meta.seq)}`);
  u.require(`${u.name('shared')} = ${u.value(true)}`);
  u.set('seq', input.seq)
    .set('headMsgId', input.message.msgId)
    .set('lastMessage', toStoredMessage(previewOf(input.message)));
  const copy = putCopyAction(tableName, sharedHistoryOf(meta.groupId), input.message, input.seq);
  return [
    { Update: u.toUpdate(tableName, metaKey(meta.groupId)) },
    { Put: { ...copy.Put, ConditionExpression: 'attribute_not_exists(pk)' } } as TransactItem,
  ];
}

/**
 * A membership change: bumps `membersVersion` and the member count, only while META is as read (so the
 * joining members' position is the group's current head and the cap holds under concurrency).
 */
export function membershipChangeAction(
  tableName: string,
  meta: GroupMeta,
  change: {
    added: number;
    removed: number;
    maxMembers: number;
    /** Newcomers join in fan-out form: only while no switch to shared mode has begun (switch.ts). */
    fanOutForm?: boolean;
    /** The owner leaves (an erasure): the group passes to this member, or to no one (null). */
    newOwner?: string | null;
  },
): TransactItem {
  const u = new UpdateExpression();
  requirePositionAndMembers(u, meta);
  if (change.fanOutForm) {
    u.require(`attribute_not_exists(${u.name('switching')})`);
    u.require(`attribute_not_exists(${u.name('shared')})`);
  }
  const count = meta.memberCount + change.added - change.removed;
  if (change.added > 0) u.require(`${u.name('memberCount')} <= ${u.value(change.maxMembers - change.added)}`);
  u.set('membersVersion', meta.membersVersion + 1).set('memberCount', count);
  if (change.newOwner === null) u.remove('owner');
  else if (change.newOwner !== undefined) u.set('owner', change.newOwner);
  return { Update: u.toUpdate(tableName, metaKey(meta.groupId)) };
}

export function putMemberAction(
  tableName: string,
  groupId: string,
  userId: string,
  joinedSeq: number,
  joinedAt: number,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { pk: keys.groupPk(groupId), sk: keys.memberSk(userId), userId, joinedSeq, joinedAt },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

export function deleteMemberAction(tableName: string, groupId: string, userId: string): TransactItem {
  return {
    Delete: {
      TableName: tableName,
      Key: { pk: keys.groupPk(groupId), sk: keys.memberSk(userId) },
      ConditionExpression: 'attribute_exists(pk)',
    },
  };
}

export interface LogEntry {
  seq: number;
  message: Message;
}

/**
 * Log entries with seq in [from, to] (strongly consistent), oldest first: what a helper applies. An
 * entry expired at `now` is left out, as it would be once TTL deleted it (only an entry every member
 * had applied gets a TTL; entries written before log entries waited for their fan-out may lack).
 */
export async function readLog(
  db: Db,
  groupId: string,
  range: { from: number; to: number },
  now: number,
): Promise<LogEntry[]> {
  const { from, to } = range;
  if (from > to) return [];
  const items = await queryAll<Item>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: {
      ':pk': keys.groupLogPk(groupId),
      ':from': keys.groupLogSk(from),
      ':to': keys.groupLogSk(to),
    },
    ConsistentRead: true,
  });
  return items
    .filter((item) => !isExpired(item.expiresAt, now))
    .map((item) => ({
      seq: Number(item.seq),
      message: fromStoredMessage(item.message as StoredMessage),
    }));
}

/** Where the log keeps the message at position `seq`. */
export function logEntryKey(groupId: string, seq: number): Key {
  return { pk: keys.groupLogPk(groupId), sk: keys.groupLogSk(seq) };
}

/**
 * Every member of the group has applied the messages through `seq`: their log entries may go. Gives a
 * TTL (`expiresAt`) to entry `seq` and to the entries below it still without one (a settle an instance
 * died before), oldest first, so an entry with a TTL never has one without below it: the walk down
 * stops at the first entry with a TTL, or a gap (TTL deleted it). `below` is entry `seq - 1` as the
 * caller read it (strongly consistent, with its other reads), so the usual settle reads nothing.
 */
export async function settleLog(
  db: Db,
  groupId: string,
  seq: number,
  settle: { expiresAt: number; below: Item | undefined },
): Promise<void> {
  const pending = [seq];
  for (let next = settle.below; next && next.expiresAt === undefined; ) {
    const nextSeq = Number(next.seq);
    pending.push(nextSeq);
    next = await entryBelow(db, groupId, nextSeq);
  }
  for (const entrySeq of pending.reverse()) {
    await sendConditional(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: logEntryKey(groupId, entrySeq),
        UpdateExpression: 'SET expiresAt = :expiresAt',
        ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(expiresAt)',
        ExpressionAttributeValues: { ':expiresAt': settle.expiresAt },
      }),
    );
  }
}

/**
 * Whether every member has the message at position `seq`: its log entry was settled (it has a TTL), or
 * is gone (TTL deleted it, which only happens after the settle). A send's record and its log entry are
 * written in one transaction, so a record's entry is there until then. One small strongly consistent read.
 */
export async function fanOutFinished(db: Db, groupId: string, seq: number): Promise<boolean> {
  const { Item } = await send<{ Item?: Item }>(
    db,
    new GetCommand({
      TableName: db.tableName,
      Key: logEntryKey(groupId, seq),
      // `seq` too: an entry projected to nothing would read like no entry.
      ProjectionExpression: 'seq, expiresAt',
      ConsistentRead: true,
    }),
  );
  return Item === undefined || Item.expiresAt !== undefined;
}

/** The log entry just below position `seq` (its seq and TTL only), if any. */
async function entryBelow(db: Db, groupId: string, seq: number): Promise<Item | undefined> {
  const { Items = [] } = await send<{ Items?: Item[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk < :below',
      ExpressionAttributeValues: { ':pk': keys.groupLogPk(groupId), ':below': keys.groupLogSk(seq) },
      ProjectionExpression: 'seq, expiresAt',
      ScanIndexForward: false,
      Limit: 1,
      ConsistentRead: true,
    }),
  );
  return Items[0];
}

/**
 * Starts the switch to shared mode (switch.ts): from now on members join in shared form, and every
 * send finishes the switch before it takes a position. Idempotent.
 */
export async function markSwitching(db: Db, groupId: string): Promise<void> {
  await sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: metaKey(groupId),
      UpdateExpression: 'SET switching = :true',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':true': true },
    }),
  );
}

/**
 * Ends the switch: the group is in shared mode from position `meta.seq` on. Only while META is as read
 * (no send took a position and no member joined or left since every member was moved and brought to
 * the head), so no position is ever fanned out to some members and shared with others. Returns false
 * when META changed: the caller goes round again. The group is registered as shared first, so the
 * sweep finds every shared history (a flip that fails or never comes leaves a registered group with
 * none: the sweep reads it as empty).
 */
export async function flipToShared(db: Db, meta: GroupMeta): Promise<boolean> {
  await registerSharedGroup(db, meta.groupId);
  const u = new UpdateExpression();
  requirePositionAndMembers(u, meta);
  u.require(`${u.name('switching')} = ${u.value(true)}`);
  u.set('shared', true).remove('switching');
  return sendConditional(db, new UpdateCommand(u.toUpdate(db.tableName, metaKey(meta.groupId))));
}
