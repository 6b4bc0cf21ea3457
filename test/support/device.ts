import type { ConversationKey, RoamingClient, SyncResult } from '../../client/roaming-client.js';
import { DAY_MS } from '../../functions/core/clock.js';
import type { Conversation, Message } from '../../functions/core/model.js';

/**
 * One device of a user, as an app keeps it: the conversation list (with pins, marks, unread, read
 * positions) and a cache of each conversation's messages. `fullFetch` builds it from scratch; `sync`
 * brings it up to date from `?since=` only (plus fetching messages newer than its cache), as an app does
 * after reconnecting. Two devices agree when their `view()`s are equal.
 */
export class Device {
  conversations = new Map<string, Conversation>();
  cache = new Map<string, Map<string, Message>>();
  /** Each conversation's own retention as last reported (listed or removed): its cache expires by it. */
  policies = new Map<string, { retentionDays?: number; retentionFloor?: number }>();
  token?: string;

  constructor(readonly client: RoamingClient) {}

  async fullFetch(): Promise<void> {
    this.conversations.clear();
    this.cache.clear();
    this.policies.clear();
    let cursor: string | undefined;
    do {
      const page = await this.client.fetchConversationsFromServer({ limit: 2, cursor });
      this.token ??= page.syncToken;
      for (const c of page.conversations) {
        this.conversations.set(keyOf(c), c);
        this.remember(c);
      }
      cursor = page.cursor ?? undefined;
    } while (cursor);
    for (const c of this.conversations.values()) await this.fetchNewer(c);
  }

  async sync(): Promise<SyncResult> {
    if (!this.token) throw new Error('a device syncs after its first fetch');
    const delta = await this.client.syncConversations(this.token);
    for (const gone of delta.messagesDeleted) {
      for (const msgId of gone.msgIds) this.cache.get(keyOf(gone))?.delete(msgId);
    }
    for (const removed of delta.removed) {
      this.conversations.delete(keyOf(removed));
      this.remember(removed);
      this.dropThrough(removed, removed.clearedThrough);
    }
    for (const c of delta.conversations) {
      this.conversations.set(keyOf(c), c);
      this.remember(c);
      this.dropThrough(c, c.clearedThrough);
      await this.fetchNewer(c);
    }
    this.expire(delta);
    this.token = delta.syncToken;
    return delta;
  }

  private remember(c: ConversationKey & { retentionDays?: number; retentionFloor?: number }): void {
    this.policies.set(keyOf(c), { retentionDays: c.retentionDays, retentionFloor: c.retentionFloor });
  }

  /**
   * What retention took (docs/api.md): per conversation, cutoff = max(retentionFloor, its own days before
   * serverTime, or else retentionCutoff); its messages at or before it go, and it leaves the list if its
   * latest is.
   */
  private expire(delta: SyncResult): void {
    const cutoffOf = (key: string) => {
      const own = this.policies.get(key) ?? {};
      const byDays =
        own.retentionDays !== undefined && delta.serverTime !== null
          ? delta.serverTime - own.retentionDays * DAY_MS
          : (delta.retentionCutoff ?? -1);
      return Math.max(own.retentionFloor ?? -1, byDays);
    };
    for (const [key, conversation] of this.conversations) {
      if (conversation.lastMessage.timestamp <= cutoffOf(key)) this.conversations.delete(key);
    }
    for (const [key, messages] of this.cache) {
      const cutoff = cutoffOf(key);
      for (const [msgId, message] of messages) if (message.timestamp <= cutoff) messages.delete(msgId);
    }
  }

  /** What a user sees: the list in its order with every field, and the listed conversations' messages. */
  view() {
    const conversations = [...this.conversations.values()].sort((a, b) =>
      a.lastMessage.msgId < b.lastMessage.msgId ? 1 : -1,
    );
    const cached = Object.fromEntries(conversations.map((c) => [keyOf(c), this.cachedIds(c)]));
    return { conversations, cached };
  }

  /** The ids this device keeps for a conversation, listed or not, oldest first. */
  cachedIds(conversation: ConversationKey): string[] {
    return [...(this.cache.get(keyOf(conversation))?.keys() ?? [])].sort();
  }

  private dropThrough(conversation: ConversationKey, through: string | null): void {
    if (through === null) return;
    for (const msgId of [...(this.cache.get(keyOf(conversation))?.keys() ?? [])]) {
      if (msgId <= through) this.cache.get(keyOf(conversation))?.delete(msgId);
    }
  }

  /** Adds the messages newer than the newest cached one (the whole history the first time). */
  private async fetchNewer(conversation: ConversationKey): Promise<void> {
    const cached = this.cache.get(keyOf(conversation)) ?? new Map<string, Message>();
    this.cache.set(keyOf(conversation), cached);
    let startMsgId = [...cached.keys()].sort().at(-1);
    for (;;) {
      const page = await this.client.fetchHistoryMessages(
        conversation.convId,
        conversation.chatType,
        50,
        startMsgId,
        {
          direction: 'down',
        },
      );
      for (const m of page.messages) cached.set(m.msgId, m);
      if (page.cursor === null) return;
      startMsgId = page.cursor;
    }
  }
}

export const keyOf = (c: ConversationKey) => `${c.chatType}#${c.convId}`;
