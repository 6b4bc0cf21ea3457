import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Message } from '../core/model.js';
import { type Db, type Key, sendConditional } from './db.js';
import { keys } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import type { TransactItem } from './transactions.js';

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

/** Revision `rev` reached every member: no longer pending (unless a later revision replaced it). */
export async function settleRevision(db: Db, message: Message, rev: number): Promise<void> {
  await sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: revisionKey(message),
      UpdateExpression: 'REMOVE pending',
      ConditionExpression: 'rev = :rev',
      ExpressionAttributeValues: { ':rev': rev },
    }),
  );
}
