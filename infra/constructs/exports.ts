import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { EXPORT_FUNCTION } from '../../functions/routes.js';
import { type HandlerDefaults, HandlerFunction } from './handler-function.js';

/** Lambda's own limit on a function's timeout. */
const MAX_LAMBDA_TIMEOUT = Duration.minutes(15);

/** The export settings (the stack passes them through). */
export interface ExportOptions {
  /**
   * How long an export's file (and its parts) stays in the bucket before the lifecycle deletes it.
   * @default Duration.days(7)
   */
  readonly expireAfter?: Duration;
  /**
   * Timeout of one worker invocation; it stops a minute before it and starts the next one. At most 15 minutes.
   * @default Duration.minutes(15)
   */
  readonly timeout?: Duration;
  /**
   * Memory of the worker, in MB (a step holds one 8 MiB part).
   * @default 1024
   */
  readonly memorySize?: number;
}

export interface ExportsProps extends ExportOptions {
  readonly defaults: HandlerDefaults;
}

/**
 * Exports (docs/compliance.md, "Export"): the bucket the files go to (encrypted, never public, TLS only,
 * deleted by its lifecycle) and the worker function that writes them, a resumable job that starts its
 * own next invocation when its time runs short (lambda:InvokeFunction on its own `live` alias, in a
 * policy of its own so the function does not depend on it).
 */
export class Exports extends Construct {
  readonly bucket: Bucket;
  readonly workerFunction: HandlerFunction;

  constructor(scope: Construct, id: string, props: ExportsProps) {
    super(scope, id);
    const timeout = props.timeout ?? MAX_LAMBDA_TIMEOUT;
    if (timeout.toMilliseconds() > MAX_LAMBDA_TIMEOUT.toMilliseconds()) {
      throw new Error(
        `The export worker's timeout must be at most 15 minutes, got ${timeout.toHumanString()}`,
      );
    }
    if (timeout.toSeconds() <= 90) {
      throw new Error(
        `The export worker's timeout must exceed 90 seconds (it stops a minute early), got ${timeout.toHumanString()}`,
      );
    }
    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      lifecycleRules: [
        {
          id: 'expire-exports',
          expiration: props.expireAfter ?? Duration.days(7),
          abortIncompleteMultipartUploadAfter: Duration.days(1),
        },
      ],
      // What is in it expires within a week; a stack deletion leaves the bucket rather than the data's fate to chance.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.workerFunction = new HandlerFunction(this, 'Worker', {
      defaults: props.defaults,
      entryName: EXPORT_FUNCTION.name,
      description:
        "exportWorker (started by POST /v1/admin/exports): writes a user's data as NDJSON to the export bucket",
      store: EXPORT_FUNCTION.store,
      memorySize: props.memorySize ?? 1024,
      timeout,
      // Lambda's two retries of a failed invocation (same request id: the retry takes its lease back).
      asyncRetryAttempts: 2,
    });
    this.workerFunction.function.addEnvironment('EXPORT_BUCKET', this.bucket.bucketName);
    // Parts in, the joined file out (a multipart upload copying the parts: GetObject of each part,
    // PutObject and AbortMultipartUpload of the file), HeadObject of the file (GetObject, and ListBucket
    // so that a missing file is a 404, not a 403). Nothing else: no deletes (the lifecycle does them).
    this.workerFunction.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [this.bucket.arnForObjects('exports/*')],
      }),
    );
    this.workerFunction.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [this.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': ['exports/*'] } },
      }),
    );
    new Policy(this, 'ContinuePolicy', {
      roles: [this.workerFunction.role],
      statements: [
        new PolicyStatement({
          actions: ['lambda:InvokeFunction'],
          resources: [this.workerFunction.liveAliasArn],
        }),
      ],
    });
  }

  /**
   * Lets a function start exports: EXPORT_FUNCTION_NAME (the worker's `live` alias) and invoke on it, both
   * by the alias's ARN, not the alias resource (a cycle through the Monitoring nested stack otherwise:
   * HandlerFunction.liveAliasArn, docs/aws.md "Stack layout").
   */
  allowStart(starter: HandlerFunction): void {
    const worker = this.workerFunction.liveAliasArn;
    starter.function.addEnvironment('EXPORT_FUNCTION_NAME', worker);
    starter.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [worker] }),
    );
  }

  /** Lets a function answer where a finished export is: EXPORT_BUCKET and read (a presigned GET is its own). */
  allowLocate(reader: HandlerFunction): void {
    reader.function.addEnvironment('EXPORT_BUCKET', this.bucket.bucketName);
    reader.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: ['s3:GetObject'], resources: [this.bucket.arnForObjects('exports/*')] }),
    );
  }
}
