import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, putIfAbsent, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import { type TransactItem, transactWrite } from './transactions.js';

/**
 * Sweep runs (see functions/domain/sweep.ts for how a run uses them): the counts a run keeps, the run
 * records, and the pointer to the one active run. Shards are in sweep-shard-store.ts.
 */

/**
 * A sweep's counts are metrics, counted at least once: a crashed round's replay, or a second invocation
 * of the run, may count some again (functions/domain/sweep-shard.ts).
 */
export interface SweepCounts {
  /** Users with copies deleted. */
  users: number;
  /** Conversations that had copies deleted. */
  conversations: number;
  messagesDeleted: number;
  /** Deletes in units of 50 copies (⌈copies/50⌉ per conversation and round): the batch limit's unit. */
  batches: number;
  /** Store calls retried after throttling or UnprocessedItems. */
  retries: number;
}

export const COUNT_NAMES = ['users', 'conversations', 'messagesDeleted', 'batches', 'retries'] as const;

export const zeroCounts = (): SweepCounts => ({
  users: 0,
  conversations: 0,
  messagesDeleted: 0,
  batches: 0,
  retries: 0,
});

export function addCounts(into: SweepCounts, more: SweepCounts): SweepCounts {
  for (const name of COUNT_NAMES) into[name] += more[name];
  return into;
}

/** What every invocation of a run shares: its fixed `now` (so all use the same cutoffs) and shard count. */
export interface RunInfo {
  runId: string;
  now: number;
  shardCount: number;
  startedAt: number;
  trigger: string;
}

export interface RunRecord extends RunInfo {
  status: 'running' | 'finished';
  finishedAt?: number;
  updatedAt: number;
  /** Zero while the run goes on (its shards hold its counts), the shards' sum once it is finished. */
  counts: SweepCounts;
}

const RUN_ATTRIBUTES = ['runId', 'now', 'shardCount', 'startedAt', 'trigger'] as const;

function runInfoOf(item: Record<string, unknown>): RunInfo {
  return Object.fromEntries(RUN_ATTRIBUTES.map((name) => [name, item[name]])) as unknown as RunInfo;
}

export async function getActiveRun(db: Db): Promise<RunInfo | undefined> {
  const result = await send<{ Item?: Record<string, unknown> }>(
    db,
    new GetCommand({
      TableName: db.tableName,
      Key: { pk: keys.sweepRunsPk, sk: keys.sweepActiveSk },
      ConsistentRead: true,
    }),
  );
  return result.Item ? runInfoOf(result.Item) : undefined;
}

/**
 * Makes `run` the active run unless one already is (conditional put). Returns the active run: `run`
 * itself, or the one another invocation started first.
 */
export async function claimActiveRun(db: Db, run: RunInfo): Promise<RunInfo> {
  const existing = await putIfAbsent(db, { pk: keys.sweepRunsPk, sk: keys.sweepActiveSk, ...run });
  return existing ? runInfoOf(existing) : run;
}

/** Clears the active pointer if it still names this run. */
export async function clearActiveRun(db: Db, runId: string): Promise<boolean> {
  return sendConditional(
    db,
    new DeleteCommand({
      TableName: db.tableName,
      Key: { pk: keys.sweepRunsPk, sk: keys.sweepActiveSk },
      ConditionExpression: 'runId = :runId',
      ExpressionAttributeValues: { ':runId': runId },
    }),
  );
}

/** Creates the run's record once (a repeat by a joining invocation is a no-op). */
export async function putRunRecord(db: Db, run: RunInfo, expiresAt: number): Promise<void> {
  const record: RunRecord = { ...run, status: 'running', updatedAt: run.startedAt, counts: zeroCounts() };
  await sendConditional(
    db,
    new PutCommand({
      TableName: db.tableName,
      Item: { pk: keys.sweepRunsPk, sk: keys.sweepRunSk(run.runId), ...record, expiresAt },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );
}

export async function getRunRecord(db: Db, runId: string): Promise<RunRecord | undefined> {
  const result = await send<{ Item?: RunRecord }>(
    db,
    new GetCommand({
      TableName: db.tableName,
      Key: { pk: keys.sweepRunsPk, sk: keys.sweepRunSk(runId) },
      ConsistentRead: true,
    }),
  );
  return result.Item;
}

/** The newest runs first. */
export async function listRunRecords(db: Db, limit: number): Promise<RunRecord[]> {
  const result = await send<{ Items?: RunRecord[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.sweepRunsPk, ':prefix': keys.sweepRunSkPrefix },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return result.Items ?? [];
}

/** Marks the run finished with its final counts; false if it already was (someone else finished it). */
export async function finishRunRecord(
  db: Db,
  runId: string,
  counts: SweepCounts,
  finishedAt: number,
  /** The run's event (retention.swept): told exactly when the run is marked finished. */
  event: TransactItem,
): Promise<boolean> {
  const outcome = await transactWrite(db, [
    {
      Update: {
        TableName: db.tableName,
        Key: { pk: keys.sweepRunsPk, sk: keys.sweepRunSk(runId) },
        UpdateExpression: 'SET #status = :finished, finishedAt = :at, updatedAt = :at, counts = :counts',
        ConditionExpression: '#status = :running',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':finished': 'finished',
          ':running': 'running',
          ':at': finishedAt,
          ':counts': counts,
        },
      },
    },
    event,
  ]);
  return outcome.committed;
}
