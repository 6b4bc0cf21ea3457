import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { sendConditional } from '../store/db.js';
import { type EventItem, eventsBetween } from '../store/event-store.js';
import type { Deps } from './deps.js';

/** Events one replay call rewrites at most; past it the answer says where to go on (`next`). */
export const MAX_REPLAYED_PER_CALL = 5000;

export interface ReplayOutcome {
  replayId: string;
  replayed: number;
  /** Set when the window held more: call again with `from: next` (events at that time may come twice). */
  next: number | null;
}

/**
 * Delivers again every stored event that occurred in [from, to] (docs/events.md, "Replay"): each is
 * rewritten with a new `replayId` and `deliveryId`, which its stream record carries to delivery as a
 * replay (the same event id, so receivers that de-duplicate drop what they had). A conversation's events
 * are rewritten one after another in their order, so they are delivered in it again.
 */
export async function replayEvents(deps: Deps, window: { from: number; to: number }): Promise<ReplayOutcome> {
  const replayId = deps.ids.next();
  const shards = await Promise.all(
    Array.from({ length: deps.config.eventShards }, (_, shard) => eventsBetween(deps.db, shard, window)),
  );
  const all = shards.flat().sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
  const chosen = all.slice(0, MAX_REPLAYED_PER_CALL);
  const next = all.length > chosen.length ? eventTime(all[chosen.length] as EventItem) : null;
  const inShard = new Map<string, EventItem[]>();
  for (const item of chosen) inShard.set(item.pk, [...(inShard.get(item.pk) ?? []), item]);
  const counts = await Promise.all(
    [...inShard.values()].map(async function replayShard(items) {
      let replayed = 0;
      for (const item of items) if (await markReplayed(deps, item, replayId)) replayed++;
      return replayed;
    }),
  );
  return { replayId, replayed: counts.reduce((a, b) => a + b, 0), next };
}

/** Only a still-stored event: one TTL deleted meanwhile is not put back. */
function markReplayed(deps: Deps, item: EventItem, replayId: string): Promise<boolean> {
  return sendConditional(
    deps.db,
    new UpdateCommand({
      TableName: deps.db.tableName,
      Key: { pk: item.pk, sk: item.sk },
      UpdateExpression: 'SET replayId = :replay, deliveryId = :delivery',
      ConditionExpression: 'attribute_exists(pk)',
      ExpressionAttributeValues: { ':replay': replayId, ':delivery': `${item.eventId}#r${replayId}` },
    }),
  );
}

function eventTime(item: EventItem): number {
  return Number(item.sk.slice(0, item.sk.indexOf('#')));
}
