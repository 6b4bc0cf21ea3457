import { type EventStreamRecord, queuedEventOfRecord } from '../store/event-store.js';

/**
 * The enrichment step of the pipe to the EventBridge bus: the outbox items' stream records in, the events
 * themselves out (the bus's rules match on `detail-type`, the event's type, and on its `detail`).
 */
export async function handler(records: EventStreamRecord[]) {
  return records.flatMap((record) => {
    const queued = queuedEventOfRecord(record);
    return queued ? [queued.event] : [];
  });
}
