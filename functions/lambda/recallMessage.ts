import { makeRecallMessageHandler } from '../handlers/revise-message.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeRecallMessageHandler(depsFromEnv());
