import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { ULID_PATTERN } from '../core/ids.js';
import type { Deps } from '../domain/deps.js';
import { type ExportRunOutcome, runExport } from '../domain/export-job.js';
import type { ExportSink } from '../domain/export-sink.js';
import type { ExportStarter, ExportWorkerEvent } from '../export-starter.js';

/** Time an invocation keeps in reserve: a step (one part of 8 MiB) and the next invocation's start. */
export const EXPORT_STOP_BEFORE_TIMEOUT_MS = 60_000;

/**
 * The export worker function: works on one export (the event names it) until it is done or less than
 * EXPORT_STOP_BEFORE_TIMEOUT_MS of the invocation is left; then it has the next invocation started and
 * returns. A failure is thrown, so Lambda retries the event (same request id: the retry takes the lease
 * back at once); after three failed tries in a row the job is `failed`.
 */
export function makeExportWorkerHandler(
  deps: Deps,
  sink: ExportSink,
  next: ExportStarter,
  logger: Logger = new Logger({ serviceName: 'roaming-export' }),
) {
  return async function exportWorker(
    event: Partial<ExportWorkerEvent> | null | undefined,
    context: Context,
  ): Promise<{ exportId: string; outcome: ExportRunOutcome } | { ignored: string }> {
    logger.addContext(context);
    const exportId = event?.exportId;
    if (typeof exportId !== 'string' || !ULID_PATTERN.test(exportId)) {
      logger.error('export worker: the event names no export', { event });
      return { ignored: 'the event names no export' };
    }
    const outcome = await runExport(deps, sink, exportId, {
      invocationId: context.awsRequestId,
      remainingMs: () => context.getRemainingTimeInMillis(),
      stopBeforeMs: EXPORT_STOP_BEFORE_TIMEOUT_MS,
    });
    if (outcome === 'stopped') await next.start(exportId);
    logger.info('export invocation ended', { exportId, outcome });
    return { exportId, outcome };
  };
}
