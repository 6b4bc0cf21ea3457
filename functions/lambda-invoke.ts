import type { LambdaClient } from '@aws-sdk/client-lambda';
import { StoreError } from './core/errors.js';

/** Starts a Lambda function asynchronously with `payload` as its event. */
export type AsyncInvoke = (functionName: string, payload: unknown) => Promise<void>;

/**
 * Lambda's Invoke with InvocationType Event: Lambda queues the event and answers 202 at once. The
 * caller needs lambda:InvokeFunction on that function. The client is built once, on the first invoke:
 * the Lambda client module is loaded only then (a dynamic import), so the function that starts sweeps
 * neither parses nor builds it during its cold start. On AWS it comes from the Lambda runtime's own
 * AWS SDK v3 (the bundles leave it out: infra/bundling.ts); locally and in tests, from node_modules.
 */
export function createAsyncInvoke(client?: LambdaClient): AsyncInvoke {
  let ready: Promise<{ client: LambdaClient; module: typeof import('@aws-sdk/client-lambda') }> | undefined;
  const lambda = () =>
    (ready ??= import('@aws-sdk/client-lambda').then((module) => ({
      client: client ?? new module.LambdaClient({}),
      module,
    })));
  return async function invokeAsync(functionName, payload) {
    let statusCode: number | undefined;
    try {
      const { client: lambdaClient, module } = await lambda();
      const output = await lambdaClient.send(
        new module.InvokeCommand({
          FunctionName: functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
      statusCode = output.StatusCode;
    } catch (error) {
      throw new StoreError(`Lambda Invoke of ${functionName} failed`, { cause: error });
    }
    if (statusCode !== 202) throw new StoreError(`Lambda Invoke of ${functionName} answered ${statusCode}`);
  };
}
