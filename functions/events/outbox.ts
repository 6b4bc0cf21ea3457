import type { Deps } from '../domain/deps.js';
import { putEventAction } from '../store/event-store.js';
import type { TransactItem } from '../store/transactions.js';
import type { EventData, EventType, RoamingEvent } from './event.js';

/**
 * The outbox put of a change's event, for the change's own transaction (event-store.ts). `id` names the
 * change when it has a name of its own (a message's send, recall or n-th edit), so the event cannot be
 * told twice; other changes take a new id per attempt, and only the attempt that commits writes it.
 */
export function eventAction<T extends EventType>(
  deps: Deps,
  type: T,
  data: EventData[T],
  options: { id?: string; occurredAt?: number; redacted?: true } = {},
): TransactItem {
  const event: RoamingEvent<T> = {
    id: options.id ?? `${type}:${deps.ids.next()}`,
    type,
    occurredAt: options.occurredAt ?? deps.clock.now(),
    data,
  };
  return putEventAction(deps.db.tableName, event as RoamingEvent, {
    shards: deps.config.eventShards,
    retentionDays: deps.config.eventRetentionDays,
    ...(options.redacted ? { redacted: true } : {}),
  });
}

/**
 * Rewrites a stored event of a message so it shows the message as revised: a recall or an edit leaves
 * no copy of the text it took back, the outbox included (docs/recall-and-edit.md). The rewrite is marked
 * `redacted`, so delivery ignores it (it is not a new event); a replay sends the revised content. Written
 * whether or not the event is still stored (an expired one is put back already expired, for TTL).
 */
export function redactedEventAction<T extends 'message.sent' | 'message.edited'>(
  deps: Deps,
  type: T,
  data: EventData[T],
  options: { id: string; occurredAt: number },
): TransactItem {
  return eventAction(deps, type, data, { ...options, redacted: true });
}
