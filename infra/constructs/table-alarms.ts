import { Duration } from 'aws-cdk-lib';
import {
  Alarm,
  ComparisonOperator,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Operation } from 'aws-cdk-lib/aws-dynamodb';
import type { Construct } from 'constructs';
import { ALARM_THRESHOLDS } from './alarm-thresholds.js';
import type { Data } from './data.js';
import { describeAlarm, RUNBOOKS } from './runbooks.js';

/** The operations whose throttling and system errors the table reports (everything the functions call). */
export const TABLE_OPERATIONS = [
  Operation.GET_ITEM,
  Operation.BATCH_GET_ITEM,
  Operation.QUERY,
  Operation.PUT_ITEM,
  Operation.UPDATE_ITEM,
  Operation.DELETE_ITEM,
  Operation.BATCH_WRITE_ITEM,
  Operation.TRANSACT_WRITE_ITEMS,
];

/** Table throttled requests and system errors, and consumption near each throughput cap (table and indexes). */
export function tableAlarms(scope: Construct, data: Data): Alarm[] {
  const { table } = data;
  const throttled = new Alarm(scope, 'TableThrottledRequests', {
    alarmDescription: describeAlarm(
      `DynamoDB: ${ALARM_THRESHOLDS.tableThrottledRequests} or more throttled requests in 5 minutes (throughput caps or partition limits).`,
      RUNBOOKS.throttling,
    ),
    metric: table.metricThrottledRequestsForOperations({
      operations: TABLE_OPERATIONS,
      period: Duration.minutes(5),
    }),
    threshold: ALARM_THRESHOLDS.tableThrottledRequests,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const systemErrors = new Alarm(scope, 'TableSystemErrors', {
    alarmDescription: describeAlarm(
      `DynamoDB: ${ALARM_THRESHOLDS.tableSystemErrors} or more system errors (HTTP 500 from DynamoDB) in 5 minutes.`,
      RUNBOOKS.serverErrors,
    ),
    metric: table.metricSystemErrorsForOperations({
      operations: TABLE_OPERATIONS,
      period: Duration.minutes(5),
    }),
    threshold: ALARM_THRESHOLDS.tableSystemErrors,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  const alarms = [throttled, systemErrors];
  const caps = data.throughputCaps;
  if (!caps) return alarms;
  const targets: { id: string; label: string; index?: string }[] = [
    { id: 'Table', label: 'table' },
    ...data.indexNames.map((index) => ({ id: pascal(index), label: `index ${index}`, index })),
  ];
  for (const target of targets) {
    for (const [kind, cap] of [
      ['Read', caps.maxReadRequestUnits],
      ['Write', caps.maxWriteRequestUnits],
    ] as const) {
      const threshold = Math.floor(cap * ALARM_THRESHOLDS.capShare);
      const consumed = new Metric({
        namespace: 'AWS/DynamoDB',
        metricName: `Consumed${kind}CapacityUnits`,
        dimensionsMap: target.index
          ? { TableName: table.tableName, GlobalSecondaryIndexName: target.index }
          : { TableName: table.tableName },
        statistic: 'Sum',
        period: Duration.minutes(1),
      });
      alarms.push(
        new Alarm(scope, `${target.id}${kind}NearCap`, {
          alarmDescription: describeAlarm(
            `DynamoDB ${target.label}: ${kind.toLowerCase()} units per second at or above ${threshold} (80% of the cap ${cap}) in 3 of 5 minutes; at the cap requests are throttled.`,
            RUNBOOKS.throttling,
          ),
          metric: new MathExpression({
            expression: 'consumed / PERIOD(consumed)',
            usingMetrics: { consumed },
            period: Duration.minutes(1),
            label: `${target.label} ${kind.toLowerCase()} units/s`,
          }),
          threshold,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 5,
          datapointsToAlarm: 3,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
      );
    }
  }
  return alarms;
}

/** Account concurrent executions near the quota. */
export function concurrencyAlarm(scope: Construct, limit: number): Alarm {
  const threshold = Math.floor(limit * ALARM_THRESHOLDS.concurrencyShare);
  return new Alarm(scope, 'AccountConcurrency', {
    alarmDescription: describeAlarm(
      `Lambda: account concurrent executions at or above ${threshold} (80% of the quota ${limit}) in 3 of 5 minutes; at the quota every function is throttled.`,
      RUNBOOKS.throttling,
    ),
    metric: new Metric({
      namespace: 'AWS/Lambda',
      metricName: 'ConcurrentExecutions',
      statistic: 'Maximum',
      period: Duration.minutes(1),
    }),
    threshold,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}

function pascal(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}
