import { makeSendMessageHandler } from '../handlers/send-message.js';
import { depsFromEnv, idempotencyKeyFromEnv } from '../runtime.js';

export const handler = makeSendMessageHandler({ ...depsFromEnv(), idempotencyKey: idempotencyKeyFromEnv() });
