import type { Conversation, Message } from '../../functions/core/model.js';
import { listConversations } from '../../functions/domain/conversations.js';
import type { Deps } from '../../functions/domain/deps.js';
import { cachedIds, conversationKey, syncDevice } from './devices.js';
import type { SimulationLog } from './log.js';
import { noteCutoff } from './workload.js';
import type { World } from './world.js';

/** The oracle's checks of lists and devices (oracle.ts says which promises they are). */

/**
 * Every device, synced once more on the true clock, is as a fresh fetch: the same conversations with
 * the same latest message (its content too), unread count, read position, pin and marks, and the same
 * messages cached for each, each as the fresh fetch shows it (`histories`: each conversation's visible history by `owner|key`).
 */
export async function checkDevices(
  world: World,
  log: SimulationLog,
  lists: Map<string, Map<string, Conversation>>,
  histories: Map<string, Message[]>,
): Promise<string[]> {
  const failures: string[] = [];
  for (const device of log.devices) {
    await syncDevice(world.direct, device, (cutoff) => noteCutoff(log, device.user, cutoff));
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
        `${JSON.stringify(c?.lastMessage)}/${c?.unreadCount}/${c?.readThrough}/${c?.pinnedAt}/${c?.marks.join('+')}`;
      if (summary(local) !== summary(conversation)) {
        failures.push(
          `device ${device.name} has ${key} as ${summary(local)}, the server as ${summary(conversation)}`,
        );
      }
      const cached = cachedIds(device, conversation);
      const freshMessages = histories.get(`${device.user}|${key}`) ?? [];
      const fresh = freshMessages.map((m) => m.msgId).sort();
      // Each cached message as a fresh fetch shows it: a recalled one as its tombstone, an edit's last text.
      for (const m of freshMessages) {
        const local = device.cache.get(key)?.get(m.msgId);
        if (local && JSON.stringify(local) !== JSON.stringify(m)) {
          failures.push(
            `device ${device.name} caches ${key} ${m.msgId} as ${JSON.stringify(local)}, a fresh fetch shows ${JSON.stringify(m)}`,
          );
        }
      }
      if (JSON.stringify(cached) !== JSON.stringify(fresh)) {
        const extra = cached.filter((id) => !fresh.includes(id));
        const missing = fresh.filter((id) => !cached.includes(id));
        failures.push(
          `device ${device.name} caches ${key} unlike a fresh fetch: extra ${extra.join(',')}; missing ${missing.join(',')}`,
        );
      }
    }
  }
  return failures;
}

/** The pinned and mark lists agree with the full list. */
export async function checkPinsAndMarks(
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

/** The whole list, walked with cursors; a repeated conversation is an error. */
export async function fullList(deps: Deps, owner: string): Promise<Map<string, Conversation>> {
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
