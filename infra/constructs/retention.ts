import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Schedule, ScheduleExpression, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke } from 'aws-cdk-lib/aws-scheduler-targets';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_CONFIG } from '../../functions/domain/deps.js';
import { type HandlerDefaults, HandlerFunction } from './handler-function.js';

/** Lambda's own limit on a function's timeout. */
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);
const DEFAULT_SWEEP_TIMEOUT = Duration.minutes(5);

/** The sweep's tunable settings (the stack passes them through). */
export interface SweepOptions {
  /**
   * When EventBridge Scheduler starts a sweep: a `rate(...)` or `cron(...)` expression (UTC).
   * @default 'rate(1 hour)'
   */
  readonly schedule?: string;
  /**
   * Memory of the sweep function, in MB.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Timeout of one sweep invocation; it checkpoints and stops cleanly once less than the tunable
   * `sweepStopBeforeTimeoutMs` (default 20 s) is left, and the next invocation resumes. At most 15 minutes.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency of the sweep function: the most sweep runs at the same time (they lease
   * disjoint purge shards). Reserving takes this many from the account's unreserved concurrency.
   * @default 2
   */
  readonly reservedConcurrency?: number;
}

export interface RetentionProps extends SweepOptions {
  readonly defaults: HandlerDefaults;
  /**
   * Where the alarms notify.
   * @default - alarms without actions (visible in CloudWatch only)
   */
  readonly alarmTopic?: ITopic;
}

/**
 * Retention enforcement: the sweep function, the schedule that starts it, a dead-letter queue for runs that
 * could not be delivered or failed, and alarms on sweep errors and on dead letters.
 */
export class Retention extends Construct {
  readonly sweepFunction: HandlerFunction;
  readonly deadLetterQueue: Queue;
  readonly schedule: Schedule;
  readonly errorsAlarm: Alarm;
  readonly deadLettersAlarm: Alarm;

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const expression = props.schedule ?? 'rate(1 hour)';
    validate(props, expression);

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.sweepFunction = new HandlerFunction(this, 'Sweep', {
      defaults: props.defaults,
      entryName: 'sweep',
      description: 'sweep (scheduled): purges message copies past retention and pending deletes',
      tableAccess: 'write',
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? DEFAULT_SWEEP_TIMEOUT,
      options: {
        reservedConcurrentExecutions: props.reservedConcurrency ?? 2,
        // A failed run is not retried at once (the next run resumes from the checkpoint); its event is dead-lettered.
        retryAttempts: 0,
        deadLetterQueue: this.deadLetterQueue,
      },
    });

    this.schedule = new Schedule(this, 'Schedule', {
      description: 'Starts a retention sweep',
      schedule: ScheduleExpression.expression(expression),
      timeWindow: TimeWindow.off(),
      target: new LambdaInvoke(this.sweepFunction.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    });

    const action = props.alarmTopic ? new SnsAction(props.alarmTopic) : undefined;
    this.errorsAlarm = new Alarm(this, 'SweepErrorsAlarm', {
      alarmDescription: 'A retention sweep run failed (see the sweep function logs)',
      metric: this.sweepFunction.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLettersAlarm = new Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: 'Sweep invocations were dead-lettered (failed or undeliverable runs)',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (action) {
      for (const alarm of [this.errorsAlarm, this.deadLettersAlarm]) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      }
    }
  }

  /**
   * Lets a function start a sweep run: SWEEP_FUNCTION_NAME in its environment and lambda:InvokeFunction on the
   * sweep function only (an asynchronous invoke of its unqualified name).
   */
  allowStart(starter: HandlerFunction): void {
    const sweep = this.sweepFunction.function;
    starter.function.addEnvironment('SWEEP_FUNCTION_NAME', sweep.functionName);
    starter.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [sweep.functionArn] }),
    );
  }
}

function validate(props: RetentionProps, expression: string): void {
  if (!/^(rate|cron)\(.+\)$/.test(expression)) {
    throw new Error(`The sweep schedule must be a rate(...) or cron(...) expression, got "${expression}"`);
  }
  if (props.timeout && props.timeout.toMilliseconds() > MAX_LAMBDA_TIMEOUT.toMilliseconds()) {
    throw new Error(`The sweep timeout must be at most 15 minutes, got ${props.timeout.toHumanString()}`);
  }
  const timeoutMs = (props.timeout ?? DEFAULT_SWEEP_TIMEOUT).toMilliseconds();
  const stopBeforeMs =
    props.defaults.tuning?.sweepStopBeforeTimeoutMs ?? DEFAULT_CONFIG.sweepStopBeforeTimeoutMs;
  if (timeoutMs <= stopBeforeMs) {
    throw new Error(
      `The sweep timeout (${timeoutMs} ms) must exceed sweepStopBeforeTimeoutMs (${stopBeforeMs} ms), ` +
        'the time a sweep keeps in reserve to checkpoint and stop',
    );
  }
  const concurrency = props.reservedConcurrency;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new Error(`The sweep's reserved concurrency must be an integer of at least 1, got ${concurrency}`);
  }
}
