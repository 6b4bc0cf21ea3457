import { DAY_MS } from '../../functions/core/clock.js';
import type { ChatType, Conversation, ConversationRef, Message } from '../../functions/core/model.js';
import { listConversations } from '../../functions/domain/conversations.js';
import type { Deps } from '../../functions/domain/deps.js';
import { fetchHistory } from '../../functions/domain/history.js';

/**
 * A simulated device, as an app keeps one (test/support/device.ts does the same over HTTP): the
 * conversation list and a cache of each conversation's messages. Its first sync walks the list (cursor
 * pages of 2) and fetches every listed conversation's history; later ones replay `?since=` from its
 * token and fetch only the messages newer than the cached ones, dropping what was deleted (by id, by
 * watermark), replacing what was recalled or edited (the answer's tombstones and edits), and what expired (the answers' `retentionCutoff`, or a conversation's own `retentionDays`
 * before the answer's `serverTime`, never below its `retentionFloor`: docs/api.md).
 */
export interface Device {
  user: string;
  name: string;
  token?: string;
  conversations: Map<string, Conversation>;
  cache: Map<string, Map<string, Message>>;
  /** Each conversation's own retention as last reported (listed or removed). */
  policies?: Map<string, OwnPolicy>;
}

type OwnPolicy = { retentionDays?: number; retentionFloor?: number };

export const conversationKey = (c: { chatType: ChatType; convId: string }) => `${c.chatType}#${c.convId}`;

export function newDevice(user: string, name: string): Device {
  return { user, name: `${user}/${name}`, conversations: new Map(), cache: new Map() };
}

/** Brings the device up to date; `onCutoff` hears every retention cutoff an answer reported. */
export async function syncDevice(
  deps: Deps,
  device: Device,
  onCutoff: (cutoff: number) => void = () => undefined,
): Promise<void> {
  if (device.token === undefined) return firstSync(deps, device);
  let since: string = device.token;
  for (;;) {
    const page = await listConversations(deps, device.user, { form: 'since', since, limit: 3 });
    for (const gone of page.messagesDeleted ?? []) {
      for (const msgId of gone.msgIds) device.cache.get(conversationKey(gone))?.delete(msgId);
    }
    // Recalled: the tombstone replaces a cached copy (none given: the caller sees it no more);
    // edited: the message as it is now replaces a cached copy.
    for (const recalled of page.messagesRecalled ?? []) {
      const cached = device.cache.get(conversationKey(recalled));
      const now = new Map(recalled.messages.map((m) => [m.msgId, m]));
      for (const msgId of recalled.msgIds) {
        const tombstone = now.get(msgId);
        if (!cached?.has(msgId)) continue;
        if (tombstone) cached.set(msgId, tombstone);
        else cached.delete(msgId);
      }
    }
    for (const edited of page.messagesEdited ?? []) {
      const cached = device.cache.get(conversationKey(edited));
      for (const m of edited.messages) if (cached?.has(m.msgId)) cached.set(m.msgId, m);
    }
    for (const removed of page.removed ?? []) {
      remember(device, removed);
      device.conversations.delete(conversationKey(removed));
      dropThrough(device, removed, removed.clearedThrough);
    }
    for (const c of page.conversations) {
      remember(device, c);
      device.conversations.set(conversationKey(c), c);
      dropThrough(device, c, c.clearedThrough);
      await fetchNewer(deps, device, c);
    }
    if (typeof page.retentionCutoff === 'number') onCutoff(page.retentionCutoff);
    expire(device, page.retentionCutoff ?? null, page.serverTime);
    if (page.cursor === null) {
      device.token = page.syncToken;
      return;
    }
    since = page.cursor;
  }
}

/** The cached ids of a conversation, oldest first. */
export function cachedIds(device: Device, conversation: { chatType: ChatType; convId: string }): string[] {
  return [...(device.cache.get(conversationKey(conversation))?.keys() ?? [])].sort();
}

async function firstSync(deps: Deps, device: Device): Promise<void> {
  const seen = new Map<string, Conversation>();
  let cursor: string | undefined;
  let token: string | undefined;
  do {
    const page = await listConversations(deps, device.user, { form: 'cursor', limit: 2, cursor });
    token ??= page.syncToken;
    for (const c of page.conversations) seen.set(conversationKey(c), c);
    cursor = page.cursor ?? undefined;
  } while (cursor);
  const fresh: Device = { ...device, conversations: seen, cache: new Map() };
  for (const c of seen.values()) await fetchNewer(deps, fresh, c);
  device.conversations = seen;
  device.cache = fresh.cache;
  device.policies = new Map();
  for (const c of seen.values()) remember(device, c);
  device.token = token;
}

/** Adds the messages newer than the newest cached one (the whole visible history the first time). */
async function fetchNewer(deps: Deps, device: Device, conversation: Conversation): Promise<void> {
  const key = conversationKey(conversation);
  const cached = device.cache.get(key) ?? new Map<string, Message>();
  device.cache.set(key, cached);
  const ref: ConversationRef = {
    owner: device.user,
    chatType: conversation.chatType,
    convId: conversation.convId,
  };
  let startMsgId = [...cached.keys()].sort().at(-1);
  for (;;) {
    const page = await fetchHistory(deps, ref, { pageSize: 50, direction: 'down', startMsgId });
    for (const m of page.messages) cached.set(m.msgId, m);
    if (page.cursor === null) return;
    startMsgId = page.cursor;
  }
}

function dropThrough(
  device: Device,
  conversation: { chatType: ChatType; convId: string },
  through: string | null,
) {
  if (through === null) return;
  const cached = device.cache.get(conversationKey(conversation));
  for (const msgId of [...(cached?.keys() ?? [])]) if (msgId <= through) cached?.delete(msgId);
}

function remember(device: Device, c: { chatType: ChatType; convId: string } & OwnPolicy): void {
  device.policies ??= new Map();
  device.policies.set(conversationKey(c), {
    retentionDays: c.retentionDays,
    retentionFloor: c.retentionFloor,
  });
}

/**
 * What retention took, per conversation: messages at or before max(its floor, its own days before
 * `serverTime`, else the user's `cutoff`), and the conversation if its latest is.
 */
function expire(device: Device, cutoff: number | null, serverTime: number | undefined): void {
  const cutoffOf = (key: string) => {
    const own = device.policies?.get(key) ?? {};
    const byDays =
      own.retentionDays !== undefined && serverTime !== undefined
        ? serverTime - own.retentionDays * DAY_MS
        : (cutoff ?? -1);
    return Math.max(own.retentionFloor ?? -1, byDays);
  };
  for (const [key, conversation] of device.conversations) {
    if (conversation.lastMessage.timestamp <= cutoffOf(key)) device.conversations.delete(key);
  }
  for (const [key, messages] of device.cache) {
    const through = cutoffOf(key);
    for (const [msgId, message] of messages) if (message.timestamp <= through) messages.delete(msgId);
  }
}
