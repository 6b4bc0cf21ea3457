import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  aliasIdOf,
  functionId,
  functionProps,
  getAtt,
  resourcesOf,
  roleStatements,
  sweepQueue,
  synthesize,
} from './support/stack.js';

let template: Template;
let sweepId: string;
let sweepAliasId: string;
let queueId: string;

beforeAll(() => {
  template = synthesize().whole;
  sweepId = functionId(template, 'sweep');
  sweepAliasId = aliasIdOf(template, sweepId);
  queueId = sweepQueue(template)[0];
});

function sweepSchedule(of: Template) {
  const found = Object.values(of.findResources('AWS::Scheduler::Schedule')).filter(
    (schedule) => schedule.Properties?.Description === 'Starts a retention sweep',
  );
  if (found.length !== 1) throw new Error(`Expected one sweep schedule, found ${found.length}`);
  return found[0] as { Properties: Record<string, unknown> };
}

describe('the retention sweep', () => {
  it("is started by EventBridge Scheduler every hour, on time, through the function's live alias", () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      Description: 'Starts a retention sweep',
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { Ref: sweepAliasId },
        RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
        DeadLetterConfig: { Arn: getAtt(queueId) },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      },
    });
  });

  it("lets the scheduler's role invoke only the sweep's live alias and dead-letter to the queue", () => {
    const schedule = sweepSchedule(template);
    const target = schedule.Properties.Target as { RoleArn: { 'Fn::GetAtt': [string, string] } } | undefined;
    const roleId = target?.RoleArn['Fn::GetAtt'][0] ?? '';
    const role = template.findResources('AWS::IAM::Role')[roleId];
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain('scheduler.amazonaws.com');
    const statements = roleStatements(template, roleId);
    expect(statements.flatMap(actionsOf).sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
    for (const statement of statements) {
      const expected = actionsOf(statement).includes('sqs:SendMessage')
        ? [getAtt(queueId)]
        : [{ Ref: sweepAliasId }];
      expect(resourcesOf(statement)).toEqual(expected);
    }
  });

  it('runs at most two at a time, does not retry a failed run at once, and dead-letters it', () => {
    expect(functionProps(template, 'sweep')).toMatchObject({
      ReservedConcurrentExecutions: 2,
      Timeout: 300,
      DeadLetterConfig: { TargetArn: getAtt(queueId) },
    });
    // On the alias every caller invokes (an EventInvokeConfig applies to its own qualifier only); the
    // others are the export worker's and the erasure function's (exports.test.ts, erasure.test.ts).
    const configs = Object.values(template.findResources('AWS::Lambda::EventInvokeConfig')).filter(
      (config) => (config.Properties?.FunctionName as { Ref?: string } | undefined)?.Ref === sweepId,
    );
    expect(configs).toHaveLength(1);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: sweepId },
      Qualifier: { 'Fn::Select': [7, { 'Fn::Split': [':', { Ref: sweepAliasId }] }] },
      MaximumRetryAttempts: 0,
    });
  });

  it('has an encrypted, TLS-only dead-letter queue that keeps messages 14 days', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      MessageRetentionPeriod: 14 * 24 * 3600,
      SqsManagedSseEnabled: true,
    });
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [{ Ref: queueId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
  });

  it('alarms on sweep function errors', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/Lambda',
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: sweepId } }],
      Statistic: 'Sum',
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('the retention sweep with options', () => {
  let custom: Template;

  beforeAll(() => {
    custom = synthesize({
      props: {
        sweep: {
          schedule: 'cron(15 3 * * ? *)',
          reservedConcurrency: 1,
          heartbeatPeriod: Duration.hours(6),
        },
      },
    }).whole;
  });

  it('follows the configured schedule and concurrency', () => {
    expect(sweepSchedule(custom).Properties.ScheduleExpression).toBe('cron(15 3 * * ? *)');
    expect(functionProps(custom, 'sweep')).toMatchObject({ ReservedConcurrentExecutions: 1 });
  });

  it('needs a heartbeat period with a cron schedule, and at most 12 hours of it', () => {
    expect(() => synthesize({ props: { sweep: { schedule: 'cron(15 3 * * ? *)' } } })).toThrow(
      /needs heartbeatPeriod/,
    );
    expect(() => synthesize({ props: { sweep: { schedule: 'rate(13 hours)' } } })).toThrow(
      /at most 12 hours/,
    );
  });
});
