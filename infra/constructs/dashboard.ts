import { Duration } from 'aws-cdk-lib';
import {
  AlarmStatusWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  LogQueryVisualizationType,
  LogQueryWidget,
  Metric,
  TextWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ROUTES } from '../../functions/routes.js';
import {
  API_SERVICE,
  METRICS_NAMESPACE,
  ROUTE_METRICS,
  SWEEP_METRICS,
  SWEEP_SERVICE,
} from '../../functions/telemetry/api-telemetry.js';
import type { Api } from './api.js';
import type { Events } from './events.js';
import type { HandlerFunction } from './handler-function.js';
import type { Retention } from './retention.js';
import { TABLE_OPERATIONS } from './table-alarms.js';

export interface OperationsDashboardProps {
  readonly api: Api;
  readonly retention: Retention;
  readonly table: ITable;
  /**
   * Functions outside the API and the sweep (the export worker, the erasure's): their cold starts and
   * throttles too.
   * @default - none
   */
  readonly otherFunctions?: readonly HandlerFunction[];
  /**
   * The events (constructs/events.ts): webhook deliveries, their queue and dead letters, the pipes.
   * @default - no events row
   */
  readonly events?: Events;
}

const WIDE = 24;
const HALF = 12;
const THIRD = 8;
const QUARTER = 6;
const HEIGHT = 6;

/**
 * One CloudWatch dashboard for whoever runs Roaming: the API per route (from the functions' EMF metrics:
 * requests, latency p50/p99, 4xx, 5xx, DynamoDB requests) and as API Gateway sees it, the functions'
 * cold starts (init duration, from their REPORT log lines) and throttles, the table's consumed capacity
 * and throttled requests, and the retention sweep: copies deleted per run, progress, retries, duration,
 * its dead-letter queue and alarms. Routes come from the route table, so a new route gets its lines.
 */
export class OperationsDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: OperationsDashboardProps) {
    super(scope, id);
    const { api, retention, table } = props;
    const functions: HandlerFunction[] = [
      ...api.routeFunctions.values(),
      api.notFoundFunction,
      api.healthFunction,
      retention.sweepFunction,
      ...(props.otherFunctions ?? []),
    ];
    const sweep = retention.sweepFunction;

    this.dashboard = new Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: [
        [
          new TextWidget({
            markdown:
              '# Roaming\nAPI per route (EMF metrics of each route function, namespace `Roaming`), Lambda, DynamoDB and the retention sweep. ' +
              'Request logs: one JSON line per request in each function log group (route, caller, status, DynamoDB requests and capacity, `correlation_id` = API request id).',
            width: WIDE,
            height: 2,
          }),
        ],
        [
          perRoute('API requests per route', ROUTE_METRICS.requests, 'Sum', HALF),
          new GraphWidget({
            title: 'API Gateway: requests, 4xx, 5xx (also those refused before a function ran)',
            left: [
              api.httpApi.metricCount(),
              api.httpApi.metricClientError(),
              api.httpApi.metricServerError(),
            ].map((metric) => metric.with({ statistic: 'Sum', period: Duration.minutes(5) })),
            width: HALF,
            height: HEIGHT,
          }),
        ],
        [
          perRoute('Latency p50 per route (ms)', ROUTE_METRICS.latency, 'p50', HALF),
          perRoute('Latency p99 per route (ms)', ROUTE_METRICS.latency, 'p99', HALF),
        ],
        [
          perRoute('4xx per route', ROUTE_METRICS.clientErrors, 'Sum', THIRD),
          perRoute('5xx per route', ROUTE_METRICS.serverErrors, 'Sum', THIRD),
          perRoute('DynamoDB requests per route', ROUTE_METRICS.storeRequests, 'Sum', THIRD),
        ],
        [
          new LogQueryWidget({
            title: 'Lambda cold starts: count and init duration (ms) per function',
            logGroupNames: functions.map((fn) => fn.logGroup.logGroupName),
            queryLines: [
              'filter @type = "REPORT" and ispresent(@initDuration)',
              'stats count(*) as coldStarts, avg(@initDuration) as avgInitMs, max(@initDuration) as maxInitMs by @log',
              'sort coldStarts desc',
            ],
            view: LogQueryVisualizationType.TABLE,
            width: HALF,
            height: HEIGHT,
          }),
          new GraphWidget({
            title: 'Lambda throttles per function',
            left: functions.map((fn) =>
              fn.function.metricThrottles({
                statistic: 'Sum',
                period: Duration.minutes(5),
                label: labelOf(fn),
              }),
            ),
            width: HALF,
            height: HEIGHT,
          }),
        ],
        [
          new GraphWidget({
            title: 'DynamoDB consumed capacity (units)',
            left: [
              table.metricConsumedReadCapacityUnits({
                statistic: 'Sum',
                period: Duration.minutes(5),
                label: 'read',
              }),
              table.metricConsumedWriteCapacityUnits({
                statistic: 'Sum',
                period: Duration.minutes(5),
                label: 'write',
              }),
            ],
            width: HALF,
            height: HEIGHT,
          }),
          new GraphWidget({
            title: 'DynamoDB throttled requests',
            left: [
              table.metricThrottledRequestsForOperations({
                operations: TABLE_OPERATIONS,
                period: Duration.minutes(5),
              }),
            ],
            width: HALF,
            height: HEIGHT,
          }),
        ],
        [
          new GraphWidget({
            title: 'Sweep: copies deleted per run',
            left: [sweepMetric(SWEEP_METRICS.messagesDeleted, 'Sum', 'copies deleted')],
            right: [sweepMetric(SWEEP_METRICS.deleteBatches, 'Sum', 'batches')],
            width: THIRD,
            height: HEIGHT,
          }),
          new GraphWidget({
            title: 'Sweep progress: shards done of the run',
            left: [
              sweepMetric(SWEEP_METRICS.runShardsDone, 'Maximum', 'shards done'),
              sweepMetric(SWEEP_METRICS.runShardCount, 'Maximum', 'shards'),
            ],
            right: [sweepMetric(SWEEP_METRICS.runsFinished, 'Sum', 'runs finished')],
            width: THIRD,
            height: HEIGHT,
          }),
          new GraphWidget({
            title: 'Sweep: retries and invocation duration (ms)',
            left: [
              sweepMetric(SWEEP_METRICS.storeRetries, 'Sum', 'retries'),
              sweepMetric(SWEEP_METRICS.failures, 'Sum', 'failures'),
            ],
            right: [sweepMetric(SWEEP_METRICS.duration, 'Maximum', 'duration')],
            width: THIRD,
            height: HEIGHT,
          }),
        ],
        [
          new GraphWidget({
            title: 'Sweep dead-letter queue depth',
            left: [
              retention.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
                statistic: 'Maximum',
                period: Duration.minutes(5),
                label: 'dead letters',
              }),
            ],
            width: THIRD,
            height: HEIGHT,
          }),
          new AlarmStatusWidget({
            title: 'Sweep alarms',
            // Errors, heartbeat, new dead letter, dead letters waiting.
            alarms: [...retention.alarms],
            width: THIRD,
            height: HEIGHT,
          }),
          new LogQueryWidget({
            title: 'Recent sweep invocations',
            logGroupNames: [sweep.logGroup.logGroupName],
            queryLines: [
              'filter message = "sweep invocation ended"',
              'fields @timestamp, summary.runId as run, summary.outcome as outcome, summary.shardsDone as done, summary.shardCount as shards, summary.counts.messagesDeleted as deleted',
              'sort @timestamp desc',
              'limit 20',
            ],
            view: LogQueryVisualizationType.TABLE,
            width: THIRD,
            height: HEIGHT,
          }),
        ],
        ...(props.events ? [eventWidgets(props.events)] : []),
      ],
    });
  }
}

/**
 * The events row: what the pipes read and failed, and with a webhook, the deliveries (messages deleted from
 * the queue: delivered; sent to its dead-letter queue: given up), the queue's depth and oldest age, and
 * the dead letters of both.
 */
function eventWidgets(events: Events): GraphWidget[] {
  const five = { period: Duration.minutes(5) };
  const pipes = [events.busPipe, events.delivery?.pipe].flatMap((pipe, i) =>
    pipe ? [{ pipe, label: i === 0 ? 'bus pipe' : 'webhook pipe' }] : [],
  );
  const pipeMetric = (metricName: string, pipeName: string, label: string) =>
    new Metric({
      namespace: 'AWS/EventBridge/Pipes',
      metricName,
      dimensionsMap: { PipeName: pipeName },
      statistic: 'Sum',
      ...five,
      label,
    });
  const deadLetters = [
    events.pipeDeadLetterQueue.metricApproximateNumberOfMessagesVisible({
      ...five,
      statistic: 'Maximum',
      label: 'pipe dead letters (batches)',
    }),
  ];
  const widgets = [
    new GraphWidget({
      title: 'Event pipes: events read and failed executions',
      left: pipes.map(({ pipe, label }) => pipeMetric('EventCount', pipe.ref, `${label}: events`)),
      right: pipes.map(({ pipe, label }) => pipeMetric('ExecutionFailed', pipe.ref, `${label}: failed`)),
      width: QUARTER,
      height: HEIGHT,
    }),
  ];
  const delivery = events.delivery;
  if (delivery) {
    deadLetters.push(
      delivery.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        ...five,
        statistic: 'Maximum',
        label: 'webhook dead letters (events)',
      }),
    );
    widgets.push(
      new GraphWidget({
        title: 'Webhook: events queued, delivered and given up',
        left: [
          delivery.queue.metricNumberOfMessagesSent({ ...five, statistic: 'Sum', label: 'queued' }),
          delivery.queue.metricNumberOfMessagesDeleted({ ...five, statistic: 'Sum', label: 'delivered' }),
          delivery.deadLetterQueue.metricNumberOfMessagesSent({
            ...five,
            statistic: 'Sum',
            label: 'given up (dead letters)',
          }),
        ],
        width: QUARTER,
        height: HEIGHT,
      }),
      new GraphWidget({
        title: 'Webhook queue: depth and oldest event age (s)',
        left: [
          delivery.queue.metricApproximateNumberOfMessagesVisible({
            ...five,
            statistic: 'Maximum',
            label: 'waiting',
          }),
          delivery.queue.metricApproximateNumberOfMessagesNotVisible({
            ...five,
            statistic: 'Maximum',
            label: 'in flight or backing off',
          }),
        ],
        right: [
          delivery.queue.metricApproximateAgeOfOldestMessage({
            ...five,
            statistic: 'Maximum',
            label: 'oldest age',
          }),
        ],
        width: QUARTER,
        height: HEIGHT,
      }),
    );
  }
  widgets.push(
    new GraphWidget({ title: 'Event dead letters', left: deadLetters, width: QUARTER, height: HEIGHT }),
  );
  return widgets;
}

/** One line per route of an EMF metric the route functions publish (dimensions: service, route). */
function perRoute(title: string, metricName: string, statistic: string, width: number): GraphWidget {
  const metrics: IMetric[] = ROUTES.map(
    (route) =>
      new Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { service: API_SERVICE, route: route.name },
        statistic,
        period: Duration.minutes(5),
        label: route.name,
      }),
  );
  return new GraphWidget({ title, left: metrics, width, height: HEIGHT });
}

function sweepMetric(metricName: string, statistic: string, label: string): Metric {
  // The sweep runs hourly by default: one data point per run.
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SWEEP_SERVICE },
    statistic,
    period: Duration.hours(1),
    label,
  });
}

function labelOf(fn: HandlerFunction): string {
  return fn.node.id;
}
