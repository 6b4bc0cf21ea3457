import { makeErasureWorker } from '../handlers/erasure-worker.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeErasureWorker(depsFromEnv());
