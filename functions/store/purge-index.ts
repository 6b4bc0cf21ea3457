import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ChatType } from '../core/model.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import { PURGE_INDEX } from './table.js';

/** A conversation filed in the purge index: what the sweep needs to purge it (see table.ts). */
export interface PurgeCandidate {
  owner: string;
  chatType: ChatType;
  convId: string;
  /** The owner's watermark msgId, if any. */
  clearedThrough?: string;
  purgeSk: string;
}

type Key = Record<string, unknown>;

export interface CandidatePage {
  items: PurgeCandidate[];
  /** Where the next page starts; undefined on the last page. */
  nextKey?: Key;
}

/**
 * One page of a shard's conversations due at or before `upTo` (a purge key bound), oldest due first,
 * from `from` (inclusive) on. Reads only the index's small projected items.
 */
export async function queryDueInShard(
  db: Db,
  shard: number,
  range: { from: string; upTo: string; limit: number; startKey?: Key; own?: boolean },
): Promise<CandidatePage> {
  if (range.from > range.upTo) return { items: [] };
  const page = await send<{ Items?: PurgeCandidate[]; LastEvaluatedKey?: Key }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      IndexName: PURGE_INDEX.indexName,
      KeyConditionExpression: 'purgeShard = :shard AND purgeSk BETWEEN :from AND :upTo',
      ExpressionAttributeValues: {
        // `own`: the shard's conversations with their own retention, keyed by when they expire.
        ':shard': range.own ? keys.ownPurgeShard(shard) : keys.purgeShard(shard),
        ':from': range.from,
        ':upTo': range.upTo,
      },
      Limit: range.limit,
      ExclusiveStartKey: range.startKey,
    }),
  );
  return { items: page.Items ?? [], nextKey: page.LastEvaluatedKey };
}

/**
 * One page of one user's conversations that are filed in the purge index, straight from the user's
 * partition: for users whose retention is shorter than the app default (the index range does not
 * reach their due conversations). Costs the size of the user's conversation items.
 */
export async function queryUserCandidates(db: Db, owner: string, startKey?: Key): Promise<CandidatePage> {
  const page = await send<{ Items?: PurgeCandidate[]; LastEvaluatedKey?: Key }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'attribute_exists(purgeSk)',
      ProjectionExpression: '#owner, chatType, convId, clearedThrough, purgeSk',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':pk': keys.userPk(owner), ':prefix': keys.conversationSkPrefix },
      ConsistentRead: true,
      ExclusiveStartKey: startKey,
    }),
  );
  return { items: page.Items ?? [], nextKey: page.LastEvaluatedKey };
}
