import { makeStartSweepHandler } from '../handlers/sweeps.js';
import { depsFromEnv } from '../runtime.js';
import { sweepStarterFromEnv } from '../sweep-starter.js';

export const handler = makeStartSweepHandler(depsFromEnv(), sweepStarterFromEnv());
