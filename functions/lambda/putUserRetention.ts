import { makePutUserRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePutUserRetentionHandler(depsFromEnv());
