import { makeListHoldsHandler } from '../handlers/holds.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeListHoldsHandler(depsFromEnv());
