import { Names, Validations } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import type { HandlerFunction } from './constructs/handler-function.js';
import type { RoamingStack } from './roaming-stack.js';

/**
 * The cdk-nag (AwsSolutions) findings the stack keeps on purpose, each acknowledged on the one construct it
 * concerns, with its reason (docs/aws.md "cdk-nag"). Any other finding fails `npm run synth` (infra/app.ts)
 * and test/infra/nag.test.ts.
 */
export const NAG_ACKNOWLEDGEMENTS = {
  lambdaRuntime: {
    id: 'AwsSolutions-L1',
    reason:
      'nodejs22.x on purpose, not nodejs24.x: the code is developed and tested on Node 20 and 22 (package.json engines >=20; ' +
      'CI and npm start run Node 20), the bundles target node22 (infra/bundling.ts) and the cold-start figures in ' +
      'bench/README.md were measured for them. nodejs22.x is a supported Lambda runtime (Node 22 is LTS until April 2027). ' +
      'Move to nodejs24.x together with the bundle target and a bench run, once the tests also run on Node 24.',
  },
  xray: {
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'X-Ray active tracing (send and sweep paths): xray:PutTraceSegments and xray:PutTelemetryRecords support no ' +
      'resource-level permissions, so AWS requires Resource "*" (the policy CDK adds for Tracing.ACTIVE).',
  },
  secretRotation: {
    id: 'AwsSolutions-SMG4',
    reason:
      'The idempotency HMAC key is not rotated automatically: the send path accepts one key, and a new key makes a retry ' +
      'of a send made before it look like a different message (409) while the records live (idempotencyDays, 7). ' +
      'Rotation with two accepted keys needs a change to the idempotency store; until then the key is rotated by hand ' +
      'at a quiet time (docs/runbooks/key-rotation.md).',
  },
  codeDeployRole: {
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSCodeDeployRoleForLambdaLimited]',
    reason:
      "CodeDeploy's own service-role policy for Lambda deployments (what LambdaDeploymentGroup attaches): alias " +
      'updates, alarm reads and hook invokes, maintained by AWS as the service changes.',
  },
  backupRole: {
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup]',
    reason:
      "AWS Backup's own service-role policy for taking backups (what BackupSelection attaches), maintained by AWS.",
  },
  restoreRole: {
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores]',
    reason:
      "AWS Backup's own service-role policy for restores (BackupSelection allowRestores), so the restore runbook can " +
      'restore a recovery point with this role.',
  },
  healthWithoutAuthorizer: {
    id: 'AwsSolutions-APIG4',
    reason:
      'GET /health answers load balancers and scripts without a token on purpose: only {"status":"ok"} or a 503, ' +
      'nothing about users or data (docs/api.md); every other route has the JWT authorizer.',
  },
  exportObjects: {
    id: 'AwsSolutions-IAM5[Resource::<ExportsBucket54D5CE64.Arn>/exports/*]',
    reason:
      'Export files are named by their export id, made at run time: the export worker writes (and the getExport route ' +
      "presigns reads of) objects under the exports/ prefix of the stack's own export bucket, with only the actions " +
      'it needs (PutObject, GetObject, AbortMultipartUpload; GetObject).',
  },
  exportBucketLogs: {
    id: 'AwsSolutions-S1',
    reason:
      'The export bucket holds only exports, each started by an admin and recorded in the audit trail (who, which user, ' +
      'when); files expire within a week. Server access logs would need a log bucket of their own; CloudTrail data ' +
      'events can be enabled for the bucket where downloads must be logged (docs/compliance.md).',
  },
  erasureQueueIsTheDeadLetterQueue: {
    id: 'AwsSolutions-SQS3',
    reason:
      "The erasure function's on-failure destination is itself its dead-letter queue (a failed event waits there, " +
      'with an alarm: docs/runbooks/erasure-stuck.md); nothing consumes it, so it needs no dead-letter queue of its own.',
  },
  signingSecretRotation: {
    id: 'AwsSolutions-SMG4',
    reason:
      'The events signing secret is not rotated automatically: every receiver (the webhook, the pre-send hook) verifies ' +
      'with the one value, so a rotation must be agreed with the app; it is rotated by hand (docs/runbooks/key-rotation.md). ' +
      'The sender reads it again at most five minutes after a change.',
  },
  pipeQueueIsTheDeadLetterQueue: {
    id: 'AwsSolutions-SQS3',
    reason:
      "The events pipes' dead-letter queue and the webhook delivery queue's dead-letter queue are themselves dead-letter " +
      'queues (each with an alarm: docs/runbooks/event-delivery.md); nothing consumes them, so they need none of their own.',
  },
} as const;

export function acknowledgeNagFindings(stack: RoamingStack): void {
  const functions: HandlerFunction[] = [
    ...stack.api.routeFunctions.values(),
    stack.api.notFoundFunction,
    stack.api.healthFunction,
    stack.retention.sweepFunction,
    stack.exports.workerFunction,
    stack.erasure.erasureFunction,
    stack.events.busFunction,
    ...(stack.events.delivery ? [stack.events.delivery.sender] : []),
  ];
  for (const fn of functions) {
    acknowledge(fn.function, NAG_ACKNOWLEDGEMENTS.lambdaRuntime);
    if (fn.traced) acknowledge(fn.role, NAG_ACKNOWLEDGEMENTS.xray);
  }
  acknowledge(stack.api.healthRoute, NAG_ACKNOWLEDGEMENTS.healthWithoutAuthorizer);
  acknowledge(stack.data.idempotencyKey, NAG_ACKNOWLEDGEMENTS.secretRotation);
  acknowledge(stack.rollout.role, NAG_ACKNOWLEDGEMENTS.codeDeployRole);
  acknowledge(stack.data.backupRole, NAG_ACKNOWLEDGEMENTS.backupRole);
  acknowledge(stack.data.backupRole, NAG_ACKNOWLEDGEMENTS.restoreRole);
  acknowledge(stack.exports.bucket, NAG_ACKNOWLEDGEMENTS.exportBucketLogs);
  acknowledge(stack.exports.workerFunction.role, NAG_ACKNOWLEDGEMENTS.exportObjects);
  // getExport is in the AdminApi nested stack, where the bucket's ARN is a parameter CDK names
  // `referenceto{the bucket's unique id}Arn`: cdk-nag shows that name in place of `ExportsBucket….Arn`.
  const bucket = stack.exports.bucket.node.defaultChild as IConstruct;
  acknowledge(stack.api.routeFunction('getExport').role, {
    ...NAG_ACKNOWLEDGEMENTS.exportObjects,
    id: `AwsSolutions-IAM5[Resource::<referenceto${Names.nodeUniqueId(bucket.node)}Arn>/exports/*]`,
  });
  acknowledge(stack.erasure.deadLetterQueue, NAG_ACKNOWLEDGEMENTS.erasureQueueIsTheDeadLetterQueue);
  acknowledge(stack.events.secret, NAG_ACKNOWLEDGEMENTS.signingSecretRotation);
  acknowledge(stack.events.pipeDeadLetterQueue, NAG_ACKNOWLEDGEMENTS.pipeQueueIsTheDeadLetterQueue);
  if (stack.events.delivery) {
    acknowledge(stack.events.delivery.deadLetterQueue, NAG_ACKNOWLEDGEMENTS.pipeQueueIsTheDeadLetterQueue);
  }
}

function acknowledge(scope: IConstruct, finding: { id: string; reason: string }): void {
  Validations.of(scope).acknowledge({ id: finding.id, reason: finding.reason });
}
