import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  functionId,
  functionProps,
  getAtt,
  onlyResource,
  resourcesOf,
  roleStatements,
  synthesize,
} from './support/stack.js';

let template: Template;
let sweepId: string;
let queueId: string;

beforeAll(() => {
  template = synthesize().template;
  sweepId = functionId(template, 'sweep');
  queueId = onlyResource(template, 'AWS::SQS::Queue')[0];
});

describe('the retention sweep', () => {
  it('is started by EventBridge Scheduler every hour, on time', () => {
    template.resourceCountIs('AWS::Scheduler::Schedule', 1);
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 hour)',
      State: 'ENABLED',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: getAtt(sweepId),
        RoleArn: { 'Fn::GetAtt': [Match.anyValue(), 'Arn'] },
        DeadLetterConfig: { Arn: getAtt(queueId) },
        RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      },
    });
  });

  it("lets the scheduler's role invoke only the sweep function and dead-letter to the queue", () => {
    const [, schedule] = onlyResource(template, 'AWS::Scheduler::Schedule');
    const target = schedule.Properties?.Target as { RoleArn: { 'Fn::GetAtt': [string, string] } } | undefined;
    const roleId = target?.RoleArn['Fn::GetAtt'][0] ?? '';
    const role = template.findResources('AWS::IAM::Role')[roleId];
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain('scheduler.amazonaws.com');
    const statements = roleStatements(template, roleId);
    expect(statements.flatMap(actionsOf).sort()).toEqual(['lambda:InvokeFunction', 'sqs:SendMessage']);
    for (const statement of statements) {
      const expected = actionsOf(statement).includes('sqs:SendMessage')
        ? [getAtt(queueId)]
        : [getAtt(sweepId), { 'Fn::Join': ['', [getAtt(sweepId), ':*']] }];
      expect(resourcesOf(statement)).toEqual(expected);
    }
  });

  it('runs at most two at a time, does not retry a failed run at once, and dead-letters it', () => {
    expect(functionProps(template, 'sweep')).toMatchObject({
      ReservedConcurrentExecutions: 2,
      Timeout: 300,
      DeadLetterConfig: { TargetArn: getAtt(queueId) },
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: sweepId },
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

  it('alarms as soon as the dead-letter queue holds a message', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(queueId, 'QueueName') }],
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 0,
      EvaluationPeriods: 1,
    });
  });

  it('has exactly these two alarms, without actions unless a topic is given', () => {
    template.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    template.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: Match.absent() });
  });
});

describe('the retention sweep with options', () => {
  const topicArn = 'arn:aws:sns:eu-west-1:123456789012:roaming-alarms';
  let custom: Template;

  beforeAll(() => {
    custom = synthesize({
      props: { sweep: { schedule: 'cron(15 3 * * ? *)', reservedConcurrency: 1 }, alarmTopicArn: topicArn },
    }).template;
  });

  it('follows the configured schedule and concurrency', () => {
    custom.hasResourceProperties('AWS::Scheduler::Schedule', { ScheduleExpression: 'cron(15 3 * * ? *)' });
    expect(functionProps(custom, 'sweep')).toMatchObject({ ReservedConcurrentExecutions: 1 });
  });

  it('notifies the topic on alarm and on recovery', () => {
    custom.resourceCountIs('AWS::CloudWatch::Alarm', 2);
    custom.allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicArn],
      OKActions: [topicArn],
    });
  });
});
