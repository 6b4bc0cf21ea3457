import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type Db, isConditionFailure, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * Erasure jobs (`ERASURE / {erasureId}`, functions/domain/erasure.ts): one item per job, its progress
 * checkpointed after every page of the table scan, so a crash or a timeout resumes where it stopped.
 * The user id is on the item only while the job runs (and on a job a hold stopped, to say whose data is
 * half erased): finishing removes it with the scan cursors, which may name it too.
 */

export type ErasureStatus = 'running' | 'done' | 'held';

/** Counts are at least once: a page replayed after a crash counts again what it had done. */
export interface ErasureCounts {
  itemsScanned: number;
  /** The user's own items, and their peers' single chats with them (conversation, copies, markers). */
  itemsDeleted: number;
  /** Messages the user sent, made tombstones in others' copies, logs and shared histories. */
  messagesErased: number;
  /** Other users' conversation previews (and mark entries) whose latest message was theirs. */
  previewsErased: number;
  groupsLeft: number;
  /** Groups the user owned that got a new owner (or none, when no member was left). */
  groupsHandedOver: number;
  /** Other users told to fetch their list afresh (a resync marker). */
  peersResynced: number;
  /** Items left as they were because a hold covers their owner (or that conversation of theirs). */
  skippedHeld: number;
}

export const ERASURE_COUNT_NAMES = [
  'itemsScanned',
  'itemsDeleted',
  'messagesErased',
  'previewsErased',
  'groupsLeft',
  'groupsHandedOver',
  'peersResynced',
  'skippedHeld',
] as const satisfies readonly (keyof ErasureCounts)[];

export const zeroErasureCounts = (): ErasureCounts =>
  Object.fromEntries(ERASURE_COUNT_NAMES.map((name) => [name, 0])) as unknown as ErasureCounts;

export function addErasureCounts(into: ErasureCounts, more: Partial<ErasureCounts>): ErasureCounts {
  for (const name of ERASURE_COUNT_NAMES) into[name] += more[name] ?? 0;
  return into;
}

/** One segment of the parallel Scan: where it resumes, and the peers still owed a resync marker. */
export interface SegmentState {
  done: boolean;
  /** The Scan's LastEvaluatedKey after the last finished page. */
  lastKey?: Record<string, unknown>;
  /** Owners whose items this segment's page in flight changes: their markers are written after it. */
  pendingOwners?: string[];
  counts: ErasureCounts;
}

export interface ErasureJob {
  erasureId: string;
  /** Absent once the job is done. */
  userId?: string;
  status: ErasureStatus;
  /** `groups`: leaving the user's groups; `scan`: the table scan; `close`: the closing walk. */
  phase: 'groups' | 'scan' | 'close';
  segmentCount: number;
  /** By segment number (absent once done). */
  segments?: Record<string, SegmentState>;
  /** The closing walk's state (erasure-walk.ts), once the scan is over (absent once done). */
  closing?: SegmentState;
  /** Groups left in the first phase (kept apart: segments count the rest). */
  groupCounts: ErasureCounts;
  /** The sum of everything, once the job is over. */
  counts?: ErasureCounts;
  /** The admin who started it. */
  startedBy: string;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  leaseOwner?: string;
  leaseUntil: number;
}

type Item = ErasureJob & { pk: string; sk: string };

/** The new job's item, for the transaction that also appends its audit record. */
export function putErasureAction(tableName: string, job: ErasureJob): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: { ...keys.erasure(job.erasureId), ...job },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

export async function getErasure(db: Db, erasureId: string): Promise<ErasureJob | undefined> {
  const result = await send<{ Item?: Item }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: keys.erasure(erasureId), ConsistentRead: true }),
  );
  if (!result.Item) return undefined;
  const { pk: _pk, sk: _sk, ...job } = result.Item;
  return job;
}

/**
 * Takes the job's lease if it runs and nobody holds a live one; the job as claimed, or undefined (done,
 * held, or another worker has it).
 */
export async function claimErasure(
  db: Db,
  erasureId: string,
  lease: { owner: string; now: number; leaseUntil: number },
): Promise<ErasureJob | undefined> {
  try {
    const result = await send<{ Attributes?: Item }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: keys.erasure(erasureId),
        UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until, updatedAt = :now',
        ConditionExpression: '#status = :running AND (leaseUntil < :now OR leaseOwner = :owner)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':owner': lease.owner,
          ':until': lease.leaseUntil,
          ':now': lease.now,
          ':running': 'running',
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    if (!result.Attributes) return undefined;
    const { pk: _pk, sk: _sk, ...job } = result.Attributes;
    return job;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/** What a checkpoint writes: only under the lease, and only while the job runs. */
interface Checkpoint {
  owner: string;
  now: number;
  leaseUntil: number;
}

function leased(checkpoint: Checkpoint) {
  return {
    ConditionExpression: '#status = :running AND leaseOwner = :owner',
    names: { '#status': 'status' },
    values: {
      ':running': 'running',
      ':owner': checkpoint.owner,
      ':now': checkpoint.now,
      ':until': checkpoint.leaseUntil,
    },
  };
}

/** Saves one segment's state (and renews the lease); false if the lease or the job is gone. */
export async function saveSegment(
  db: Db,
  erasureId: string,
  segment: number,
  state: SegmentState,
  checkpoint: Checkpoint,
): Promise<boolean> {
  const { ConditionExpression, names, values } = leased(checkpoint);
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression: 'SET #segments.#segment = :state, updatedAt = :now, leaseUntil = :until',
      ConditionExpression,
      ExpressionAttributeNames: { ...names, '#segments': 'segments', '#segment': String(segment) },
      ExpressionAttributeValues: { ...values, ':state': state },
    }),
  );
}

/** Saves the closing walk's state (and renews the lease); false if the lease or the job is gone. */
export async function saveClosing(
  db: Db,
  erasureId: string,
  state: SegmentState,
  checkpoint: Checkpoint,
): Promise<boolean> {
  const { ConditionExpression, names, values } = leased(checkpoint);
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression: 'SET closing = :state, updatedAt = :now, leaseUntil = :until',
      ConditionExpression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ...values, ':state': state },
    }),
  );
}

/** Every segment of the scan is done: the closing walk begins. */
export async function finishScanPhase(db: Db, erasureId: string, checkpoint: Checkpoint): Promise<boolean> {
  const { ConditionExpression, names, values } = leased(checkpoint);
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression: 'SET phase = :close, updatedAt = :now, leaseUntil = :until',
      ConditionExpression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ...values, ':close': 'close' },
    }),
  );
}

/** The groups phase is over: its counts are kept and the scan begins. */
export async function finishGroupsPhase(
  db: Db,
  erasureId: string,
  groupCounts: ErasureCounts,
  checkpoint: Checkpoint,
): Promise<boolean> {
  const { ConditionExpression, names, values } = leased(checkpoint);
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression: 'SET phase = :scan, groupCounts = :counts, updatedAt = :now, leaseUntil = :until',
      ConditionExpression,
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: { ...values, ':scan': 'scan', ':counts': groupCounts },
    }),
  );
}

/**
 * Ends the job: `done` removes the user id, the cursors and the walk's state (which may name it: a Scan
 * position is an item's key; the peers owed a marker are not the user, but are no one's business) and keeps only the
 * counts; `held` keeps them, to say whose erasure stopped where. False if it was already over.
 */
export async function finishErasure(
  db: Db,
  erasureId: string,
  outcome: { status: 'done' | 'held'; counts: ErasureCounts; at: number },
): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression:
        outcome.status === 'done'
          ? 'SET #status = :status, counts = :counts, finishedAt = :at, updatedAt = :at, leaseUntil = :zero ' +
            'REMOVE userId, #segments, closing, leaseOwner'
          : 'SET #status = :status, counts = :counts, finishedAt = :at, updatedAt = :at, leaseUntil = :zero',
      ConditionExpression: '#status = :running',
      ExpressionAttributeNames: {
        '#status': 'status',
        ...(outcome.status === 'done' ? { '#segments': 'segments' } : {}),
      },
      ExpressionAttributeValues: {
        ':status': outcome.status,
        ':counts': outcome.counts,
        ':at': outcome.at,
        ':zero': 0,
        ':running': 'running',
      },
    }),
  );
}

/** Lets the lease go at a clean stop, so the next invocation claims it at once. */
export async function releaseErasure(db: Db, erasureId: string, owner: string): Promise<void> {
  await sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.erasure(erasureId),
      UpdateExpression: 'SET leaseUntil = :zero',
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':zero': 0, ':owner': owner },
    }),
  );
}
