import { AsyncLocalStorage } from 'node:async_hooks';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { StoreUsage } from './store-usage.js';

/**
 * The API's logger and metrics: Powertools, JSON on stdout (CloudWatch Logs; EMF metrics in namespace
 * `Roaming`, service `roaming-api`, one `route` dimension). Built on first use; `npm start` replaces the
 * logger with one that prints a line a person reads when stdout is a terminal.
 */
export interface ApiTelemetry {
  logger: Logger;
  metrics: Metrics;
}

export const METRICS_NAMESPACE = 'Roaming';
export const API_SERVICE = 'roaming-api';
export const SWEEP_SERVICE = 'roaming-sweep';

/** The EMF metric names per route (the dashboard graphs them). */
export const ROUTE_METRICS = {
  requests: 'Requests',
  latency: 'Latency',
  clientErrors: 'ClientErrors',
  serverErrors: 'ServerErrors',
  storeRequests: 'DynamoDBRequests',
  capacityUnits: 'DynamoDBCapacityUnits',
} as const;

/** The sweep's EMF metric names (service `roaming-sweep`; the dashboard graphs them). */
export const SWEEP_METRICS = {
  messagesDeleted: 'MessagesDeleted',
  conversationsPurged: 'ConversationsPurged',
  usersPurged: 'UsersPurged',
  deleteBatches: 'DeleteBatches',
  storeRetries: 'StoreRetries',
  shardsCompleted: 'ShardsCompleted',
  runsFinished: 'RunsFinished',
  duration: 'SweepDuration',
  runShardsDone: 'RunShardsDone',
  runShardCount: 'RunShardCount',
  runMessagesDeleted: 'RunMessagesDeleted',
  failures: 'SweepFailures',
  storeRequests: ROUTE_METRICS.storeRequests,
} as const;

let configured: ApiTelemetry | undefined;

export function apiTelemetry(): ApiTelemetry {
  configured ??= {
    logger: new Logger({ serviceName: API_SERVICE }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: API_SERVICE }),
  };
  return configured;
}

/** Replaces the API's telemetry in this process (npm start's terminal logger). */
export function useApiTelemetry(telemetry: ApiTelemetry): void {
  configured = telemetry;
}

/** What one request did, as its log line and metrics tell it. */
export interface RequestRecord {
  /** The route's name (functions/routes.ts), or the route key API Gateway matched. */
  route: string;
  method: string;
  /**
   * The route key matched (`GET /v1/conversations/{chatType}/{convId}/messages`), never the path: a path
   * names whose conversation or which group was asked for, and logs are kept for a month.
   */
  routeKey: string;
  /** Only for a request no route matched (404): its path, cut to UNMATCHED_PATH_MAX characters. */
  unmatchedPath?: string;
  /** The caller's user id (the token's subject), never the token. */
  caller?: string;
  status: number;
  latencyMs: number;
  requestId: string;
  functionRequestId?: string;
  errorCode?: string;
  /** A 5xx the service answers by design (still starting, stopping): logged at INFO, without a stack. */
  expected?: boolean;
  store?: StoreUsage;
}

let coldStart = true;

/** How much of an unmatched path a 404's log line keeps: enough to spot a client's typo or a scanner. */
export const UNMATCHED_PATH_MAX = 64;

/** A 404's path for its log line: at most UNMATCHED_PATH_MAX characters. */
export function unmatchedPathForLog(path: string): string {
  return path.length > UNMATCHED_PATH_MAX ? `${path.slice(0, UNMATCHED_PATH_MAX)}…` : path;
}

/** The id of the request running now: scoped with AsyncLocalStorage, as npm start serves several at once. */
const requestIds = new AsyncLocalStorage<string>();

/** Runs `work` as the request `requestId`: lines it logs with logInRequest carry that correlation id. */
export function withRequestId<T>(requestId: string, work: () => T): T {
  return requestIds.run(requestId, work);
}

/**
 * Logs a line (INFO) of the request running now under its own correlation id. The logger is shared by
 * concurrent requests, so the id is set right before the line is written, in the same synchronous step.
 */
export function logInRequest(
  telemetry: ApiTelemetry,
  message: string,
  fields: Record<string, unknown>,
): void {
  telemetry.logger.setCorrelationId(requestIds.getStore());
  telemetry.logger.info(message, fields);
}

/**
 * One log line per request (4xx and expected 503s at info, other 5xx at error with the error and its
 * stack) and one set of
 * metrics. Everything here is synchronous, so requests served concurrently never mix their keys.
 */
export function recordRequest(telemetry: ApiTelemetry, record: RequestRecord, error?: unknown): void {
  const { logger, metrics } = telemetry;
  logger.setCorrelationId(record.requestId);
  const fields = {
    route: record.route,
    method: record.method,
    routeKey: record.routeKey,
    path: record.unmatchedPath,
    caller: record.caller,
    status: record.status,
    latencyMs: Math.round(record.latencyMs * 10) / 10,
    errorCode: record.errorCode,
    dynamodb: record.store && {
      requests: record.store.requests,
      capacityUnits: record.store.capacityUnits,
      readUnits: record.store.readUnits,
      byCommand: record.store.byCommand,
    },
    function_request_id: record.functionRequestId,
  };
  if (record.status >= 500 && !record.expected)
    logger.error('request failed', { ...fields, error: describeError(error) });
  else logger.info('request', fields);

  if (coldStart) {
    coldStart = false;
    metrics.captureColdStartMetric();
  }
  metrics.addDimension('route', record.route);
  metrics.addMetric(ROUTE_METRICS.requests, MetricUnit.Count, 1);
  metrics.addMetric(ROUTE_METRICS.latency, MetricUnit.Milliseconds, record.latencyMs);
  metrics.addMetric(
    ROUTE_METRICS.clientErrors,
    MetricUnit.Count,
    record.status >= 400 && record.status < 500 ? 1 : 0,
  );
  metrics.addMetric(ROUTE_METRICS.serverErrors, MetricUnit.Count, record.status >= 500 ? 1 : 0);
  if (record.store) {
    metrics.addMetric(ROUTE_METRICS.storeRequests, MetricUnit.Count, record.store.requests);
    metrics.addMetric(ROUTE_METRICS.capacityUnits, MetricUnit.Count, record.store.capacityUnits);
  }
  metrics.publishStoredMetrics();
}

/** An error for a log line: name, message, stack and its causes. */
export function describeError(error: unknown, depth = 0): unknown {
  if (error === undefined) return undefined;
  if (!(error instanceof Error) || depth > 3) return String(error);
  return {
    name: error.name,
    message: error.message,
    stack: error.stack,
    cause: describeError(error.cause, depth + 1),
  };
}
