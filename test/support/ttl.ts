import { DeleteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DocumentSender } from '../../functions/store/db.js';

/**
 * DynamoDB TTL as AWS runs it, for the local engine (which never deletes expired items): an item whose
 * `expiresAt` (epoch seconds) has passed is deleted some time later, one item at a time, in no
 * particular order; until then reads still return it. A test picks which expired items go, and in
 * which order, to stage the moment it needs.
 */
export interface StoredItem {
  pk: string;
  sk: string;
  expiresAt?: number;
  [attribute: string]: unknown;
}

/** Every item expired at `now` (ms), optionally only those `which` picks. */
export async function expiredItems(
  client: DocumentSender,
  tableName: string,
  now: number,
  which: (item: StoredItem) => boolean = () => true,
): Promise<StoredItem[]> {
  const found: StoredItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'expiresAt <= :now',
        ExpressionAttributeValues: { ':now': Math.floor(now / 1000) },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    )) as { Items?: StoredItem[]; LastEvaluatedKey?: Record<string, unknown> };
    found.push(...(page.Items ?? []).filter(which));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return found;
}

/**
 * TTL deletes the expired items `which` picks, one by one, in the order `first` sorts them (items it
 * ranks lower go first). Returns the keys it deleted, in order.
 */
export async function deleteExpired(
  client: DocumentSender,
  tableName: string,
  now: number,
  options: { which?: (item: StoredItem) => boolean; first?: (a: StoredItem, b: StoredItem) => number } = {},
): Promise<string[]> {
  const items = await expiredItems(client, tableName, now, options.which);
  if (options.first) items.sort(options.first);
  const deleted: string[] = [];
  for (const item of items) {
    await client.send(new DeleteCommand({ TableName: tableName, Key: { pk: item.pk, sk: item.sk } }));
    deleted.push(`${item.pk}|${item.sk}`);
  }
  return deleted;
}
