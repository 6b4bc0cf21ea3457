import { makeSendMessageHandler } from '../handlers/send-message.js';
import { depsFromEnv } from '../runtime.js';

export const handler = makeSendMessageHandler(depsFromEnv());
