import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { isExpired } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import type { PresendPolicy } from '../domain/deps.js';
import {
  batchGet,
  type Db,
  isConditionFailure,
  itemOfConditionFailure,
  type Key,
  keyString,
  send,
} from './db.js';
import { RETRY_RECORD_CONDITION } from './idempotency-store.js';

/**
 * The pre-send hook's decision on one send with a clientMsgId (docs/presend-hook.md), so the hook is
 * never asked twice about one: `U#{sender}#IDEM / H#{clientMsgId}` (keys.presendDecision). Written in
 * two steps: a claim (the one request that wins it asks the hook), then the decision, set once. The
 * record keeps the request's HMAC (as a send's record does) so a different message under the same
 * clientMsgId is a conflict, and expires with the send's record. A rewrite's body is kept in it: a retry
 * must answer the message as it was accepted.
 */
export type RecordedDecision =
  | { action: 'allow' }
  | { action: 'reject'; reason: string }
  | { action: 'rewrite'; body: Record<string, unknown> }
  /** The hook gave no usable answer; `policy` is the one that applied then, and applies to every retry. */
  | { action: 'unavailable'; why: string; policy: PresendPolicy };

export interface PresendRecord {
  requestHash: string;
  /** Absent while the claimer is asking the hook (or after it died doing so). */
  decision?: RecordedDecision;
}

function recordOf(item: Record<string, unknown> | undefined, now: number): PresendRecord | undefined {
  if (!item || isExpired(item.expiresAt, now)) return undefined;
  const decision = item.decision as RecordedDecision | undefined;
  return { requestHash: String(item.requestHash), ...(decision ? { decision } : {}) };
}

/**
 * Claims the right to ask the hook: undefined when this call claimed it, else the live record that was
 * there (read in the same round trip). An expired record is replaced, as a send's record is.
 */
export async function claimPresendDecision(
  db: Db,
  key: Key,
  claim: { requestHash: string; claimedAt: number; expiresAt: number },
  now: number,
): Promise<PresendRecord | undefined> {
  try {
    await send(
      db,
      new PutCommand({
        TableName: db.tableName,
        Item: { ...key, ...claim },
        ConditionExpression: RETRY_RECORD_CONDITION,
        ExpressionAttributeValues: { ':now': Math.floor(now / 1000) },
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return undefined;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const there = recordOf(itemOfConditionFailure(error), now) ?? (await readPresendDecision(db, key, now));
    if (!there)
      throw new StoreError('A pre-send claim failed on a record that cannot be read', { cause: error });
    return there;
  }
}

/**
 * Sets the decision unless one is set already (by the claimer, or by a request that gave up waiting for
 * it). True when this write set it; false when another did first (read it: that one stands).
 */
export async function settlePresendDecision(
  db: Db,
  key: Key,
  requestHash: string,
  decision: RecordedDecision,
  decidedAt: number,
): Promise<boolean> {
  try {
    await send(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: key,
        UpdateExpression: 'SET decision = :decision, decidedAt = :decidedAt',
        ConditionExpression: 'requestHash = :hash AND attribute_not_exists(decision)',
        ExpressionAttributeValues: { ':decision': decision, ':decidedAt': decidedAt, ':hash': requestHash },
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** The record as it is now (strongly consistent; BatchGetItem, which the send function is granted). */
export async function readPresendDecision(db: Db, key: Key, now: number): Promise<PresendRecord | undefined> {
  return recordOf((await batchGet(db, [key])).get(keyString(key)), now);
}
