import { makeFetchHistoryHandler } from '../handlers/fetch-history.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeFetchHistoryHandler(depsFromEnv());
