import { makePutHoldHandler } from '../handlers/holds.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePutHoldHandler(depsFromEnv());
