import { Annotations, Duration, NestedStack, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { CfnPipe } from 'aws-cdk-lib/aws-pipes';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { DEFAULT_CONFIG, MAX_PRESEND_TIMEOUT_MS } from '../../functions/domain/deps.js';
import { DELIVERY_ATTEMPTS, RETRY_CAP_SECONDS } from '../../functions/events/delivery.js';
import { EVENT_RECORD_FILTERS } from '../../functions/store/event-store.js';
import { type HandlerDefaults, HandlerFunction } from './handler-function.js';
import { describeAlarm, RUNBOOKS } from './runbooks.js';

/** Whether a send goes ahead when the pre-send hook does not answer in time (or fails). */
export type PresendPolicy = 'open' | 'closed';

/** The events settings (the stack passes them through). */
export interface EventOptions {
  /**
   * The app's webhook (https): every event is POSTed there, signed, in order per conversation.
   * @default - no webhook: no delivery queue and no sender function (the bus still gets every event)
   */
  readonly webhookUrl?: string;
  /**
   * The app's pre-send hook (https): POST /v1/messages asks it before a message is stored.
   * @default - no pre-send hook
   */
  readonly presendUrl?: string;
  /**
   * What a send does when the pre-send hook fails or times out: 'open' sends, 'closed' refuses.
   * @default 'open'
   */
  readonly presendPolicy?: PresendPolicy;
  /**
   * How long a send waits for the pre-send hook, in ms (1 to 10000).
   * @default 500
   */
  readonly presendTimeoutMs?: number;
  /**
   * The name of the EventBridge bus the events go to.
   * @default - a name CloudFormation generates
   */
  readonly busName?: string;
}

export interface EventsProps extends EventOptions {
  readonly defaults: HandlerDefaults;
  /**
   * The table's stream (NEW_IMAGE), which both pipes read.
   * @default - none (the functions use an adopted table, whose stream the stack does not know): no pipes
   */
  readonly streamArn?: string;
}

const DEFAULT_PRESEND_TIMEOUT_MS = DEFAULT_CONFIG.presendTimeoutMs;

/**
 * What both pipes pass on (event-store.ts, EVENT_RECORD_FILTERS, the same rule as the sender's and npm
 * start's): a new outbox item that no recall redacted, or an admin replay's rewrite of one.
 */
export const OUTBOX_FILTERS = EVENT_RECORD_FILTERS.map((pattern) => ({ pattern: JSON.stringify(pattern) }));

/** The events' `source` on the bus: what a rule matches on. */
export const BUS_EVENT_SOURCE = 'roaming';

/** SQS's longest retention: the delivery queue and its dead letters keep events this long. */
const DELIVERY_RETENTION = Duration.days(14);

/** One sender invocation: up to ten POSTs of 5 s one after another (one conversation) and the secret read. */
const SENDER_TIMEOUT = Duration.seconds(60);

/**
 * Events (docs/events.md) in a nested stack of their own (CloudFormation's 500 resources per template). The
 * domain writes each event as an outbox item in the transaction of its change (functions/store/event-store.ts);
 * the table's stream carries the items here, read by exactly two EventBridge Pipes (a DynamoDB stream allows
 * two readers at once without throttling; add no third):
 * - to the app's webhook: pipe -> SQS FIFO queue (a message group per conversation, de-duplicated on the
 *   delivery id) -> the sender function (deliverEvents), which POSTs each event signed, backs off on
 *   failure and leaves an event to the dead-letter queue after DELIVERY_ATTEMPTS receives (more than a day).
 *   Only with `webhookUrl`.
 * - to a custom EventBridge bus, for AWS-native consumers: pipe -> enrichment (eventsForBus: the record to
 *   the event) -> the bus, detail-type the event's type, source `roaming`. Always.
 * Both pipes leave a batch they could not hand on in one dead-letter queue (the batch's stream position,
 * not its records: the admin replay re-sends them). Also the signing secret (the webhook's and the pre-send
 * hook's) and the alarms (`notify` gives them the topic).
 *
 * It takes from the top-level stack the table's name and stream, and the topic; the top-level stack reads
 * back the secret's ARN (the send route, for the pre-send hook) and names for the dashboard.
 */
export class Events extends NestedStack {
  /** The signing secret of the webhook and the pre-send hook (the app verifies with it). */
  readonly secret: Secret;
  readonly bus: EventBus;
  readonly busFunction: HandlerFunction;
  /** Batches either pipe could not hand on (their stream positions). */
  readonly pipeDeadLetterQueue: Queue;
  readonly busPipe?: CfnPipe;
  /** With `webhookUrl`: the queue, its dead letters, the sender and its pipe. */
  readonly delivery?: {
    readonly queue: Queue;
    readonly deadLetterQueue: Queue;
    readonly sender: HandlerFunction;
    readonly pipe?: CfnPipe;
  };
  readonly options: Required<Pick<EventOptions, 'presendPolicy' | 'presendTimeoutMs'>> & EventOptions;
  /** Every alarm here. */
  readonly alarms: Alarm[] = [];
  /** The dead-letter alarms: notified on alarm only (a queue is purged once understood, as the sweep's). */
  private readonly deadLetterAlarms = new Set<Alarm>();

  constructor(scope: Construct, id: string, props: EventsProps) {
    super(scope, id, {
      description:
        'Roaming: events to the webhook and the bus (a nested stack of the Roaming stack, deployed with it)',
    });
    this.options = {
      ...props,
      presendPolicy: props.presendPolicy ?? 'open',
      presendTimeoutMs: props.presendTimeoutMs ?? DEFAULT_PRESEND_TIMEOUT_MS,
    };
    validateEventOptions(this.options);

    // Made whether or not a hook is set, so its value stays the same when one is turned on or off; kept
    // when the stack goes or it is replaced: a new value would make every receiver reject every signature.
    this.secret = new Secret(this, 'SigningSecret', {
      description: 'Roaming: signs the webhook deliveries and the pre-send hook requests',
      generateSecretString: { passwordLength: 48, excludePunctuation: true },
      removalPolicy: RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
    this.pipeDeadLetterQueue = new Queue(this, 'PipeDeadLetterQueue', {
      retentionPeriod: Duration.days(14),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });

    this.bus = new EventBus(this, 'Bus', { eventBusName: props.busName });
    this.busFunction = new HandlerFunction(this, 'BusEnrichment', {
      defaults: props.defaults,
      entryName: 'eventsForBus',
      description: 'eventsForBus (pipe enrichment): outbox stream records to the events the bus gets',
      memorySize: 256,
    });

    if (props.webhookUrl) this.delivery = this.webhookDelivery(props, props.webhookUrl);
    if (props.streamArn) {
      this.busPipe = this.busPipeOf(props.streamArn);
      if (this.delivery) this.delivery = { ...this.delivery, pipe: this.deliveryPipeOf(props.streamArn) };
    } else {
      Annotations.of(this).addWarningV2(
        'roaming:events-without-stream',
        'The functions use an adopted table (tableName): no pipe reads its stream, so no event is delivered. ' +
          'docs/aws.md "Events" says how to connect it.',
      );
    }
    this.watch();
  }

  /** Sends the alarms to the topic: on alarm and back to OK, the dead-letter alarms on alarm only. */
  notify(topic: ITopic): void {
    const action = new SnsAction(topic);
    for (const alarm of this.alarms) {
      alarm.addAlarmAction(action);
      if (!this.deadLetterAlarms.has(alarm)) alarm.addOkAction(action);
    }
  }

  /**
   * The pre-send hook on the send route's function, when `presendUrl` is set: its URL, policy and timeout,
   * the secret's ARN and GetSecretValue on it. Without `presendUrl`, nothing.
   */
  hookSendPath(send: HandlerFunction): void {
    const { presendUrl, presendPolicy, presendTimeoutMs } = this.options;
    if (!presendUrl) return;
    send.function.addEnvironment('ROAMING_PRESEND_URL', presendUrl);
    send.function.addEnvironment('ROAMING_PRESEND_POLICY', presendPolicy);
    send.function.addEnvironment('ROAMING_PRESEND_TIMEOUT_MS', String(presendTimeoutMs));
    this.allowSigning(send);
  }

  /** ROAMING_WEBHOOK_SECRET_ARN and GetSecretValue on the secret, and nothing else of it. */
  private allowSigning(signer: HandlerFunction): void {
    signer.function.addEnvironment('ROAMING_WEBHOOK_SECRET_ARN', this.secret.secretArn);
    signer.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [this.secret.secretArn] }),
    );
  }

  private webhookDelivery(props: EventsProps, webhookUrl: string) {
    // Every backoff together must fit in the queue's retention, or events would expire while retried.
    if (DELIVERY_ATTEMPTS * RETRY_CAP_SECONDS >= DELIVERY_RETENTION.toSeconds()) {
      throw new Error(
        `${DELIVERY_ATTEMPTS} delivery attempts of up to ${RETRY_CAP_SECONDS} s outlast the queue's ${DELIVERY_RETENTION.toHumanString()}`,
      );
    }
    const deadLetterQueue = new Queue(this, 'DeliveryDeadLetterQueue', {
      fifo: true,
      retentionPeriod: DELIVERY_RETENTION,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    });
    const queue = new Queue(this, 'DeliveryQueue', {
      fifo: true,
      // High-throughput FIFO: the limit is per conversation, not per queue; de-duplication too.
      fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: DELIVERY_RETENTION,
      // What Lambda asks of a queue it polls: six times the function's timeout.
      visibilityTimeout: Duration.seconds(SENDER_TIMEOUT.toSeconds() * 6),
      // Each failed receive is hidden for its backoff (up to RETRY_CAP_SECONDS): this many make > 24 h.
      deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: DELIVERY_ATTEMPTS },
    });
    const sender = new HandlerFunction(this, 'Sender', {
      defaults: props.defaults,
      entryName: 'deliverEvents',
      description:
        'deliverEvents (SQS FIFO): POSTs each event to the webhook, signed, in order per conversation',
      memorySize: 256,
      timeout: SENDER_TIMEOUT,
    });
    sender.function.addEnvironment('ROAMING_WEBHOOK_URL', webhookUrl);
    this.allowSigning(sender);
    // Receive, delete and ChangeMessageVisibility (the backoff) on this queue: the event source's grant.
    sender.alias.addEventSource(new SqsEventSource(queue, { batchSize: 10, reportBatchItemFailures: true }));
    return { queue, deadLetterQueue, sender };
  }

  /** The pipe's role: read the stream, hand on to `target`, leave failed batches in the dead-letter queue. */
  private pipeRole(id: string, streamArn: string, target: PolicyStatement): Role {
    const role = new Role(this, id, {
      assumedBy: new ServicePrincipal('pipes.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(this).account } },
      }),
      description: 'EventBridge Pipes: reads the Roaming table stream',
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        // What Pipes lists for a DynamoDB stream source, on this stream only.
        actions: [
          'dynamodb:DescribeStream',
          'dynamodb:GetRecords',
          'dynamodb:GetShardIterator',
          'dynamodb:ListStreams',
        ],
        resources: [streamArn],
      }),
    );
    role.addToPrincipalPolicy(target);
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [this.pipeDeadLetterQueue.queueArn] }),
    );
    return role;
  }

  private streamSource(): CfnPipe.PipeSourceParametersProperty {
    return {
      dynamoDbStreamParameters: {
        // The stream keeps 24 hours: a new pipe starts at its oldest record, so none is skipped.
        startingPosition: 'TRIM_HORIZON',
        batchSize: 10,
        // One batch at a time per shard (the default, stated): a conversation's events stay in order.
        parallelizationFactor: 1,
        // A batch that keeps failing goes to the dead-letter queue instead of blocking its shard for the
        // stream's 24 hours (an alarm fires; the admin replay re-sends its window).
        maximumRetryAttempts: 10,
        deadLetterConfig: { arn: this.pipeDeadLetterQueue.queueArn },
      },
      filterCriteria: { filters: OUTBOX_FILTERS },
    };
  }

  private deliveryPipeOf(streamArn: string): CfnPipe {
    const queue = this.delivery?.queue as Queue;
    const role = this.pipeRole(
      'DeliveryPipeRole',
      streamArn,
      new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [queue.queueArn] }),
    );
    return this.afterItsRole(
      role,
      new CfnPipe(this, 'DeliveryPipe', {
        description: 'Roaming: outbox items from the table stream to the webhook delivery queue',
        roleArn: role.roleArn,
        source: streamArn,
        sourceParameters: this.streamSource(),
        target: queue.queueArn,
        targetParameters: {
          sqsQueueParameters: {
            // A conversation's events in order; a replay (a new delivery id) is not taken for a duplicate.
            messageGroupId: '$.dynamodb.NewImage.group.S',
            messageDeduplicationId: '$.dynamodb.NewImage.deliveryId.S',
          },
        },
      }),
    );
  }

  /** A pipe starts reading as it is created: its role's policy must be there first. */
  private afterItsRole(role: Role, pipe: CfnPipe): CfnPipe {
    pipe.node.addDependency(role);
    return pipe;
  }

  private busPipeOf(streamArn: string): CfnPipe {
    const enrichment = this.busFunction.alias.functionArn;
    const role = this.pipeRole(
      'BusPipeRole',
      streamArn,
      new PolicyStatement({ actions: ['events:PutEvents'], resources: [this.bus.eventBusArn] }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [enrichment] }),
    );
    return this.afterItsRole(
      role,
      new CfnPipe(this, 'BusPipe', {
        description: 'Roaming: outbox items from the table stream, as events, to the event bus',
        roleArn: role.roleArn,
        source: streamArn,
        sourceParameters: this.streamSource(),
        enrichment,
        target: this.bus.eventBusArn,
        targetParameters: {
          eventBridgeEventBusParameters: { detailType: '$.type', source: BUS_EVENT_SOURCE },
        },
      }),
    );
  }

  private watch(): void {
    const fiveMinutes = { period: Duration.minutes(5) };
    const add = (alarm: Alarm, deadLetters = false) => {
      this.alarms.push(alarm);
      if (deadLetters) this.deadLetterAlarms.add(alarm);
      return alarm;
    };
    /** Anything in a dead-letter queue: an alarm on its depth, and no OK notice (deadLetterAlarms). */
    const deadLetters = (id: string, queue: Queue, description: string) =>
      add(
        new Alarm(this, id, {
          alarmDescription: describeAlarm(description, RUNBOOKS.eventDelivery),
          metric: queue.metricApproximateNumberOfMessagesVisible({ ...fiveMinutes, statistic: 'Maximum' }),
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          treatMissingData: TreatMissingData.NOT_BREACHING,
        }),
        true,
      );
    deadLetters(
      'PipeDeadLettersAlarm',
      this.pipeDeadLetterQueue,
      'An events pipe gave up on a batch of the table stream (its dead-letter queue depth > 0): those events reached neither the webhook queue nor the bus.',
    );
    add(errorsAlarm(this, 'BusEnrichmentErrors', this.busFunction));
    if (!this.delivery) return;
    const { queue, deadLetterQueue, sender } = this.delivery;
    deadLetters(
      'DeliveryDeadLettersAlarm',
      deadLetterQueue,
      `Events were not delivered to the webhook after ${DELIVERY_ATTEMPTS} attempts (more than a day) and wait in the dead-letter queue (depth > 0).`,
    );
    add(
      new Alarm(this, 'DeliveryLagAlarm', {
        alarmDescription: describeAlarm(
          `Webhook deliveries are falling behind: the oldest event in the delivery queue is ${EVENT_LAG_ALARM_SECONDS / 60} minutes old or more (the webhook fails or is slow).`,
          RUNBOOKS.eventDelivery,
        ),
        metric: queue.metricApproximateAgeOfOldestMessage({ ...fiveMinutes, statistic: 'Maximum' }),
        threshold: EVENT_LAG_ALARM_SECONDS,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      }),
    );
    add(errorsAlarm(this, 'SenderErrors', sender));
  }
}

/**
 * The delivery lag that alarms: a healthy queue's oldest event is seconds old; a webhook that keeps failing
 * holds its conversation's events back longer with each retry (5 s doubling, up to RETRY_CAP_SECONDS).
 */
export const EVENT_LAG_ALARM_SECONDS = 15 * 60;

/** Crashes and timeouts of a function (a failed POST is no error: it is handed back to the queue). */
function errorsAlarm(scope: Construct, id: string, fn: HandlerFunction): Alarm {
  return new Alarm(scope, id, {
    alarmDescription: describeAlarm(
      `Function ${fn.node.id}: 1 or more Lambda errors (crashes, timeouts) in 5 minutes.`,
      RUNBOOKS.eventDelivery,
    ),
    metric: fn.function.metricErrors({ period: Duration.minutes(5), statistic: 'Sum' }),
    threshold: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
}

/** Fails synthesis on options a deploy (or the first event) would fail on, naming the option. */
export function validateEventOptions(options: EventOptions): void {
  for (const key of ['webhookUrl', 'presendUrl'] as const) {
    const url = options[key];
    if (url !== undefined && !Token.isUnresolved(url) && !/^https:\/\/[^/\s]+/.test(url)) {
      throw new Error(`events.${key} must be an https URL, got "${url}"`);
    }
  }
  const timeout = options.presendTimeoutMs;
  if (
    timeout !== undefined &&
    !(Number.isInteger(timeout) && timeout >= 1 && timeout <= MAX_PRESEND_TIMEOUT_MS)
  ) {
    throw new Error(
      `events.presendTimeoutMs must be a whole number of milliseconds from 1 to ${MAX_PRESEND_TIMEOUT_MS}, got ${timeout}`,
    );
  }
  const policy = options.presendPolicy;
  if (policy !== undefined && policy !== 'open' && policy !== 'closed') {
    throw new Error(`events.presendPolicy must be 'open' or 'closed', got "${policy}"`);
  }
  const bus = options.busName;
  if (bus !== undefined && !Token.isUnresolved(bus) && !/^[A-Za-z0-9._-]{1,256}$/.test(bus)) {
    throw new Error(`events.busName must be 1 to 256 letters, digits, '.', '_' or '-', got "${bus}"`);
  }
  if (bus === 'default') throw new Error('events.busName may not be "default": the bus is the stack\'s own');
}
