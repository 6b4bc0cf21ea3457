import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { Deps } from '../domain/deps.js';
import { type ErasureOutcome, runErasure } from '../domain/erasure.js';
import type { ErasureEvent } from '../erasure-starter.js';
import { type AsyncInvoke, createAsyncInvoke } from '../lambda-invoke.js';
import { getErasure } from '../store/erasure-store.js';

/**
 * The erasure function: works on the job its event names until the job is over or the Lambda's time gets
 * short, then checkpoints, lets the lease go and invokes itself (the same alias) to go on. A crash is
 * retried by Lambda's asynchronous retries; each resumes from the job's checkpoints.
 */
/** How long after a lease's end a busy invocation claims the job again (clocks a little apart). */
const LEASE_GRACE_MS = 1_000;

export function makeErasureWorker(
  deps: Deps,
  invoke: AsyncInvoke = createAsyncInvoke(),
  logger = new Logger({ serviceName: 'roaming-erasure' }),
  sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
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
    const run = () =>
      runErasure(deps, erasureId, {
        invocationId: context.awsRequestId,
        remainingMs: () => context.getRemainingTimeInMillis(),
      });
    let { outcome, view } = await run();
    // Busy: another invocation holds the job's lease. If it died (Lambda retries a crashed one about a
    // minute later, when its lease may not have lapsed yet), nothing else would resume the job: wait the
    // lease out and claim it. A live holder renews its lease, so the claim fails again and this one ends.
    if (outcome === 'busy') {
      const job = await getErasure(deps.db, erasureId);
      const waitMs = (job?.leaseUntil ?? 0) - deps.clock.now() + LEASE_GRACE_MS;
      const spareMs = context.getRemainingTimeInMillis() - deps.config.sweepStopBeforeTimeoutMs;
      if (job?.status === 'running' && waitMs > 0 && waitMs < spareMs) {
        await sleep(waitMs);
        ({ outcome, view } = await run());
      }
    }
    // Counts only: the user id is never logged.
    logger.info('erasure invocation ended', { erasureId, outcome, counts: view?.counts });
    if (outcome === 'stopped') {
      const next: ErasureEvent = { source: 'roaming.erasure', erasureId };
      await invoke(context.invokedFunctionArn, next);
    }
    return { outcome };
  };
}
