import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { maxId, timeOfId } from '../../functions/core/ids.js';
import type { Conversation, ConversationRef, Message } from '../../functions/core/model.js';
import type { Deps } from '../../functions/domain/deps.js';
import { fetchHistory } from '../../functions/domain/history.js';
import { readGroup } from '../../functions/store/group-store.js';
import { keys } from '../../functions/store/keys.js';
import { conversationBounds } from './conversation-policies.js';
import { conversationKey } from './devices.js';
import { type ExpiryBounds, expiryBounds } from './expiry-model.js';
import type { ChangeRecord, SendRecord, SimulationLog } from './log.js';
import { checkEvents } from './oracle-events.js';
import { checkDevices, checkPinsAndMarks, fullList } from './oracle-lists.js';
import { checkNoRevokedText, checkRevisions, sendOf } from './oracle-revisions.js';
import { belongsTo, seenAt } from './workload.js';
import type { World } from './world.js';

/**
 * The oracle: after a run has quiesced, it reads the final state through the service (on the true
 * clock, outside the scheduler) and checks the promises against the log, whatever the interleaving was:
 *
 * 1. history walks up and down agree, with no gap or repeat, ids and timestamps in one order;
 * 2. every visible message was sent (once: retries never duplicate it);
 * 3. every acknowledged message is in every copy whose owner did not delete it (a delete that could
 *    have raced it excuses it; a delete that finished before the send started does not) and that
 *    retention may not have hidden (expiry-model.ts);
 * 4. nothing a delete covered, acknowledged before the delete started, is visible;
 * 5. a listed conversation's latest is its newest visible message; an unlisted one with visible history
 *    was taken off the list by its owner after that message arrived (a later one lists it again);
 * 6. unread is the number of copies after the read position and up to the head (docs/consistency.md,
 *    section 2: retention lowers it once the sweep has deleted the expired ones), the visible ones all
 *    from others;
 * 7. a device that replays `?since=` from its first token ends exactly as a fresh fetch: the same list
 *    (pins and marks included) and, for every listed conversation, the same messages cached, with
 *    retention active;
 * 8. the pinned list is the pinned conversations, most recently pinned first, and each mark's list is
 *    the conversations with that mark, in list order;
 * 9. nothing a policy in force keeps was physically deleted (store-audit.ts checks every delete as it is
 *    sent: only the owner's own deletes, and the sweep within the days in force, delete copies; a shared
 *    copy, only the sweep, within the longest retention in force, once no member can see it);
 * 10. expiry never goes backwards: nothing is visible that the policy in force hides, that a policy hid
 *    when it was changed, or that a device was told had expired;
 * 11. recalls and edits (oracle-revisions.ts): every history shows a recalled message as its tombstone and
 *    an edited one at least as its last acknowledged edit, devices as fresh fetches do (content included),
 *    and no stored item holds a text a recall or an acknowledged edit took away;
 * 12. events (oracle-events.ts): one stored event per change: none twice, none missing for an
 *    acknowledged send or recall, none for a send no one asked for.
 */
export async function check(world: World, log: SimulationLog): Promise<string[]> {
  const failures: string[] = [...log.errors.map((e) => `unexpected error: ${e}`), ...world.audit.failures];
  const deps = world.direct;
  const now = world.clock.now();
  const members = new Set((await readGroup(deps.db, world.groupId))?.members ?? []);
  const lists = new Map<string, Map<string, Conversation>>();
  const histories = new Map<string, Message[]>();
  for (const owner of world.users) {
    lists.set(owner, await fullList(deps, owner));
    for (const ref of refsOf(world, owner)) {
      if (ref.chatType === 'group' && !members.has(owner)) {
        const refused = await fetchHistory(deps, ref, { pageSize: 5, direction: 'up' }).then(
          () => false,
          (error: Error) => error.name === 'ForbiddenError',
        );
        if (!refused) failures.push(`${owner} is not a member of the group but can read its history`);
        if (lists.get(owner)?.has(conversationKey(ref))) failures.push(`${owner} lists a group they left`);
        continue;
      }
      const where = `${owner} ${conversationKey(ref)}`;
      // A conversation's own policy bounds it in place of its owner's (conversation-policies.ts).
      const userBounds = (at: number) => expiryBounds(world, log, owner, at);
      const bounds: ExpiryBounds = conversationBounds(world.audit.conversations, ref, now, userBounds);
      const history = await walkedHistory(deps, ref, world.dice.between(2, 5), failures, where);
      histories.set(`${owner}|${conversationKey(ref)}`, history);
      checkIdentity(log, ref, history, failures, where);
      checkRevisions(log, history, failures, where);
      checkPresence(log, ref, history, members, bounds, failures, where);
      checkExpiry(history, bounds, failures, where);
      const listed = lists.get(owner)?.get(conversationKey(ref));
      checkListing(log, ref, history, listed, failures, where);
      if (listed) await checkUnread(world, ref, history, listed, failures, where);
    }
  }
  failures.push(...(await checkDevices(world, log, lists, histories)));
  failures.push(...(await checkNoRevokedText(world, log)));
  failures.push(...(await checkEvents(world, log, histories)));
  for (const owner of world.users)
    failures.push(...(await checkPinsAndMarks(deps, owner, lists.get(owner) ?? new Map())));
  return failures;
}

function refsOf(world: World, owner: string): ConversationRef[] {
  return [
    ...world.users.map((peer): ConversationRef => ({ owner, chatType: 'single', convId: peer })),
    { owner, chatType: 'group', convId: world.groupId },
  ];
}

/** The whole visible history, newest first; walked both ways in pages of `pageSize`, which must agree. */
async function walkedHistory(
  deps: Deps,
  ref: ConversationRef,
  pageSize: number,
  failures: string[],
  where: string,
): Promise<Message[]> {
  const walk = async (direction: 'up' | 'down') => {
    const messages: Message[] = [];
    let startMsgId: string | undefined;
    for (;;) {
      const page = await fetchHistory(deps, ref, { pageSize, direction, startMsgId });
      messages.push(...page.messages);
      if (page.cursor === null) return messages;
      startMsgId = page.cursor;
    }
  };
  const up = await walk('up');
  const down = await walk('down');
  const ids = up.map((m) => m.msgId);
  if (JSON.stringify(ids) !== JSON.stringify(down.map((m) => m.msgId).reverse())) {
    failures.push(`${where}: history walked up ${ids.join(',')} but down the other way round differs`);
  }
  for (let i = 1; i < up.length; i++) {
    const newer = up[i - 1] as Message;
    const older = up[i] as Message;
    if (!(newer.msgId > older.msgId && newer.timestamp > older.timestamp)) {
      failures.push(`${where}: history out of order at ${older.msgId} / ${newer.msgId}`);
    }
  }
  for (const m of up) {
    if (timeOfId(m.msgId) !== m.timestamp)
      failures.push(`${where}: ${m.msgId} timestamp disagrees with its id`);
  }
  return up;
}

/** Every visible message is one that was sent into this conversation, once, with its acknowledged id. */
function checkIdentity(
  log: SimulationLog,
  ref: ConversationRef,
  history: Message[],
  failures: string[],
  where: string,
) {
  const seen = new Set<string>();
  for (const m of history) {
    const record = sendOf(log, m);
    const text = record?.text ?? String(m.body?.text);
    if (!record || !belongsTo(record, ref))
      failures.push(`${where}: ${m.msgId} (${text}) was never sent here`);
    else if (record.message && record.message.msgId !== m.msgId) {
      failures.push(`${where}: ${text} shows as ${m.msgId} but was acknowledged as ${record.message.msgId}`);
    } else if (!record.outcomes.some((outcome) => outcome !== 'ForbiddenError')) {
      failures.push(`${where}: ${text} exists, but every attempt to send it was refused (403)`);
    }
    if (seen.has(text)) failures.push(`${where}: ${text} appears twice`);
    seen.add(text);
  }
}

/** Acknowledged messages are there unless their owner may have deleted them; deleted ones are not. */
function checkPresence(
  log: SimulationLog,
  ref: ConversationRef,
  history: Message[],
  members: Set<string>,
  bounds: ExpiryBounds,
  failures: string[],
  where: string,
) {
  const visible = new Set(history.map((m) => m.msgId));
  const changes = log.changes.filter(
    (c) => c.owner === ref.owner && c.chatType === ref.chatType && c.convId === ref.convId,
  );
  for (const send of log.sends) {
    const message = send.message;
    if (!message || !belongsTo(send, ref)) continue;
    const mayBeDeleted = changes.some(
      (c) => c.lastStep > send.firstStart && (covers(c, message) || c.mayCoverEverything === true),
    );
    const mayBeExpired = message.timestamp <= bounds.mayHideThrough;
    if (
      !mayBeDeleted &&
      !mayBeExpired &&
      steadyMember(log, ref, send, members) &&
      !visible.has(message.msgId)
    ) {
      failures.push(`${where}: acknowledged ${message.msgId} (${send.text}) is missing`);
    }
  }
  // A delete removes what its owner had when it started: acknowledged, or seen in a history page.
  for (const m of history) {
    const send = sendOf(log, m);
    const had = (step: number) =>
      (send?.ackStep !== undefined && send.ackStep < step) || (seenAt(log, ref, m.msgId) ?? Infinity) < step;
    if (changes.some((c) => c.ok && had(c.startStep) && covers(c, m))) {
      failures.push(`${where}: ${m.msgId} (${String(m.body?.text)}) was deleted but is visible`);
    }
  }
}

/** In a group, the owner was a member all along since before the send (so they must have it). */
function steadyMember(
  log: SimulationLog,
  ref: ConversationRef,
  send: SendRecord,
  members: Set<string>,
): boolean {
  if (ref.chatType === 'single') return true;
  if (!members.has(ref.owner)) return false;
  return log.changes.every(
    (c) =>
      !(c.owner === ref.owner && (c.kind === 'join' || c.kind === 'leave') && c.lastStep >= send.firstStart),
  );
}

function covers(change: ChangeRecord, message: Message): boolean {
  switch (change.kind) {
    case 'ids':
      return change.msgIds?.includes(message.msgId) ?? false;
    case 'before':
      return message.timestamp <= (change.before ?? -1);
    case 'conversation':
      return change.withMessages === true;
    case 'leave':
      return true;
    default:
      return false;
  }
}

/** Nothing visible is at or before what retention must hide (expiry never goes backwards). */
function checkExpiry(history: Message[], bounds: ExpiryBounds, failures: string[], where: string) {
  const expired = history.filter((m) => m.timestamp <= bounds.mustHideThrough);
  if (expired.length > 0) {
    failures.push(
      `${where}: ${expired.map((m) => m.msgId).join(',')} visible, at or before ${bounds.mustHideThrough} which must be hidden`,
    );
  }
}

/**
 * Latest is the newest visible message. A conversation with visible history is listed unless its owner
 * took it off the list keeping the history, and no later message listed it again: a message whose send
 * started after that delete's last command arrived after it.
 */
function checkListing(
  log: SimulationLog,
  ref: ConversationRef,
  history: Message[],
  listed: Conversation | undefined,
  failures: string[],
  where: string,
) {
  const newest = history[0];
  if (!listed) {
    if (!newest) return;
    const send = sendOf(log, newest);
    const unlistedAfterIt = log.changes.some(
      (c) =>
        c.owner === ref.owner &&
        c.convId === ref.convId &&
        c.chatType === ref.chatType &&
        c.kind === 'conversation' &&
        !c.withMessages &&
        c.ok &&
        send !== undefined &&
        send.firstStart < c.lastStep,
    );
    if (!unlistedAfterIt)
      failures.push(`${where}: has visible messages (newest ${newest.msgId}) but is not listed`);
    return;
  }
  if (!newest) {
    failures.push(`${where}: is listed with ${listed.lastMessage.msgId} but shows no message`);
    return;
  }
  if (listed.lastMessage.msgId !== newest.msgId) {
    failures.push(`${where}: latest is ${listed.lastMessage.msgId}, the newest visible is ${newest.msgId}`);
  }
  const after = history.filter((m) => listed.readThrough === null || m.msgId > listed.readThrough);
  if (after.some((m) => m.from === ref.owner)) failures.push(`${where}: an own message counts as unread`);
}

/** Unread is the number of copies in (max(read position, watermark), head], read from the table itself. */
async function checkUnread(
  world: World,
  ref: ConversationRef,
  history: Message[],
  listed: Conversation,
  failures: string[],
  where: string,
) {
  const client = world.direct.db.client;
  const { Item: item } = (await client.send(
    new GetCommand({ TableName: world.tableName, Key: keys.conversation(ref), ConsistentRead: true }),
  )) as { Item?: Record<string, unknown> };
  const readThrough = item?.readThrough as string | undefined;
  const clearedThrough = item?.clearedThrough as string | undefined;
  const from =
    readThrough && clearedThrough ? maxId(readThrough, clearedThrough) : (readThrough ?? clearedThrough);
  // A shared-mode member's copies: their own (less tombstones) and the group's shared history, up to
  // META's head (docs/large-groups.md); read here from the table, not through the service's seam.
  const shared = item?.shared === true;
  const own = await copyKeys(world, keys.historyPk(ref));
  const hidden = new Set(own.filter((copy) => copy.hidden).map((copy) => copy.id));
  // A recalled message no longer counts as unread (its tombstone stays in history).
  const copies = own.filter((copy) => !copy.hidden && !copy.recalled).map((copy) => copy.id);
  let head = item?.headMsgId as string | undefined;
  if (shared) {
    const { Item: meta } = (await client.send(
      new GetCommand({
        TableName: world.tableName,
        Key: { pk: keys.groupPk(ref.convId), sk: keys.groupMetaSk },
        ConsistentRead: true,
      }),
    )) as { Item?: Record<string, unknown> };
    const groupHead = meta?.shared === true ? (meta.headMsgId as string | undefined) : undefined;
    if (groupHead !== undefined && (head === undefined || groupHead > head)) head = groupHead;
    const common = await copyKeys(world, keys.sharedHistoryPk(ref.convId));
    copies.push(...common.filter((copy) => !hidden.has(copy.id) && !copy.recalled).map((copy) => copy.id));
  }
  const afterRead = copies.filter(
    (id) => (from === undefined || id > from) && head !== undefined && id <= head,
  );
  // Shared copies past the owner's retention may stay in the table (each member's cutoff hides them at
  // read time; the sweep deletes only what the longest retention expires): unread counts the visible ones.
  const visible = new Set(history.map((m) => m.msgId));
  const unread = shared ? afterRead.filter((id) => visible.has(id)) : afterRead;
  const visibleAfter = history.filter((m) => listed.readThrough === null || m.msgId > listed.readThrough);
  if (listed.unreadCount !== unread.length) {
    failures.push(
      `${where}: unread is ${listed.unreadCount}, ${unread.length} copies are after the read position (${visibleAfter.length} visible)`,
    );
  }
}

/** The ids of the copies in a history partition, and which are a member's tombstones. */
async function copyKeys(
  world: World,
  pk: string,
): Promise<{ id: string; hidden: boolean; recalled: boolean }[]> {
  const copies: { id: string; hidden: boolean; recalled: boolean }[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await world.direct.db.client.send(
      new QueryCommand({
        TableName: world.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
        ExpressionAttributeValues: { ':pk': pk, ':m': keys.messageSkPrefix },
        ProjectionExpression: 'sk, #hidden, recalled',
        ExpressionAttributeNames: { '#hidden': 'hidden' },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    )) as {
      Items?: { sk: string; hidden?: boolean; recalled?: unknown }[];
      LastEvaluatedKey?: Record<string, unknown>;
    };
    copies.push(
      ...(page.Items ?? []).map((copy) => ({
        id: keys.msgIdOfSk(copy.sk),
        hidden: copy.hidden === true,
        recalled: copy.recalled !== undefined,
      })),
    );
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return copies;
}
