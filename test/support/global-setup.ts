import type {} from 'vitest';
import type { TestProject } from 'vitest/node';
import { startEmbeddedDynamo } from '../../local/embedded-dynamo.js';

/**
 * One in-memory DynamoDB Local for the whole run; every test file makes its own table in it. It never
 * outlives the run: the teardown stops it after a passing or failing run; if vitest exits without
 * teardown (Ctrl-C, SIGTERM, a crash), embedded-dynamo's exit handler kills it, and on Linux the kernel
 * kills it if vitest itself is killed outright (parent-death signal). No Java: one line saying what to
 * install.
 */
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
