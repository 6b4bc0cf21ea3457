import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, isConditionFailure, queryAll, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import { COUNT_NAMES, type SweepCounts } from './sweep-store.js';

/** A sweep run's shards: each one's lease, position and counts (see functions/domain/sweep-shard.ts). */

/** `users` (and `shard`) are DynamoDB reserved words: expressions name the counts through these. */
const countNames = Object.fromEntries(COUNT_NAMES.map((name) => [`#${name}`, name]));

/** Progress of one shard. A shard item exists once some invocation claimed the shard. */
export interface ShardItem extends SweepCounts {
  shard: number;
  leaseOwner?: string;
  /** Epoch ms; 0 when released. Free to claim when below the claimer's now (and not done). */
  leaseUntil: number;
  done: boolean;
  /** The purge-index pass is complete; what is left is the per-user pass (users with shorter retention). */
  indexDone?: boolean;
  /**
   * The purge key the index pass resumes at: every candidate before it is finished. Stored as its due
   * time only (keys.purgeSkTimePrefix: the pass meets that time's candidates again), since a whole key
   * names an owner and a conversation, and a sweep record must not name a user an erasure removed.
   */
  indexCursor?: string;
  /**
   * The pass over conversations with their own retention (`P#{n}#C`, after the index pass) is complete;
   * until then `ownCursor` is the purge key it resumes at (stored as its due time, as indexCursor).
   */
  ownDone?: boolean;
  ownCursor?: string;
  /**
   * Where the per-user pass resumes: the order key (sweep-shard.ts, ownerOrderKey: a digest, not the
   * id, for the same reason) of the user it resumes at; every user before it in that order is finished.
   */
  userKeyCursor?: string;
  /** Checkpoints written so far (a claim of a shard with some resumes it). */
  checkpoints: number;
  updatedAt?: number;
}

/** Every shard item of a run (one Query: at most `shardCount` small items). */
export async function listShards(db: Db, runId: string): Promise<ShardItem[]> {
  return queryAll<ShardItem>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: { ':pk': keys.sweepShardPk(runId), ':prefix': keys.sweepShardSkPrefix },
    ConsistentRead: true,
  });
}

export interface LeaseRequest {
  owner: string;
  now: number;
  leaseUntil: number;
  expiresAt: number;
}

/**
 * Takes the shard's lease if nobody holds a live one and it is not done (conditional update; creates
 * the shard item on first claim). Returns the shard as claimed, or undefined if someone else has it.
 */
export async function claimShard(
  db: Db,
  runId: string,
  shard: number,
  lease: LeaseRequest,
): Promise<ShardItem | undefined> {
  try {
    const result = await send<{ Attributes?: ShardItem }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: { pk: keys.sweepShardPk(runId), sk: keys.sweepShardSk(shard) },
        UpdateExpression: [
          'SET #shard = :shard, leaseOwner = :owner, leaseUntil = :until, updatedAt = :now',
          'done = if_not_exists(done, :false), checkpoints = if_not_exists(checkpoints, :zero)',
          `${COUNT_NAMES.map((name) => `#${name} = if_not_exists(#${name}, :zero)`).join(', ')}`,
          'expiresAt = if_not_exists(expiresAt, :expiresAt)',
        ].join(', '),
        ConditionExpression: 'attribute_not_exists(pk) OR (done = :false AND leaseUntil < :now)',
        // `shard` and `users` are DynamoDB reserved words.
        ExpressionAttributeNames: { '#shard': 'shard', ...countNames },
        ExpressionAttributeValues: {
          ':shard': shard,
          ':owner': lease.owner,
          ':until': lease.leaseUntil,
          ':now': lease.now,
          ':false': false,
          ':zero': 0,
          ':expiresAt': lease.expiresAt,
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    return result.Attributes;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

export interface ShardCheckpoint {
  /** Work done since the previous checkpoint: added to the shard's counts. */
  counts: SweepCounts;
  now: number;
  /** 0 releases the lease. */
  leaseUntil: number;
  indexCursor?: string;
  userKeyCursor?: string;
  indexDone?: boolean;
  ownCursor?: string;
  ownDone?: boolean;
  done?: boolean;
}

/**
 * Saves progress and renews (or releases) the lease in one conditional update: it applies only while
 * `owner` holds the lease and the shard is not done. False when the lease was lost.
 */
export async function checkpointShard(
  db: Db,
  runId: string,
  shard: number,
  owner: string,
  checkpoint: ShardCheckpoint,
): Promise<boolean> {
  const sets = ['leaseUntil = :until', 'updatedAt = :now'];
  const values: Record<string, unknown> = {
    ':until': checkpoint.leaseUntil,
    ':now': checkpoint.now,
    ':owner': owner,
    ':false': false,
    ':one': 1,
  };
  const optional = {
    indexCursor: checkpoint.indexCursor,
    userKeyCursor: checkpoint.userKeyCursor,
    indexDone: checkpoint.indexDone,
    ownCursor: checkpoint.ownCursor,
    ownDone: checkpoint.ownDone,
    done: checkpoint.done,
  };
  for (const [name, value] of Object.entries(optional)) {
    if (value === undefined) continue;
    sets.push(`${name} = :${name}`);
    values[`:${name}`] = value;
  }
  for (const name of COUNT_NAMES) values[`:${name}`] = checkpoint.counts[name];
  const adds = ['checkpoints :one', ...COUNT_NAMES.map((name) => `#${name} :${name}`)];
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: { pk: keys.sweepShardPk(runId), sk: keys.sweepShardSk(shard) },
      UpdateExpression: `SET ${sets.join(', ')} ADD ${adds.join(', ')}`,
      ConditionExpression: 'leaseOwner = :owner AND done = :false',
      ExpressionAttributeNames: countNames,
      ExpressionAttributeValues: values,
    }),
  );
}
