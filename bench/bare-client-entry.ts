import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * The floor of the cold-start benchmark: a Lambda entry that only loads the DynamoDB document client
 * and builds one, as every function of the stack does. bench/cold-start.ts bundles it with the stack's
 * esbuild options and times importing it next to each function's bundle.
 */
const client = DynamoDBDocumentClient.from(new DynamoDBClient({}));

export async function handler(): Promise<{ ok: boolean }> {
  return { ok: client !== undefined };
}
