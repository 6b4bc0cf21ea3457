import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * The groups in shared mode a user belongs to (`U#{owner}` / `LARGE`, a string set). A send to a large
 * group writes nothing of its members', so their lists cannot hold its position: a list page reads this
 * item, derives each group's side from META and merges them in (docs/large-groups.md). It sits in the
 * list index just above the sync head, so a first page's Query reads it for free.
 */

/** Its key in the list index: above the sync head (`~`), below the top of every list (`~~`). */
export const LARGE_GROUPS_LIST_SK = '~L';

/** Adds `groupId` to the owner's large groups (in the transaction that makes them a shared-mode member). */
export function addLargeGroupAction(tableName: string, owner: string, groupId: string): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: keys.largeGroups(owner),
      UpdateExpression: 'SET listSk = :listSk ADD #groups :group',
      ExpressionAttributeNames: { '#groups': 'groups' },
      ExpressionAttributeValues: { ':listSk': LARGE_GROUPS_LIST_SK, ':group': new Set([groupId]) },
    },
  };
}

/** Removes `groupId` from the owner's large groups (in the transaction of their leaving). */
export function removeLargeGroupAction(tableName: string, owner: string, groupId: string): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: keys.largeGroups(owner),
      UpdateExpression: 'DELETE #groups :group',
      ExpressionAttributeNames: { '#groups': 'groups' },
      ExpressionAttributeValues: { ':group': new Set([groupId]) },
    },
  };
}

/** The group ids of the item as read (from the table or the list index). */
export function largeGroupsOf(item: Record<string, unknown> | undefined): string[] {
  const groups = item?.groups;
  return groups instanceof Set ? [...(groups as Set<string>)].sort() : [];
}

/** The owner's large groups, strongly consistent (pages after the first, since calls). */
export async function readLargeGroups(db: Db, owner: string): Promise<string[]> {
  return largeGroupsOf(await readLargeGroupsItem(db, owner));
}

/** The item itself, strongly consistent (it also holds the lists' reach: list-reach.ts). */
export async function readLargeGroupsItem(
  db: Db,
  owner: string,
): Promise<Record<string, unknown> | undefined> {
  const { Item } = await send<{ Item?: Record<string, unknown> }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: keys.largeGroups(owner), ConsistentRead: true }),
  );
  return Item;
}
