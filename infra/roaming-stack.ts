import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { Api, type ApiOptions } from './constructs/api.js';
import { OperationsDashboard } from './constructs/dashboard.js';
import { Data } from './constructs/data.js';
import type { HandlerDefaults } from './constructs/handler-function.js';
import { Retention, type SweepOptions } from './constructs/retention.js';
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
   * ARN of an SNS topic the alarms notify (alarm and OK).
   * @default - alarms have no actions
   */
  readonly alarmTopicArn?: string;
}

/** Roaming on AWS: wiring only; each capability is a construct under ./constructs. */
export class RoamingStack extends Stack {
  readonly data: Data;
  readonly api: Api;
  readonly retention: Retention;
  readonly dashboard: OperationsDashboard;

  constructor(scope: Construct, id: string, props: RoamingStackProps) {
    super(scope, id, props);

    this.data = new Data(this, 'Data');
    const defaults: HandlerDefaults = {
      table: this.data.table,
      logRetention: props.logRetention,
      tuning: props.tuning,
    };
    this.retention = new Retention(this, 'Retention', {
      ...props.sweep,
      defaults,
      alarmTopic: props.alarmTopicArn
        ? Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
        : undefined,
    });
    this.api = new Api(this, 'Api', {
      ...props.api,
      defaults,
      jwtIssuer: props.jwtIssuer,
      jwtAudience: props.jwtAudience,
    });
    this.retention.allowStart(this.api.routeFunction('startSweep'));
    // Resolved by CloudFormation at deploy time (a dynamic reference): the key is never in the template.
    this.api
      .routeFunction('sendMessage')
      .function.addEnvironment(
        'ROAMING_IDEMPOTENCY_KEY',
        this.data.idempotencyKey.secretValue.unsafeUnwrap(),
      );
    this.dashboard = new OperationsDashboard(this, 'Operations', {
      api: this.api,
      retention: this.retention,
      table: this.data.table,
    });

    new CfnOutput(this, 'ApiUrl', {
      description: 'Base URL of the HTTP API',
      value: this.api.httpApi.apiEndpoint,
    });
    new CfnOutput(this, 'TableName', {
      description: 'The DynamoDB table',
      value: this.data.table.tableName,
    });
  }
}
