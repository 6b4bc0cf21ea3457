import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { StoreError } from './core/errors.js';

/** Starts a Lambda function asynchronously with `payload` as its event. */
export type AsyncInvoke = (functionName: string, payload: unknown) => Promise<void>;

/**
 * Lambda's Invoke with InvocationType Event: Lambda queues the event and answers 202 at once. The
 * caller needs lambda:InvokeFunction on that function. The client is built once (composition root).
 */
export function createAsyncInvoke(client: LambdaClient = new LambdaClient({})): AsyncInvoke {
  return async function invokeAsync(functionName, payload) {
    let statusCode: number | undefined;
    try {
      const output = await client.send(
        new InvokeCommand({
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
