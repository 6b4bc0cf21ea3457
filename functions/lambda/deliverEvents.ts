import { webhookFromEnv, webhookPoster } from '../events/delivery.js';
import { makeDeliverEventsHandler, sqsHider } from '../handlers/deliver-events.js';

const webhook = webhookFromEnv(process.env);
if (!webhook) throw new Error('ROAMING_WEBHOOK_URL must be set');

export const handler = makeDeliverEventsHandler({ post: webhookPoster(webhook), hide: sqsHider() });
