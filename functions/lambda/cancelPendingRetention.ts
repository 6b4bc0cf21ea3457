import { makeCancelPendingRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeCancelPendingRetentionHandler(depsFromEnv());
