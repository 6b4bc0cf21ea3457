import { makeModifyMessageHandler } from '../handlers/revise-message.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeModifyMessageHandler(depsFromEnv());
