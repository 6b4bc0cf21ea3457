import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedDynamo } from '../../local/embedded-dynamo.js';

/** One in-memory DynamoDB Local for the whole run; every test file makes its own table in it. */
export default async function startDynamo(project: TestProject) {
  const dynamo = await startEmbeddedDynamo();
  project.provide('dynamoEndpoint', dynamo.endpoint);
  return async function stopDynamo() {
    await dynamo.stop();
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
