import type { RetentionDays } from '../core/model.js';
import { batchGet, type Db, queryAll } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Retention policy: an app default and per-user overrides, in the POLICY partition. Each item also keeps
 * a `floor` (ms): the visible cutoff in force on any instance (retention.ts, FLOOR_CLOCK_MARGIN_MS) when
 * the policy was last changed. What a policy had hidden stays hidden after it is lengthened
 * (docs/consistency.md, section 7), so expiry never goes backwards for a device; the sweep never
 * deletes by the floor, only by the days in force. A user item without `retentionDays` is a cleared
 * override kept for its floor: the user follows the app default.
 *
 * A shortening may wait: `pendingDays` take over from `retentionDays` at `effectiveAt` (ms), on each
 * reader's own clock (retention.ts, inForceAt), so no job applies it and an admin can cancel it until then
 * (docs/compliance.md, "Retention preview and undo").
 */

/** A shorter policy that takes over at `effectiveAt` (ms) unless cancelled first. */
export interface PendingPolicy {
  days: number;
  effectiveAt: number;
}

type PolicyItem = {
  pk: string;
  sk: string;
  /** Absent on a cleared user override (follows the app default). */
  retentionDays?: RetentionDays;
  floor?: number;
  pendingDays?: number;
  effectiveAt?: number;
  updatedAt: number;
};

export interface RetentionPolicies {
  appDays: RetentionDays;
  /** The app policy's floor (ms), or -1. */
  appFloor: number;
  /** Overrides by user id; a user without one follows the app default. */
  userDays: Map<string, RetentionDays>;
  /** Floors of user items (overrides and cleared overrides), by user id. */
  userFloors: Map<string, number>;
  /** The app default's pending shortening, if any (in force from its `effectiveAt`). */
  appPending?: PendingPolicy;
  /** Users' pending overrides, by user id. */
  userPending: Map<string, PendingPolicy>;
}

/** The keys of the policies that decide one user's retention: the app default and their own item. */
export function policyKeysFor(userId: string) {
  return [policyKey(undefined), policyKey(userId)];
}

/** The app default and this user's override, in one request. */
export async function getPoliciesFor(db: Db, userId: string): Promise<RetentionPolicies> {
  return (await getPolicyRecords(db, userId)).policies;
}

/** The app default and these users' items, strongly consistent (a sweep round's owners: at most 100). */
export async function getPoliciesForUsers(db: Db, userIds: readonly string[]): Promise<RetentionPolicies> {
  const items = await batchGet(db, [policyKey(undefined), ...userIds.map(policyKey)]);
  return policiesOf([...items.values()]);
}

/** Every policy item: the sweep plans a run from them. */
export async function getAllPolicies(db: Db): Promise<RetentionPolicies> {
  const items = await queryAll<PolicyItem>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.policyPk },
    ConsistentRead: true,
  });
  return policiesOf(items);
}

/** The policies held by items read some other way (the sweep reads them with a round's items). */
export function policiesOf(items: readonly Record<string, unknown>[]): RetentionPolicies {
  const policies: RetentionPolicies = {
    appDays: null,
    appFloor: -1,
    userDays: new Map(),
    userFloors: new Map(),
    userPending: new Map(),
  };
  for (const raw of items) {
    if (raw.pk !== keys.policyPk) continue;
    const item = raw as unknown as PolicyItem;
    const floor = item.floor === undefined ? -1 : Number(item.floor);
    const pending = pendingOf(item);
    if (item.sk === keys.appPolicySk) {
      policies.appDays = item.retentionDays ?? null;
      policies.appFloor = floor;
      if (pending) policies.appPending = pending;
      continue;
    }
    const userId = item.sk.slice(keys.userPolicySk('').length);
    if (item.retentionDays !== undefined) policies.userDays.set(userId, item.retentionDays);
    if (floor >= 0) policies.userFloors.set(userId, floor);
    if (pending) policies.userPending.set(userId, pending);
  }
  return policies;
}

export interface PolicyRecord {
  /** Undefined on a cleared user override (kept for its floor). */
  retentionDays?: RetentionDays;
  pending?: PendingPolicy;
  updatedAt: number;
}

function pendingOf(item: PolicyItem): PendingPolicy | undefined {
  if (item.pendingDays === undefined || item.effectiveAt === undefined) return undefined;
  return { days: Number(item.pendingDays), effectiveAt: Number(item.effectiveAt) };
}

/**
 * The app default's item and (with a user) the user's, as stored, and the policies they make: one
 * strongly consistent request, for a change that records what it replaced.
 */
export async function getPolicyRecords(
  db: Db,
  userId: string | undefined,
): Promise<{ app?: PolicyRecord; user?: PolicyRecord; policies: RetentionPolicies }> {
  const found = await batchGet(db, userId === undefined ? [policyKey(undefined)] : policyKeysFor(userId));
  const items = [...found.values()] as PolicyItem[];
  const recordOf = (sk: string) => {
    const item = items.find((candidate) => candidate.sk === sk);
    const pending = item && pendingOf(item);
    return (
      item && {
        retentionDays: item.retentionDays,
        updatedAt: item.updatedAt,
        ...(pending ? { pending } : {}),
      }
    );
  };
  return {
    app: recordOf(keys.appPolicySk),
    user: userId === undefined ? undefined : recordOf(keys.userPolicySk(userId)),
    policies: policiesOf(items),
  };
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

/**
 * Writes the app default (no user) or a user's item, if it is still as `seen`: for a transaction.
 * `retentionDays` undefined clears a user's override but keeps the item for its floor; `pending` is a
 * shortening that waits (a write without it cancels the one stored).
 */
export function putPolicyAction(
  tableName: string,
  userId: string | undefined,
  seen: PolicyRecord | undefined,
  change: { retentionDays?: RetentionDays; floor: number; now: number; pending?: PendingPolicy },
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: {
        ...policyKey(userId),
        ...(change.retentionDays === undefined ? {} : { retentionDays: change.retentionDays }),
        ...(change.floor >= 0 ? { floor: change.floor } : {}),
        ...(change.pending
          ? { pendingDays: change.pending.days, effectiveAt: change.pending.effectiveAt }
          : {}),
        // Always past what was read, even on a clock that stands still or runs behind the last writer's:
        // the condition below (`updatedAt` as read) then tells every write after the read apart.
        updatedAt: Math.max(change.now, (seen?.updatedAt ?? 0) + 1),
      },
      ...asRead(seen),
    },
  };
}

/** Removes a user's item, if it is still as `seen` (which must exist): for a transaction. */
export function deletePolicyAction(tableName: string, userId: string, seen: PolicyRecord): TransactItem {
  return { Delete: { TableName: tableName, Key: policyKey(userId), ...asRead(seen) } };
}

/** Fails the transaction if the app default changed since it was read as `seen`. */
export function appPolicyCheck(tableName: string, seen: PolicyRecord | undefined): TransactItem {
  return { ConditionCheck: { TableName: tableName, Key: policyKey(undefined), ...asRead(seen) } };
}
