import { makeDeleteUserRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeDeleteUserRetentionHandler(depsFromEnv());
