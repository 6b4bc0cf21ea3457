import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Alias, Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { StoreAccess } from '../../functions/store-access.js';
import { LAMBDA_BUNDLE } from '../bundling.js';
import { LOCK_FILE, lambdaEntry, PROJECT_ROOT } from '../paths.js';
import { type Tuning, tuningEnvironment } from '../tuning.js';
import { grantStore } from './store-grants.js';

/** Settings every function of the stack shares. */
export interface HandlerDefaults {
  /** The table whose name every function receives as TABLE_NAME. */
  readonly table: ITable;
  /** The audit trail's table: its name (AUDIT_TABLE_NAME) only for the functions that use it. */
  readonly auditTable: ITable;
  /**
   * How long each function's log group keeps its events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * Overrides of the runtime's tunables (functions/domain/deps.ts), passed as ROAMING_* variables.
   * @default - none: the runtime's DEFAULT_CONFIG
   */
  readonly tuning?: Tuning;
}

export interface HandlerFunctionProps {
  readonly defaults: HandlerDefaults;
  /** The entry `functions/lambda/{entryName}.ts`, which exports `handler`. */
  readonly entryName: string;
  readonly description: string;
  /**
   * What the function may ask of DynamoDB (its route table entry): exactly those actions on those
   * partitions, indexes and the audit trail (store-grants.ts), and nothing else.
   * @default - no access to the store
   */
  readonly store?: StoreAccess;
  /**
   * Memory in MB (CPU grows with it).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * X-Ray active tracing (the send and sweep paths).
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Further Lambda settings of this function (reserved concurrency, dead-letter queue).
   * @default - none
   */
  readonly options?: Pick<NodejsFunctionProps, 'reservedConcurrentExecutions' | 'deadLetterQueue'>;
  /**
   * Retries of an asynchronous invocation through the `live` alias (the alias's own EventInvokeConfig).
   * @default - Lambda's default (2)
   */
  readonly asyncRetryAttempts?: number;
  /**
   * A log group made elsewhere (HandlerFunction.createLogGroup): an admin route's function is in the AdminApi
   * nested stack, its log group stays in the top-level stack where it always was (constructs/admin-api.ts).
   * @default - the function's own, made here
   */
  readonly logGroup?: LogGroup;
}

/** The alias every caller invokes: CodeDeploy shifts it from one published version to the next. */
export const LIVE_ALIAS = 'live';

/**
 * One Lambda function of the stack, built the same way for every entry: Node.js 22 on arm64, bundled with the
 * project's esbuild (never Docker) into minified ESM with our pinned AWS SDK, all of it but the Lambda client,
 * which the runtime provides (infra/bundling.ts: the options `npm run bench` builds with too), its own log group with retention, and its own role that may write only to
 * that log group until access is granted explicitly. Each deploy publishes a version; callers (API routes,
 * the schedule, startSweep) invoke the `live` alias, which CodeDeploy moves (constructs/rollout.ts).
 */
export class HandlerFunction extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;
  /** The `live` alias on the latest published version: what every caller invokes. */
  readonly alias: Alias;
  /**
   * The `live` alias's ARN, built from the function's ARN: what another function's environment and role
   * name, so they depend on this function and not on its alias (whose update waits for its CodeDeploy
   * group, and so for the alarms in the Monitoring nested stack: a cycle, docs/aws.md "Stack layout").
   */
  readonly liveAliasArn: string;
  readonly timeout: Duration;
  /** Whether X-Ray active tracing is on. */
  readonly traced: boolean;

  /** A function's log group, with the stack's retention: `LogGroup` under `scope`. */
  static createLogGroup(scope: Construct, defaults: HandlerDefaults): LogGroup {
    return new LogGroup(scope, 'LogGroup', {
      retention: defaults.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
  }

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const { defaults } = props;

    this.logGroup = props.logGroup ?? HandlerFunction.createLogGroup(this, defaults);
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Runs ${props.entryName}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, 'Function', {
      entry: lambdaEntry(props.entryName),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(10),
      tracing: props.tracing ? Tracing.ACTIVE : undefined,
      role: this.role,
      logGroup: this.logGroup,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: LOCK_FILE,
      // No NODE_OPTIONS=--enable-source-maps: it slows every cold start and the first error (bench/README.md).
      environment: {
        TABLE_NAME: defaults.table.tableName,
        ...tuningEnvironment(defaults.tuning),
      },
      bundling: {
        forceDockerBundling: false,
        format: OutputFormat.ESM,
        target: LAMBDA_BUNDLE.target,
        mainFields: [...LAMBDA_BUNDLE.mainFields],
        banner: LAMBDA_BUNDLE.banner,
        minify: LAMBDA_BUNDLE.minify,
        // Exactly these are left out (CDK's default would leave out every @aws-sdk package).
        externalModules: [...LAMBDA_BUNDLE.externalModules],
        // NodejsFunction has no alias option: esbuild's `--alias:{module}={path}`, one key per alias (a
        // shared `--alias` key would keep only the last).
        esbuildArgs: Object.fromEntries(
          Object.entries(LAMBDA_BUNDLE.aliases).map(([module, path]) => [`--alias:${module}`, path]),
        ),
        sourceMap: LAMBDA_BUNDLE.sourceMap,
        sourcesContent: LAMBDA_BUNDLE.sourcesContent,
        logLevel: LogLevel.WARNING,
      },
      ...props.options,
    });

    this.timeout = props.timeout ?? Duration.seconds(10);
    this.traced = props.tracing ?? false;
    this.alias = new Alias(this, 'Live', {
      aliasName: LIVE_ALIAS,
      version: this.function.currentVersion,
      retryAttempts: props.asyncRetryAttempts,
    });
    this.liveAliasArn = `${this.function.functionArn}:${LIVE_ALIAS}`;

    if (props.store) {
      grantStore(this.role, { table: defaults.table, auditTable: defaults.auditTable }, props.store);
      if (props.store.audit) this.function.addEnvironment('AUDIT_TABLE_NAME', defaults.auditTable.tableName);
    }
  }
}
