import type { QueuedEvent } from '../store/event-store.js';
import { EVENT_ID_HEADER, signedHeaders } from './signing.js';
import { type SecretSource, secretSourceFromEnv } from './webhook-secret.js';

/**
 * Delivering events to the app's webhook (docs/events.md), the same code on AWS (the sender function, fed
 * by an SQS FIFO queue) and under npm start (local/event-pipeline.ts): a signed POST per event, a 2xx
 * ends it, anything else is tried again later with exponential backoff for more than a day, then the
 * event goes to the dead letters.
 */

export interface Webhook {
  url: string;
  secret: SecretSource;
  /** How long one POST may take before it counts as failed. @default 5000 */
  timeoutMs?: number;
}

export type PostOutcome = { delivered: true } | { delivered: false; reason: string };

export type PostEvent = (queued: QueuedEvent) => Promise<PostOutcome>;

const DEFAULT_POST_TIMEOUT_MS = 5000;

/**
 * The webhook from the environment (the sender function, npm start): ROAMING_WEBHOOK_URL, an http(s)
 * URL, and the secret (secretSourceFromEnv); undefined without a URL. A URL without a secret stops the
 * start: nothing is sent unsigned. Errors never repeat the URL (it may carry a credential).
 */
export function webhookFromEnv(env: NodeJS.ProcessEnv): Webhook | undefined {
  const url = env.ROAMING_WEBHOOK_URL?.trim();
  if (!url) return undefined;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error('ROAMING_WEBHOOK_URL is not a URL');
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error('ROAMING_WEBHOOK_URL must be http(s)');
  const secret = secretSourceFromEnv(env);
  if (!secret) {
    throw new Error('ROAMING_WEBHOOK_URL needs a secret to sign with: ROAMING_WEBHOOK_SECRET (or _ARN)');
  }
  return { url, secret };
}

/** One signed POST of one event: its raw JSON as stored, its id in a header. */
export function webhookPoster(webhook: Webhook): PostEvent {
  return async function postEvent(queued) {
    try {
      const secret = await webhook.secret();
      const response = await fetch(webhook.url, {
        method: 'POST',
        headers: { ...signedHeaders(secret, queued.payload), [EVENT_ID_HEADER]: queued.event.id },
        body: queued.payload,
        signal: AbortSignal.timeout(webhook.timeoutMs ?? DEFAULT_POST_TIMEOUT_MS),
      });
      // The answer's body is not read: drop it, so the connection is free again.
      await response.body?.cancel().catch(() => undefined);
      return response.ok ? { delivered: true } : { delivered: false, reason: `HTTP ${response.status}` };
    } catch (error) {
      return {
        delivered: false,
        reason: (error as Error).name === 'TimeoutError' ? 'timeout' : String(error),
      };
    }
  };
}

/**
 * Delivers a batch in order within each conversation: a conversation's events one after another, and
 * after its first failure none of its later ones (they wait behind it, as the FIFO queue makes them);
 * conversations side by side. Returns the events not delivered, each conversation's in order.
 */
export async function deliverInOrder(
  batch: readonly QueuedEvent[],
  post: PostEvent,
): Promise<{ failed: QueuedEvent[]; reasons: Map<QueuedEvent, string> }> {
  const byGroup = new Map<string, QueuedEvent[]>();
  for (const queued of batch) {
    const list = byGroup.get(queued.group) ?? [];
    list.push(queued);
    byGroup.set(queued.group, list);
  }
  const failed = new Set<QueuedEvent>();
  const reasons = new Map<QueuedEvent, string>();
  await Promise.all(
    [...byGroup.values()].map(async function deliverConversation(events) {
      for (const [index, queued] of events.entries()) {
        const outcome = await post(queued);
        if (outcome.delivered) continue;
        reasons.set(queued, outcome.reason);
        for (const later of events.slice(index)) failed.add(later);
        return;
      }
    }),
  );
  return { failed: batch.filter((queued) => failed.has(queued)), reasons };
}

/** The first retry waits this long, each next one twice as long, up to RETRY_CAP_SECONDS. */
export const FIRST_RETRY_SECONDS = 5;
export const RETRY_CAP_SECONDS = 3600;
/** Delivery keeps trying for at least this long before an event is a dead letter. */
export const RETRY_FOR_SECONDS = 24 * 3600;

/** The wait before the delivery attempt after `attempt` failed ones (1 is the first failure). */
export function retryDelaySeconds(failedAttempts: number): number {
  return Math.min(RETRY_CAP_SECONDS, FIRST_RETRY_SECONDS * 2 ** Math.max(0, failedAttempts - 1));
}

/**
 * How many attempts make the backoff last at least RETRY_FOR_SECONDS: the queue's receive count before
 * its dead-letter queue (maxReceiveCount), and npm start's.
 */
export const DELIVERY_ATTEMPTS = (() => {
  let waited = 0;
  let attempts = 1;
  while (waited < RETRY_FOR_SECONDS) waited += retryDelaySeconds(attempts++);
  return attempts;
})();
