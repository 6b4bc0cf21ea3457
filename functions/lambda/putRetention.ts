import { makePutRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePutRetentionHandler(depsFromEnv());
