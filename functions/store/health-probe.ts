import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, send } from './db.js';
import { keys } from './keys.js';

/**
 * Asks the store one cheap question (an eventually consistent GetItem of a key that is never written:
 * 0.5 read units) and resolves when it answers. Throws the store's domain error (503 when unreachable)
 * otherwise. Read access is enough.
 */
export async function probeStore(db: Db): Promise<void> {
  await send(db, new GetCommand({ TableName: db.tableName, Key: keys.healthProbe }));
}
