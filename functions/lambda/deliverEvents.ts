import { webhookPoster } from '../events/delivery.js';
import { secretSourceFromEnv } from '../events/webhook-secret.js';
import { makeDeliverEventsHandler, sqsHider } from '../handlers/deliver-events.js';

const url = process.env.ROAMING_WEBHOOK_URL;
const secret = secretSourceFromEnv(process.env);
if (!url || !secret) throw new Error('ROAMING_WEBHOOK_URL and ROAMING_WEBHOOK_SECRET_ARN must be set');

export const handler = makeDeliverEventsHandler({ post: webhookPoster({ url, secret }), hide: sqsHider() });
