import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * The registry of groups in shared mode (`SHARED_GROUPS` / `{groupId}`): the sweep lists it to purge
 * their shared histories (shared-history-purge.ts) without a Scan. A group is registered before its
 * flip to shared mode, so every group that may have shared copies is in it; shared mode is one way, so
 * nothing is ever removed. One small item per group, written once per switch.
 *
 * An item may also keep `keepDays`: the longest own retention a member ever gave their side of the group
 * (conversation-retention.ts); the shared purge keeps the group's copies that long at least. A member's
 * policy registers the group whatever its mode (so one set before a switch counts after it); only ever
 * raised. A fan-out group registered so costs the purge one empty Query a run.
 */

/** Registers the group (a put unless it is there: repeating it, as a switch's rounds may, changes nothing). */
export async function registerSharedGroup(db: Db, groupId: string): Promise<void> {
  await sendConditional(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: keys.sharedGroup(groupId),
      // A member's keepDays may be there already: it stays.
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

/** The group's keepDays as its registry item says (undefined: none, or no item). */
export function keepDaysOf(item: Record<string, unknown> | undefined): number | undefined {
  const value = item?.keepDays;
  return value === undefined || value === null ? undefined : Number(value);
}

/**
 * Raises the group's keepDays to `days` (in the transaction of a member's own policy), registering the
 * group if it is not: the condition fails the transaction if a concurrent raise went higher.
 */
export function raiseKeepDaysAction(tableName: string, groupId: string, days: number): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: keys.sharedGroup(groupId),
      UpdateExpression: 'SET keepDays = :days',
      ConditionExpression: 'attribute_not_exists(keepDays) OR keepDays < :days',
      ExpressionAttributeValues: { ':days': days },
    },
  };
}

export interface SharedGroupsPage {
  groupIds: string[];
  /** The groups' keepDays, for those that have one. */
  keepDays: Map<string, number>;
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
  const result = await send<{
    Items?: { sk: string; keepDays?: number }[];
    LastEvaluatedKey?: Record<string, unknown>;
  }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.sharedGroupsPk },
      ProjectionExpression: 'sk, keepDays',
      Limit: page.limit,
      ExclusiveStartKey: page.startKey,
    }),
  );
  const items = result.Items ?? [];
  const keepDays = new Map<string, number>();
  for (const item of items) {
    const days = keepDaysOf(item);
    if (days !== undefined) keepDays.set(item.sk, days);
  }
  return { groupIds: items.map((item) => item.sk), keepDays, nextKey: result.LastEvaluatedKey };
}
