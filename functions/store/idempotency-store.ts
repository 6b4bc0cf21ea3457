import { createHmac } from 'node:crypto';
import type { Key } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Idempotency records for sends with a clientMsgId, and for group creations with a clientRequestId. The record is written in the same transaction that
 * accepts the message (its position), so it exists exactly when the message does: a retry that finds it
 * returns that message (finishing a group fan-out first); a retry that does not places the message now.
 * Records expire through DynamoDB TTL.
 */
export interface SendRecord {
  msgId: string;
  /** The message's position in its conversation. */
  seq: number;
  timestamp: number;
  /** Hash of the request, so a different message under the same clientMsgId is a conflict. */
  requestHash: string;
}

export function idempotencyKey(owner: string, clientMsgId: string): Key {
  return keys.idempotency(owner, clientMsgId);
}

export function sendRecordOf(item: Record<string, unknown> | undefined): SendRecord | undefined {
  if (!item) return undefined;
  return {
    msgId: item.msgId as string,
    seq: Number(item.seq),
    timestamp: Number(item.timestamp),
    requestHash: item.requestHash as string,
  };
}

/** The record's Put, for the accepting transaction: fails it if another attempt was accepted first. */
export function putSendRecordAction(
  tableName: string,
  owner: string,
  clientMsgId: string,
  record: SendRecord & { expiresAt: number },
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { ...idempotencyKey(owner, clientMsgId), ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

/**
 * An HMAC of a request under the deployment's key: tells a retry from a different request under the same
 * client id, and says nothing else of the request to whoever reads the record.
 */
export function requestHash(request: unknown, key: string): string {
  return createHmac('sha256', key).update(JSON.stringify(request)).digest('base64url');
}

/** The group a creation with a clientRequestId made, written in its first transaction. */
export interface GroupCreationRecord {
  groupId: string;
  createdAt: number;
  requestHash: string;
}

export function groupCreationKey(owner: string, clientRequestId: string): Key {
  return keys.groupCreation(owner, clientRequestId);
}

export function groupCreationRecordOf(
  item: Record<string, unknown> | undefined,
): GroupCreationRecord | undefined {
  if (!item) return undefined;
  return {
    groupId: item.groupId as string,
    createdAt: Number(item.createdAt),
    requestHash: item.requestHash as string,
  };
}

/** The record's Put, for the creating transaction: fails it if another attempt created the group first. */
export function putGroupCreationRecordAction(
  tableName: string,
  owner: string,
  clientRequestId: string,
  record: GroupCreationRecord & { expiresAt: number },
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { ...groupCreationKey(owner, clientRequestId), ...record },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}
