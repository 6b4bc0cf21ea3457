import type { LimitName } from '../core/errors.js';
import type { RouteName } from '../routes.js';

/**
 * The prose of the OpenAPI document: what each route does (from docs/api.md, "Semantics"), the errors it
 * answers beyond the ones every route has, and a request example. A route without an entry still gets
 * its parameters, bodies, answers and errors from its schemas.
 */
export interface RouteDoc {
  summary: string;
  description?: string;
  /** Error statuses this route answers besides 400, 401, 413, 415, 429, 500, 503 (and 403 for admin routes). */
  errors?: number[];
  /**
   * Per-user limits of its own besides the request budget, which every route has (`requests`, or
   * `adminRequests` on admin routes): a 429 `rate_limited` names one of them in `limit`.
   */
  limits?: LimitName[];
  requestExample?: unknown;
}

export const ROUTE_DOCS: Partial<Record<RouteName, RouteDoc>> = {
  sendMessage: {
    summary: 'Send a message',
    description:
      "Stores one copy per participant and moves every participant's conversation to it (unread +1 for recipients). " +
      "Sending also moves the sender's own read position to this message: the sender's conversation has " +
      '`readThrough` = its `msgId` and `unreadCount` 0 (what the sender sent counts as read; other devices learn it through `?since=`). ' +
      'A retry with the same `clientMsgId` returns the same message; a different message under a used `clientMsgId` is a 409. ' +
      'Group sends need membership (403 otherwise, also for an unknown group). Sizes per type: text at most 5,000 ' +
      'characters; `body` and `ext` as JSON at most 12 KB (text, custom), 4 KB (image, audio, video, file), 2 KB ' +
      '(location); larger is a 413. A user sends at most 10 messages a second on average (bursts of 20): 429 ' +
      '`rate_limited` with `Retry-After` beyond.',
    errors: [403, 409],
    limits: ['send', 'sendsInFlight'],
    requestExample: {
      to: 'bob',
      chatType: 'single',
      type: 'text',
      body: { text: 'hi bob' },
      clientMsgId: 'm-1',
    },
  },
  listConversations: {
    summary: "The caller's conversations",
    description:
      'Four forms, by parameters: none (the SDK default: the 10 latest of the last 7 days); `limit`+`cursor` (cursor paging, ' +
      'the first page carries a `syncToken`); `pageSize`+`pageNum` (page numbers); `since=<syncToken>` (everything changed ' +
      'since, with `removed` and `messagesDeleted`; pass `cursor` back as `since` while it is not null). `pinned=true` or ' +
      '`mark=n` go with `limit`/`cursor` only. A sync token over 7 days old answers 410 `resync_required`.',
    errors: [410],
  },
  fetchHistory: {
    summary: 'Message history of a conversation',
    description:
      '`up` (default) walks newest to oldest, `down` oldest to newest; `startMsgId` is exclusive; `cursor` is null exactly ' +
      'when there is nothing more. `types` and `from` filter; `startTime`/`endTime` bound by server time (ms). A page ' +
      'reads at most `pageSize` + 1 messages, filtered or not, so a filtered page may be short, even empty, with a ' +
      'cursor: pass it on to keep looking.',
    errors: [403, 404],
  },
  deleteMessages: {
    summary: "Delete messages (the caller's copies only)",
    description:
      'Exactly one of `msgIds` (1 to 50 distinct ids; ids the caller does not have are ignored: `deleted` counts only ' +
      'the messages this call deleted) or `before` (every message at or before this server time, in ms). Other ' +
      'participants keep theirs.',
    errors: [403, 404],
  },
  markRead: {
    summary: 'Move the read position forward (read ack)',
    description:
      'Moves `readThrough` forward to `msgId` (default: the newest message the caller has); backwards is a no-op. ' +
      'Other devices learn it through `?since=`.',
    errors: [403, 404],
    requestExample: {},
  },
  pinConversation: {
    summary: 'Pin a conversation',
    description:
      'Idempotent: pinning again keeps the first pin time. At most 50 pinned (the 51st is a 409). A group the caller ' +
      'is not (or no longer) a member of is a 403.',
    errors: [403, 404, 409],
  },
  unpinConversation: { summary: 'Unpin a conversation', errors: [403, 404] },
  markConversation: { summary: 'Add a mark (0..19) to a conversation', errors: [403, 404] },
  unmarkConversation: { summary: 'Remove a mark from a conversation', errors: [403, 404] },
  deleteConversation: {
    summary: "Delete a conversation (the caller's side only)",
    description:
      '`deleteMessages=true` also deletes every message the caller had in it; the default `false` keeps them hidden ' +
      'from the list only until a new message arrives.',
    errors: [403, 404],
  },
  createGroup: {
    summary: 'Create a group',
    description:
      'The creator owns the group and is its only admin; the server makes its id (the body has no `groupId`: one ' +
      'sent is a 400). At most 5,000 members (past 200 a group stores each message once: docs/large-groups.md); at most 20 groups a day and 200 members added a minute per user ' +
      '(429 `rate_limited`). A retry with the same `clientRequestId` answers the same group; the same ' +
      '`clientRequestId` with a different name or members is a 409 `conflict`.',
    errors: [409],
    limits: ['createGroup', 'addMembers'],
    requestExample: { name: 'Team', members: ['bob'] },
  },
  addMember: {
    summary: 'Add a member (owner only)',
    description: 'The member sees what is sent after they joined.',
    errors: [403, 409],
    limits: ['addMembers'],
  },
  removeMember: {
    summary: 'Remove a member (owner), or leave (the member)',
    description: "Clears the member's copy of the group history. The owner cannot leave.",
    errors: [403, 409],
  },
  getRetention: { summary: 'Retention policy: the app default and per-user overrides' },
  putRetention: {
    summary: 'Set the app default retention',
    description:
      'Messages at or before `now - days` are never returned from that moment; the sweep deletes them.',
    requestExample: { days: 30 },
  },
  putUserRetention: { summary: "Override one user's retention", requestExample: { days: null } },
  deleteUserRetention: { summary: 'Remove a per-user override (the user follows the app default again)' },
  listSweeps: { summary: 'Recent retention sweep runs, newest first, with progress' },
  listAudit: {
    summary: 'The audit trail of admin actions, newest first',
    description:
      'Every retention change and every sweep started by hand: who, what, the value before and after, when.',
  },
  startSweep: {
    summary: 'Start a retention sweep now',
    description: 'Starts a run (or joins the one in progress) and answers at once with its id.',
    requestExample: {},
  },
  startErasure: {
    summary: 'Erase everything stored about a user',
    description:
      "Starts a resumable job and answers at once with its id. It deletes the user's conversations, " +
      'copies, sync records, marks, pins, policies, limits and retry records, removes them from their groups ' +
      "(a group they own passes to the remaining member first in id order), deletes their peers' single " +
      "chats with them, and makes tombstones (`erased: true`) of the messages they sent in everyone else's " +
      'histories. 409 `held` while a legal hold covers the user; a hold placed while it runs stops it ' +
      '(`held`). The audit record names the user id. docs/compliance.md, "Erasure".',
    requestExample: { userId: 'alice' },
    errors: [409],
  },
  getErasure: {
    summary: 'An erasure job and its progress',
    description:
      'The user id is shown only while the job runs (or when a hold stopped it). 404: no such job.',
    errors: [404],
  },
};

/**
 * Parameters explained once for every route that has them (a schema's own description wins); a key
 * `path.name` or `query.name` explains a name that means different things in the path and the query.
 */
export const PARAMETER_DOCS: Record<string, string> = {
  'path.mark': 'The mark to add or remove: a whole number from 0 to 19',
  chatType: '`single` (convId is the peer user) or `group` (convId is the group id)',
  convId: 'The peer user (single chat) or the group id (group chat)',
  limit: 'Page size of cursor paging',
  cursor: 'From the previous page',
  since: 'A syncToken (or a sync page cursor)',
  pageSize: 'Page size',
  pageNum: 'Page number, from 1',
  pinned: 'Only pinned conversations, most recently pinned first',
  'query.mark': 'Only conversations with this mark (0 to 19), in list order',
  startMsgId: 'Start after this message (exclusive)',
  direction: '`up`: newest to oldest; `down`: oldest to newest',
  types: 'Only these message types (comma-separated)',
  from: 'Only messages from these senders (comma-separated)',
  startTime: 'Server time in ms, inclusive',
  endTime: 'Server time in ms, inclusive',
  msgIds: 'Message ids, comma-separated (1 to 50, distinct)',
  before: 'Server time in ms: every message at or before it',
  deleteMessages: 'Also delete the messages',
  groupId: 'The group',
  userId: 'The user',
};

/** Tags group the routes in the reference page, by path. */
export function tagOf(path: string): string {
  if (path.startsWith('/v1/admin')) return 'Admin';
  if (path.startsWith('/v1/groups')) return 'Groups';
  if (path.startsWith('/v1/messages') || path.endsWith('/messages')) return 'Messages';
  return 'Conversations';
}
