import { makeSweepHandler } from '../handlers/sweep-schedule.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeSweepHandler(depsFromEnv());
