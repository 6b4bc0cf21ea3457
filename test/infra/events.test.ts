import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { DELIVERY_ATTEMPTS } from '../../functions/events/delivery.js';
import { BUS_EVENT_SOURCE, EVENT_LAG_ALARM_SECONDS, OUTBOX_FILTERS } from '../../infra/constructs/events.js';
import type { RoamingStack } from '../../infra/roaming-stack.js';
import {
  actionsOf,
  aliasIdOf,
  allStatements,
  functionId,
  functionIds,
  functionProps,
  getAtt,
  messageTableId,
  onlyResource,
  resources,
  resourcesOf,
  roleIdOf,
  roleStatements,
  synthesize,
} from './support/stack.js';

/**
 * The events (infra/constructs/events.ts): the table stream, the two pipes, the webhook's FIFO queue and
 * sender, the bus, the signing secret and the alarms. Read from the whole template (the Events nested stack
 * spliced in, its parameters replaced by what the top-level stack passes).
 */
const WEBHOOK = 'https://hooks.example.com/roaming/events';
const PRESEND = 'https://hooks.example.com/roaming/presend';

let plain: Template;
let webhook: Template;
let hooked: Template;

beforeAll(() => {
  plain = synthesize().whole;
  webhook = synthesize({ props: { events: { webhookUrl: WEBHOOK } } }).whole;
  hooked = synthesize({
    props: {
      events: { webhookUrl: WEBHOOK, presendUrl: PRESEND, presendPolicy: 'closed', presendTimeoutMs: 800 },
    },
  }).whole;
}, 120_000);

type Props = Record<string, unknown>;

function pipeTo(template: Template, targetType: string): Props {
  const targets = new Map(resources(template, targetType).map(([id]) => [id, getAtt(id)]));
  const found = resources(template, 'AWS::Pipes::Pipe').filter(([, pipe]) =>
    [...targets.values()].some((arn) => JSON.stringify(pipe.Properties?.Target) === JSON.stringify(arn)),
  );
  if (found.length !== 1) throw new Error(`Expected one pipe to a ${targetType}, found ${found.length}`);
  return found[0]?.[1].Properties as Props;
}

function queues(template: Template): [string, Props][] {
  return resources(template, 'AWS::SQS::Queue')
    .filter(([id]) => id.startsWith('Delivery'))
    .map(([id, queue]) => [id, queue.Properties as Props]);
}

/** The delivery queue (the one with a redrive policy) and its dead-letter queue. */
function deliveryQueues(template: Template): { queueId: string; queue: Props; deadLetterId: string } {
  const [queueEntry] = queues(template).filter(([, queue]) => queue.RedrivePolicy !== undefined);
  if (!queueEntry) throw new Error('No delivery queue');
  const [queueId, queue] = queueEntry;
  const deadLetterId = (queue.RedrivePolicy as { deadLetterTargetArn: { 'Fn::GetAtt': [string] } })
    .deadLetterTargetArn['Fn::GetAtt'][0];
  return { queueId, queue, deadLetterId };
}

function variables(template: Template, name: string): Record<string, unknown> {
  return (functionProps(template, name).Environment as { Variables: Record<string, unknown> }).Variables;
}

/** The signing secret (the idempotency key is the stack's other secret). */
function signingSecret(template: Template): [string, { Properties?: Props }] {
  const found = resources(template, 'AWS::SecretsManager::Secret').filter(([id]) =>
    id.startsWith('SigningSecret'),
  );
  if (found.length !== 1) throw new Error(`Expected one signing secret, found ${found.length}`);
  return found[0] as [string, { Properties?: Props }];
}

/** The functions whose roles may read the signing secret. */
function secretReaders(template: Template): string[] {
  const [secretId] = signingSecret(template);
  const readers: string[] = [];
  for (const [name, id] of functionIds(template)) {
    const statements = roleStatements(template, roleIdOf(template, id)).filter((s) =>
      actionsOf(s).some((action) => action.startsWith('secretsmanager:')),
    );
    if (statements.length === 0) continue;
    expect(statements, name).toEqual([
      { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: { Ref: secretId } },
    ]);
    readers.push(name);
  }
  return readers.sort();
}

describe('the table stream', () => {
  it('is on, with the new image only (what the pipes read)', () => {
    const table = plain.findResources('AWS::DynamoDB::Table')[messageTableId(plain)];
    expect(table?.Properties?.StreamSpecification).toEqual({ StreamViewType: 'NEW_IMAGE' });
  });

  it('has exactly two readers, both pipes, both taking only outbox items inserted or replayed', () => {
    for (const template of [plain, webhook]) {
      const pipes = resources(template, 'AWS::Pipes::Pipe');
      // A DynamoDB stream serves two readers at once without throttling: these two and no Lambda mapping.
      const readers = template === plain ? 1 : 2;
      expect(pipes).toHaveLength(readers);
      for (const [, pipe] of pipes) {
        expect(pipe.Properties).toMatchObject({
          Source: getAtt(messageTableId(template), 'StreamArn'),
          SourceParameters: {
            DynamoDBStreamParameters: {
              StartingPosition: 'TRIM_HORIZON',
              BatchSize: 10,
              ParallelizationFactor: 1,
              MaximumRetryAttempts: 10,
            },
            FilterCriteria: { Filters: OUTBOX_FILTERS.map(({ pattern }) => ({ Pattern: pattern })) },
          },
        });
      }
      const onStream = resources(template, 'AWS::Lambda::EventSourceMapping').filter(([, mapping]) =>
        JSON.stringify(mapping.Properties?.EventSourceArn).includes('StreamArn'),
      );
      expect(onStream).toEqual([]);
    }
    expect(OUTBOX_FILTERS.map(({ pattern }) => JSON.parse(pattern))).toEqual([
      {
        eventName: ['INSERT'],
        dynamodb: { NewImage: { entity: { S: ['event'] }, redacted: { BOOL: [{ exists: false }] } } },
      },
      {
        eventName: ['MODIFY'],
        dynamodb: { NewImage: { entity: { S: ['event'] }, replayId: { S: [{ exists: true }] } } },
      },
    ]);
  });

  it('leaves batches a pipe gave up on in one encrypted dead-letter queue, which only the pipes may write to', () => {
    const pipeQueues = resources(webhook, 'AWS::SQS::Queue').filter(([id]) =>
      id.startsWith('PipeDeadLetter'),
    );
    expect(pipeQueues).toHaveLength(1);
    const [queueId, queue] = pipeQueues[0] as [string, { Properties?: Props }];
    expect(queue.Properties).toMatchObject({ SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600 });
    for (const [, pipe] of resources(webhook, 'AWS::Pipes::Pipe')) {
      expect(pipe.Properties?.SourceParameters).toMatchObject({
        DynamoDBStreamParameters: { DeadLetterConfig: { Arn: getAtt(queueId) } },
      });
    }
  });

  it("is not read when the functions use an adopted table (its stream is not the stack's to know), with a warning", () => {
    const { stack, whole } = synthesize({ props: { tableName: 'Roaming-restored' } });
    expect(resources(whole, 'AWS::Pipes::Pipe')).toEqual([]);
    const warnings = stack.events.node.metadata.filter((entry) => entry.type === 'aws:cdk:warning');
    expect(warnings.map((entry) => String(entry.data))).toEqual([
      expect.stringContaining('adopted table (tableName): no pipe reads its stream'),
    ]);
  });
});

describe('the webhook delivery', () => {
  it('pipes each outbox item to the FIFO queue, grouped by conversation, de-duplicated on the delivery id', () => {
    const { queueId } = deliveryQueues(webhook);
    expect(pipeTo(webhook, 'AWS::SQS::Queue')).toMatchObject({
      Target: getAtt(queueId),
      TargetParameters: {
        SqsQueueParameters: {
          MessageGroupId: '$.dynamodb.NewImage.group.S',
          MessageDeduplicationId: '$.dynamodb.NewImage.deliveryId.S',
        },
      },
    });
  });

  it('queues in a high-throughput FIFO queue, encrypted, kept 14 days, and redriven to a FIFO dead-letter queue after DELIVERY_ATTEMPTS receives', () => {
    const { queue, deadLetterId } = deliveryQueues(webhook);
    expect(DELIVERY_ATTEMPTS).toBe(34);
    expect(queue).toMatchObject({
      FifoQueue: true,
      FifoThroughputLimit: 'perMessageGroupId',
      DeduplicationScope: 'messageGroup',
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
      RedrivePolicy: { maxReceiveCount: DELIVERY_ATTEMPTS },
    });
    const deadLetters = webhook.findResources('AWS::SQS::Queue')[deadLetterId];
    expect(deadLetters?.Properties).toMatchObject({
      FifoQueue: true,
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    // Both refuse requests without TLS.
    for (const id of [deliveryQueues(webhook).queueId, deadLetterId]) {
      webhook.hasResourceProperties('AWS::SQS::QueuePolicy', {
        Queues: [{ Ref: id }],
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          ]),
        },
      });
    }
  });

  it("hides a message longer than six sender timeouts (Lambda's rule for a queue it polls)", () => {
    const { queue } = deliveryQueues(webhook);
    const timeout = functionProps(webhook, 'deliverEvents').Timeout as number;
    expect(timeout).toBe(60);
    expect(queue.VisibilityTimeout).toBeGreaterThanOrEqual(6 * timeout);
  });

  it("feeds the sender's live alias in batches of 10 with partial batch responses", () => {
    const { queueId } = deliveryQueues(webhook);
    const [, mapping] = onlyResource(webhook, 'AWS::Lambda::EventSourceMapping');
    expect(mapping.Properties).toMatchObject({
      EventSourceArn: getAtt(queueId),
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    const aliasId = aliasIdOf(webhook, functionId(webhook, 'deliverEvents'));
    expect(JSON.stringify(mapping.Properties?.FunctionName)).toContain(`"Ref":"${aliasId}"`);
  });

  it('tells the sender the webhook and the secret, and lets it receive, delete and hide (back off) on its queue only', () => {
    const [secretId] = signingSecret(webhook);
    expect(variables(webhook, 'deliverEvents')).toMatchObject({
      ROAMING_WEBHOOK_URL: WEBHOOK,
      ROAMING_WEBHOOK_SECRET_ARN: { Ref: secretId },
    });
    const { queueId } = deliveryQueues(webhook);
    const sqs = roleStatements(webhook, roleIdOf(webhook, functionId(webhook, 'deliverEvents'))).filter((s) =>
      actionsOf(s).some((action) => action.startsWith('sqs:')),
    );
    expect(sqs).toHaveLength(1);
    expect(actionsOf(sqs[0] as never)).toContain('sqs:ChangeMessageVisibility');
    expect(actionsOf(sqs[0] as never)).not.toContain('sqs:SendMessage');
    expect(resourcesOf(sqs[0] as never)).toEqual([getAtt(queueId)]);
    expect(functionProps(webhook, 'deliverEvents').ReservedConcurrentExecutions).toBeUndefined();
  });

  it("gives the pipe's role the stream read, a send to the queue and to the pipes' dead-letter queue, nothing more", () => {
    const pipe = pipeTo(webhook, 'AWS::SQS::Queue');
    const roleId = (pipe.RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const { queueId } = deliveryQueues(webhook);
    const [pipeDeadLetters] = resources(webhook, 'AWS::SQS::Queue').filter(([id]) =>
      id.startsWith('PipeDeadLetter'),
    );
    const grants = roleStatements(webhook, roleId).flatMap((s) =>
      actionsOf(s).flatMap((action) => resourcesOf(s).map((r) => `${action} ${JSON.stringify(r)}`)),
    );
    const stream = JSON.stringify(getAtt(messageTableId(webhook), 'StreamArn'));
    expect(grants.sort()).toEqual(
      [
        `dynamodb:DescribeStream ${stream}`,
        `dynamodb:GetRecords ${stream}`,
        `dynamodb:GetShardIterator ${stream}`,
        `dynamodb:ListStreams ${stream}`,
        `sqs:SendMessage ${JSON.stringify(getAtt(queueId))}`,
        `sqs:SendMessage ${JSON.stringify(getAtt(pipeDeadLetters?.[0] as string))}`,
      ].sort(),
    );
    const role = webhook.findResources('AWS::IAM::Role')[roleId];
    expect(JSON.stringify(role?.Properties?.AssumeRolePolicyDocument)).toContain('pipes.amazonaws.com');
  });

  it('is not made without a webhook: no queue, no sender, no event source (the bus still is)', () => {
    expect(queues(plain)).toEqual([]);
    expect(functionIds(plain).has('deliverEvents')).toBe(false);
    expect(resources(plain, 'AWS::Lambda::EventSourceMapping')).toEqual([]);
    expect(resources(plain, 'AWS::Events::EventBus')).toHaveLength(1);
  });
});

describe('the event bus', () => {
  it('gets every outbox item through its own pipe, turned into the event by eventsForBus, detail-type the event type', () => {
    for (const template of [plain, webhook]) {
      const [busId] = onlyResource(template, 'AWS::Events::EventBus');
      const enrichment = aliasIdOf(template, functionId(template, 'eventsForBus'));
      expect(pipeTo(template, 'AWS::Events::EventBus')).toMatchObject({
        Target: getAtt(busId),
        Enrichment: { Ref: enrichment },
        TargetParameters: {
          EventBridgeEventBusParameters: { DetailType: '$.type', Source: BUS_EVENT_SOURCE },
        },
      });
    }
    expect(BUS_EVENT_SOURCE).toBe('roaming');
  });

  it("gives the bus pipe's role the stream read, PutEvents on the bus, the enrichment's alias and the dead-letter queue", () => {
    const pipe = pipeTo(plain, 'AWS::Events::EventBus');
    const roleId = (pipe.RoleArn as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const actions = roleStatements(plain, roleId).flatMap(actionsOf).sort();
    expect(actions).toEqual([
      'dynamodb:DescribeStream',
      'dynamodb:GetRecords',
      'dynamodb:GetShardIterator',
      'dynamodb:ListStreams',
      'events:PutEvents',
      'lambda:InvokeFunction',
      'sqs:SendMessage',
    ]);
    const invoke = roleStatements(plain, roleId).find((s) => actionsOf(s).includes('lambda:InvokeFunction'));
    expect(invoke?.Resource).toEqual({ Ref: aliasIdOf(plain, functionId(plain, 'eventsForBus')) });
  });

  it('takes its name from busName, and outputs it', () => {
    const named = synthesize({ props: { events: { busName: 'roaming-events' } } });
    named.whole.hasResourceProperties('AWS::Events::EventBus', { Name: 'roaming-events' });
    expect(Object.keys(named.template.toJSON().Outputs)).toEqual(
      expect.arrayContaining(['EventBusName', 'EventSigningSecretArn']),
    );
  });
});

describe('the signing secret', () => {
  it('is generated (48 characters, no punctuation) and kept when the stack goes or it would be replaced', () => {
    const [, secret] = signingSecret(plain);
    expect(secret.Properties?.GenerateSecretString).toMatchObject({
      PasswordLength: 48,
      ExcludePunctuation: true,
    });
    // Removed only if its first create fails (nothing signed with it yet).
    expect(secret).toMatchObject({ DeletionPolicy: 'RetainExceptOnCreate', UpdateReplacePolicy: 'Retain' });
  });

  it('is readable by the sender only, without a pre-send hook; by nobody without a webhook either', () => {
    expect(secretReaders(plain)).toEqual([]);
    expect(secretReaders(webhook)).toEqual(['deliverEvents']);
    expect(variables(webhook, 'sendMessage')).not.toHaveProperty('ROAMING_WEBHOOK_SECRET_ARN');
    expect(
      Object.keys(variables(webhook, 'sendMessage')).filter((key) => key.startsWith('ROAMING_PRESEND')),
    ).toEqual([]);
  });

  it('is readable by the sender and the send route with a pre-send hook, which the send route is told', () => {
    const [secretId] = signingSecret(hooked);
    expect(secretReaders(hooked)).toEqual(['deliverEvents', 'sendMessage']);
    expect(variables(hooked, 'sendMessage')).toMatchObject({
      ROAMING_PRESEND_URL: PRESEND,
      ROAMING_PRESEND_POLICY: 'closed',
      ROAMING_PRESEND_TIMEOUT_MS: '800',
      ROAMING_WEBHOOK_SECRET_ARN: { Ref: secretId },
    });
    // Only the send route: no other function is told of the hook.
    for (const [name] of functionIds(hooked)) {
      if (name === 'sendMessage') continue;
      expect(variables(hooked, name), name).not.toHaveProperty('ROAMING_PRESEND_URL');
    }
  });

  it('a pre-send hook alone (no webhook): the send route reads the secret, with the default policy and timeout', () => {
    const alone = synthesize({ props: { events: { presendUrl: PRESEND } } }).whole;
    expect(secretReaders(alone)).toEqual(['sendMessage']);
    expect(variables(alone, 'sendMessage')).toMatchObject({
      ROAMING_PRESEND_POLICY: 'open',
      ROAMING_PRESEND_TIMEOUT_MS: '500',
    });
  });

  it('no statement anywhere grants more of it than GetSecretValue', () => {
    const [secretId] = signingSecret(hooked);
    for (const statement of allStatements(hooked)) {
      if (!JSON.stringify(statement.Resource).includes(secretId)) continue;
      expect(statement.Action).toBe('secretsmanager:GetSecretValue');
    }
  });
});

describe('the events settings are validated at synthesis', () => {
  it.each([
    [
      'a presendTimeoutMs of 0',
      { presendTimeoutMs: 0 },
      /presendTimeoutMs must be a whole number .* 1 to 10000, got 0/,
    ],
    ['a presendTimeoutMs of 10001', { presendTimeoutMs: 10_001 }, /presendTimeoutMs .* got 10001/],
    ['a fractional presendTimeoutMs', { presendTimeoutMs: 1.5 }, /presendTimeoutMs .* got 1.5/],
    ['an http webhook', { webhookUrl: 'http://hooks.example.com' }, /webhookUrl must be an https URL/],
    ['a pre-send URL that is no URL', { presendUrl: 'hooks.example.com' }, /presendUrl must be an https URL/],
    ['an unknown policy', { presendPolicy: 'maybe' as 'open' }, /presendPolicy must be 'open' or 'closed'/],
    ['a bus name with a space', { busName: 'my bus' }, /busName/],
  ] as const)('rejects %s', (_, events, message) => {
    expect(() => synthesize({ props: { events } })).toThrow(message);
  });

  it('accepts the bounds, 1 and 10000 ms', () => {
    for (const presendTimeoutMs of [1, 10_000]) {
      const whole = synthesize({ props: { events: { presendUrl: PRESEND, presendTimeoutMs } } }).whole;
      expect(variables(whole, 'sendMessage').ROAMING_PRESEND_TIMEOUT_MS).toBe(String(presendTimeoutMs));
    }
  });
});

describe('the events alarms', () => {
  let stack: RoamingStack;
  let topicId: string;

  beforeAll(() => {
    stack = synthesize({ props: { events: { webhookUrl: WEBHOOK } } }).stack;
    topicId = onlyResource(webhook, 'AWS::SNS::Topic')[0];
  });

  const alarmsOf = (template: Template) =>
    resources(template, 'AWS::CloudWatch::Alarm').filter(([, alarm]) =>
      String(alarm.Properties?.AlarmDescription).includes('docs/runbooks/event-delivery.md'),
    );

  it('with a webhook: webhook dead letters, delivery lag, sender errors, pipe dead letters, enrichment errors', () => {
    const alarms = alarmsOf(webhook);
    expect(alarms.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual([
      'BusEnrichmentErrors',
      'DeliveryDeadLettersAlarm',
      'DeliveryLagAlarm',
      'PipeDeadLettersAlarm',
      'SenderErrors',
    ]);
    expect(stack.events.alarms).toHaveLength(5);
    const { queueId, deadLetterId } = deliveryQueues(webhook);
    const byId = (prefix: string) => alarms.find(([id]) => id.startsWith(prefix))?.[1].Properties as Props;
    expect(byId('DeliveryDeadLetters')).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(deadLetterId, 'QueueName') }],
      Threshold: 0,
      ComparisonOperator: 'GreaterThanThreshold',
    });
    expect(byId('DeliveryLag')).toMatchObject({
      MetricName: 'ApproximateAgeOfOldestMessage',
      Dimensions: [{ Name: 'QueueName', Value: getAtt(queueId, 'QueueName') }],
      Threshold: EVENT_LAG_ALARM_SECONDS,
      Statistic: 'Maximum',
    });
    expect(EVENT_LAG_ALARM_SECONDS).toBe(15 * 60);
    expect(byId('SenderErrors')).toMatchObject({
      MetricName: 'Errors',
      Dimensions: [{ Name: 'FunctionName', Value: { Ref: functionId(webhook, 'deliverEvents') } }],
      Threshold: 1,
    });
    expect(byId('PipeDeadLetters')).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 0,
    });
  });

  it('notify the alarm topic; the dead-letter alarms on alarm only', () => {
    for (const [id, alarm] of alarmsOf(webhook)) {
      expect(alarm.Properties?.AlarmActions, id).toEqual([{ Ref: topicId }]);
      expect(alarm.Properties?.OKActions, id).toEqual(
        id.includes('DeadLetters') ? undefined : [{ Ref: topicId }],
      );
    }
  });

  it('without a webhook: the pipe dead letters and the enrichment errors only', () => {
    expect(
      alarmsOf(plain)
        .map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))
        .sort(),
    ).toEqual(['BusEnrichmentErrors', 'PipeDeadLettersAlarm']);
  });
});
