import { createHash } from 'node:crypto';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DAY_MS, ttlAfter } from '../core/clock.js';
import { timeOfId } from '../core/ids.js';
import type { ChatType } from '../core/model.js';
import { conversationNamed, conversationOf, type RoamingEvent } from '../events/event.js';
import { type Db, queryAll, type WriteRequest } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

/**
 * The event outbox (docs/events.md): each event is an item written in the same transaction as the change
 * it reports, so it exists exactly when the change committed, once. The table's stream carries each new
 * event item to delivery (EventBridge Pipes on AWS, local/event-pipeline.ts under npm start); the items
 * stay `eventRetentionDays` for replays, then TTL deletes them.
 *
 * All events of one conversation share one partition (`EV#{shard}`, the shard a hash of the
 * conversation): the stream keeps the order of the writes to one partition, and a conversation's
 * changes commit one after another, so its events reach delivery in commit order. The sort key is the
 * time, so a replay reads a window with one Query per shard.
 */

/** The attribute that marks an outbox item in a stream record (the pipes filter on it). */
export const EVENT_ENTITY = 'event';

/** A type, not an interface: it is read as any other item (Record<string, unknown>) too. */
export type EventItem = {
  pk: string;
  sk: string;
  entity: typeof EVENT_ENTITY;
  eventId: string;
  type: string;
  /** The delivery order group: the conversation (RoamingEvent's conversationOf), at most 128 characters. */
  group: string;
  /** What queues de-duplicate on: the event id, plus `#r{n}` for its n-th replay. */
  deliveryId: string;
  /** The event as JSON, exactly as delivered. */
  payload: string;
  /** Set by a replay (POST /v1/admin/events/replay): the rewrite is delivered again. */
  replayId?: string;
  /** A recall or edit rewrote this event's message: the rewrite is not delivered. */
  redacted?: true;
  expiresAt: number;
};

/** A FIFO message group id takes at most 128 characters: longer conversation names are hashed. */
const MAX_GROUP_LENGTH = 128;

export function deliveryGroupOf(event: RoamingEvent): string {
  return groupNameOf(conversationOf(event));
}

function groupNameOf(conversation: string): string {
  if (conversation.length <= MAX_GROUP_LENGTH) return conversation;
  return `h:${createHash('sha256').update(conversation).digest('hex')}`;
}

/**
 * The retention sweep deletes a message's `message.sent` event with its copies (its key follows from
 * the copy's: the conversation and the msgId, whose time is the event's), so an expired message's text
 * does not outlive it in the outbox. Only while the event may still be stored: it expires
 * `retentionDays` after the send, and TTL deletes it up to two days later.
 */
export function expiredSendEventDelete(
  copy: { chatType: ChatType; owner: string; convId: string; msgId: string },
  options: { shards: number; retentionDays: number; now: number },
): WriteRequest | undefined {
  const sentAt = timeOfId(copy.msgId);
  if (sentAt < options.now - (options.retentionDays + TTL_LAG_DAYS) * DAY_MS) return undefined;
  const group = groupNameOf(conversationNamed(copy.chatType, copy.owner, copy.convId));
  return {
    DeleteRequest: {
      Key: keys.event(eventShardOf(group, options.shards), sentAt, `message.sent:${copy.msgId}`),
    },
  };
}

/** How late DynamoDB's TTL may delete an expired item (AWS: usually within two days). */
const TTL_LAG_DAYS = 2;

export function eventShardOf(group: string, shards: number): number {
  return createHash('sha256').update(group).digest().readUInt32BE(0) % shards;
}

/** The outbox put that goes into the change's transaction. */
export function putEventAction(
  tableName: string,
  event: RoamingEvent,
  options: { shards: number; retentionDays: number; redacted?: true },
): TransactItem {
  return { Put: { TableName: tableName, Item: eventItemOf(event, options) } };
}

export function eventItemOf(
  event: RoamingEvent,
  options: { shards: number; retentionDays: number; redacted?: true },
): EventItem {
  const group = deliveryGroupOf(event);
  return {
    ...(options.redacted ? { redacted: true } : {}),
    ...keys.event(eventShardOf(group, options.shards), event.occurredAt, event.id),
    entity: EVENT_ENTITY,
    eventId: event.id,
    type: event.type,
    group,
    deliveryId: event.id,
    payload: JSON.stringify(event),
    expiresAt: ttlAfter(event.occurredAt, options.retentionDays),
  };
}

export const EVENT_PK_PREFIX = keys.eventPk(0).slice(0, -1);

/**
 * Whether a stored event names `userId`: as a message's sender or recipient, a conversation's owner or
 * peer, a member or who acted (an erasure deletes such events: erasure-plan.ts).
 */
export function eventMentions(item: Record<string, unknown>, userId: string): boolean {
  if (typeof item.payload !== 'string') return false;
  const { data } = JSON.parse(item.payload) as { data: Record<string, unknown> };
  const message = (data.message ?? {}) as Record<string, unknown>;
  const named = [data.from, data.to, data.owner, data.convId, data.member, data.by, message.from, message.to];
  if (named.includes(userId)) return true;
  return Array.isArray(data.members) && data.members.includes(userId);
}

/** An event as delivery sees it: read from a stream record's new image. */
export interface QueuedEvent {
  event: RoamingEvent;
  group: string;
  deliveryId: string;
  /** The raw JSON that is POSTed and signed. */
  payload: string;
}

export function queuedEventOf(item: Record<string, unknown>): QueuedEvent | undefined {
  if (item.entity !== EVENT_ENTITY || typeof item.payload !== 'string') return undefined;
  return {
    event: JSON.parse(item.payload) as RoamingEvent,
    group: String(item.group),
    deliveryId: String(item.deliveryId),
    payload: item.payload,
  };
}

/** The shape of a DynamoDB stream record that delivery reads (AWS Lambda's, Pipes' and DynamoDB Local's). */
export interface EventStreamRecord {
  eventName?: string;
  dynamodb?: { NewImage?: Record<string, unknown>; SequenceNumber?: string };
}

/**
 * The event a stream record carries, if it is one to deliver: a new outbox item, or a replay's rewrite
 * of one. A redaction (a recall's or edit's rewrite) is not. The pipes' filter says the same
 * (infra: EVENT_RECORD_FILTERS).
 */
export function queuedEventOfRecord(record: EventStreamRecord): QueuedEvent | undefined {
  const image = record.dynamodb?.NewImage;
  if (!image) return undefined;
  // biome-ignore lint/suspicious/noExplicitAny: the stream's attribute values are DynamoDB JSON
  const item = unmarshall(image as any);
  const delivered =
    (record.eventName === 'INSERT' && item.redacted === undefined) ||
    (record.eventName === 'MODIFY' && item.replayId !== undefined);
  return delivered ? queuedEventOf(item) : undefined;
}

/**
 * The same rule as the stream's filter patterns for EventBridge Pipes (any pattern matches): a new,
 * unredacted outbox item, or a replay's rewrite.
 */
export const EVENT_RECORD_FILTERS = [
  {
    eventName: ['INSERT'],
    dynamodb: { NewImage: { entity: { S: [EVENT_ENTITY] }, redacted: { BOOL: [{ exists: false }] } } },
  },
  {
    eventName: ['MODIFY'],
    dynamodb: { NewImage: { entity: { S: [EVENT_ENTITY] }, replayId: { S: [{ exists: true }] } } },
  },
] as const;

/** Every stored event, each shard read whole (tests, the simulation's oracle, benchmarks). */
export async function allStoredEvents(db: Db, shards: number): Promise<EventItem[]> {
  const all = await Promise.all(
    Array.from({ length: shards }, (_, shard) =>
      eventsBetween(db, shard, { from: 0, to: Number.MAX_SAFE_INTEGER }),
    ),
  );
  return all.flat();
}

/** The stored events of one shard that occurred in [from, to] (ms), oldest first. */
export function eventsBetween(
  db: Db,
  shard: number,
  window: { from: number; to: number },
): Promise<EventItem[]> {
  return queryAll<EventItem>(db, {
    TableName: db.tableName,
    KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
    ExpressionAttributeValues: {
      ':pk': keys.eventPk(shard),
      ':from': keys.eventSkAt(window.from),
      // Every id sorts below '~'.
      ':to': `${keys.eventSkAt(window.to)}#~`,
    },
    ConsistentRead: true,
  });
}
