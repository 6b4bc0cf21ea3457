import { secretSourceFromEnv } from '../events/webhook-secret.js';
import { makeSendMessageHandler } from '../handlers/send-message.js';
import { depsFromEnv, needsOf } from '../runtime.js';

// The only function that calls the pre-send hook: the only one given the webhook secret's reader.
export const handler = makeSendMessageHandler(
  depsFromEnv(process.env, { ...needsOf('sendMessage'), webhookSecretOf: secretSourceFromEnv }),
);
