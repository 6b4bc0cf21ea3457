import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, isConditionFailure, itemOfConditionFailure, type Key, send } from './db.js';
import { keys } from './keys.js';

/**
 * A user's request budget (`B#{owner} / requests|adminRequests`), kept as a *theoretical
 * arrival time* (GCRA, the token bucket written as one number): `tat` is the bucket time (ms) at which
 * everything charged so far has been refilled, so the budget is full whenever `tat` is in the past and
 * holds `window - (tat - now)` ms' worth of units otherwise. A charge moves `tat` forward by its cost.
 * `at` is the bucket time of the last charge (bucket-clock.ts: how slower instances learn the skew).
 *
 * Every write is one UpdateItem whose condition is what the writer decided on, with ALL_OLD returned
 * when it fails: the charge never needs a read first, and a failed one is the read. Charges of several
 * devices at once do not conflict (`tat = tat + cost` is atomic); only a change of form (a full budget
 * starting again, a budget moved back from beyond the tolerated skew) is raced, and the loser learns the
 * state from its failure.
 */
export interface BudgetState {
  /** Bucket time (ms) when all charged units are refilled. */
  tat: number;
  /** Bucket time (ms) of the last charge. */
  at: number;
}

/**
 * In a partition family of its own (`B#`), so that every function may write it, read routes included,
 * without a grant on the users' data (functions/store-access.ts).
 */
export function budgetKey(owner: string, name: string): Key {
  return keys.requestBudget(owner, name);
}

function budgetStateOf(item: Record<string, unknown> | undefined): BudgetState | undefined {
  if (item?.tat === undefined) return undefined;
  return { tat: Number(item.tat), at: Number(item.at ?? 0) };
}

/** How a charge of `costMs` at bucket time `now` moves `tat`, given the state the writer believes. */
export type Charge =
  /** Units are left and still being refilled (`now <= tat <= latestTat`): `tat += costMs`. */
  | { form: 'continue'; now: number; costMs: number; latestTat: number }
  /** The budget is full (no item, or `tat` in the past): `tat = now + costMs`. */
  | { form: 'restart'; now: number; costMs: number }
  /** The item's bucket time is beyond the tolerated skew: start again at now, if it is still as seen. */
  | { form: 'replace'; now: number; costMs: number; seen: BudgetState };

export type ChargeOutcome = { applied: true; state: BudgetState } | { applied: false; found?: BudgetState };

/**
 * Applies `charge` if its condition holds: the state after; else the state found (none: no budget item).
 * Every form also requires `at <= now`, so `at` never moves back and a writer behind learns the lead.
 */
export async function applyCharge(db: Db, key: Key, charge: Charge): Promise<ChargeOutcome> {
  const values: Record<string, unknown> = { ':now': charge.now, ':cost': charge.costMs };
  let update: string;
  let condition: string;
  if (charge.form === 'continue') {
    update = 'SET tat = tat + :cost, #at = :now';
    condition = 'tat BETWEEN :now AND :latest AND #at <= :now';
    values[':latest'] = charge.latestTat;
  } else if (charge.form === 'restart') {
    update = 'SET tat = :restart, #at = :now';
    condition = 'attribute_not_exists(tat) OR (tat < :now AND #at <= :now)';
    values[':restart'] = charge.now + charge.costMs;
    delete values[':cost'];
  } else {
    update = 'SET tat = :restart, #at = :now';
    condition = 'tat = :seenTat AND #at = :seenAt';
    values[':restart'] = charge.now + charge.costMs;
    values[':seenTat'] = charge.seen.tat;
    values[':seenAt'] = charge.seen.at;
    delete values[':cost'];
  }
  try {
    const { Attributes } = await send<{ Attributes?: Record<string, unknown> }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: update,
        ConditionExpression: condition,
        ExpressionAttributeNames: { '#at': 'at' },
        ExpressionAttributeValues: values,
        ReturnValues: 'ALL_NEW',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return { applied: true, state: budgetStateOf(Attributes) as BudgetState };
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    return { applied: false, found: budgetStateOf(itemOfConditionFailure(error)) };
  }
}

/**
 * Charges `costMs` more to a budget charged before the work (the read units the work used beyond the
 * base): `tat` was at least the admission time then and never moves back, so adding to it charges as
 * of the admission. Unconditional: the work is done, so this may take the budget past empty (debt the
 * next requests wait out). The state after.
 */
export async function addCharge(db: Db, key: Key, costMs: number): Promise<BudgetState | undefined> {
  const { Attributes } = await send<{ Attributes?: Record<string, unknown> }>(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: key,
      UpdateExpression: 'SET tat = tat + :cost',
      ConditionExpression: 'attribute_exists(tat)',
      ExpressionAttributeValues: { ':cost': costMs },
      ReturnValues: 'ALL_NEW',
    }),
  ).catch((error) => {
    // Only when the item was removed by hand since the admission: nothing to charge against.
    if (isConditionFailure(error)) return { Attributes: undefined };
    throw error;
  });
  return budgetStateOf(Attributes);
}
