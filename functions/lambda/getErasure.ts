import { makeGetErasureHandler } from '../handlers/erasures.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeGetErasureHandler(depsFromEnv());
