import { NotFoundError } from '../core/errors.js';
import type { ChainHead } from '../store/audit-chain.js';
import { appendAuditAction, type ChainedAuditRecord, readAuditHead } from '../store/audit-store.js';
import {
  claimExport,
  type ExportJob,
  type ExportStatus,
  getExportJob,
  markExportDone,
  putNewExportAction,
  recordExportFailure,
  recordPart,
  releaseExport,
} from '../store/export-store.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { type ExportStep, exportReader } from './export-content.js';
import type { ExportSink } from './export-sink.js';

/**
 * An export is a resumable job, like the sweep: its position lives in its item (export-store.ts). A
 * worker claims the job's lease, then repeats a step (read the lines after the position, write them as
 * the next part, record the part with the position after it, in one conditional update) until every
 * line is written; then it joins the parts and marks the job done. A crash anywhere leaves the job at
 * its last recorded part: the next worker rereads from there and writes that part again under a new
 * name, so the file has every line once. Design and costs: docs/compliance.md, "Export".
 */

/** A worker's lease: renewed with every part. A retry of the same invocation takes it back at once. */
export const EXPORT_LEASE_MS = 120_000;
/** Attempts in a row without a part written before the job is `failed`: Lambda's three tries. */
export const EXPORT_MAX_FAILURES = 3;

export interface ExportRequest {
  userId: string;
  includeHidden: boolean;
}

/**
 * Starts an export of `userId`'s data: the job item and its audit record (who started which export) in
 * one transaction. The retention cutoff is fixed now: the export shows what the user saw at its start.
 */
export async function startExport(
  deps: Deps,
  actor: string,
  request: ExportRequest,
): Promise<{ job: ExportJob; audit: ChainedAuditRecord }> {
  const exportId = deps.ids.next();
  // The first attempt's audit head is read with the policy (two reads at once); a retry reads it again.
  const [retentionCutoff, firstHead] = await Promise.all([
    deps.retention.currentCutoff(request.userId),
    readAuditHead(deps.db),
  ]);
  let head: ChainHead | undefined = firstHead;
  return withRetries(deps, 'export start', async function attemptStart() {
    const chainHead = head ?? (await readAuditHead(deps.db));
    head = undefined;
    const now = deps.clock.now();
    const job: ExportJob = {
      exportId,
      userId: request.userId,
      includeHidden: request.includeHidden,
      status: 'running',
      startedBy: actor,
      startedAt: now,
      updatedAt: now,
      retentionCutoff,
      cursor: {},
      parts: [],
      leaseUntil: 0,
      failures: 0,
      conversations: 0,
      copies: 0,
      bytes: 0,
    };
    const appended = appendAuditAction(deps.db, chainHead, {
      auditId: deps.ids.next(),
      actor,
      action: 'export.start',
      target: `user:${request.userId}`,
      before: null,
      after: { exportId, includeHidden: request.includeHidden },
      at: now,
    });
    const actions = [putNewExportAction(deps.db.tableName, job), appended.action];
    // Another admin's record took the number after the head as read: chain after theirs.
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : { job, audit: appended.chained };
  });
}

export interface ExportRunOptions {
  /** Names this invocation's lease: a retry of the same invocation passes the same id. */
  invocationId: string;
  /** Time left before the invocation is killed. @default unlimited */
  remainingMs?: () => number;
  /** Stop once less than this is left. @default 30000 */
  stopBeforeMs?: number;
  /** Stop after this many parts (tests; a stand-in for the time budget). @default unlimited */
  maxParts?: number;
}

/**
 * 'done': the file is complete; 'stopped': out of time (or parts), the caller starts the next worker;
 * 'busy': another worker holds the lease; 'over': the job is done or failed already; 'lost': another
 * worker took the job over mid-way.
 */
export type ExportRunOutcome = 'done' | 'stopped' | 'busy' | 'over' | 'lost';

/** Works on the export until it is done or the budget ends. A failed attempt is counted, then rethrown. */
export async function runExport(
  deps: Deps,
  sink: ExportSink,
  exportId: string,
  options: ExportRunOptions,
): Promise<ExportRunOutcome> {
  const owner = options.invocationId;
  const leaseUntil = () => deps.clock.now() + EXPORT_LEASE_MS;
  const claimed = await claimExport(deps.db, exportId, {
    owner,
    now: deps.clock.now(),
    leaseUntil: leaseUntil(),
  });
  if (!claimed) {
    const job = await getExportJob(deps.db, exportId);
    if (!job) throw new NotFoundError(`No export ${exportId}`);
    return job.status === 'running' ? 'busy' : 'over';
  }
  try {
    return await workOn(deps, sink, claimed, options);
  } catch (error) {
    await recordExportFailure(deps.db, exportId, {
      owner,
      now: deps.clock.now(),
      error: error instanceof Error ? error.message : String(error),
      maxFailures: EXPORT_MAX_FAILURES,
    }).catch(() => undefined); // the store may be what failed: the lease lapses, the retry takes it back
    throw error;
  }
}

async function workOn(
  deps: Deps,
  sink: ExportSink,
  claimed: ExportJob,
  options: ExportRunOptions,
): Promise<ExportRunOutcome> {
  const owner = options.invocationId;
  const remaining = options.remainingMs ?? (() => Number.POSITIVE_INFINITY);
  const stopBefore = options.stopBeforeMs ?? 30_000;
  let job = claimed;
  let parts = 0;
  const reader = exportReader(deps, claimed);
  /** The next step, read while the current one's part is written and recorded. */
  let ahead: Promise<ExportStep> | undefined;
  while (!job.cursor.complete) {
    if (remaining() < stopBefore || parts >= (options.maxParts ?? Number.POSITIVE_INFINITY)) {
      await releaseExport(deps.db, job.exportId, owner, deps.clock.now());
      return 'stopped';
    }
    const step = await (ahead ?? reader.step(job, sink.partBytes));
    ahead = undefined;
    const partsBefore = job.parts.length;
    // A name of this attempt's own (a fresh id: 26 characters, so the item holds 10,000 of them): a
    // worker that lost the job may still write its part, never over this one.
    const part = deps.ids.next();
    const next: ExportJob = {
      ...job,
      cursor: step.cursor,
      parts: [...job.parts, part],
      conversations: job.conversations + step.counts.conversations,
      copies: job.copies + step.counts.copies,
      bytes: job.bytes + step.counts.bytes,
    };
    // Reads only, so reading on before this part is recorded is safe: if it never is (a crash, a lost
    // lease), the read is dropped and the next worker reads from the recorded position.
    if (!step.cursor.complete) {
      ahead = reader.step(next, sink.partBytes);
      ahead.catch(() => undefined); // dropped unread, its failure is nobody's; awaited, it rethrows
    }
    await sink.writePart(job.exportId, part, step.text);
    const now = deps.clock.now();
    const recorded = await recordPart(deps.db, job.exportId, {
      owner,
      partsBefore,
      part,
      cursor: step.cursor,
      counts: step.counts,
      now,
      leaseUntil: now + EXPORT_LEASE_MS,
    });
    if (!recorded) return 'lost';
    job = next;
    parts++;
  }
  await sink.join(job.exportId, job.parts);
  return (await markExportDone(deps.db, job.exportId, { owner, now: deps.clock.now() })) ? 'done' : 'lost';
}

/** An export as GET /v1/admin/exports/{exportId} shows it: `location` once done. */
export interface ExportView {
  exportId: string;
  userId: string;
  includeHidden: boolean;
  status: ExportStatus;
  conversations: number;
  copies: number;
  bytes: number;
  parts: number;
  startedBy: string;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  location?: string;
  /** When `location` stops working (a presigned URL), if it does. */
  locationExpiresAt?: number;
  /** Why the last attempt failed (a job still running retries). */
  error?: string;
}

export async function exportView(deps: Deps, sink: ExportSink, exportId: string): Promise<ExportView> {
  const job = await getExportJob(deps.db, exportId);
  if (!job) throw new NotFoundError(`No export ${exportId}`);
  const view: ExportView = {
    exportId: job.exportId,
    userId: job.userId,
    includeHidden: job.includeHidden,
    status: job.status,
    conversations: job.conversations,
    copies: job.copies,
    bytes: job.bytes,
    parts: job.parts.length,
    startedBy: job.startedBy,
    startedAt: job.startedAt,
    updatedAt: job.updatedAt,
    ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}),
    ...(job.error !== undefined ? { error: job.error } : {}),
  };
  if (job.status !== 'done') return view;
  const { url, expiresAt } = await sink.locate(job.exportId);
  return { ...view, location: url, ...(expiresAt !== null ? { locationExpiresAt: expiresAt } : {}) };
}
