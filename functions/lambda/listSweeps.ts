import { makeListSweepsHandler } from '../handlers/sweeps.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeListSweepsHandler(depsFromEnv());
