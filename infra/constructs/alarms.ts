import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  type IMetric,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import type { RouteName, RouteSpec } from '../../functions/routes.js';
import { ALARM_THRESHOLDS } from './alarm-thresholds.js';
import type { Api } from './api.js';
import type { Data } from './data.js';
import type { HandlerFunction } from './handler-function.js';
import type { Retention } from './retention.js';
import { describeAlarm, RUNBOOKS, type Runbook } from './runbooks.js';
import { concurrencyAlarm, tableAlarms } from './table-alarms.js';

export { ALARM_THRESHOLDS } from './alarm-thresholds.js';

/** Where the alarms go. */
export interface AlarmDestinations {
  /**
   * An existing SNS topic to notify instead of a topic of the stack's own.
   * @default - the stack creates a topic (encrypted with its own KMS key, TLS only)
   */
  readonly topicArn?: string;
  /**
   * Email addresses subscribed to the topic (each confirms the subscription once, from the email).
   * @default - none
   */
  readonly emails?: readonly string[];
  /**
   * A Slack channel, through AWS Chatbot (the workspace must be authorized in the Chatbot console once).
   * @default - none
   */
  readonly slack?: { readonly workspaceId: string; readonly channelId: string };
  /**
   * The account's Lambda concurrency quota; the concurrency alarm fires at 80% of it.
   * @default 1000
   */
  readonly accountConcurrencyLimit?: number;
}

export interface AlarmsProps {
  /** Where every alarm notifies (constructs/alarm-topic.ts, in the top-level stack). */
  readonly topic: ITopic;
  /**
   * The account's Lambda concurrency quota; the concurrency alarm fires at 80% of it.
   * @default 1000
   */
  readonly accountConcurrencyLimit?: number;
  readonly api: Api;
  readonly retention: Retention;
  readonly data: Data;
  /** The sweep's checkpoint margin (ms): its duration alarm fires past the point where it should have stopped. */
  readonly sweepStopBeforeTimeoutMs: number;
}

/**
 * Alarms a person receives, each notifying the alarm topic (constructs/alarm-topic.ts) on alarm and back to
 * OK. Alarms on what users feel (5xx rate and p99 latency per route), on every function (errors, throttles,
 * duration near its timeout), on the table (throttled requests, system errors, consumption near its
 * throughput caps), on account concurrency, and the sweep's (Retention: errors, heartbeat, dead letters).
 * Every description names its runbook. The stack builds this construct in the Monitoring nested stack
 * (constructs/monitoring.ts); the sweep's alarms stay with Retention in the top-level stack and get their
 * actions here.
 */
export class Alarms extends Construct {
  readonly topic: ITopic;
  /**
   * The alarms that judge a deploy of a function: CodeDeploy rolls back when one fires (constructs/rollout.ts).
   * The functions of the top-level stack: the admin routes' are judged in AdminApi.
   */
  readonly deployAlarms: ReadonlyMap<HandlerFunction, readonly Alarm[]>;
  /** Per route in the top-level stack: [5xx rate, p99 latency] (the admin routes': AdminApi.routeAlarms). */
  readonly routeAlarms: ReadonlyMap<RouteName, readonly Alarm[]>;
  /** Every alarm of the stack, but the admin routes' (AdminApi.alarms) and the erasure's (Erasure.alarms). */
  readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: AlarmsProps) {
    super(scope, id);
    this.topic = props.topic;

    const all: Alarm[] = [];
    const routeAlarmsByName = new Map<RouteName, Alarm[]>();
    const api = { apiId: props.api.httpApi.apiId, stageName: props.api.stage.stageName };
    const sweep = props.retention.sweepFunction;
    const watched: [HandlerFunction, RouteName | undefined][] = [];
    for (const [name, route] of props.api.routeSpecs) {
      // The admin routes' alarms are in AdminApi, with their functions (constructs/admin-api.ts).
      if (props.api.adminApi.routeFunctions.has(name)) continue;
      const alarms = routeAlarms(this, api, name, route);
      routeAlarmsByName.set(name, alarms);
      all.push(...alarms);
      watched.push([props.api.routeFunction(name), name]);
    }
    watched.push([props.api.notFoundFunction, undefined], [sweep, undefined]);

    const deployAlarms = new Map<HandlerFunction, Alarm[]>();
    for (const [fn, route] of watched) {
      const timeoutMs = fn.timeout.toMilliseconds();
      // The sweep stops by itself once less than its margin is left: near the timeout is normal for it,
      // so its alarm fires only past half the margin, where it should already have checkpointed and stopped.
      const { errors, throttles, duration } =
        fn === sweep
          ? functionAlarms(this, fn, {
              errors: props.retention.errorsAlarm,
              durationThreshold: timeoutMs - props.sweepStopBeforeTimeoutMs / 2,
              durationStatistic: 'Maximum',
              durationRunbook: RUNBOOKS.sweepStuck,
            })
          : functionAlarms(this, fn);
      if (fn !== sweep) all.push(errors);
      all.push(throttles, duration);
      deployAlarms.set(fn, [errors, duration, ...(route ? (routeAlarmsByName.get(route) ?? []) : [])]);
    }

    all.push(...tableAlarms(this, props.data), concurrencyAlarm(this, props.accountConcurrencyLimit ?? 1000));
    all.push(...props.retention.alarms);

    const action = new SnsAction(this.topic);
    // The dead-letter depth alarm is reset to OK every day to notify again (Retention): an OK action would
    // notify each reset. The new-dead-letter alarm goes OK five minutes after each letter: not news.
    const noOkAction = new Set<Alarm>([
      props.retention.deadLettersAlarm,
      props.retention.newDeadLettersAlarm,
    ]);
    for (const alarm of all) {
      alarm.addAlarmAction(action);
      if (!noOkAction.has(alarm)) alarm.addOkAction(action);
    }
    this.alarms = all;
    this.deployAlarms = deployAlarms;
    this.routeAlarms = routeAlarmsByName;
  }
}

/** What a route's alarms read: the HTTP API's id and stage (API Gateway's route-level metrics). */
export interface RouteMetricsSource {
  readonly apiId: string;
  readonly stageName: string;
}

/** A route's [5xx rate, p99 latency] alarms (no actions: the caller adds them). */
export function routeAlarms(
  scope: Construct,
  api: RouteMetricsSource,
  name: RouteName,
  route: RouteSpec,
): Alarm[] {
  const label = `${route.method} ${route.path}`;
  const dims = { ApiId: api.apiId, Stage: api.stageName, Resource: route.path, Method: route.method };
  const requests = apiMetric('Count', dims, 'Sum');
  const errors = apiMetric('5xx', dims, 'Sum');
  const { route5xxPercent: percent, route5xxMinRequests: min } = ALARM_THRESHOLDS;
  const serverErrors = new Alarm(scope, `${pascal(name)}5xxRate`, {
    alarmDescription: describeAlarm(
      `${label}: 5xx above ${percent}% of requests in 3 of 5 minutes (minutes with at least ${min} requests).`,
      RUNBOOKS.serverErrors,
    ),
    metric: new MathExpression({
      expression: `IF(requests >= ${min}, 100 * errors / requests, 0)`,
      usingMetrics: { requests, errors },
      period: Duration.minutes(1),
      label: `${label} 5xx %`,
    }),
    threshold: percent,
    comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const latency = new Alarm(scope, `${pascal(name)}P99Latency`, {
    alarmDescription: describeAlarm(
      `${label}: p99 latency at or above ${ALARM_THRESHOLDS.routeP99LatencyMs} ms in 3 of 5 minutes (API Gateway Latency).`,
      RUNBOOKS.serverErrors,
    ),
    metric: apiMetric('Latency', dims, 'p99'),
    threshold: ALARM_THRESHOLDS.routeP99LatencyMs,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  return [serverErrors, latency];
}

/** How a function's alarms differ from a route function's (the sweep's). */
interface FunctionAlarmOptions {
  /** An errors alarm made elsewhere (the sweep's, with Retention), used instead of a new one. */
  readonly errors?: Alarm;
  readonly durationThreshold?: number;
  readonly durationStatistic?: 'p99' | 'Maximum';
  readonly durationRunbook?: Runbook;
}

/** A function's errors, throttles and near-timeout alarms (no actions: the caller adds them). */
export function functionAlarms(
  scope: Construct,
  fn: HandlerFunction,
  options: FunctionAlarmOptions = {},
): { errors: Alarm; throttles: Alarm; duration: Alarm } {
  const name = fn.node.id;
  const errors =
    options.errors ??
    new Alarm(scope, `${name}Errors`, {
      alarmDescription: describeAlarm(
        `Function ${name}: ${ALARM_THRESHOLDS.functionErrors} or more Lambda errors (crashes, timeouts) in 5 minutes.`,
        RUNBOOKS.serverErrors,
      ),
      metric: fn.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: ALARM_THRESHOLDS.functionErrors,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  const throttles = new Alarm(scope, `${name}Throttles`, {
    alarmDescription: describeAlarm(
      `Function ${name}: ${ALARM_THRESHOLDS.functionThrottles} or more Lambda throttles in 5 minutes (concurrency exhausted).`,
      RUNBOOKS.throttling,
    ),
    metric: fn.function.metricThrottles({ period: Duration.minutes(5), statistic: 'Sum' }),
    threshold: ALARM_THRESHOLDS.functionThrottles,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const timeoutMs = fn.timeout.toMilliseconds();
  const statistic = options.durationStatistic ?? 'p99';
  const threshold =
    options.durationThreshold ?? Math.round(timeoutMs * ALARM_THRESHOLDS.durationShareOfTimeout);
  const duration = new Alarm(scope, `${name}NearTimeout`, {
    alarmDescription: describeAlarm(
      `Function ${name}: ${statistic === 'Maximum' ? 'maximum' : 'p99'} duration at or above ${threshold} ms of its ${timeoutMs} ms timeout in 5 minutes.`,
      options.durationRunbook ?? RUNBOOKS.serverErrors,
    ),
    metric: fn.function.metricDuration({ period: Duration.minutes(5), statistic }),
    threshold,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  return { errors, throttles, duration };
}

function apiMetric(metricName: string, dimensionsMap: Record<string, string>, statistic: string): IMetric {
  return new Metric({
    namespace: 'AWS/ApiGateway',
    metricName,
    dimensionsMap,
    statistic,
    period: Duration.minutes(1),
  });
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
