import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { RoamingClient } from '../../client/roaming-client.js';
import type { Harness } from './harness.js';

/** Every item of one partition, read straight from the table (strongly consistent). */
export async function partitionItems(h: Harness, pk: string): Promise<Record<string, unknown>[]> {
  const { Items = [] } = (await h.documentClient.send(
    new QueryCommand({
      TableName: h.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': pk },
      ConsistentRead: true,
    }),
  )) as { Items?: Record<string, unknown>[] };
  return Items;
}

/** What a member sees of a group: its list entry and its whole history (bodies, oldest first). */
export async function viewOf(client: RoamingClient, groupId: string) {
  const list = await client.fetchConversationsFromServer({ limit: 50 });
  const entry = list.conversations.find((c) => c.convId === groupId);
  const history = await client.fetchHistoryMessages(groupId, 'group', 50, undefined, { direction: 'down' });
  return {
    listed: entry !== undefined,
    unread: entry?.unreadCount,
    latest: entry?.lastMessage.body,
    history: history.messages.map((m) => m.body?.text),
  };
}
