import { makeDeleteConversationHandler } from '../handlers/delete-conversation.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeDeleteConversationHandler(depsFromEnv());
