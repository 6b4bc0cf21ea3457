import { BatchGetCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import type { RetentionDays } from '../core/model.js';
import { type Db, queryAll, send } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/** Retention policy: an app default and per-user overrides, in the POLICY partition. */

interface PolicyItem {
  pk: string;
  sk: string;
  retentionDays: RetentionDays;
  updatedAt: number;
}

export interface RetentionPolicies {
  appDays: RetentionDays;
  /** Overrides by user id; a user without one follows the app default. */
  userDays: Map<string, RetentionDays>;
}

/** The app default and this user's override, in one request. */
export async function getPoliciesFor(db: Db, userId: string): Promise<RetentionPolicies> {
  const result = await send<{ Responses?: Record<string, PolicyItem[]> }>(
    db,
    new BatchGetCommand({
      RequestItems: {
        [db.tableName]: {
          Keys: [
            { pk: keys.policyPk, sk: keys.appPolicySk },
            { pk: keys.policyPk, sk: keys.userPolicySk(userId) },
          ],
          ConsistentRead: true,
        },
      },
    }),
  );
  return toPolicies(result.Responses?.[db.tableName] ?? []);
}

/** Every policy item: the sweep loads them once per run. */
export async function getAllPolicies(db: Db): Promise<RetentionPolicies> {
  const items = await queryAll<PolicyItem>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.policyPk },
    // The sweep decides what to delete from these: never from a stale copy.
    ConsistentRead: true,
  });
  return toPolicies(items);
}

function toPolicies(items: readonly PolicyItem[]): RetentionPolicies {
  const policies: RetentionPolicies = { appDays: null, userDays: new Map() };
  for (const item of items) {
    if (item.sk === keys.appPolicySk) policies.appDays = item.retentionDays;
    else policies.userDays.set(item.sk.slice(keys.userPolicySk('').length), item.retentionDays);
  }
  return policies;
}

/** One policy item as stored (for a change that records what it replaced), or undefined. */
export async function getPolicyItem(db: Db, userId: string | undefined): Promise<PolicyRecord | undefined> {
  const result = await send<{ Item?: PolicyItem }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: policyKey(userId), ConsistentRead: true }),
  );
  return result.Item && { retentionDays: result.Item.retentionDays, updatedAt: result.Item.updatedAt };
}

export interface PolicyRecord {
  retentionDays: RetentionDays;
  updatedAt: number;
}

/** The app default (no user) or a user's override. */
function policyKey(userId: string | undefined) {
  return { pk: keys.policyPk, sk: userId === undefined ? keys.appPolicySk : keys.userPolicySk(userId) };
}

/** The condition that the policy is still as read (so an audit record's "before" is exact). */
function asRead(seen: PolicyRecord | undefined) {
  return seen
    ? { ConditionExpression: 'updatedAt = :seenAt', ExpressionAttributeValues: { ':seenAt': seen.updatedAt } }
    : { ConditionExpression: 'attribute_not_exists(pk)' };
}

/** Sets the app default (no user) or a user's override, if it is still as `seen`: for a transaction. */
export function putPolicyAction(
  tableName: string,
  userId: string | undefined,
  seen: PolicyRecord | undefined,
  retentionDays: RetentionDays,
  now: number,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      // Always past what was read, even on a clock that stands still or runs behind the last writer's:
      // the condition below (`updatedAt` as read) then tells every write after the read apart.
      Item: { ...policyKey(userId), retentionDays, updatedAt: Math.max(now, (seen?.updatedAt ?? 0) + 1) },
      ...asRead(seen),
    },
  };
}

/** Removes a user's override, if it is still as `seen` (which must exist): for a transaction. */
export function deletePolicyAction(tableName: string, userId: string, seen: PolicyRecord): TransactItem {
  return { Delete: { TableName: tableName, Key: policyKey(userId), ...asRead(seen) } };
}
