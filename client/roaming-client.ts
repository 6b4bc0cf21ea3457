import type {
  Conversation,
  ConversationPage,
  DeletedMessages,
  EditedMessages,
  Group,
  HistoryPage,
  Message,
  Operations,
  PurgeReport,
  ReadPosition,
  RecalledMessages,
  RemovedConversation,
  RetentionDays,
  RetentionPolicy,
  StartedSweep,
  SweepRun,
} from './api-types.js';

/** The wire types, all generated from the OpenAPI document (api-types.ts): none is declared here twice. */
export type {
  Conversation,
  ConversationPage,
  DeletedMessages,
  EditedMessages,
  Group,
  HistoryPage,
  Message,
  Operations,
  PurgeReport,
  ReadPosition,
  RecalledMessages,
  RemovedConversation,
  RetentionDays,
  RetentionPolicy,
  StartedSweep,
  SweepRun,
};
export type ChatType = Message['chatType'];
export type MessageType = Message['type'];
/** The body of POST /v1/messages. */
export type SendRequest = Operations['sendMessage']['body'];
export type MessagePage = HistoryPage;
export type GroupInput = Operations['createGroup']['body'];

/**
 * Every non-2xx answer, JSON or not (a proxy's HTML 502 too), and a 2xx whose body is not JSON. `code` is
 * the server's error code (`unknown` when the answer carries none, e.g. a proxy's page); `retryAfterSeconds`
 * is the `Retry-After` header (429, 503), in seconds, when the answer has one; `limit` names the per-user
 * limit of a 429 `rate_limited` (`requests`: the request budget).
 */
export class RoamingApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
    readonly limit?: string,
  ) {
    super(message);
    this.name = 'RoamingApiError';
  }
}

/** Names a conversation of the caller: the peer (single) or the group. */
export type ConversationKey = Pick<Conversation, 'convId' | 'chatType'>;

/** Everything that changed since a sync token, every page merged, and the token for next time. */
export interface SyncResult {
  conversations: Conversation[];
  removed: RemovedConversation[];
  messagesDeleted: DeletedMessages[];
  /** Messages recalled since: replace cached copies with tombstones. */
  messagesRecalled: RecalledMessages[];
  /** Messages edited since, as they are now: replace cached copies (a recalled one is its tombstone). */
  messagesEdited: EditedMessages[];
  syncToken: string;
  /** Messages at or before this server time (ms) have expired: drop them, and conversations whose latest is. */
  retentionCutoff: number | null;
  /**
   * The server time (ms) the cutoffs were computed for: a conversation with its own `retentionDays` has
   * expired what is at or before serverTime - retentionDays days (and its `retentionFloor`) instead.
   */
  serverTime: number | null;
}

/** The filters of a history page (lists are sent comma-separated). */
export type HistoryOptions = Pick<
  Operations['fetchHistory']['query'],
  'direction' | 'types' | 'from' | 'startTime' | 'endTime'
>;

type Query = Record<string, string | number | boolean | undefined>;

/**
 * A typed client for the Roaming HTTP API, with the SDK's method names (the seed document's calls) so
 * app code ports over directly. The base URL may have a path (`https://api.example.com/roaming`: an API
 * Gateway custom domain mapping or a reverse proxy): routes are appended to it. Every non-2xx answer
 * throws RoamingApiError.
 */
export class RoamingClient {
  private readonly baseUrl: string;

  constructor(
    baseUrl: string,
    private readonly token: string,
  ) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
  }

  async sendMessage(message: SendRequest): Promise<Message> {
    return (await this.request<{ message: Message }>('POST', '/v1/messages', {}, message)).message;
  }

  /** pageSize 1..20, pageNum from 1. */
  fetchConversationsFromServerWithPage(pageSize: number, pageNum: number): Promise<ConversationPage> {
    return this.request('GET', '/v1/conversations', { pageSize, pageNum });
  }

  /** Cursor paging (limit 1..50); with no options, the SDK default: 10 conversations of the last 7 days. */
  fetchConversationsFromServer(options: { limit?: number; cursor?: string } = {}): Promise<ConversationPage> {
    return this.request('GET', '/v1/conversations', options);
  }

  /**
   * Everything that changed since a syncToken (from a first list page or an earlier sync), all pages:
   * conversations to show (new, or with a new message, pin, mark, read position or watermark), those to
   * remove, and message ids deleted on any device (to drop from a local cache).
   */
  async syncConversations(since: string): Promise<SyncResult> {
    const result: SyncResult = {
      conversations: [],
      removed: [],
      messagesDeleted: [],
      messagesRecalled: [],
      messagesEdited: [],
      syncToken: since,
      retentionCutoff: null,
      serverTime: null,
    };
    let token = since;
    for (;;) {
      const page = await this.syncConversationsPage(token);
      result.conversations.push(...page.conversations);
      result.removed.push(...(page.removed ?? []));
      result.messagesDeleted.push(...(page.messagesDeleted ?? []));
      result.messagesRecalled.push(...(page.messagesRecalled ?? []));
      result.messagesEdited.push(...(page.messagesEdited ?? []));
      if (page.cursor === null) {
        return {
          ...result,
          syncToken: page.syncToken as string,
          retentionCutoff: page.retentionCutoff ?? null,
          serverTime: page.serverTime ?? null,
        };
      }
      token = page.cursor;
    }
  }

  /** One page of a sync: pass `cursor` back as `since` while it is not null. */
  syncConversationsPage(since: string, limit?: number): Promise<ConversationPage> {
    return this.request('GET', '/v1/conversations', { since, limit });
  }

  /** Pins (or unpins) a conversation: pinning again keeps the first pin time; at most 50 pinned. */
  async pinConversation(convId: string, chatType: ChatType, isPinned: boolean): Promise<Conversation> {
    const path = `${conversationPath(chatType, convId)}/pin`;
    return (await this.request<{ conversation: Conversation }>(isPinned ? 'PUT' : 'DELETE', path))
      .conversation;
  }

  /**
   * Gives the caller's side of a conversation its own retention ("disappearing messages"): whole days
   * 1..36500, or null to follow the user's (or app's) policy again. Other devices learn it through sync.
   */
  async setConversationRetention(
    convId: string,
    chatType: ChatType,
    days: number | null,
  ): Promise<Conversation> {
    const path = `${conversationPath(chatType, convId)}/retention`;
    return (await this.request<{ conversation: Conversation }>('PUT', path, {}, { days })).conversation;
  }

  /** Pinned conversations, most recently pinned first (pageSize 1..50). */
  fetchPinnedConversationsFromServerWithCursor(
    cursor?: string,
    pageSize?: number,
  ): Promise<ConversationPage> {
    return this.request('GET', '/v1/conversations', { pinned: true, cursor, limit: pageSize });
  }

  /** Adds mark 0..19 to each conversation (Easemob names conversations by id; here with their chat type). */
  async addRemoteAndLocalConversationsMark(conversations: ConversationKey[], mark: number): Promise<void> {
    for (const c of conversations)
      await this.request('PUT', `${conversationPath(c.chatType, c.convId)}/marks/${mark}`);
  }

  async deleteRemoteAndLocalConversationsMark(conversations: ConversationKey[], mark: number): Promise<void> {
    for (const c of conversations)
      await this.request('DELETE', `${conversationPath(c.chatType, c.convId)}/marks/${mark}`);
  }

  /** The list by options: all (list order), only pinned (pin order), or with a mark (list order). */
  fetchConversationsByOptions(options: {
    cursor?: string;
    pageSize?: number;
    pinned?: boolean;
    mark?: number;
  }): Promise<ConversationPage> {
    return this.request('GET', '/v1/conversations', {
      cursor: options.cursor,
      limit: options.pageSize,
      pinned: options.pinned ? true : undefined,
      mark: options.mark,
    });
  }

  fetchHistoryMessages(
    convId: string,
    chatType: ChatType,
    pageSize?: number,
    startMsgId?: string,
    options: HistoryOptions = {},
  ): Promise<MessagePage> {
    return this.request('GET', `${conversationPath(chatType, convId)}/messages`, {
      pageSize,
      startMsgId,
      direction: options.direction,
      types: options.types?.join(','),
      from: options.from?.join(','),
      startTime: options.startTime,
      endTime: options.endTime,
    });
  }

  /** Deletes the caller's copies of these messages; answers how many it deleted (unknown ids are not counted). */
  async removeMessagesFromServerWithMsgIds(
    convId: string,
    chatType: ChatType,
    msgIds: string[],
  ): Promise<number> {
    const answer = await this.request<{ deleted: number }>(
      'DELETE',
      `${conversationPath(chatType, convId)}/messages`,
      { msgIds: msgIds.join(',') },
    );
    return answer.deleted;
  }

  /**
   * Recalls a message for everyone (the seed SDK's recallMessage): its sender within the app's recall
   * window, or a group's owner at any time. Every copy becomes a tombstone with no body; answers it.
   */
  async recallMessage(convId: string, chatType: ChatType, msgId: string): Promise<Message> {
    const path = `${conversationPath(chatType, convId)}/messages/${encodeURIComponent(msgId)}/recall`;
    return (await this.request<{ message: Message }>('POST', path)).message;
  }

  /**
   * Edits a message the caller sent (the seed SDK's modifyMessage): text and custom messages; `ext`
   * left out keeps the message's. Answers the message as edited (`edited.count`, `edited.at`).
   */
  async modifyMessage(
    convId: string,
    chatType: ChatType,
    msgId: string,
    change: { body: Record<string, unknown>; ext?: Record<string, unknown> },
  ): Promise<Message> {
    const path = `${conversationPath(chatType, convId)}/messages/${encodeURIComponent(msgId)}`;
    return (await this.request<{ message: Message }>('PATCH', path, {}, change)).message;
  }

  removeMessagesFromServerWithTimestamp(
    convId: string,
    chatType: ChatType,
    timestamp: number,
  ): Promise<PurgeReport> {
    return this.request('DELETE', `${conversationPath(chatType, convId)}/messages`, { before: timestamp });
  }

  /**
   * Easemob's conversation read ack: the read position moves forward to `msgId` (default: the newest
   * message); answers where it is now and how many messages are still unread.
   */
  sendConversationReadAck(convId: string, chatType: ChatType, msgId?: string): Promise<ReadPosition> {
    return this.request('PUT', `${conversationPath(chatType, convId)}/read`, {}, msgId ? { msgId } : {});
  }

  removeConversationFromServer(
    convId: string,
    chatType: ChatType,
    isDeleteMessage: boolean,
  ): Promise<PurgeReport> {
    return this.request('DELETE', conversationPath(chatType, convId), { deleteMessages: isDeleteMessage });
  }

  /** Creates a group the caller owns; the server makes its id (`group.groupId`). */
  async createGroup(input: GroupInput): Promise<Group> {
    return (await this.request<{ group: Group }>('POST', '/v1/groups', {}, input)).group;
  }

  async addGroupMember(groupId: string, userId: string): Promise<Group> {
    return (await this.request<{ group: Group }>('PUT', memberPath(groupId, userId))).group;
  }

  async removeGroupMember(groupId: string, userId: string): Promise<Group> {
    return (await this.request<{ group: Group }>('DELETE', memberPath(groupId, userId))).group;
  }

  /** Admin (scope roaming/admin): the app default and every per-user override. */
  getRetention(): Promise<RetentionPolicy> {
    return this.request('GET', '/v1/admin/retention');
  }

  async setAppRetention(days: RetentionDays): Promise<void> {
    await this.request('PUT', '/v1/admin/retention', {}, { days });
  }

  async setUserRetention(userId: string, days: RetentionDays): Promise<void> {
    await this.request('PUT', `/v1/admin/retention/users/${encodeURIComponent(userId)}`, {}, { days });
  }

  async clearUserRetention(userId: string): Promise<void> {
    await this.request('DELETE', `/v1/admin/retention/users/${encodeURIComponent(userId)}`);
  }

  /** Recent runs (the type parameter is for callers that read a part of a run). */
  listSweeps<T = SweepRun>(): Promise<{ runs: T[] }> {
    return this.request('GET', '/v1/admin/sweeps');
  }

  startSweep<T = StartedSweep>(): Promise<T> {
    return this.request('POST', '/v1/admin/sweeps', {}, {});
  }

  /** Starts erasing everything stored about a user (admin); 409 `held` under a legal hold. */
  startErasure<T = { erasureId: string; status: 'running' }>(userId: string): Promise<T> {
    return this.request('POST', '/v1/admin/erasures', {}, { userId });
  }

  /** An erasure job's progress (admin). */
  getErasure<T = Record<string, unknown>>(erasureId: string): Promise<T> {
    return this.request('GET', `/v1/admin/erasures/${encodeURIComponent(erasureId)}`);
  }

  private async request<T>(method: string, path: string, query: Query = {}, body?: unknown): Promise<T> {
    // Appended, not resolved: new URL('/v1/…', base) would drop the base URL's own path.
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const response = await fetch(url, {
      method,
      headers: {
        authorization: `Bearer ${this.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    const payload = parseJson(text) as
      | (T & { error?: { code?: unknown; message?: unknown; limit?: unknown } })
      | undefined;
    if (!response.ok) {
      const error = payload?.error;
      throw new RoamingApiError(
        response.status,
        typeof error?.code === 'string' ? error.code : 'unknown',
        typeof error?.message === 'string'
          ? error.message
          : `${response.status} ${response.statusText}: ${text.slice(0, 200)}`.trim(),
        retryAfterOf(response.headers.get('retry-after')),
        typeof error?.limit === 'string' ? error.limit : undefined,
      );
    }
    if (payload === undefined) {
      throw new RoamingApiError(response.status, 'invalid_response', 'The answer is not JSON');
    }
    return payload;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Retry-After as seconds: a number of seconds, or an HTTP date (seconds from now, at least 0). */
function retryAfterOf(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim());
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000));
}

function conversationPath(chatType: ChatType, convId: string): string {
  return `/v1/conversations/${chatType}/${encodeURIComponent(convId)}`;
}

function memberPath(groupId: string, userId: string): string {
  return `/v1/groups/${encodeURIComponent(groupId)}/members/${encodeURIComponent(userId)}`;
}
