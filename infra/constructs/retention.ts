import { Duration } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Schedule, ScheduleExpression, ScheduleTargetInput, TimeWindow } from 'aws-cdk-lib/aws-scheduler';
import { LambdaInvoke, Universal } from 'aws-cdk-lib/aws-scheduler-targets';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULT_CONFIG } from '../../functions/domain/deps.js';
import { SWEEP_FUNCTION } from '../../functions/routes.js';
import { METRICS_NAMESPACE, SWEEP_METRICS, SWEEP_SERVICE } from '../../functions/telemetry/api-telemetry.js';
import { type HandlerDefaults, HandlerFunction } from './handler-function.js';
import { describeAlarm, RUNBOOKS } from './runbooks.js';

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
  /**
   * The heartbeat alarm fires when no sweep run finished in twice this period. At most 12 hours.
   * @default - the period of a `rate(...)` schedule (required with a `cron(...)` schedule)
   */
  readonly heartbeatPeriod?: Duration;
  /**
   * How often a persisting dead letter is notified again (the depth alarm is reset to OK and re-evaluated).
   * @default 'rate(1 day)'
   */
  readonly deadLetterReminder?: string;
}

export interface RetentionProps extends SweepOptions {
  readonly defaults: HandlerDefaults;
}

/**
 * Retention enforcement: the sweep function, the schedule that starts it, a dead-letter queue for runs that
 * could not be delivered or failed, and the sweep's alarms: errors, a heartbeat (no finished run in two
 * schedule periods), a new dead letter, and dead letters still waiting, notified again every day while
 * they persist. The stack's Alarms construct gives them their actions.
 */
export class Retention extends Construct {
  readonly sweepFunction: HandlerFunction;
  /** The sweep function's reserved concurrency. */
  readonly reservedConcurrency: number;
  readonly deadLetterQueue: Queue;
  readonly schedule: Schedule;
  readonly errorsAlarm: Alarm;
  readonly heartbeatAlarm: Alarm;
  /** A dead letter arrived (fires again for each later one, once the previous has cleared). */
  readonly newDeadLettersAlarm: Alarm;
  /** Dead letters are waiting; reset every `deadLetterReminder` so it notifies again while they persist. */
  readonly deadLettersAlarm: Alarm;
  readonly deadLetterReminder: Schedule;
  /** Every alarm of the sweep. */
  readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: RetentionProps) {
    super(scope, id);
    const expression = props.schedule ?? 'rate(1 hour)';
    validate(props, expression);

    this.reservedConcurrency = props.reservedConcurrency ?? 2;
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.sweepFunction = new HandlerFunction(this, 'Sweep', {
      defaults: props.defaults,
      entryName: 'sweep',
      description: 'sweep (scheduled): purges message copies past retention and pending deletes',
      store: SWEEP_FUNCTION.store,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? DEFAULT_SWEEP_TIMEOUT,
      tracing: true,
      // A failed run is not retried at once (the next run resumes from the checkpoint); its event is dead-lettered.
      asyncRetryAttempts: 0,
      options: {
        reservedConcurrentExecutions: this.reservedConcurrency,
        deadLetterQueue: this.deadLetterQueue,
      },
    });

    this.schedule = new Schedule(this, 'Schedule', {
      description: 'Starts a retention sweep',
      schedule: ScheduleExpression.expression(expression),
      timeWindow: TimeWindow.off(),
      target: new LambdaInvoke(this.sweepFunction.alias, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 2,
        maxEventAge: Duration.hours(1),
      }),
    });

    this.errorsAlarm = new Alarm(this, 'SweepErrorsAlarm', {
      alarmDescription: describeAlarm(
        'A retention sweep invocation failed (Lambda Errors >= 1 in 5 minutes; see the sweep function logs).',
        RUNBOOKS.sweepStuck,
      ),
      metric: this.sweepFunction.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });

    const heartbeatWindow = Duration.seconds(heartbeatPeriodOf(props, expression).toSeconds() * 2);
    this.heartbeatAlarm = new Alarm(this, 'SweepHeartbeatAlarm', {
      alarmDescription: describeAlarm(
        `No retention sweep run finished in ${heartbeatWindow.toHumanString()} (two schedule periods): the schedule stopped, runs fail, or runs never finish.`,
        RUNBOOKS.sweepStuck,
      ),
      metric: new Metric({
        namespace: METRICS_NAMESPACE,
        metricName: SWEEP_METRICS.runsFinished,
        dimensionsMap: { service: SWEEP_SERVICE },
        statistic: 'Sum',
        period: heartbeatWindow,
      }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // No data at all is the loudest failure: nothing ran.
      treatMissingData: TreatMissingData.BREACHING,
    });

    this.newDeadLettersAlarm = new Alarm(this, 'NewDeadLettersAlarm', {
      alarmDescription: describeAlarm(
        'A sweep invocation was dead-lettered in the last 5 minutes (NumberOfMessagesSent > 0): a run failed or could not be delivered.',
        RUNBOOKS.deadLetters,
      ),
      metric: this.deadLetterQueue.metricNumberOfMessagesSent({
        period: Duration.minutes(5),
        statistic: 'Sum',
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLettersAlarm = new Alarm(this, 'DeadLettersAlarm', {
      alarmDescription: describeAlarm(
        'Dead-lettered sweep invocations are waiting in the queue (depth > 0). Notified again every day while they persist.',
        RUNBOOKS.deadLetters,
      ),
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(5),
        statistic: 'Maximum',
      }),
      threshold: 0,
      comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    // CloudWatch notifies only on a change of state. Setting the alarm to OK makes its next evaluation (a
    // minute later) go back to ALARM, and notify again, if letters are still waiting; if none are, it stays OK.
    this.deadLetterReminder = new Schedule(this, 'DeadLetterReminder', {
      description: 'Re-arms the dead-letter alarm so waiting dead letters are notified again',
      schedule: ScheduleExpression.expression(props.deadLetterReminder ?? 'rate(1 day)'),
      timeWindow: TimeWindow.off(),
      target: new Universal({
        service: 'cloudwatch',
        action: 'setAlarmState',
        input: ScheduleTargetInput.fromObject({
          AlarmName: this.deadLettersAlarm.alarmName,
          StateValue: 'OK',
          StateReason: 'Daily re-check: notify again if dead letters are still waiting',
        }),
        policyStatements: [
          new PolicyStatement({
            actions: ['cloudwatch:SetAlarmState'],
            resources: [this.deadLettersAlarm.alarmArn],
          }),
        ],
        retryAttempts: 2,
      }),
    });
    this.alarms = [this.errorsAlarm, this.heartbeatAlarm, this.newDeadLettersAlarm, this.deadLettersAlarm];
  }

  /**
   * Lets a function start a sweep run: SWEEP_FUNCTION_NAME (the `live` alias's ARN) in its environment and
   * lambda:InvokeFunction on that alias only (an asynchronous invoke). Both name the alias by its ARN, not
   * the alias resource: the alias waits for its deployment group, which waits for the Monitoring nested
   * stack, which takes the starter's function name, so a reference to the alias would be a cycle
   * (HandlerFunction.liveAliasArn, docs/aws.md "Stack layout").
   */
  allowStart(starter: HandlerFunction): void {
    const sweep = this.sweepFunction.liveAliasArn;
    starter.function.addEnvironment('SWEEP_FUNCTION_NAME', sweep);
    starter.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [sweep] }),
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
  const heartbeat = heartbeatPeriodOf(props, expression);
  if (heartbeat.toSeconds() % 60 !== 0 || heartbeat.toSeconds() * 2 > Duration.days(1).toSeconds()) {
    throw new Error(
      `The sweep heartbeat period must be whole minutes and at most 12 hours (its alarm looks at twice it, CloudWatch at most a day), got ${heartbeat.toHumanString()}`,
    );
  }
  const concurrency = props.reservedConcurrency;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1)) {
    throw new Error(`The sweep's reserved concurrency must be an integer of at least 1, got ${concurrency}`);
  }
}

/** The schedule's period: the heartbeat option, else the period of a `rate(...)` expression. */
function heartbeatPeriodOf(props: SweepOptions, expression: string): Duration {
  if (props.heartbeatPeriod) return props.heartbeatPeriod;
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!rate) {
    throw new Error(`A sweep schedule that is not rate(...) needs heartbeatPeriod, got "${expression}"`);
  }
  const amount = Number(rate[1]);
  const unit = rate[2] ?? '';
  if (unit.startsWith('minute')) return Duration.minutes(amount);
  if (unit.startsWith('hour')) return Duration.hours(amount);
  return Duration.days(amount);
}
