import { makeListConversationsHandler } from '../handlers/list-conversations.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeListConversationsHandler(depsFromEnv());
