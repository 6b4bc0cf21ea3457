import { queryAll } from '../../functions/store/db.js';
import type { EventItem } from '../../functions/store/event-store.js';
import { keys } from '../../functions/store/keys.js';
import type { SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * The oracle's check of the event outbox (docs/events.md): one stored event per change, whatever the
 * crashes and retries:
 * - no event id is stored twice (a retried change that wrote its event again under another key would be
 *   told twice);
 * - every acknowledged send has its `message.sent`, and every acknowledged recall its `message.recalled`;
 * - no `message.sent` names a message no send was ever asked for.
 * Recalls' redactions are held by checkNoRevokedText (oracle-revisions.ts), which scans the outbox too.
 */
export async function checkEvents(world: World, log: SimulationLog): Promise<string[]> {
  const deps = world.direct;
  const items = (
    await Promise.all(
      Array.from({ length: deps.config.eventShards }, (_, shard) =>
        queryAll<EventItem>(deps.db, {
          TableName: deps.db.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.eventPk(shard) },
          ConsistentRead: true,
        }),
      ),
    )
  ).flat();
  const failures: string[] = [];
  const byId = new Map<string, EventItem[]>();
  for (const item of items) byId.set(item.eventId, [...(byId.get(item.eventId) ?? []), item]);
  for (const [id, stored] of byId) {
    if (stored.length > 1) failures.push(`event ${id} is stored ${stored.length} times`);
  }
  for (const send of log.sends) {
    if (send.ackStep === undefined || !send.message) continue;
    if (!byId.has(`message.sent:${send.message.msgId}`))
      failures.push(`the acknowledged send ${send.message.msgId} has no message.sent event`);
  }
  for (const revision of log.revisions) {
    if (revision.kind !== 'recall' || !revision.answer) continue;
    if (!byId.has(`message.recalled:${revision.msgId}`))
      failures.push(`the acknowledged recall of ${revision.msgId} has no message.recalled event`);
  }
  const asked = new Set(log.sends.map((send) => send.text));
  for (const item of items) {
    if (item.type !== 'message.sent' || item.redacted) continue;
    const text = (JSON.parse(item.payload) as { data: { message: { body?: { text?: string } } } }).data
      .message.body?.text;
    if (text === undefined || !asked.has(text)) failures.push(`${item.eventId} is a send no one asked for`);
  }
  return failures;
}
