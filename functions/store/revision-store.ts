import type { Message } from '../core/model.js';
import type { Db, Key } from './db.js';
import { queryAll } from './db.js';
import { keys } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import { type TransactItem, transactWrite } from './transactions.js';

/**
 * A message's revision record (`U#{sender}#REV` / `{type}#{convId}#{msgId}`, convId as the sender sees
 * the conversation): one per recalled or edited message. It serializes revisions (each is a conditional
 * write on `rev` as read: two edits decided on one version cannot both land), counts edits, and holds
 * the message as last revised, so a retry (or the next revision) can carry it to every copy. `pending`
 * marks a group revision not yet carried to every member: a single chat's is written with both copies
 * in one transaction, so it is never pending.
 */
export interface RevisionRecord {
  rev: number;
  editCount: number;
  /** The message as last revised: a recall's tombstone (no body) or the last edit. */
  message: Message;
  pending: boolean;
}

interface RevisionItem {
  pk: string;
  sk: string;
  rev: number;
  editCount: number;
  message: StoredMessage;
  pending?: boolean;
}

/** Where the record of `message` lives. */
export function revisionKey(message: Pick<Message, 'from' | 'chatType' | 'to' | 'msgId'>): Key {
  // A single chat's `to` is the recipient: the sender's conversation id; a group's is the group.
  return keys.revision(message.from, message.chatType, message.to, message.msgId);
}

export function revisionOf(item: Record<string, unknown> | undefined): RevisionRecord | undefined {
  if (!item) return undefined;
  const stored = item as unknown as RevisionItem;
  return {
    rev: Number(stored.rev),
    editCount: Number(stored.editCount),
    message: fromStoredMessage(stored.message),
    pending: stored.pending === true,
  };
}

/** The Put of revision `next.rev`, conditioned on the record being as read (`previous`, or none). */
export function putRevisionAction(
  tableName: string,
  previous: RevisionRecord | undefined,
  next: RevisionRecord,
): TransactItem {
  const item: RevisionItem = {
    ...revisionKey(next.message),
    rev: next.rev,
    editCount: next.editCount,
    message: toStoredMessage(next.message),
    ...(next.pending ? { pending: true } : {}),
  };
  return {
    Put: {
      TableName: tableName,
      Item: item,
      ...(previous === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : { ConditionExpression: 'rev = :rev', ExpressionAttributeValues: { ':rev': previous.rev } }),
    },
  };
}

/**
 * A group revision not yet carried to every member (`PENDING_REVISIONS` / `{record pk}|{record sk}`),
 * written with the revision: if its writer dies before it has reached every member, the sweep finishes
 * it (functions/domain/revise.ts, finishPendingRevisions). A later revision of the message replaces it.
 */
export interface PendingRevision {
  record: Key;
  rev: number;
  /** The message's position in its group (where its fan-out log entry is). */
  seq: number;
  /** When it was written (the writer's clock). */
  since: number;
  /**
   * The shared copy as it was before the revision, kept only while a legal hold covers a member: their
   * side keeps it (a held version) when it is revised, by the writer or by the sweep.
   */
  heldBefore?: Record<string, unknown> & { msgId: string };
}

export function pendingRevisionAction(tableName: string, pending: PendingRevision): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: {
        pk: keys.pendingRevisionsPk,
        sk: pendingSk(pending.record),
        recordPk: pending.record.pk,
        recordSk: pending.record.sk,
        rev: pending.rev,
        seq: pending.seq,
        since: pending.since,
        ...(pending.heldBefore ? { heldBefore: pending.heldBefore } : {}),
      },
    },
  };
}

function pendingSk(record: Key): string {
  return `${record.pk}|${record.sk}`;
}

/** Where the pending entry of the revision record at `record` is. */
export function pendingRevisionKey(record: Key): Key {
  return { pk: keys.pendingRevisionsPk, sk: pendingSk(record) };
}

/** Every pending group revision (strongly consistent): few, one item each. */
export async function listPendingRevisions(db: Db): Promise<PendingRevision[]> {
  const items = await queryAll<Record<string, unknown>>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.pendingRevisionsPk },
    ConsistentRead: true,
  });
  return items.map(pendingOf);
}

/** A pending entry as read. */
export function pendingOf(item: Record<string, unknown>): PendingRevision {
  return {
    record: { pk: String(item.recordPk), sk: String(item.recordSk) },
    rev: Number(item.rev),
    seq: Number(item.seq),
    since: Number(item.since),
    ...(item.heldBefore
      ? { heldBefore: item.heldBefore as Record<string, unknown> & { msgId: string } }
      : {}),
  };
}

/** A pending entry whose record is gone (its sender was erased): only the entry goes, if still at `rev`. */
export async function dropPendingRevision(db: Db, record: Key, rev: number): Promise<void> {
  await transactWrite(db, [
    {
      Delete: {
        TableName: db.tableName,
        Key: { pk: keys.pendingRevisionsPk, sk: pendingSk(record) },
        ConditionExpression: 'rev = :rev',
        ExpressionAttributeValues: { ':rev': rev },
      },
    },
  ]);
}

/**
 * Revision `rev` reached every member: the record is no longer pending, and its pending entry goes; both
 * only while at `rev` (a later revision, pending in its turn, owns them then).
 */
export async function settleRevision(db: Db, record: Key, rev: number): Promise<void> {
  const atRev = { ConditionExpression: 'rev = :rev', ExpressionAttributeValues: { ':rev': rev } };
  await transactWrite(db, [
    { Update: { TableName: db.tableName, Key: record, UpdateExpression: 'REMOVE pending', ...atRev } },
    {
      Delete: {
        TableName: db.tableName,
        Key: { pk: keys.pendingRevisionsPk, sk: pendingSk(record) },
        ...atRev,
      },
    },
  ]);
}
