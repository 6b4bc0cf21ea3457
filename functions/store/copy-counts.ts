import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ConversationRef } from '../core/model.js';
import { countAll, type Db, send } from './db.js';
import { keys } from './keys.js';

/**
 * Reads for the retention preview (domain/retention-preview.ts): how many of a conversation's copies a
 * cutoff takes, and the oldest it keeps. Eventually consistent (half the read units): a preview is advice
 * to an operator, read again by the sweep itself before any delete.
 */

/** Every copy key sorts below this ('~' after every id character). */
const ABOVE_EVERY_COPY = `${keys.messageSkPrefix}~`;

/** Copies at or before `through` (a msgId): Select COUNT, one request per 1 MB of them. */
export function countCopiesThrough(db: Db, ref: ConversationRef, through: string): Promise<number> {
  return countAll(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
    ExpressionAttributeValues: {
      ':pk': keys.historyPk(ref),
      ':lo': keys.messageSkPrefix,
      ':hi': keys.messageSk(through),
    },
  });
}

/** The id of the oldest copy after `after` (a msgId; undefined: the oldest of all), if there is one. */
export async function oldestCopyAfter(
  db: Db,
  ref: ConversationRef,
  after: string | undefined,
): Promise<string | undefined> {
  // `M#{id}~` sorts after that id's key and before every later one: the range starts past `after`.
  const low = after === undefined ? keys.messageSkPrefix : `${keys.messageSk(after)}~`;
  const page = await send<{ Items?: { sk: string }[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: { ':pk': keys.historyPk(ref), ':lo': low, ':hi': ABOVE_EVERY_COPY },
      ProjectionExpression: 'sk',
      Limit: 1,
    }),
  );
  const [first] = page.Items ?? [];
  return first && keys.msgIdOfSk(first.sk);
}
