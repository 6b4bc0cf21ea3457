import { makeRemoveMemberHandler } from '../handlers/groups.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeRemoveMemberHandler(depsFromEnv());
