import { ChangeMessageVisibilityCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { deliverInOrder, type PostEvent, retryDelaySeconds } from '../events/delivery.js';
import { type EventStreamRecord, type QueuedEvent, queuedEventOfRecord } from '../store/event-store.js';

/**
 * The sender function (AWS): EventBridge Pipes moves each new outbox item's stream record to an SQS FIFO
 * queue, grouped by conversation; this delivers a batch of them in order (deliverInOrder) and hands the
 * undelivered back to the queue (partial batch response), each hidden for its backoff, so it is tried
 * again later and its conversation's later events wait behind it. After DELIVERY_ATTEMPTS receives
 * (more than a day of backoff), the queue moves it to its dead-letter queue.
 */
export function makeDeliverEventsHandler(options: {
  post: PostEvent;
  /** Hides a returned message for `seconds` (ChangeMessageVisibility). */
  hide: (record: SQSRecord, seconds: number) => Promise<void>;
}) {
  return async function deliverEvents(event: SQSEvent): Promise<SQSBatchResponse> {
    const parsed = event.Records.map((record) => ({ record, queued: queuedOf(record) }));
    // A message that is no event (not from the pipe) is dropped: it would block its group for a day.
    const queued = parsed.filter(
      (p): p is { record: SQSRecord; queued: QueuedEvent } => p.queued !== undefined,
    );
    const { failed } = await deliverInOrder(
      queued.map((p) => p.queued),
      options.post,
    );
    const failedRecords = queued.filter((p) => failed.includes(p.queued)).map((p) => p.record);
    await Promise.all(
      failedRecords.map((record) =>
        options
          .hide(record, retryDelaySeconds(Number(record.attributes.ApproximateReceiveCount) || 1))
          // Not hidden: the queue's own visibility timeout applies; it is still retried.
          .catch(() => undefined),
      ),
    );
    return { batchItemFailures: failedRecords.map((record) => ({ itemIdentifier: record.messageId })) };
  };
}

function queuedOf(record: SQSRecord): QueuedEvent | undefined {
  try {
    return queuedEventOfRecord(JSON.parse(record.body) as EventStreamRecord);
  } catch {
    return undefined;
  }
}

/** ChangeMessageVisibility on the queue a record came from (its ARN names the queue). */
export function sqsHider(client = new SQSClient({})) {
  return async function hide(record: SQSRecord, seconds: number): Promise<void> {
    const [, , , region, account, name] = record.eventSourceARN.split(':');
    await client.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: `https://sqs.${region}.amazonaws.com/${account}/${name}`,
        ReceiptHandle: record.receiptHandle,
        VisibilityTimeout: seconds,
      }),
    );
  };
}
