import { timeOfId } from '../../functions/core/ids.js';
import type { Conversation, ConversationRef, Message } from '../../functions/core/model.js';
import { listConversations } from '../../functions/domain/conversations.js';
import type { Deps } from '../../functions/domain/deps.js';
import { fetchHistory } from '../../functions/domain/history.js';
import { readGroup } from '../../functions/store/group-store.js';
import {
  belongsTo,
  type ChangeRecord,
  conversationKey,
  type SendRecord,
  type SimulationLog,
  seenAt,
  syncDevice,
} from './workload.js';
import type { World } from './world.js';

/**
 * The oracle: after a run has quiesced, it reads the final state through the service (on the true
 * clock, outside the scheduler) and checks the promises against the log, whatever the interleaving was:
 *
 * 1. history walks up and down agree, with no gap or repeat, ids and timestamps in one order;
 * 2. every visible message was sent (once: retries never duplicate it);
 * 3. every acknowledged message is in every copy whose owner did not delete it (a delete that could
 *    have raced it excuses it; a delete that finished before the send started does not);
 * 4. nothing a delete covered, acknowledged before the delete started, is visible;
 * 5. a listed conversation's latest is its newest visible message, and an unlisted one with visible
 *    history was taken off the list by its owner;
 * 6. unread equals the visible messages after the read position, all from others;
 * 7. a device that replays `?since=` from its first token ends with exactly the server's list, pins and
 *    marks included;
 * 8. the pinned list is the pinned conversations, most recently pinned first, and each mark's list is
 *    the conversations with that mark, in list order.
 */
export async function check(world: World, log: SimulationLog): Promise<string[]> {
  const failures: string[] = [...log.errors.map((e) => `unexpected error: ${e}`)];
  const deps = world.direct;
  const members = new Set((await readGroup(deps.db, world.groupId))?.members ?? []);
  const lists = new Map<string, Map<string, Conversation>>();
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
      const history = await walkedHistory(deps, ref, world.dice.between(1, 4), failures, where);
      checkIdentity(log, ref, history, failures, where);
      checkPresence(log, ref, history, members, failures, where);
      checkListing(log, ref, history, lists.get(owner)?.get(conversationKey(ref)), failures, where);
    }
  }
  for (const device of log.devices) {
    await syncDevice(deps, device);
    const server = lists.get(device.user) ?? new Map();
    const mine = [...device.conversations.keys()].sort();
    const theirs = [...server.keys()].sort();
    if (JSON.stringify(mine) !== JSON.stringify(theirs)) {
      failures.push(`device ${device.name} lists ${mine.join(',')} but the server lists ${theirs.join(',')}`);
      continue;
    }
    for (const [key, conversation] of server) {
      const local = device.conversations.get(key);
      const summary = (c?: Conversation) =>
        `${c?.lastMessage.msgId}/${c?.unreadCount}/${c?.readThrough}/${c?.pinnedAt}/${c?.marks.join('+')}`;
      if (summary(local) !== summary(conversation)) {
        failures.push(
          `device ${device.name} has ${key} as ${summary(local)}, the server as ${summary(conversation)}`,
        );
      }
    }
  }
  for (const owner of world.users)
    failures.push(...(await checkPinsAndMarks(deps, owner, lists.get(owner) ?? new Map())));
  return failures;
}

/** The pinned and mark lists agree with the full list. */
async function checkPinsAndMarks(
  deps: Deps,
  owner: string,
  list: Map<string, Conversation>,
): Promise<string[]> {
  const failures: string[] = [];
  const all = [...list.values()].sort((a, b) => (a.lastMessage.msgId < b.lastMessage.msgId ? 1 : -1));
  const pinned = (await listConversations(deps, owner, { form: 'pinned', limit: 50 })).conversations.map(
    conversationKey,
  );
  // Most recently pinned first; the same time is ordered by the conversation, as the index key does.
  const expectedPinned = all
    .filter((c) => c.pinnedAt !== null)
    .sort(
      (a, b) => (b.pinnedAt ?? 0) - (a.pinnedAt ?? 0) || (conversationKey(a) < conversationKey(b) ? 1 : -1),
    )
    .map(conversationKey);
  if (JSON.stringify(pinned) !== JSON.stringify(expectedPinned)) {
    failures.push(
      `${owner}: pinned list ${pinned.join(',')} but pinned in the list: ${expectedPinned.join(',')}`,
    );
  }
  for (const mark of [0, 1, 2]) {
    const marked = (await listConversations(deps, owner, { form: 'mark', mark, limit: 50 })).conversations;
    const expected = all.filter((c) => c.marks.includes(mark)).map(conversationKey);
    if (JSON.stringify(marked.map(conversationKey)) !== JSON.stringify(expected)) {
      failures.push(
        `${owner}: mark ${mark} lists ${marked.map(conversationKey).join(',')}, expected ${expected.join(',')}`,
      );
    }
    for (const entry of marked) {
      const inList = list.get(conversationKey(entry));
      if (JSON.stringify(entry) !== JSON.stringify(inList)) {
        failures.push(`${owner}: mark ${mark} shows ${conversationKey(entry)} unlike the list`);
      }
    }
  }
  return failures;
}

function refsOf(world: World, owner: string): ConversationRef[] {
  return [
    ...world.users.map((peer): ConversationRef => ({ owner, chatType: 'single', convId: peer })),
    { owner, chatType: 'group', convId: world.groupId },
  ];
}

async function fullList(deps: Deps, owner: string): Promise<Map<string, Conversation>> {
  const list = new Map<string, Conversation>();
  let cursor: string | undefined;
  do {
    const page = await listConversations(deps, owner, { form: 'cursor', limit: 50, cursor });
    for (const c of page.conversations) {
      if (list.has(conversationKey(c))) throw new Error(`the list repeats ${conversationKey(c)}`);
      list.set(conversationKey(c), c);
    }
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return list;
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
    const text = String(m.body.text);
    const record = log.sends.find((s) => s.text === text);
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
    if (!mayBeDeleted && steadyMember(log, ref, send, members) && !visible.has(message.msgId)) {
      failures.push(`${where}: acknowledged ${message.msgId} (${send.text}) is missing`);
    }
  }
  // A delete removes what its owner had when it started: acknowledged, or seen in a history page.
  for (const m of history) {
    const send = log.sends.find((s) => s.text === String(m.body.text));
    const had = (step: number) =>
      (send?.ackStep !== undefined && send.ackStep < step) || (seenAt(log, ref, m.msgId) ?? Infinity) < step;
    if (changes.some((c) => c.ok && had(c.startStep) && covers(c, m))) {
      failures.push(`${where}: ${m.msgId} (${String(m.body.text)}) was deleted but is visible`);
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

/** Latest is the newest visible message; unread counts the visible messages after the read position. */
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
    const unlistedByOwner = log.changes.some(
      (c) =>
        c.owner === ref.owner &&
        c.convId === ref.convId &&
        c.chatType === ref.chatType &&
        c.kind === 'conversation' &&
        !c.withMessages,
    );
    if (newest && !unlistedByOwner) failures.push(`${where}: has visible messages but is not listed`);
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
  if (listed.unreadCount !== after.length) {
    failures.push(
      `${where}: unread is ${listed.unreadCount}, ${after.length} visible messages are after the read position`,
    );
  }
  if (after.some((m) => m.from === ref.owner)) failures.push(`${where}: an own message counts as unread`);
}
