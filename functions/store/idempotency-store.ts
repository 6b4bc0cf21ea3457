import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, putIfAbsent, send } from './db.js';
import { keys } from './keys.js';

/**
 * Idempotency records for sends with a clientMsgId: the first attempt reserves the msgId; a retry finds
 * it (in the same round trip, through ReturnValuesOnConditionCheckFailure) and completes the fan-out
 * unless the record says it was completed. Records expire through DynamoDB TTL.
 */
export interface SendReservation {
  msgId: string;
  /** Hash of the request, so a different message under the same clientMsgId is a conflict. */
  requestHash: string;
  completed: boolean;
}

export async function reserveSend(
  db: Db,
  owner: string,
  clientMsgId: string,
  candidate: { msgId: string; requestHash: string; expiresAt: number },
): Promise<SendReservation> {
  const existing = await putIfAbsent(db, {
    ...keys.idempotency(owner, clientMsgId),
    ...candidate,
    completed: false,
  });
  if (!existing) return { msgId: candidate.msgId, requestHash: candidate.requestHash, completed: false };
  return {
    msgId: existing.msgId as string,
    requestHash: existing.requestHash as string,
    completed: existing.completed === true,
  };
}

export async function markSendCompleted(db: Db, owner: string, clientMsgId: string): Promise<void> {
  await send(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.idempotency(owner, clientMsgId),
      UpdateExpression: 'SET completed = :yes',
      ExpressionAttributeValues: { ':yes': true },
    }),
  );
}
