import { makePreviewRetentionHandler } from '../handlers/retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePreviewRetentionHandler(depsFromEnv());
