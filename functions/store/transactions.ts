import { TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { ThrottledError } from '../core/errors.js';
import { backoffDelay, type Db, send } from './db.js';

/** One action of a TransactWriteItems call (a ConditionCheck, Put, Update or Delete). */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

/** TransactWriteItems takes at most 100 actions. */
export const TRANSACT_LIMIT = 100;

/** Why DynamoDB cancelled a transaction, per action (in the order they were given). */
export interface CancellationReason {
  code: string;
  /** The item as it stood, for actions that asked for ALL_OLD on a failed condition. */
  item?: Record<string, unknown>;
}

export type TransactOutcome = { committed: true } | { committed: false; reasons: CancellationReason[] };

/** Codes that say "try the same transaction again later", not "your condition is false". */
const TRANSIENT_CODES = new Set([
  'TransactionConflict',
  'ThrottlingError',
  'ProvisionedThroughputExceeded',
  'RequestLimitExceeded',
]);

/**
 * Commits the actions all together or not at all. Conflicts with another transaction in flight and
 * throttling are retried here with backoff (the same actions, whose conditions still hold or fail on
 * their own); a false condition comes back as `committed: false` with the reason per action, for the
 * caller to re-read and decide again. The SDK gives each call a ClientRequestToken, so its own network
 * retries are idempotent.
 */
export async function transactWrite(db: Db, items: readonly TransactItem[]): Promise<TransactOutcome> {
  if (items.length === 0) return { committed: true };
  if (items.length > TRANSACT_LIMIT) throw new Error(`a transaction takes at most ${TRANSACT_LIMIT} actions`);
  for (let attempt = 0; ; attempt++) {
    try {
      await send(db, new TransactWriteCommand({ TransactItems: [...items] }));
      return { committed: true };
    } catch (error) {
      const reasons = cancellationReasons(error);
      const transient =
        (error as Error).name === 'TransactionInProgressException' ||
        reasons?.some((r) => TRANSIENT_CODES.has(r.code));
      if (reasons && !transient) return { committed: false, reasons };
      if (!transient) throw error;
      if (attempt + 1 >= db.retry.maxAttempts) {
        throw new ThrottledError('The store is busy; retry shortly', { cause: error });
      }
      db.retryCounter.retries++;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(db.retry, attempt)));
    }
  }
}

/** The reasons of a TransactionCanceledException (undefined for any other error). */
function cancellationReasons(error: unknown): CancellationReason[] | undefined {
  const cause = error instanceof Error && error.name === 'TransactionCanceledException' ? error : undefined;
  const raw = (cause as { CancellationReasons?: { Code?: string; Item?: Record<string, never> }[] })
    ?.CancellationReasons;
  if (!raw) return undefined;
  return raw.map((reason) => ({
    code: reason.Code ?? 'None',
    ...(reason.Item ? { item: unmarshall(reason.Item) } : {}),
  }));
}
