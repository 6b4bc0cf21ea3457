import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { Deps } from '../domain/deps.js';
import { runSweep, type SweepSummary } from '../domain/sweep.js';
import type { SweepStartEvent } from '../sweep-starter.js';
import { METRICS_NAMESPACE, SWEEP_METRICS, SWEEP_SERVICE } from '../telemetry/api-telemetry.js';
import { measureStoreUsage, newStoreUsage, type StoreUsage } from '../telemetry/store-usage.js';

/** The event: from EventBridge Scheduler (anything), or from POST /v1/admin/sweeps (names its run). */
export type SweepInvocationEvent = Partial<SweepStartEvent> | null | undefined;

export interface SweepTelemetry {
  logger: Logger;
  metrics: Metrics;
}

export function defaultTelemetry(): SweepTelemetry {
  return {
    logger: new Logger({ serviceName: SWEEP_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SWEEP_SERVICE }),
  };
}

/**
 * The scheduled sweep function: one invocation joins (or starts) the active run and works shards until
 * the run is done or the Lambda's remaining time gets short, then stops cleanly; the next invocation
 * resumes from the checkpoints. Logs progress per shard and a summary; one set of metrics per invocation.
 */
export function makeSweepHandler(deps: Deps, telemetry: SweepTelemetry = defaultTelemetry()) {
  const { logger, metrics } = telemetry;
  return async function sweepHandler(event: SweepInvocationEvent, context: Context): Promise<SweepSummary> {
    logger.addContext(context);
    const runId = typeof event?.runId === 'string' ? event.runId : undefined;
    const store = newStoreUsage();
    try {
      const summary = await measureStoreUsage(store, () =>
        runSweep(deps, {
          trigger: runId ? 'admin' : 'schedule',
          runId,
          invocationId: context.awsRequestId,
          remainingMs: () => context.getRemainingTimeInMillis(),
          onEvent: (progress) => logger.info(`sweep ${progress.type}`, { ...progress }),
        }),
      );
      logger.info('sweep invocation ended', { summary, dynamodb: store });
      recordSweepMetrics(metrics, summary, store);
      return summary;
    } catch (error) {
      logger.error('sweep invocation failed', { error: error as Error, dynamodb: store });
      metrics.addMetric(SWEEP_METRICS.failures, MetricUnit.Count, 1);
      throw error;
    } finally {
      metrics.publishStoredMetrics();
    }
  };
}

/**
 * One data point per count of this invocation, whether it finished its run, and the run's progress
 * (shards done of the shard count, after this invocation).
 */
export function recordSweepMetrics(metrics: Metrics, summary: SweepSummary, store?: StoreUsage): void {
  const { counts } = summary;
  metrics.addMetric(SWEEP_METRICS.messagesDeleted, MetricUnit.Count, counts.messagesDeleted);
  metrics.addMetric(SWEEP_METRICS.conversationsPurged, MetricUnit.Count, counts.conversations);
  metrics.addMetric(SWEEP_METRICS.usersPurged, MetricUnit.Count, counts.users);
  metrics.addMetric(SWEEP_METRICS.deleteBatches, MetricUnit.Count, counts.batches);
  metrics.addMetric(SWEEP_METRICS.storeRetries, MetricUnit.Count, counts.retries);
  metrics.addMetric(SWEEP_METRICS.shardsCompleted, MetricUnit.Count, summary.shardsCompleted.length);
  metrics.addMetric(SWEEP_METRICS.runsFinished, MetricUnit.Count, summary.closedRun ? 1 : 0);
  metrics.addMetric(SWEEP_METRICS.duration, MetricUnit.Milliseconds, summary.durationMs);
  metrics.addMetric(SWEEP_METRICS.runShardsDone, MetricUnit.Count, summary.shardsDone);
  metrics.addMetric(SWEEP_METRICS.runShardCount, MetricUnit.Count, summary.shardCount);
  metrics.addMetric(SWEEP_METRICS.runMessagesDeleted, MetricUnit.Count, summary.runCounts.messagesDeleted);
  if (store) metrics.addMetric(SWEEP_METRICS.storeRequests, MetricUnit.Count, store.requests);
}
