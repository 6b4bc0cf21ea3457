import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { DocumentSender } from '../../functions/store/db.js';

/**
 * DynamoDB's TTL as AWS runs it, for DynamoDB Local (which never deletes expired items): items whose
 * `expiresAt` (epoch seconds) has passed are deleted one by one, some time after they expire; until
 * then they still appear in reads. `deleteExpired` plays the moment TTL has caught up with everything
 * expired by `nowMs` (or with those `which` picks), the worst case for anything that relied on them.
 */
export async function deleteExpired(
  client: DocumentSender,
  tableName: string,
  nowMs: number,
  which: (item: Record<string, unknown>) => boolean = () => true,
): Promise<Record<string, unknown>[]> {
  const expired: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: 'expiresAt <= :now',
        ExpressionAttributeValues: { ':now': Math.floor(nowMs / 1000) },
        ExclusiveStartKey: startKey,
      }),
    )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    expired.push(...(page.Items ?? []).filter(which));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  for (let i = 0; i < expired.length; i += 25) {
    const chunk = expired.slice(i, i + 25);
    await client.send(
      new BatchWriteCommand({
        RequestItems: {
          [tableName]: chunk.map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } })),
        },
      }),
    );
  }
  return expired;
}
