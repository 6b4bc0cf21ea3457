import type { Key } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Per-user token buckets (`U#{owner} / LIMIT#{name}`): how many tokens a user has left and when they
 * were counted. A bucket is read with the operation's other items and written in its transaction,
 * conditioned on the version read, so concurrent requests of one user cannot both spend the same token.
 */
export interface BucketState {
  owner: string;
  name: string;
  exists: boolean;
  tokens: number;
  /** When `tokens` was counted, in bucket time (ms: the fastest clock seen, see rate-limits.ts). */
  at: number;
  version: number;
}

export function bucketKey(owner: string, name: string): Key {
  return { pk: keys.userPk(owner), sk: `LIMIT#${name}` };
}

export function bucketStateOf(
  owner: string,
  name: string,
  item: Record<string, unknown> | undefined,
): BucketState {
  return {
    owner,
    name,
    exists: item !== undefined,
    tokens: Number(item?.tokens ?? 0),
    at: Number(item?.at ?? 0),
    version: Number(item?.version ?? 0),
  };
}

/** Writes the bucket's new count, only if nobody spent from it since it was read. */
export function spendAction(
  tableName: string,
  state: BucketState,
  after: { tokens: number; at: number },
): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: bucketKey(state.owner, state.name),
      UpdateExpression: 'SET tokens = :tokens, #at = :at, version = :next',
      ConditionExpression: state.exists ? 'version = :seen' : 'attribute_not_exists(pk)',
      ExpressionAttributeNames: { '#at': 'at' },
      ExpressionAttributeValues: {
        ':tokens': after.tokens,
        ':at': after.at,
        ':next': state.version + 1,
        ...(state.exists ? { ':seen': state.version } : {}),
      },
    },
  };
}
