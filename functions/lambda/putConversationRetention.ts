import { makePutConversationRetentionHandler } from '../handlers/conversation-retention.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makePutConversationRetentionHandler(depsFromEnv());
