import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  aliasIdOf,
  functionId,
  functionProps,
  getAtt,
  messageTableId,
  roleIdOf,
  roleStatements,
  synthesize,
} from './support/stack.js';

/** The erasure function (infra/constructs/erasure.ts): started by startErasure, it invokes itself to go on. */
let template: Template;
let erasureId: string;

beforeAll(() => {
  template = synthesize().whole;
  erasureId = functionId(template, 'erasure');
});

describe('the erasure function', () => {
  it('runs up to 5 minutes per invocation and is retried twice when an invocation fails', () => {
    expect(functionProps(template, 'erasure')).toMatchObject({ Timeout: 300, MemorySize: 1024 });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: erasureId },
      MaximumRetryAttempts: 2,
    });
  });

  it('may Scan the table (no partition condition can limit a Scan), and Scan nothing else', () => {
    const statements = roleStatements(template, roleIdOf(template, erasureId));
    const scans = statements.filter((s) => actionsOf(s).includes('dynamodb:Scan'));
    expect(scans).toEqual([
      { Effect: 'Allow', Action: 'dynamodb:Scan', Resource: getAtt(messageTableId(template)) },
    ]);
    // No other function may Scan.
    for (const [id] of Object.entries(template.findResources('AWS::Lambda::Function'))) {
      if (id === erasureId) continue;
      const others = roleStatements(template, roleIdOf(template, id));
      expect(
        others.filter((s) => actionsOf(s).includes('dynamodb:Scan')),
        id,
      ).toEqual([]);
    }
  });

  it('is invoked by startErasure through its live alias, whose ARN only startErasure is told', () => {
    // By the alias's ARN built from the function's (no reference to the alias resource: a cycle through
    // the Monitoring nested stack otherwise, docs/aws.md "Stack layout").
    const alias = aliasIdOf(template, erasureId);
    expect(template.findResources('AWS::Lambda::Alias')[alias]?.Properties?.Name).toBe('live');
    const liveArn = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [erasureId, 'Arn'] }, ':live']] };
    const variables = (
      functionProps(template, 'startErasure').Environment as { Variables: Record<string, unknown> }
    ).Variables;
    expect(variables.ERASURE_FUNCTION_NAME).toEqual(liveArn);
    const starter = roleStatements(template, roleIdOf(template, functionId(template, 'startErasure')));
    expect(starter.filter((s) => actionsOf(s).includes('lambda:InvokeFunction'))).toEqual([
      { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: liveArn },
    ]);
  });

  it('may invoke its own live alias only (to go on after a stop), named so it does not depend on itself', () => {
    const own = roleStatements(template, roleIdOf(template, erasureId)).filter((s) =>
      actionsOf(s).includes('lambda:InvokeFunction'),
    );
    expect(own).toHaveLength(1);
    const resource = JSON.stringify(own[0]?.Resource);
    expect(resource).toContain(`{"Ref":"${erasureId}"}`);
    expect(resource).toContain(':live');
  });
});

describe('when an erasure invocation fails', () => {
  it('goes, after its two retries, to an encrypted SQS queue (the alias on-failure destination)', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    const queueId = Object.keys(queues).find((id) => id.startsWith('ErasureDeadLetterQueue'));
    expect(queueId).toBeDefined();
    expect(queues[queueId as string]?.Properties).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: erasureId },
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: getAtt(queueId as string, 'Arn') } },
    });
    // The function may send to it (Lambda sends the failure record with the function's role).
    const sends = roleStatements(template, roleIdOf(template, erasureId)).filter((s) =>
      actionsOf(s).includes('sqs:SendMessage'),
    );
    expect(sends.map((s) => s.Resource)).toEqual([getAtt(queueId as string, 'Arn')]);
  });

  it('alarms on errors and on dead letters waiting, each naming the erasure runbook, and notifies the alarm topic', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
      id.startsWith('ErasureErasure'),
    );
    expect(alarms.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'ErasureErasureDeadLettersAlarm',
      'ErasureErasureErrorsAlarm',
    ]);
    for (const [, alarm] of alarms) {
      const props = alarm.Properties as Record<string, unknown>;
      expect(props.AlarmDescription).toContain('docs/runbooks/erasure-stuck.md');
      expect(props.AlarmActions).toHaveLength(1);
    }
    const actionsOf = (name: string) => alarms.find(([id]) => id.startsWith(name))?.[1].Properties;
    // Errors notify when they recover too; dead letters only when they arrive (as the sweep's).
    expect(actionsOf('ErasureErasureErrorsAlarm')?.OKActions).toEqual(
      actionsOf('ErasureErasureErrorsAlarm')?.AlarmActions,
    );
    expect(actionsOf('ErasureErasureDeadLettersAlarm')?.OKActions).toBeUndefined();
    const errors = alarms.find(([id]) => id.startsWith('ErasureErasureErrorsAlarm'))?.[1].Properties;
    expect(errors).toMatchObject({
      MetricName: 'Errors',
      Threshold: 1,
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: erasureId } }],
    });
    const letters = alarms.find(([id]) => id.startsWith('ErasureErasureDeadLettersAlarm'))?.[1].Properties;
    expect(letters).toMatchObject({ MetricName: 'ApproximateNumberOfMessagesVisible', Threshold: 0 });
  });
});
