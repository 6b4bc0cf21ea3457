import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../functions/routes.js';
import {
  functionIds,
  messageTableId,
  onlyResource,
  resources,
  sweepQueue,
  synthesize,
} from './support/stack.js';

/**
 * The operations dashboard: its body is JSON with CloudFormation references spliced in (Fn::Join), so
 * the tests read it back with each reference as a readable placeholder, and check the widgets one by one.
 */
interface Widget {
  type: string;
  properties: {
    title?: string;
    markdown?: string;
    metrics?: unknown[][];
    query?: string;
    alarms?: unknown[];
  };
}

let template: Template;
let widgets: Widget[];

beforeAll(() => {
  template = synthesize().whole;
  widgets = dashboardWidgets(template);
});

function dashboardWidgets(source: Template): Widget[] {
  const [, dashboard] = onlyResource(source, 'AWS::CloudWatch::Dashboard');
  const body = dashboard.Properties?.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = body['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : `<${referenceOf(part)}>`))
    .join('');
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
}

/** `{Ref: X}` → `X`, `{Fn::GetAtt: [X, A]}` → `X.A`, `{Ref: AWS::Region}` → `AWS::Region`. */
function referenceOf(part: unknown): string {
  const ref = (part as { Ref?: string }).Ref;
  if (ref) return ref;
  const getAtt = (part as { 'Fn::GetAtt'?: [string, string] })['Fn::GetAtt'];
  return getAtt ? `${getAtt[0]}.${getAtt[1]}` : JSON.stringify(part);
}

function widget(title: string): Widget {
  const found = widgets.find((w) => w.properties.title === title);
  if (!found)
    throw new Error(`No widget "${title}"; titles: ${widgets.map((w) => w.properties.title).join(' | ')}`);
  return found;
}

/** Each metric line as [namespace, name, ...dimension pairs], without its rendering options. */
function metricLines(w: Widget): string[][] {
  return (w.properties.metrics ?? []).map(
    (line) => line.filter((part) => typeof part === 'string') as string[],
  );
}

function statOf(w: Widget): unknown[] {
  return (w.properties.metrics ?? []).map((line) => (line.at(-1) as { stat?: string }).stat);
}

describe('operations dashboard', () => {
  it('is one dashboard whose body lists the widgets in order', () => {
    template.hasResourceProperties('AWS::CloudWatch::Dashboard', {
      DashboardBody: {
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('"title":"Latency p99 per route')])],
      },
    });
    expect(widgets.map((w) => w.properties.title ?? w.type)).toEqual([
      'text',
      'API requests per route',
      'API Gateway: requests, 4xx, 5xx (also those refused before a function ran)',
      'Latency p50 per route (ms)',
      'Latency p99 per route (ms)',
      '4xx per route',
      '5xx per route',
      'DynamoDB requests per route',
      'Lambda cold starts: count and init duration (ms) per function',
      'Lambda throttles per function',
      'DynamoDB consumed capacity (units)',
      'DynamoDB throttled requests',
      'Sweep: copies deleted per run',
      'Sweep progress: shards done of the run',
      'Sweep: retries and invocation duration (ms)',
      'Sweep dead-letter queue depth',
      'Sweep alarms',
      'Recent sweep invocations',
      'Event pipes: events read and failed executions',
      'Event dead letters',
    ]);
  });

  it('graphs every route: requests, latency p50 and p99, 4xx and 5xx from the route EMF metrics', () => {
    const perRoute = (metric: string) =>
      ROUTES.map((route) => ['Roaming', metric, 'route', route.name, 'service', 'roaming-api']);
    expect(metricLines(widget('API requests per route'))).toEqual(perRoute('Requests'));
    expect(metricLines(widget('Latency p50 per route (ms)'))).toEqual(perRoute('Latency'));
    expect(new Set(statOf(widget('Latency p50 per route (ms)')))).toEqual(new Set(['p50']));
    expect(new Set(statOf(widget('Latency p99 per route (ms)')))).toEqual(new Set(['p99']));
    expect(metricLines(widget('4xx per route'))).toEqual(perRoute('ClientErrors'));
    expect(metricLines(widget('5xx per route'))).toEqual(perRoute('ServerErrors'));
    expect(metricLines(widget('DynamoDB requests per route'))).toEqual(perRoute('DynamoDBRequests'));
  });

  it('shows cold starts from every function log group and throttles of every function', () => {
    const coldStarts = widget('Lambda cold starts: count and init duration (ms) per function');
    expect(coldStarts.type).toBe('log');
    expect(coldStarts.properties.query).toContain('@initDuration');
    const functionCount = functionIds(template).size;
    // The routes', health, notFound, the sweep, the export worker, the erasure function and the bus's
    // enrichment (without a webhook, no sender: its lines are checked below).
    expect(functionCount).toBe(ROUTES.length + 6);
    expect(coldStarts.properties.query?.match(/SOURCE '/g)).toHaveLength(functionCount);
    const throttles = metricLines(widget('Lambda throttles per function'));
    expect(throttles).toHaveLength(functionCount);
    expect(throttles.every((line) => line[0] === 'AWS/Lambda' && line[1] === 'Throttles')).toBe(true);
  });

  it('shows the table consumed capacity and throttled requests', () => {
    const tableId = messageTableId(template);
    expect(metricLines(widget('DynamoDB consumed capacity (units)'))).toEqual([
      ['AWS/DynamoDB', 'ConsumedReadCapacityUnits', 'TableName', `<${tableId}>`],
      ['AWS/DynamoDB', 'ConsumedWriteCapacityUnits', 'TableName', `<${tableId}>`],
    ]);
    const throttled = JSON.stringify(widget('DynamoDB throttled requests').properties.metrics);
    expect(throttled).toContain('ThrottledRequests');
    expect(throttled).toContain('TransactWriteItems');
  });

  it('shows the sweep: copies deleted per run, progress, retries, duration, dead letters and alarms', () => {
    const sweep = (name: string) => ['Roaming', name, 'service', 'roaming-sweep'];
    expect(metricLines(widget('Sweep: copies deleted per run'))).toEqual([
      sweep('MessagesDeleted'),
      sweep('DeleteBatches'),
    ]);
    expect(metricLines(widget('Sweep progress: shards done of the run'))).toEqual([
      sweep('RunShardsDone'),
      sweep('RunShardCount'),
      sweep('RunsFinished'),
    ]);
    expect(metricLines(widget('Sweep: retries and invocation duration (ms)'))).toEqual([
      sweep('StoreRetries'),
      sweep('SweepFailures'),
      sweep('SweepDuration'),
    ]);
    const [queueId] = sweepQueue(template);
    expect(metricLines(widget('Sweep dead-letter queue depth'))).toEqual([
      ['AWS/SQS', 'ApproximateNumberOfMessagesVisible', 'QueueName', `<${queueId}.QueueName>`],
    ]);
    // Errors, heartbeat, new dead letter, dead letters waiting.
    expect(widget('Sweep alarms').properties.alarms).toHaveLength(4);
    expect(widget('Recent sweep invocations').properties.query).toContain('sweep invocation ended');
  });
});

describe('the events row', () => {
  const QUEUE_METRIC = (name: string, queueId: string) => [
    'AWS/SQS',
    name,
    'QueueName',
    `<${queueId}.QueueName>`,
  ];
  const pipeIds = (source: Template) => resources(source, 'AWS::Pipes::Pipe').map(([id]) => id);
  const queueIdOf = (source: Template, prefix: string) => {
    const [entry] = resources(source, 'AWS::SQS::Queue').filter(([id]) => id.startsWith(prefix));
    if (!entry) throw new Error(`No queue ${prefix}`);
    return entry[0];
  };

  it('without a webhook: the bus pipe (events read, failed executions) and its dead letters', () => {
    const [busPipe] = pipeIds(template);
    expect(metricLines(widget('Event pipes: events read and failed executions'))).toEqual([
      ['AWS/EventBridge/Pipes', 'EventCount', 'PipeName', `<${busPipe}>`],
      ['AWS/EventBridge/Pipes', 'ExecutionFailed', 'PipeName', `<${busPipe}>`],
    ]);
    expect(metricLines(widget('Event dead letters'))).toEqual([
      QUEUE_METRIC('ApproximateNumberOfMessagesVisible', queueIdOf(template, 'PipeDeadLetter')),
    ]);
  });

  it('with a webhook: events queued, delivered and given up, the queue depth and oldest age, both dead-letter queues, both pipes', () => {
    const withWebhook = synthesize({
      props: { events: { webhookUrl: 'https://hooks.example.com/e' } },
    }).whole;
    const all = dashboardWidgets(withWebhook);
    const find = (title: string) => all.find((w) => w.properties.title === title) as Widget;
    expect(all.slice(-4).map((w) => w.properties.title)).toEqual([
      'Event pipes: events read and failed executions',
      'Webhook: events queued, delivered and given up',
      'Webhook queue: depth and oldest event age (s)',
      'Event dead letters',
    ]);
    const queue = queueIdOf(withWebhook, 'DeliveryQueue');
    const deadLetters = queueIdOf(withWebhook, 'DeliveryDeadLetterQueue');
    expect(metricLines(find('Webhook: events queued, delivered and given up'))).toEqual([
      QUEUE_METRIC('NumberOfMessagesSent', queue),
      QUEUE_METRIC('NumberOfMessagesDeleted', queue),
      QUEUE_METRIC('NumberOfMessagesSent', deadLetters),
    ]);
    expect(metricLines(find('Webhook queue: depth and oldest event age (s)'))).toEqual([
      QUEUE_METRIC('ApproximateNumberOfMessagesVisible', queue),
      QUEUE_METRIC('ApproximateNumberOfMessagesNotVisible', queue),
      QUEUE_METRIC('ApproximateAgeOfOldestMessage', queue),
    ]);
    expect(metricLines(find('Event dead letters'))).toEqual([
      QUEUE_METRIC('ApproximateNumberOfMessagesVisible', queueIdOf(withWebhook, 'PipeDeadLetter')),
      QUEUE_METRIC('ApproximateNumberOfMessagesVisible', deadLetters),
    ]);
    const pipes = metricLines(find('Event pipes: events read and failed executions'));
    expect(pipes).toHaveLength(4);
    expect(new Set(pipes.map((line) => line[3]))).toEqual(
      new Set(pipeIds(withWebhook).map((id) => `<${id}>`)),
    );
    // The sender's cold starts and throttles too.
    expect(
      metricLines(all.find((w) => w.properties.title === 'Lambda throttles per function') as Widget),
    ).toHaveLength(ROUTES.length + 7);
  });
});
