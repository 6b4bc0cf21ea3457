import { makeHealthHandler } from '../handlers/health.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeHealthHandler(depsFromEnv());
