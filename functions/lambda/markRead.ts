import { makeMarkReadHandler } from '../handlers/mark-read.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeMarkReadHandler(depsFromEnv());
