import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { Group } from '../core/model.js';
import { batchWriteAll, type Db, queryAll, send, sendConditional } from './db.js';
import { keys } from './keys.js';

/** Groups: a META item and one item per member, all in the group's partition (one Query reads all). */

type Item = Record<string, unknown>;

/** Creates the group with its members; false if the id is taken. */
export async function createGroup(db: Db, group: Group): Promise<boolean> {
  const pk = keys.groupPk(group.groupId);
  const created = await sendConditional(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: {
        pk,
        sk: keys.groupMetaSk,
        groupId: group.groupId,
        name: group.name,
        owner: group.owner,
        createdAt: group.createdAt,
      },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
  if (!created) return false;
  await batchWriteAll(
    db,
    group.members.map((userId) => ({
      PutRequest: { Item: { pk, sk: keys.memberSk(userId), userId, joinedAt: group.createdAt } },
    })),
  );
  return true;
}

/** The group with all its members, or undefined if it does not exist. */
export async function getGroup(db: Db, groupId: string): Promise<Group | undefined> {
  const items = await queryAll<Item>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.groupPk(groupId) },
    ConsistentRead: true,
  });
  const meta = items.find((item) => item.sk === keys.groupMetaSk);
  if (!meta) return undefined;
  return {
    groupId,
    name: meta.name as string,
    owner: meta.owner as string,
    createdAt: meta.createdAt as number,
    members: items.filter((item) => item !== meta).map((item) => item.userId as string),
  };
}

export async function isMember(db: Db, groupId: string, userId: string): Promise<boolean> {
  const result = await send<{ Item?: Item }>(
    db,
    new GetCommand({
      TableName: db.tableName,
      Key: { pk: keys.groupPk(groupId), sk: keys.memberSk(userId) },
      ConsistentRead: true,
    }),
  );
  return result.Item !== undefined;
}

/** Adds a member; false if they already were one. */
export async function addMember(db: Db, groupId: string, userId: string, joinedAt: number): Promise<boolean> {
  return sendConditional(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: { pk: keys.groupPk(groupId), sk: keys.memberSk(userId), userId, joinedAt },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** Removes a member; false if they were not one. */
export async function removeMember(db: Db, groupId: string, userId: string): Promise<boolean> {
  return sendConditional(
    db,
    new DeleteCommand({
      TableName: db.tableName,
      Key: { pk: keys.groupPk(groupId), sk: keys.memberSk(userId) },
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
}
