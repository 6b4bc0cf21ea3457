import { makeSendMessageHandler } from '../handlers/send-message.js';
import { depsFromEnv, needsOf } from '../runtime.js';

export const handler = makeSendMessageHandler(depsFromEnv(process.env, needsOf('sendMessage')));
