import { makeGetRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeGetRetentionHandler(depsFromEnv());
