import { marshall } from '@aws-sdk/util-dynamodb';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { DELIVERY_ATTEMPTS, retryDelaySeconds, webhookPoster } from '../functions/events/delivery.js';
import type { RoamingEvent } from '../functions/events/event.js';
import { makeDeliverEventsHandler } from '../functions/handlers/deliver-events.js';
import { eventItemOf } from '../functions/store/event-store.js';
import { type ReceiverMood, startWebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'sender-test-secret';

/** An SQS record as the pipe leaves it: the outbox item's stream record as the body. */
function sqsRecord(event: RoamingEvent, receiveCount: number): SQSRecord {
  const item = eventItemOf(event, { shards: 16, retentionDays: 7 });
  return {
    messageId: `m-${event.id}`,
    receiptHandle: `r-${event.id}`,
    body: JSON.stringify({ eventName: 'INSERT', dynamodb: { NewImage: marshall(item) } }),
    attributes: { ApproximateReceiveCount: String(receiveCount) },
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:events.fifo',
    awsRegion: 'eu-west-1',
  } as unknown as SQSRecord;
}

function sent(from: string, to: string, n: number): RoamingEvent {
  const msgId = `${from}-${to}-${n}`;
  return {
    id: `message.sent:${msgId}`,
    type: 'message.sent',
    occurredAt: 1_000 + n,
    data: {
      msgId,
      chatType: 'single',
      from,
      to,
      message: {
        msgId,
        from,
        to,
        chatType: 'single',
        type: 'text',
        body: { text: `m${n}` },
        timestamp: 1_000 + n,
      },
    },
  };
}

describe('the sender function (AWS: the FIFO queue feeds it)', () => {
  it('hands back the failed event and its conversation’s later ones, hidden for their backoff, and delivers the rest', async () => {
    // Prepare: the receiver refuses the second request it gets (a's second event: each conversation is
    // delivered in order, a's first comes first).
    const moods: ReceiverMood[] = ['accept', 'refuse'];
    const receiver = await startWebhookReceiver(SECRET, moods);
    const hidden: [string, number][] = [];
    const handler = makeDeliverEventsHandler({
      post: webhookPoster({ url: receiver.url, secret: async () => SECRET }),
      hide: async (record, seconds) => {
        hidden.push([record.messageId, seconds]);
      },
    });
    const a = [sent('a', 'b', 1), sent('a', 'b', 2), sent('a', 'b', 3)];
    // Act: a's three events, received for the 3rd time; a batch of them alone, so the order is known.
    const answer = await handler({ Records: a.map((event) => sqsRecord(event, 3)) } as SQSEvent);
    await receiver.close();
    // Assess
    expect(receiver.accepted.map((r) => r.event.id)).toEqual([a[0]?.id]);
    expect(answer.batchItemFailures).toEqual([
      { itemIdentifier: `m-${a[1]?.id}` },
      { itemIdentifier: `m-${a[2]?.id}` },
    ]);
    expect(hidden).toEqual([
      [`m-${a[1]?.id}`, retryDelaySeconds(3)],
      [`m-${a[2]?.id}`, retryDelaySeconds(3)],
    ]);
  });

  it('delivers other conversations past one that fails, and drops a message that is no event', async () => {
    // Prepare: every request to the receiver for c's conversation is refused.
    const receiver = await startWebhookReceiver(SECRET);
    const poster = webhookPoster({ url: receiver.url, secret: async () => SECRET });
    const handler = makeDeliverEventsHandler({
      post: async (queued) =>
        queued.group === 'single:c:d' ? { delivered: false, reason: 'HTTP 500' } : poster(queued),
      hide: async () => undefined,
    });
    const c = sent('c', 'd', 1);
    const e = [sent('e', 'f', 1), sent('e', 'f', 2)];
    const junk = { ...sqsRecord(c, 1), messageId: 'junk', body: 'not json' };
    // Act
    const answer = await handler({
      Records: [sqsRecord(c, 1), junk, ...e.map((x) => sqsRecord(x, 1))],
    } as SQSEvent);
    await receiver.close();
    // Assess
    expect(answer.batchItemFailures).toEqual([{ itemIdentifier: `m-${c.id}` }]);
    expect(receiver.accepted.map((r) => r.event.id)).toEqual(e.map((x) => x.id));
    expect(receiver.accepted.every((r) => r.signed)).toBe(true);
  });

  it('backs off exponentially to an hour, and keeps trying for more than a day', () => {
    expect([1, 2, 3, 4].map(retryDelaySeconds)).toEqual([5, 10, 20, 40]);
    expect(retryDelaySeconds(30)).toBe(3600);
    // The waits between DELIVERY_ATTEMPTS attempts add up to more than a day; one attempt fewer does not.
    const waited = (attempts: number) =>
      Array.from({ length: attempts - 1 }, (_, i) => retryDelaySeconds(i + 1)).reduce((a, b) => a + b, 0);
    expect(waited(DELIVERY_ATTEMPTS)).toBeGreaterThanOrEqual(24 * 3600);
    expect(waited(DELIVERY_ATTEMPTS - 1)).toBeLessThan(24 * 3600);
  });
});
