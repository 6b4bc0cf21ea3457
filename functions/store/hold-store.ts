import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatType } from '../core/model.js';
import { type Db, queryAll, send } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Legal holds (`HOLD / {holdId}`): while a hold covers a user, or one of their conversations, nothing of
 * theirs there is physically deleted (not by retention, not by their own one-way deletes, not by
 * erasure). A hold changes nothing a user sees. Holds are few (an operator's litigation list), so every
 * reader lists them all in one strongly consistent Query.
 */
export interface HeldConversation {
  chatType: ChatType;
  convId: string;
}

export interface Hold {
  holdId: string;
  userIds: string[];
  reason: string;
  /** Absent: the hold covers everything of its users; present: only these conversations of theirs. */
  conversations?: HeldConversation[];
  createdAt: number;
  updatedAt: number;
  /** Who set it (the admin's user id). */
  setBy: string;
}

type HoldItem = Hold & { pk: string; sk: string };

/** Every hold in force, strongly consistent: a hold that answered before the read binds the reader. */
export async function listHolds(db: Db): Promise<Hold[]> {
  const items = await queryAll<HoldItem>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.holdsPk },
    ConsistentRead: true,
  });
  return items.map(holdOf);
}

/** A hold as read, its fields in their declared order (answers are stable whatever the store returns). */
function holdOf(item: HoldItem): Hold {
  const { holdId, userIds, reason, conversations, createdAt, updatedAt, setBy } = item;
  return {
    holdId,
    userIds,
    reason,
    ...(conversations
      ? { conversations: conversations.map(({ chatType, convId }) => ({ chatType, convId })) }
      : {}),
    createdAt: Number(createdAt),
    updatedAt: Number(updatedAt),
    setBy,
  };
}

/** One hold, strongly consistent (an admin's change is decided on it), or undefined. */
export async function getHold(db: Db, holdId: string): Promise<Hold | undefined> {
  const { Item } = await send<{ Item?: HoldItem }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: keys.hold(holdId), ConsistentRead: true }),
  );
  return Item && holdOf(Item);
}

/** Does any hold cover this user's conversation (or, without one, anything of the user's)? */
export function isHeld(holds: readonly Hold[], owner: string, conversation?: HeldConversation): boolean {
  return holds.some(
    (hold) =>
      hold.userIds.includes(owner) &&
      (hold.conversations === undefined ||
        conversation === undefined ||
        hold.conversations.some(
          (c) => c.chatType === conversation.chatType && c.convId === conversation.convId,
        )),
  );
}

/** Writes a hold, if it is still as read (`seenUpdatedAt`; undefined: it must not exist): for a transaction. */
export function putHoldAction(
  tableName: string,
  hold: Hold,
  seenUpdatedAt: number | undefined,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { ...keys.hold(hold.holdId), ...hold },
      ...(seenUpdatedAt === undefined
        ? { ConditionExpression: 'attribute_not_exists(pk)' }
        : {
            ConditionExpression: 'updatedAt = :seen',
            ExpressionAttributeValues: { ':seen': seenUpdatedAt },
          }),
    },
  };
}

/** Removes a hold, if it is still as read: for a transaction (with its audit record). */
export function deleteHoldAction(tableName: string, holdId: string, seenUpdatedAt: number): TransactItem {
  return {
    Delete: {
      TableName: tableName,
      Key: keys.hold(holdId),
      ConditionExpression: 'updatedAt = :seen',
      ExpressionAttributeValues: { ':seen': seenUpdatedAt },
    },
  };
}
