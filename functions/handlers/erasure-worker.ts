import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { Deps } from '../domain/deps.js';
import { type ErasureOutcome, runErasure } from '../domain/erasure.js';
import type { ErasureEvent } from '../erasure-starter.js';
import { type AsyncInvoke, createAsyncInvoke } from '../lambda-invoke.js';

/**
 * The erasure function: works on the job its event names until the job is over or the Lambda's time gets
 * short, then checkpoints, lets the lease go and invokes itself (the same alias) to go on. A crash is
 * retried by Lambda's asynchronous retries; each resumes from the job's checkpoints.
 */
export function makeErasureWorker(
  deps: Deps,
  invoke: AsyncInvoke = createAsyncInvoke(),
  logger = new Logger({ serviceName: 'roaming-erasure' }),
) {
  return async function erasureWorker(
    event: Partial<ErasureEvent> | null | undefined,
    context: Context,
  ): Promise<{ outcome: ErasureOutcome | 'ignored' }> {
    const erasureId = typeof event?.erasureId === 'string' ? event.erasureId : undefined;
    if (!erasureId) {
      logger.warn('erasure event without an erasureId', { event });
      return { outcome: 'ignored' };
    }
    const { outcome, view } = await runErasure(deps, erasureId, {
      invocationId: context.awsRequestId,
      remainingMs: () => context.getRemainingTimeInMillis(),
    });
    // Counts only: the user id is never logged.
    logger.info('erasure invocation ended', { erasureId, outcome, counts: view?.counts });
    if (outcome === 'stopped') {
      const next: ErasureEvent = { source: 'roaming.erasure', erasureId };
      await invoke(context.invokedFunctionArn, next);
    }
    return { outcome };
  };
}
