import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ERASURE_FUNCTION } from '../../functions/routes.js';
import { type HandlerDefaults, HandlerFunction, LIVE_ALIAS } from './handler-function.js';
import { describeAlarm, RUNBOOKS } from './runbooks.js';

export interface ErasureProps {
  readonly defaults: HandlerDefaults;
}

/**
 * The erasure function (functions/handlers/erasure-worker.ts): started by POST /v1/admin/erasures with an
 * asynchronous invoke, it scans the table and invokes itself (its own `live` alias) to go on when its
 * time runs short. Its grants are ERASURE_FUNCTION's (a Scan of the table among them: IAM cannot limit a
 * Scan by partition) and lambda:InvokeFunction on its own alias, in a policy of its own (a statement in
 * the role's default policy would make the function depend on its own ARN).
 *
 * An invocation that failed its retries goes to an on-failure destination, an encrypted SQS queue (as
 * the sweep's dead letters, constructs/retention.ts): the job stays `running` with its checkpoints, and
 * the runbook (docs/runbooks/erasure-stuck.md) says how to go on. Two alarms name that runbook: errors
 * and dead letters; `notify` gives them the stack's alarm topic.
 */
export class Erasure extends Construct {
  readonly erasureFunction: HandlerFunction;
  /** Invocations that failed after their retries (Lambda's on-failure destination). */
  readonly deadLetterQueue: Queue;
  readonly errorsAlarm: Alarm;
  /** Dead letters are waiting: an erasure stopped and nothing will resume it by itself. */
  readonly deadLettersAlarm: Alarm;
  readonly alarms: readonly Alarm[];

  constructor(scope: Construct, id: string, props: ErasureProps) {
    super(scope, id);
    this.erasureFunction = new HandlerFunction(this, 'Erasure', {
      defaults: props.defaults,
      entryName: ERASURE_FUNCTION.name,
      description:
        'erasure (started by POST /v1/admin/erasures): erases a user, a resumable job that invokes itself to go on',
      store: ERASURE_FUNCTION.store,
      memorySize: 1024,
      timeout: Duration.minutes(5),
    });
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    // A crashed invocation is retried twice (it resumes from the job's checkpoints once its lease lapses);
    // then its event, with the error, goes to the queue.
    this.erasureFunction.alias.configureAsyncInvoke({
      retryAttempts: 2,
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    const fn = this.erasureFunction.function;
    const selfAlias = Stack.of(this).formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: `${fn.functionName}:${LIVE_ALIAS}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    new Policy(this, 'InvokeItself', {
      roles: [this.erasureFunction.role],
      statements: [new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [selfAlias] })],
    });

    this.errorsAlarm = new Alarm(this, 'ErasureErrorsAlarm', {
      alarmDescription: describeAlarm(
        'An erasure invocation failed (Lambda Errors >= 1 in 5 minutes; see the erasure function logs). It is retried twice, then dead-lettered.',
        RUNBOOKS.erasureStuck,
      ),
      metric: fn.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    this.deadLettersAlarm = new Alarm(this, 'ErasureDeadLettersAlarm', {
      alarmDescription: describeAlarm(
        'An erasure invocation failed after its retries and waits in the dead-letter queue (depth > 0): its job stays running and nothing resumes it by itself.',
        RUNBOOKS.erasureStuck,
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
    this.alarms = [this.errorsAlarm, this.deadLettersAlarm];
  }

  /**
   * Sends the erasure's alarms to the stack's alarm topic: errors also when they recover; dead letters on
   * alarm only (as the sweep's: constructs/alarms.ts), the queue is purged once understood.
   */
  notify(topic: ITopic): void {
    const action = new SnsAction(topic);
    for (const alarm of this.alarms) alarm.addAlarmAction(action);
    this.errorsAlarm.addOkAction(action);
  }

  /**
   * Lets the startErasure route invoke the erasure function (its `live` alias) and tells it the ARN, by
   * the alias's ARN rather than the alias resource (HandlerFunction.liveAliasArn, docs/aws.md "Stack layout").
   */
  allowStart(starter: HandlerFunction): void {
    const alias = this.erasureFunction.liveAliasArn;
    starter.function.addEnvironment('ERASURE_FUNCTION_NAME', alias);
    starter.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [alias] }),
    );
  }
}
