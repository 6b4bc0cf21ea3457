import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, send } from './db.js';
import { keys } from './keys.js';

/**
 * The registry of groups in shared mode (`SHARED_GROUPS` / `{groupId}`): the sweep lists it to purge
 * their shared histories (shared-history-purge.ts) without a Scan. A group is registered before its
 * flip to shared mode, so every group that may have shared copies is in it; shared mode is one way, so
 * nothing is ever removed. One small item per group, written once per switch.
 */

/** Registers the group (a plain put: repeating it, as a switch's rounds may, changes nothing). */
export async function registerSharedGroup(db: Db, groupId: string): Promise<void> {
  await send(db, new PutCommand({ TableName: db.tableName, Item: keys.sharedGroup(groupId) }));
}

export interface SharedGroupsPage {
  groupIds: string[];
  /** Where the next page starts; undefined on the last page. */
  nextKey?: Record<string, unknown>;
}

/**
 * One page of the registered groups, in id order. Eventually consistent: a group registered a moment
 * ago has no copy old enough to purge.
 */
export async function listSharedGroups(
  db: Db,
  page: { limit: number; startKey?: Record<string, unknown> },
): Promise<SharedGroupsPage> {
  const result = await send<{ Items?: { sk: string }[]; LastEvaluatedKey?: Record<string, unknown> }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.sharedGroupsPk },
      ProjectionExpression: 'sk',
      Limit: page.limit,
      ExclusiveStartKey: page.startKey,
    }),
  );
  return { groupIds: (result.Items ?? []).map((item) => item.sk), nextKey: result.LastEvaluatedKey };
}
