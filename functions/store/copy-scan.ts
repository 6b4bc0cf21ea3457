import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { lowestIdAt } from '../core/ids.js';
import type { ConversationRef, Message } from '../core/model.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import { type CopyHome, copyKey, isTombstone, messageOfCopy } from './message-store.js';

/**
 * Reading every copy of a conversation as it is stored, oldest first, tombstones included: what an export
 * walks (functions/domain/export-content.ts). A history page hides what its reader may not see; an
 * export with hidden copies must see them, and say why each is hidden.
 */

export interface StoredCopy {
  msgId: string;
  message: Message;
  /** A member's tombstone of a shared copy they deleted (member-view.ts). */
  tombstone: boolean;
}

export interface CopyScanPage {
  copies: StoredCopy[];
  /** The id of the last item read when more may follow, else undefined (the partition is read to its end). */
  lastReadId?: string;
}

function pkOf(home: CopyHome): string {
  return 'sharedGroupId' in home ? keys.sharedHistoryPk(home.sharedGroupId) : keys.historyPk(home);
}

/** One strongly consistent Query of copies above `afterId` (and at least `lowestId`), oldest first. */
export async function scanCopies(
  db: Db,
  home: CopyHome,
  range: { afterId?: string; lowestId?: string; limit: number },
): Promise<CopyScanPage> {
  const startKey =
    range.afterId !== undefined && (range.lowestId === undefined || range.afterId >= range.lowestId)
      ? copyKey(home, range.afterId)
      : undefined;
  const page = await send<{ Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
      ExpressionAttributeValues: {
        ':pk': pkOf(home),
        ':lo': keys.messageSk(range.lowestId ?? lowestIdAt(0)),
        ':hi': `${keys.messageSkPrefix}~`,
      },
      ScanIndexForward: true,
      ConsistentRead: true,
      Limit: range.limit,
      ExclusiveStartKey: startKey,
    }),
  );
  const copies = (page.Items ?? []).map((item) => ({
    msgId: keys.msgIdOfSk(item.sk as string),
    message: messageOfCopy(item),
    tombstone: isTombstone(item),
  }));
  const lastKey = page.LastEvaluatedKey?.sk;
  return { copies, ...(typeof lastKey === 'string' ? { lastReadId: keys.msgIdOfSk(lastKey) } : {}) };
}

/** The conversation items of `owner` after sort key `afterSk`, in key order (one Query of `limit`). */
export async function scanConversationRefs(
  db: Db,
  owner: string,
  range: { afterSk?: string; limit: number },
): Promise<{ refs: { ref: ConversationRef; sk: string }[]; more: boolean }> {
  const pk = keys.userPk(owner);
  const page = await send<{ Items?: { sk: string }[]; LastEvaluatedKey?: Record<string, unknown> }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': pk, ':prefix': keys.conversationSkPrefix },
      ProjectionExpression: 'sk',
      ConsistentRead: true,
      Limit: range.limit,
      ExclusiveStartKey: range.afterSk === undefined ? undefined : { pk, sk: range.afterSk },
    }),
  );
  const refs = (page.Items ?? []).map(({ sk }) => {
    const [, chatType, ...rest] = sk.split('#');
    return { sk, ref: { owner, chatType, convId: rest.join('#') } as ConversationRef };
  });
  return { refs, more: page.LastEvaluatedKey !== undefined };
}
