import { makeCreateGroupHandler } from '../handlers/groups.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeCreateGroupHandler(depsFromEnv());
