import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ERASURE_FUNCTION } from '../../functions/routes.js';
import { type HandlerDefaults, HandlerFunction, LIVE_ALIAS } from './handler-function.js';

export interface ErasureProps {
  readonly defaults: HandlerDefaults;
}

/**
 * The erasure function (functions/handlers/erasure-worker.ts): started by POST /v1/admin/erasures with an
 * asynchronous invoke, it scans the table and invokes itself (its own `live` alias) to go on when its
 * time runs short. Its grants are ERASURE_FUNCTION's (a Scan of the table among them: IAM cannot limit a
 * Scan by partition) and lambda:InvokeFunction on its own alias, in a policy of its own (a statement in
 * the role's default policy would make the function depend on its own ARN).
 */
export class Erasure extends Construct {
  readonly erasureFunction: HandlerFunction;

  constructor(scope: Construct, id: string, props: ErasureProps) {
    super(scope, id);
    this.erasureFunction = new HandlerFunction(this, 'Erasure', {
      defaults: props.defaults,
      entryName: ERASURE_FUNCTION.name,
      description:
        'erasure (started by POST /v1/admin/erasures): erases a user, a resumable job that invokes itself to go on',
      store: ERASURE_FUNCTION.store,
      memorySize: 1024,
      timeout: Duration.minutes(5),
      // A crashed invocation is retried (it resumes from the job's checkpoints once its lease lapses).
      asyncRetryAttempts: 2,
    });
    const fn = this.erasureFunction.function;
    const selfAlias = Stack.of(this).formatArn({
      service: 'lambda',
      resource: 'function',
      resourceName: `${fn.functionName}:${LIVE_ALIAS}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    new Policy(this, 'InvokeItself', {
      roles: [this.erasureFunction.role],
      statements: [new PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [selfAlias] })],
    });
  }

  /** Lets the startErasure route invoke the erasure function (its `live` alias) and tells it the ARN. */
  allowStart(starter: HandlerFunction): void {
    const alias = this.erasureFunction.alias;
    starter.function.addEnvironment('ERASURE_FUNCTION_NAME', alias.functionArn);
    alias.grantInvoke(starter.role);
  }
}
