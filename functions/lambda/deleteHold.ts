import { makeDeleteHoldHandler } from '../handlers/holds.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeDeleteHoldHandler(depsFromEnv());
