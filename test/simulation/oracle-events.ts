import type { Message } from '../../functions/core/model.js';
import { allStoredEvents, type EventItem } from '../../functions/store/event-store.js';
import type { SendRecord, SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * The oracle's check of the event outbox (docs/events.md): one stored event per change, whatever the
 * crashes and retries:
 * - no event id is stored twice (a retried change that wrote its event again under another key would be
 *   told twice);
 * - every acknowledged send whose message every participant still has has its `message.sent` (the sweep
 *   deletes a single chat's or a shared history's send event with an expired copy: event-store.ts), and
 *   every acknowledged recall its `message.recalled`;
 * - no `message.sent` names a message no send was ever asked for.
 * Recalls' redactions are held by checkNoRevokedText (oracle-revisions.ts), which scans the outbox too.
 */
export async function checkEvents(
  world: World,
  log: SimulationLog,
  /** Every history the oracle walked, by `{owner}|{chatType}#{convId}`. */
  histories: Map<string, Message[]>,
): Promise<string[]> {
  const deps = world.direct;
  const items = await allStoredEvents(deps.db, deps.config.eventShards);
  const failures: string[] = [];
  const byId = new Map<string, EventItem[]>();
  for (const item of items) byId.set(item.eventId, [...(byId.get(item.eventId) ?? []), item]);
  for (const [id, stored] of byId) {
    if (stored.length > 1) failures.push(`event ${id} is stored ${stored.length} times`);
  }
  // Where each message is still shown, and in how many of its conversation's histories.
  const shownIn = new Map<string, number>();
  const walked = new Map<string, number>();
  for (const [key, history] of histories) {
    const conversation = key.slice(key.indexOf('|') + 1);
    walked.set(conversation, (walked.get(conversation) ?? 0) + 1);
    for (const message of history) shownIn.set(message.msgId, (shownIn.get(message.msgId) ?? 0) + 1);
  }
  const heldByAll = (send: SendRecord & { message: Message }) => {
    const sides =
      send.chatType === 'single'
        ? (histories.has(`${send.from}|single#${send.to}`) ? 1 : 0) +
          (histories.has(`${send.to}|single#${send.from}`) ? 1 : 0)
        : (walked.get(`group#${send.to}`) ?? 0);
    return sides > 0 && (shownIn.get(send.message.msgId) ?? 0) >= sides;
  };
  for (const send of log.sends) {
    if (send.ackStep === undefined || !send.message) continue;
    if (!heldByAll(send as SendRecord & { message: Message })) continue;
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
