import type { ChatType, Conversation, ConversationRef, Message } from '../../functions/core/model.js';
import { listConversations } from '../../functions/domain/conversations.js';
import type { Deps } from '../../functions/domain/deps.js';
import { fetchHistory } from '../../functions/domain/history.js';

/**
 * A simulated device, as an app keeps one (test/support/device.ts does the same over HTTP): the
 * conversation list and a cache of each conversation's messages. Its first sync walks the list (cursor
 * pages of 2) and fetches every listed conversation's history; later ones replay `?since=` from its
 * token and fetch only the messages newer than the cached ones, dropping what was deleted (by id, by
 * watermark) and what expired (the answers' `retentionCutoff`).
 */
export interface Device {
  user: string;
  name: string;
  token?: string;
  conversations: Map<string, Conversation>;
  cache: Map<string, Map<string, Message>>;
}

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
    for (const removed of page.removed ?? []) {
      device.conversations.delete(conversationKey(removed));
      dropThrough(device, removed, removed.clearedThrough);
    }
    for (const c of page.conversations) {
      device.conversations.set(conversationKey(c), c);
      dropThrough(device, c, c.clearedThrough);
      await fetchNewer(deps, device, c);
    }
    if (typeof page.retentionCutoff === 'number') {
      onCutoff(page.retentionCutoff);
      expireThrough(device, page.retentionCutoff);
    }
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

/** What retention took: messages at or before the cutoff, and conversations whose latest is. */
function expireThrough(device: Device, cutoff: number): void {
  for (const [key, conversation] of device.conversations) {
    if (conversation.lastMessage.timestamp <= cutoff) device.conversations.delete(key);
  }
  for (const messages of device.cache.values()) {
    for (const [msgId, message] of messages) if (message.timestamp <= cutoff) messages.delete(msgId);
  }
}
