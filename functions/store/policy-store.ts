import { BatchGetCommand, DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { RetentionDays } from '../core/model.js';
import { type Db, queryAll, send, sendConditional } from './db.js';
import { keys } from './keys.js';

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

export async function putAppPolicy(db: Db, retentionDays: RetentionDays, now: number): Promise<void> {
  await send(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: { pk: keys.policyPk, sk: keys.appPolicySk, retentionDays, updatedAt: now },
    }),
  );
}

export async function putUserPolicy(
  db: Db,
  userId: string,
  retentionDays: RetentionDays,
  now: number,
): Promise<void> {
  await send(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: { pk: keys.policyPk, sk: keys.userPolicySk(userId), retentionDays, updatedAt: now },
    }),
  );
}

/** Removes a user's override; false if there was none. */
export async function deleteUserPolicy(db: Db, userId: string): Promise<boolean> {
  return sendConditional(
    db,
    new DeleteCommand({
      TableName: db.tableName,
      Key: { pk: keys.policyPk, sk: keys.userPolicySk(userId) },
      ConditionExpression: 'attribute_exists(pk)',
    }),
  );
}
