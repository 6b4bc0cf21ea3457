import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/routes.js';
import { TABLE_INDEXES } from '../../functions/store/table.js';
import { ALARM_THRESHOLDS } from '../../infra/constructs/alarms.js';
import { PROJECT_ROOT } from '../../infra/paths.js';
import { functionId, getAtt, onlyResource, resources, sweepQueue, synthesize } from './support/stack.js';

type AlarmProps = Record<string, unknown> & { AlarmDescription: string };

let template: Template;
let topicId: string;
let apiId: string;

beforeAll(() => {
  // The alarms live in the Monitoring nested stack, the sweep's with Retention in the top-level stack, the
  // topic in the top-level stack: the whole template reads each reference through the nested parameters.
  template = synthesize().whole;
  topicId = onlyResource(template, 'AWS::SNS::Topic')[0];
  apiId = onlyResource(template, 'AWS::ApiGatewayV2::Api')[0];
});

/** The alarms whose description contains `text`. */
function alarmsDescribed(of: Template, text: string): [string, AlarmProps][] {
  return resources(of, 'AWS::CloudWatch::Alarm')
    .map(([id, alarm]) => [id, alarm.Properties as AlarmProps] as [string, AlarmProps])
    .filter(([, props]) => props.AlarmDescription.includes(text));
}

function onlyAlarm(of: Template, text: string): [string, AlarmProps] {
  const found = alarmsDescribed(of, text);
  if (found.length !== 1) throw new Error(`Expected one alarm described "${text}", found ${found.length}`);
  return found[0] as [string, AlarmProps];
}

const ENTRY_NAMES = [...ROUTES.map((route) => route.name), 'notFound', 'sweep'];
const pascal = (name: string) => name.charAt(0).toUpperCase() + name.slice(1);

describe('the alarm topic', () => {
  it("is the stack's own, encrypted with a rotated key CloudWatch may use, TLS only", () => {
    const [keyId] = onlyResource(template, 'AWS::KMS::Key');
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: getAtt(keyId) });
    template.hasResourceProperties('AWS::KMS::Key', {
      EnableKeyRotation: true,
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: topicId }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
  });

  it('is notified by every alarm, on alarm and on OK (the two dead-letter alarms: on alarm only)', () => {
    const alarms = resources(template, 'AWS::CloudWatch::Alarm');
    expect(alarms.length).toBeGreaterThan(100);
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties?.AlarmActions, id).toEqual([{ Ref: topicId }]);
      const deadLetters = id.includes('DeadLetters');
      expect(alarm.Properties?.OKActions, id).toEqual(deadLetters ? undefined : [{ Ref: topicId }]);
    }
  });

  it('every alarm description names a runbook that exists in docs/runbooks', () => {
    for (const [id, alarm] of resources(template, 'AWS::CloudWatch::Alarm')) {
      const description = String(alarm.Properties?.AlarmDescription);
      const runbook = /Runbook: (docs\/runbooks\/[a-z0-9-]+\.md)/.exec(description)?.[1];
      expect(runbook, id).toBeDefined();
      expect(existsSync(join(PROJECT_ROOT, runbook as string)), runbook).toBe(true);
    }
  });
});

describe('alarms on what users feel, per route', () => {
  it('turns on route-level API Gateway metrics', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      DefaultRouteSettings: Match.objectLike({ DetailedMetricsEnabled: true }),
    });
  });

  it.each(ROUTES.map((route) => [`${route.method} ${route.path}`, route] as const))(
    '%s: 5xx above 5% of requests and p99 latency at or above 2 s',
    (label, route) => {
      const dimensions = [
        { Name: 'ApiId', Value: { Ref: apiId } },
        { Name: 'Method', Value: route.method },
        { Name: 'Resource', Value: route.path },
        { Name: 'Stage', Value: '$default' },
      ];
      const [, rate] = onlyAlarm(template, `${label}: 5xx above`);
      expect(rate).toMatchObject({
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: ALARM_THRESHOLDS.route5xxPercent,
        EvaluationPeriods: 5,
        DatapointsToAlarm: 3,
        TreatMissingData: 'notBreaching',
      });
      expect(rate.Metrics).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ Expression: 'IF(requests >= 5, 100 * errors / requests, 0)' }),
          {
            Id: 'errors',
            MetricStat: {
              Metric: { Namespace: 'AWS/ApiGateway', MetricName: '5xx', Dimensions: dimensions },
              Period: 60,
              Stat: 'Sum',
            },
            ReturnData: false,
          },
          {
            Id: 'requests',
            MetricStat: {
              Metric: { Namespace: 'AWS/ApiGateway', MetricName: 'Count', Dimensions: dimensions },
              Period: 60,
              Stat: 'Sum',
            },
            ReturnData: false,
          },
        ]),
      );
      const [, latency] = onlyAlarm(template, `${label}: p99 latency`);
      expect(latency).toMatchObject({
        Namespace: 'AWS/ApiGateway',
        MetricName: 'Latency',
        Dimensions: dimensions,
        ExtendedStatistic: 'p99',
        Period: 60,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        Threshold: 2000,
        EvaluationPeriods: 5,
        DatapointsToAlarm: 3,
      });
      expect(rate.AlarmDescription).toContain('Runbook: docs/runbooks/5xx-spike.md');
    },
  );
});

describe('alarms on every function', () => {
  it.each(ENTRY_NAMES)('%s: errors, throttles and duration near the timeout', (name) => {
    const fn = { Ref: functionId(template, name) };
    const label = pascal(name);
    const lambdaAlarm = (metric: string) =>
      resources(template, 'AWS::CloudWatch::Alarm').filter(
        ([, alarm]) =>
          alarm.Properties?.MetricName === metric &&
          JSON.stringify(alarm.Properties?.Dimensions) ===
            JSON.stringify([{ Name: 'FunctionName', Value: fn }]),
      );
    const [errors] = lambdaAlarm('Errors');
    expect(errors?.[1].Properties).toMatchObject({
      Statistic: 'Sum',
      Period: 300,
      Threshold: name === 'sweep' ? 1 : ALARM_THRESHOLDS.functionErrors,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    const [throttles] = lambdaAlarm('Throttles');
    expect(throttles?.[1].Properties).toMatchObject({
      Statistic: 'Sum',
      Period: 300,
      Threshold: ALARM_THRESHOLDS.functionThrottles,
      AlarmDescription: expect.stringContaining('Runbook: docs/runbooks/throttling.md'),
    });
    const [duration] = lambdaAlarm('Duration');
    // Routes: p99 at 80% of the 10 s timeout. Sweep: past 300 s minus half its 20 s checkpoint margin.
    expect(duration?.[1].Properties).toMatchObject(
      name === 'sweep'
        ? { Statistic: 'Maximum', Threshold: 290_000 }
        : { ExtendedStatistic: 'p99', Threshold: 8_000 },
    );
    expect(String(duration?.[1].Properties?.AlarmDescription)).toContain(`Function ${label}:`);
  });
});

describe('alarms on the table and the account', () => {
  it('throttled requests (at least 1) and system errors (at least 5) in 5 minutes, over every operation', () => {
    const [, throttled] = onlyAlarm(template, 'DynamoDB: 1 or more throttled requests');
    expect(throttled).toMatchObject({ Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(JSON.stringify(throttled.Metrics)).toContain('"MetricName":"ThrottledRequests"');
    expect(JSON.stringify(throttled.Metrics)).toContain('"Value":"TransactWriteItems"');
    const [, system] = onlyAlarm(template, 'DynamoDB: 5 or more system errors');
    expect(system).toMatchObject({ Threshold: 5 });
    expect(JSON.stringify(system.Metrics)).toContain('"MetricName":"SystemErrors"');
  });

  it('no throughput-cap alarms without caps', () => {
    expect(alarmsDescribed(template, 'of the cap')).toEqual([]);
  });

  it('account concurrency at 80% of the quota', () => {
    const [, concurrency] = onlyAlarm(template, 'account concurrent executions');
    expect(concurrency).toMatchObject({
      Namespace: 'AWS/Lambda',
      MetricName: 'ConcurrentExecutions',
      Statistic: 'Maximum',
      Threshold: 800,
      EvaluationPeriods: 5,
      DatapointsToAlarm: 3,
    });
    expect(concurrency.Dimensions).toBeUndefined();
  });
});

describe('the sweep alarms', () => {
  it('heartbeat: no finished run in two schedule periods (2 hours), missing data breaching', () => {
    const [, heartbeat] = onlyAlarm(template, 'No retention sweep run finished');
    expect(heartbeat).toMatchObject({
      Namespace: 'Roaming',
      MetricName: 'RunsFinished',
      Dimensions: [{ Name: 'service', Value: 'roaming-sweep' }],
      Statistic: 'Sum',
      Period: 7200,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
    });
    expect(heartbeat.AlarmDescription).toContain('docs/runbooks/sweep-stuck.md');
  });

  it('follows the schedule: rate(30 minutes) watches one hour', () => {
    const custom = synthesize({ props: { sweep: { schedule: 'rate(30 minutes)' } } }).whole;
    expect(onlyAlarm(custom, 'No retention sweep run finished')[1]).toMatchObject({ Period: 3600 });
  });

  it('a new dead letter alarms, each time one arrives', () => {
    const queueId = sweepQueue(template)[0];
    const [, sent] = onlyAlarm(template, 'was dead-lettered in the last 5 minutes');
    expect(sent).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'NumberOfMessagesSent',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(queueId, 'QueueName') }],
      Statistic: 'Sum',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
  });

  it('waiting dead letters alarm, and a daily schedule resets that alarm so it notifies again while they persist', () => {
    const [depthId, depth] = onlyAlarm(template, 'are waiting in the queue');
    expect(depth).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(1 day)',
      Target: {
        Arn: {
          'Fn::Join': [
            '',
            ['arn:', { Ref: 'AWS::Partition' }, ':scheduler:::aws-sdk:cloudwatch:setAlarmState'],
          ],
        },
        Input: {
          'Fn::Join': [
            '',
            ['{"AlarmName":"', { Ref: depthId }, Match.stringLikeRegexp('^","StateValue":"OK"')],
          ],
        },
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [{ Action: 'cloudwatch:SetAlarmState', Effect: 'Allow', Resource: getAtt(depthId) }],
      },
    });
  });
});

describe('alarms with options', () => {
  it('an existing topic: no topic of our own, every alarm notifies it', () => {
    const topicArn = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';
    const custom = synthesize({ props: { alarms: { topicArn } } }).whole;
    custom.resourceCountIs('AWS::SNS::Topic', 0);
    custom.resourceCountIs('AWS::KMS::Key', 0);
    custom.allResourcesProperties('AWS::CloudWatch::Alarm', { AlarmActions: [topicArn] });
  });

  it('email and Slack subscriptions to the topic', () => {
    const custom = synthesize({
      props: {
        alarms: {
          emails: ['oncall@example.org', 'lead@example.org'],
          slack: { workspaceId: 'T0123', channelId: 'C0456' },
        },
      },
    }).whole;
    const topic = { Ref: onlyResource(custom, 'AWS::SNS::Topic')[0] };
    for (const email of ['oncall@example.org', 'lead@example.org']) {
      custom.hasResourceProperties('AWS::SNS::Subscription', {
        Protocol: 'email',
        Endpoint: email,
        TopicArn: topic,
      });
    }
    custom.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T0123',
      SlackChannelId: 'C0456',
      SnsTopicArns: [topic],
    });
  });

  it('throughput caps: read and write alarms at 80% of the caps, for the table and every index', () => {
    const custom = synthesize({
      props: { throughputCaps: { maxReadRequestUnits: 1000, maxWriteRequestUnits: 500 } },
    }).whole;
    for (const target of ['table', ...TABLE_INDEXES.map((index) => `index ${index.indexName}`)]) {
      for (const [kind, threshold] of [
        ['read', 800],
        ['write', 400],
      ] as const) {
        const [, alarm] = onlyAlarm(custom, `DynamoDB ${target}: ${kind} units per second`);
        expect(alarm).toMatchObject({
          Threshold: threshold,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
          EvaluationPeriods: 5,
          DatapointsToAlarm: 3,
        });
        const metrics = JSON.stringify(alarm.Metrics);
        expect(metrics).toContain('consumed / PERIOD(consumed)');
        expect(metrics).toContain(
          `"MetricName":"Consumed${kind === 'read' ? 'Read' : 'Write'}CapacityUnits"`,
        );
        if (target !== 'table') expect(metrics).toContain(`"Name":"GlobalSecondaryIndexName"`);
      }
    }
  });

  it('account concurrency follows the configured quota', () => {
    const custom = synthesize({ props: { alarms: { accountConcurrencyLimit: 3000 } } }).whole;
    expect(onlyAlarm(custom, 'account concurrent executions')[1]).toMatchObject({ Threshold: 2400 });
  });
});
