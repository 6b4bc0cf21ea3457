import { Duration } from 'aws-cdk-lib';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  actionsOf,
  aliasIdOf,
  functionId,
  functionProps,
  getAtt,
  onlyResource,
  roleIdOf,
  roleStatements,
  routeFunctionId,
  synthesize,
} from './support/stack.js';

let template: Template;
let bucketId: string;
let workerId: string;

beforeAll(() => {
  template = synthesize().whole;
  bucketId = onlyResource(template, 'AWS::S3::Bucket')[0];
  workerId = functionId(template, 'exportWorker');
});

/** Every S3 or Lambda action a role's policies allow, with its resources. */
function grantsOf(roleId: string, prefix: string) {
  return roleStatements(template, roleId)
    .filter((statement) => actionsOf(statement).some((action) => action.startsWith(prefix)))
    .map((statement) => ({ actions: actionsOf(statement).sort(), resource: statement.Resource }));
}

describe('the export bucket', () => {
  it('is encrypted, never public, reachable over TLS only, and deletes exports after 7 days', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LifecycleConfiguration: {
        Rules: [
          Match.objectLike({
            Status: 'Enabled',
            ExpirationInDays: 7,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          }),
        ],
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Action: 's3:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
    template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
  });

  it('keeps exports as long as the stack says', () => {
    const days = synthesize({ props: { exports: { expireAfter: Duration.days(2) } } }).whole;
    days.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 2 })] },
    });
  });
});

describe('the export worker', () => {
  it('runs 15 minutes, is retried twice, knows its bucket, and may start its own next invocation', () => {
    const props = functionProps(template, 'exportWorker');
    expect(props).toMatchObject({ Timeout: 900, MemorySize: 1024 });
    expect((props.Environment as { Variables: Record<string, unknown> }).Variables.EXPORT_BUCKET).toEqual({
      Ref: bucketId,
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: workerId },
      MaximumRetryAttempts: 2,
    });
    const worker = roleIdOf(template, workerId);
    expect(grantsOf(worker, 'lambda:')).toEqual([
      { actions: ['lambda:InvokeFunction'], resource: { 'Fn::Join': ['', [getAtt(workerId), ':live']] } },
    ]);
    expect(grantsOf(worker, 's3:')).toEqual([
      {
        actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
        resource: { 'Fn::Join': ['', [getAtt(bucketId), '/exports/*']] },
      },
      { actions: ['s3:ListBucket'], resource: getAtt(bucketId) },
    ]);
  });

  it('is started by POST /v1/admin/exports through its live alias; GET may only read export files', () => {
    const start = routeFunctionId(template, 'POST /v1/admin/exports');
    // The live alias by its ARN (built from the worker's: no reference to the alias resource, a cycle
    // through the Monitoring nested stack otherwise).
    const aliasId = aliasIdOf(template, workerId);
    expect(template.findResources('AWS::Lambda::Alias')[aliasId]?.Properties?.Name).toBe('live');
    const liveArn = { 'Fn::Join': ['', [getAtt(workerId), ':live']] };
    const startProps = template.findResources('AWS::Lambda::Function')[start]?.Properties as {
      Environment: { Variables: Record<string, unknown> };
    };
    expect(startProps.Environment.Variables.EXPORT_FUNCTION_NAME).toEqual(liveArn);
    const invokes = grantsOf(roleIdOf(template, start), 'lambda:');
    expect(invokes).toEqual([{ actions: ['lambda:InvokeFunction'], resource: liveArn }]);
    expect(grantsOf(roleIdOf(template, start), 's3:')).toEqual([]);
    const get = routeFunctionId(template, 'GET /v1/admin/exports/{exportId}');
    expect(grantsOf(roleIdOf(template, get), 's3:')).toEqual([
      { actions: ['s3:GetObject'], resource: { 'Fn::Join': ['', [getAtt(bucketId), '/exports/*']] } },
    ]);
    expect(grantsOf(roleIdOf(template, get), 'lambda:')).toEqual([]);
  });
});
