import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ttlAfter } from '../core/clock.js';
import { type Db, isConditionFailure, send, sendConditional } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * An export job (`EXPORT / {exportId}`): what it exports, how far it got, and who works on it. Its
 * position (`cursor`, the parts written, the counts) only moves in a conditional update that also names
 * the part just written, so a crash at any point leaves the job at its last whole part: the next worker
 * writes the part after it (docs/compliance.md, "Export").
 */

export type ExportStatus = 'running' | 'done' | 'failed';

/** Where the walk of the user's conversations stands: everything before it is in the written parts. */
export interface ExportCursor {
  /** The sort key of the last conversation finished (its item's `C#{type}#{convId}`). */
  conversationsAfter?: string;
  /** The conversation in progress, if one is. */
  current?: {
    sk: string;
    /** Its conversation line is written. */
    opened: boolean;
    /** The last copy id read (written or skipped) in it. */
    afterMsgId?: string;
  };
  /** Every line is written: what is left is joining the parts. */
  complete?: boolean;
}

export interface ExportCounts {
  conversations: number;
  copies: number;
  bytes: number;
}

export interface ExportJob extends ExportCounts {
  exportId: string;
  userId: string;
  includeHidden: boolean;
  status: ExportStatus;
  /** The admin who started it. */
  startedBy: string;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  /** Copies at or before this time (ms) are expired for the user: fixed when the export starts. */
  retentionCutoff: number;
  cursor: ExportCursor;
  /** The names of the parts written, in order (each written whole, under a name no other attempt uses). */
  parts: string[];
  leaseOwner?: string;
  leaseUntil: number;
  /** Failed attempts since the last progress; the job fails at the limit. */
  failures: number;
  error?: string;
}

type ExportItem = ExportJob & { pk: string; sk: string };

const EXPORT_TTL_DAYS = 30;

function keyOf(exportId: string) {
  return { pk: keys.exportsPk, sk: exportId };
}

/** A new job's item, for the transaction that records who started it. */
export function putNewExportAction(tableName: string, job: ExportJob): TransactItem {
  const expiresAt = ttlAfter(job.startedAt, EXPORT_TTL_DAYS);
  return {
    Put: {
      TableName: tableName,
      Item: { ...keyOf(job.exportId), ...job, expiresAt },
      ConditionExpression: 'attribute_not_exists(pk)',
    },
  };
}

function jobOf(item: ExportItem | undefined): ExportJob | undefined {
  if (!item) return undefined;
  const { pk: _pk, sk: _sk, expiresAt: _expiresAt, ...job } = item as ExportItem & { expiresAt?: number };
  return job;
}

/** The job as stored now (strongly consistent), if it exists. */
export async function getExportJob(db: Db, exportId: string): Promise<ExportJob | undefined> {
  const { Item } = await send<{ Item?: ExportItem }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: keyOf(exportId), ConsistentRead: true }),
  );
  return jobOf(Item);
}

/**
 * Takes the job's lease for `owner` if it is running and nobody else holds a live one (a retry of the
 * same invocation takes its own lease back at once). The job as claimed, or undefined.
 */
export async function claimExport(
  db: Db,
  exportId: string,
  lease: { owner: string; now: number; leaseUntil: number },
): Promise<ExportJob | undefined> {
  try {
    const result = await send<{ Attributes?: ExportItem }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: keyOf(exportId),
        UpdateExpression: 'SET leaseOwner = :owner, leaseUntil = :until, updatedAt = :now',
        ConditionExpression:
          '#status = :running AND (leaseUntil < :now OR leaseOwner = :owner OR attribute_not_exists(leaseOwner))',
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
    return jobOf(result.Attributes);
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * Records part `part` (the next one: the job has `partsBefore` parts) and the position after it, adds
 * its counts and renews the lease: only while `owner` holds the lease and nobody recorded a part since.
 * False when either changed (another worker took over: this part is never read).
 */
export async function recordPart(
  db: Db,
  exportId: string,
  step: {
    owner: string;
    partsBefore: number;
    part: string;
    cursor: ExportCursor;
    counts: ExportCounts;
    now: number;
    leaseUntil: number;
  },
): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keyOf(exportId),
      UpdateExpression:
        'SET parts = list_append(parts, :part), #cursor = :cursor, leaseUntil = :until, updatedAt = :now, ' +
        'failures = :zero ADD conversations :conversations, copies :copies, #bytes :bytes',
      ConditionExpression: 'leaseOwner = :owner AND #status = :running AND size(parts) = :before',
      ExpressionAttributeNames: { '#status': 'status', '#cursor': 'cursor', '#bytes': 'bytes' },
      ExpressionAttributeValues: {
        ':part': [step.part],
        ':cursor': step.cursor,
        ':until': step.leaseUntil,
        ':now': step.now,
        ':zero': 0,
        ':conversations': step.counts.conversations,
        ':copies': step.counts.copies,
        ':bytes': step.counts.bytes,
        ':owner': step.owner,
        ':running': 'running',
        ':before': step.partsBefore,
      },
    }),
  );
}

/** The parts are joined: the job is done (only by the lease holder, only once). */
export async function markExportDone(
  db: Db,
  exportId: string,
  done: { owner: string; now: number },
): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keyOf(exportId),
      UpdateExpression: 'SET #status = :done, finishedAt = :now, updatedAt = :now, leaseUntil = :zero',
      ConditionExpression: 'leaseOwner = :owner AND #status = :running',
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: {
        ':done': 'done',
        ':now': done.now,
        ':zero': 0,
        ':owner': done.owner,
        ':running': 'running',
      },
    }),
  );
}

/** Gives the lease up (the next invocation may claim at once). False if `owner` no longer held it. */
export async function releaseExport(db: Db, exportId: string, owner: string, now: number): Promise<boolean> {
  return sendConditional(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keyOf(exportId),
      UpdateExpression: 'SET leaseUntil = :zero, updatedAt = :now',
      ConditionExpression: 'leaseOwner = :owner',
      ExpressionAttributeValues: { ':zero': 0, ':now': now, ':owner': owner },
    }),
  );
}

/**
 * An attempt failed: counted, the lease released (a retry claims at once); at `maxFailures` attempts in
 * a row without a part written, the job is `failed` with the last error. Returns the status after.
 */
export async function recordExportFailure(
  db: Db,
  exportId: string,
  failure: { owner: string; now: number; error: string; maxFailures: number },
): Promise<ExportStatus | undefined> {
  try {
    const result = await send<{ Attributes?: ExportItem }>(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: keyOf(exportId),
        UpdateExpression:
          'SET failures = failures + :one, #error = :error, leaseUntil = :zero, updatedAt = :now',
        ConditionExpression: 'leaseOwner = :owner AND #status = :running',
        ExpressionAttributeNames: { '#status': 'status', '#error': 'error' },
        ExpressionAttributeValues: {
          ':one': 1,
          ':error': failure.error.slice(0, 500),
          ':zero': 0,
          ':now': failure.now,
          ':owner': failure.owner,
          ':running': 'running',
        },
        ReturnValues: 'ALL_NEW',
      }),
    );
    const failures = Number(result.Attributes?.failures ?? 0);
    if (failures < failure.maxFailures) return 'running';
    const failed = await sendConditional(
      db,
      new UpdateCommand({
        TableName: db.tableName,
        Key: keyOf(exportId),
        UpdateExpression: 'SET #status = :failed, finishedAt = :now',
        ConditionExpression: '#status = :running AND failures >= :max',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':failed': 'failed',
          ':now': failure.now,
          ':running': 'running',
          ':max': failure.maxFailures,
        },
      }),
    );
    return failed ? 'failed' : 'running';
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}
