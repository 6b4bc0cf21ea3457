import { CfnOutput, Stack, type StackProps, Tags } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { DEFAULT_CONFIG } from '../functions/domain/deps.js';
import { AlarmTopic } from './constructs/alarm-topic.js';
import type { AlarmDestinations, Alarms } from './constructs/alarms.js';
import { Api, type ApiOptions } from './constructs/api.js';
import { OperationsDashboard } from './constructs/dashboard.js';
import { type BackupOptions, Data, type ThroughputCaps } from './constructs/data.js';
import { Erasure } from './constructs/erasure.js';
import { type EventOptions, Events } from './constructs/events.js';
import { type ExportOptions, Exports } from './constructs/exports.js';
import type { HandlerDefaults } from './constructs/handler-function.js';
import { Monitoring } from './constructs/monitoring.js';
import { Retention, type SweepOptions } from './constructs/retention.js';
import { type DeploymentStyle, Rollout } from './constructs/rollout.js';
import { acknowledgeNagFindings } from './nag.js';
import type { Tuning } from './tuning.js';

export interface RoamingStackProps extends StackProps {
  /** Issuer URL of the access tokens, e.g. `https://cognito-idp.{region}.amazonaws.com/{userPoolId}`. */
  readonly jwtIssuer: string;
  /** Accepted token audiences, e.g. the Cognito app client id. */
  readonly jwtAudience: readonly string[];
  /**
   * API settings: CORS, stage throttling, route function memory and timeout.
   * @default - see ApiOptions
   */
  readonly api?: ApiOptions;
  /**
   * Retention sweep settings: schedule, memory, timeout, reserved concurrency.
   * @default - see SweepOptions
   */
  readonly sweep?: SweepOptions;
  /**
   * Retention of every log group of the stack.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Overrides of the service's tunables, for every function.
   * @default - the runtime's defaults
   */
  readonly tuning?: Tuning;
  /**
   * Where the alarms go: the stack's own SNS topic (with optional email and Slack subscriptions) or an
   * existing topic, and the account concurrency quota the concurrency alarm watches.
   * @default - the stack's own topic, no subscriptions, a quota of 1000
   */
  readonly alarms?: AlarmDestinations;
  /**
   * On-demand throughput caps of the table and each index (alarms fire at 80% of them).
   * @default - no caps
   */
  readonly throughputCaps?: ThroughputCaps;
  /**
   * How a deploy shifts each function's `live` alias (CodeDeploy; rolls back on the function's alarms).
   * @default 'canary10Percent5Minutes'
   */
  readonly deployment?: DeploymentStyle;
  /**
   * A table the functions use instead of the stack's own: a restored table (docs/runbooks/restore.md).
   * @default - the stack's own table
   */
  readonly tableName?: string;
  /**
   * The AWS Backup plan of the table.
   * @default - daily, kept 35 days, no copy
   */
  readonly backup?: BackupOptions;
  /**
   * CloudWatch Contributor Insights on the table (hot keys).
   * @default false
   */
  readonly contributorInsights?: boolean;
  /**
   * Exports: how long files stay in the bucket, the worker's timeout and memory.
   * @default - see ExportOptions
   */
  readonly exports?: ExportOptions;
  /**
   * Events: the app's webhook (every event, signed, in order per conversation), its pre-send hook (asked
   * before a message is stored) and the EventBridge bus every event also goes to.
   * @default - no webhook and no pre-send hook; the bus gets every event
   */
  readonly events?: EventOptions;
}

/** Roaming on AWS: wiring only; each capability is a construct under ./constructs. */
export class RoamingStack extends Stack {
  readonly data: Data;
  readonly api: Api;
  readonly retention: Retention;
  readonly exports: Exports;
  readonly dashboard: OperationsDashboard;
  readonly alarmTopic: AlarmTopic;
  /** The nested stack of the alarms (CloudFormation's 500-resource limit per template). */
  readonly monitoring: Monitoring;
  readonly alarms: Alarms;
  readonly rollout: Rollout;
  readonly erasure: Erasure;
  /** The events' nested stack: the pipes, the bus, the webhook delivery (constructs/events.ts). */
  readonly events: Events;

  constructor(scope: Construct, id: string, props: RoamingStackProps) {
    super(scope, id, props);
    // Stack tags reach the stack; these reach every taggable resource in the template as well.
    for (const [key, value] of Object.entries(props.tags ?? {})) Tags.of(this).add(key, value);

    this.data = new Data(this, 'Data', {
      throughputCaps: props.throughputCaps,
      tableName: props.tableName,
      backup: props.backup,
      contributorInsights: props.contributorInsights,
    });
    const defaults: HandlerDefaults = {
      table: this.data.table,
      auditTable: this.data.auditTable,
      logRetention: props.logRetention,
      tuning: props.tuning,
    };
    this.retention = new Retention(this, 'Retention', { ...props.sweep, defaults });
    this.api = new Api(this, 'Api', {
      ...props.api,
      defaults,
      idempotencyKey: this.data.idempotencyKey,
      jwtIssuer: props.jwtIssuer,
      jwtAudience: props.jwtAudience,
    });
    this.retention.allowStart(this.api.routeFunction('startSweep'));
    this.exports = new Exports(this, 'Exports', { ...props.exports, defaults });
    this.exports.allowStart(this.api.routeFunction('startExport'));
    this.exports.allowLocate(this.api.routeFunction('getExport'));
    this.erasure = new Erasure(this, 'Erasure', { defaults });
    this.erasure.allowStart(this.api.routeFunction('startErasure'));
    this.events = new Events(this, 'Events', {
      ...props.events,
      defaults,
      streamArn: this.data.streamArn,
    });
    this.events.hookSendPath(this.api.routeFunction('sendMessage'));
    requireConcurrencyQuota(this.api, this.retention, props.alarms?.accountConcurrencyLimit ?? 1000);
    this.dashboard = new OperationsDashboard(this, 'Operations', {
      api: this.api,
      retention: this.retention,
      table: this.data.table,
      otherFunctions: [
        this.exports.workerFunction,
        this.erasure.erasureFunction,
        this.events.busFunction,
        ...(this.events.delivery ? [this.events.delivery.sender] : []),
      ],
      events: this.events,
    });
    // The id `Alarms` is the topic's path from before the alarms moved to Monitoring: the same logical ids.
    this.alarmTopic = new AlarmTopic(this, 'Alarms', props.alarms ?? {});
    this.monitoring = new Monitoring(this, 'Monitoring', {
      topic: this.alarmTopic.topic,
      accountConcurrencyLimit: props.alarms?.accountConcurrencyLimit,
      api: this.api,
      retention: this.retention,
      data: this.data,
      sweepStopBeforeTimeoutMs:
        props.tuning?.sweepStopBeforeTimeoutMs ?? DEFAULT_CONFIG.sweepStopBeforeTimeoutMs,
    });
    this.alarms = this.monitoring.alarms;
    this.erasure.notify(this.alarmTopic.topic);
    this.events.notify(this.alarmTopic.topic);
    this.rollout = new Rollout(this, 'Rollout', {
      functions: this.alarms.deployAlarms,
      style: props.deployment,
    });
    // The admin routes' alarms and deployment groups, beside their functions in the AdminApi nested stack.
    this.api.adminApi.watch(this.alarmTopic.topic, this.rollout);
    acknowledgeNagFindings(this);

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the HTTP API',
      value: this.api.httpApi.apiEndpoint,
    });
    new CfnOutput(this, 'TableName', {
      description: 'The DynamoDB table the functions use',
      value: this.data.table.tableName,
    });
    new CfnOutput(this, 'AuditTableName', {
      description: 'The audit trail of admin actions (GET /v1/admin/audit?verify=true checks its chain)',
      value: this.data.auditTable.tableName,
    });
    new CfnOutput(this, 'ExportBucketName', {
      description: "Where exports of a user's data go (POST /v1/admin/exports); expired by its lifecycle",
      value: this.exports.bucket.bucketName,
    });
    new CfnOutput(this, 'EventBusName', {
      description: 'The EventBridge bus every event goes to (source "roaming", detail-type the event type)',
      value: this.events.bus.eventBusName,
    });
    new CfnOutput(this, 'EventSigningSecretArn', {
      description:
        'The secret the webhook deliveries and pre-send hook requests are signed with (the app verifies with it)',
      value: this.events.secret.secretArn,
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      description: 'The SNS topic the alarms notify',
      value: this.alarmTopic.topic.topicArn,
    });
  }
}

/** Lambda keeps this much of an account's concurrency unreserved: reservations must leave it. */
export const UNRESERVED_CONCURRENCY_MINIMUM = 100;

/**
 * The stack's reservations fit the account's quota (the stage's `alarms.accountConcurrencyLimit`), or
 * synthesis fails naming the numbers, instead of the deploy failing on the first function over it.
 */
function requireConcurrencyQuota(api: Api, retention: Retention, quota: number): void {
  const reserved = api.reservedConcurrencyTotal + retention.reservedConcurrency;
  if (reserved + UNRESERVED_CONCURRENCY_MINIMUM <= quota) return;
  throw new Error(
    `The functions reserve ${reserved} concurrent executions (API ${api.reservedConcurrencyTotal}, sweep ` +
      `${retention.reservedConcurrency}); with the ${UNRESERVED_CONCURRENCY_MINIMUM} Lambda keeps unreserved ` +
      `that needs an account quota of at least ${reserved + UNRESERVED_CONCURRENCY_MINIMUM}, and ` +
      `alarms.accountConcurrencyLimit says ${quota}. Raise the quota (Service Quotas) and the stage's ` +
      'accountConcurrencyLimit, or lower api.reservedConcurrency.',
  );
}
