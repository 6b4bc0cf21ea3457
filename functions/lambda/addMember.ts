import { makeAddMemberHandler } from '../handlers/groups.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeAddMemberHandler(depsFromEnv());
