import { createHmac } from 'node:crypto';
import { isExpired } from '../core/clock.js';
import type { Key } from './db.js';
import type { TransactItem } from './transactions.js';

/**
 * Idempotency records: a send with a clientMsgId, a group creation with a clientRequestId. A record is
 * written in the same transaction that does what it records (accepts the message at its position,
 * creates the group), so it exists exactly when that happened: a retry that finds it answers as the
 * first attempt did (finishing what that attempt left to later steps); a retry that does not, does it
 * now. The record keeps an HMAC of the request, so the same client id for a different request is a
 * conflict. Records expire through DynamoDB TTL, which deletes lazily: a record past its `expiresAt` is
 * read as absent (whatever the reader's clock, an hour either way), and a new attempt replaces it, so
 * no answer is ever given from a record that may vanish at any moment.
 */

/** A request a client made safe to retry: where its record lives, and its hash. */
export interface RetryableRequest {
  key: Key;
  hash: string;
}

/**
 * `request` (the fields a retry repeats) hashed with an HMAC under the deployment's key: it tells a retry
 * from a different request under the same client id, and says nothing else of the request to whoever
 * reads the record.
 */
export function retryableRequest(key: Key, request: unknown, secret: string | undefined): RetryableRequest {
  if (secret === undefined) throw new MissingIdempotencyKeyError();
  return { key, hash: createHmac('sha256', secret).update(JSON.stringify(request)).digest('base64url') };
}

/**
 * A function that keeps idempotency records was deployed without the key (ROAMING_IDEMPOTENCY_KEY): it
 * must not hash with any other. The route table's `keepsRetryRecords` gives the key and makes the
 * function refuse to start without it, so this is a deployment bug, answered 500.
 */
export class MissingIdempotencyKeyError extends Error {
  override readonly name = 'MissingIdempotencyKeyError';
  constructor() {
    super('This function was given no idempotency key (ROAMING_IDEMPOTENCY_KEY) and keeps no retry records');
  }
}

/** The condition of every record's Put: a record is written once per attempt that does what it records. */
export const RETRY_RECORD_CONDITION = 'attribute_not_exists(pk) OR expiresAt <= :now';

/**
 * A record's Put, for the transaction that does what it records: fails it if another attempt did first
 * (a record there and not expired at `now`, as the attempt read it).
 */
export function putRecordAction(
  tableName: string,
  request: RetryableRequest,
  record: Record<string, unknown> & { expiresAt: number },
  now: number,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { ...request.key, ...record, requestHash: request.hash },
      ConditionExpression: RETRY_RECORD_CONDITION,
      ExpressionAttributeValues: { ':now': Math.floor(now / 1000) },
    },
  };
}

/** The record as read, or undefined when there is none or it has expired at `now`. */
function liveRecord(
  item: Record<string, unknown> | undefined,
  now: number,
): Record<string, unknown> | undefined {
  return item && !isExpired(item.expiresAt, now) ? item : undefined;
}

/** What a send's record keeps. */
export interface SendRecord {
  msgId: string;
  /** The message's position in its conversation. */
  seq: number;
  timestamp: number;
  requestHash: string;
}

export function sendRecordOf(
  found: Record<string, unknown> | undefined,
  now: number,
): SendRecord | undefined {
  const item = liveRecord(found, now);
  if (!item) return undefined;
  return {
    msgId: item.msgId as string,
    seq: Number(item.seq),
    timestamp: Number(item.timestamp),
    requestHash: item.requestHash as string,
  };
}

/** What a group creation's record keeps: the group it made, and how many members have joined. */
export interface GroupCreationRecord {
  groupId: string;
  createdAt: number;
  /** The request's members (owner first) before this index have joined; a retry joins the rest. */
  joinedThrough: number;
  requestHash: string;
}

export function groupCreationRecordOf(
  found: Record<string, unknown> | undefined,
  now: number,
): GroupCreationRecord | undefined {
  const item = liveRecord(found, now);
  if (!item) return undefined;
  return {
    groupId: item.groupId as string,
    createdAt: Number(item.createdAt),
    joinedThrough: Number(item.joinedThrough),
    requestHash: item.requestHash as string,
  };
}

/**
 * Moves a creation's joinedThrough on to `to`, in the transaction that joins those members (forward
 * only: a retry that joined them first makes this one fail and read again).
 */
export function groupCreationProgressAction(
  tableName: string,
  request: RetryableRequest,
  to: number,
): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: request.key,
      UpdateExpression: 'SET joinedThrough = :to',
      ConditionExpression: 'joinedThrough < :to',
      ExpressionAttributeValues: { ':to': to },
    },
  };
}
