import { makeCreateGroupHandler } from '../handlers/groups.js';
import { depsFromEnv, needsOf } from '../runtime.js';

export const handler = makeCreateGroupHandler(depsFromEnv(process.env, needsOf('createGroup')));
