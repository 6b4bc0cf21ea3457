import { makeDeleteMessagesHandler } from '../handlers/delete-messages.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeDeleteMessagesHandler(depsFromEnv());
