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
  /** Error codes this route answers besides each status's own (`rejected` with a 403, say). */
  codes?: Partial<Record<number, string[]>>;
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
      '`rate_limited` with `Retry-After` beyond. With a pre-send hook (docs/presend-hook.md) the hook may refuse ' +
      'the message (403 `rejected`, its reason as the message) or rewrite its body (the answer and history carry ' +
      'the rewrite); a hook that does not answer under the `closed` policy is a 503 `hook_unavailable`, final for ' +
      'that `clientMsgId` (send again with a new one).',
    errors: [403, 409],
    codes: { 403: ['rejected'], 503: ['hook_unavailable'] },
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
  recallMessage: {
    summary: 'Recall a message for everyone (recallMessage)',
    description:
      'Its sender, within the recall window (ROAMING_RECALL_WINDOW_SECONDS, default 120 s, at most 7 days), or the ' +
      "group's owner at any time. Every participant's copy becomes a tombstone with `recalled: {by, at}` and no body " +
      'or ext, in its place in history; a copy its owner deleted stays deleted; an unread recalled message no longer ' +
      'counts. Idempotent. Other devices learn it through `?since=` (`messagesRecalled`). docs/recall-and-edit.md.',
    errors: [403, 404, 409],
  },
  modifyMessage: {
    summary: 'Edit a message (modifyMessage)',
    description:
      'Its sender only; text and custom messages; at most ROAMING_MAX_EDITS (10) edits. Every copy takes the new ' +
      '`body` (and `ext`, if given: left out, the message keeps its own) with `edited: {count, at}`. 409 for a ' +
      'recalled message, past the limit, or when another edit landed since this one was decided (fetch, edit again). ' +
      'Other devices learn it through `?since=` (`messagesEdited`).',
    errors: [400, 403, 404, 409],
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
  putConversationRetention: {
    summary: "Set or remove a conversation's own retention (disappearing messages)",
    description:
      "`days` (1 to 36500) gives the caller's side of the conversation its own retention: messages older than that " +
      "many days are hidden, then deleted, whatever the caller's or the app's policy (shorter or longer); `null` " +
      'removes it. What had expired when it changed stays hidden (`retentionFloor`). Idempotent; other devices learn ' +
      'it through `?since=`. A conversation the caller does not have is a 404; a group they are not a member of, a 403.',
    errors: [400, 403, 404],
    requestExample: { days: 7 },
  },
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
  getRetention: {
    summary: 'Retention policy: the app default and per-user overrides in force, and pending shortenings',
  },
  putRetention: {
    summary: 'Set the app default retention',
    description:
      'Keeping as much or more (or keep-forever) takes effect at once: 200, and messages at or before ' +
      '`now - days` are never returned from that moment; the sweep deletes them. Keeping less answers 202 ' +
      'with `effectiveAt` (now + `delaySeconds`, default ROAMING_RETENTION_DELAY_SECONDS, 24 h) and a preview ' +
      'of what it will delete: until then reads use the policy in force, and DELETE /v1/admin/retention/pending ' +
      'cancels it. A second shortening replaces a pending one and starts its delay again; `delaySeconds: 0` ' +
      'applies it at once (still 202, with its preview).',
    requestExample: { days: 30 },
  },
  putUserRetention: {
    summary: "Override one user's retention",
    description:
      "As the app default's: keeping less than the user's days in force answers 202 and waits; " +
      'cancel with DELETE /v1/admin/retention/pending?userId=.',
    requestExample: { days: null },
  },
  deleteUserRetention: { summary: 'Remove a per-user override (the user follows the app default again)' },
  putHold: {
    summary: 'Set or replace a legal hold',
    description:
      'While a hold covers a user (or, with `conversations`, those conversations of theirs), nothing of theirs there is ' +
      'physically deleted: not by the retention sweep, not by their own one-way deletes, not by erasure. What they see ' +
      'is unchanged (their deletes still hide, expired messages still disappear from reads). 1 to 100 distinct `userIds`, ' +
      'a `reason` of 1 to 500 characters, and optionally 1 to 100 distinct conversations. Audited with before and after.',
    requestExample: { userIds: ['alice'], reason: 'Case 2026-114: preserve all records' },
  },
  listHolds: { summary: 'Every legal hold in force' },
  deleteHold: {
    summary: 'Release a legal hold',
    description:
      'The next retention sweep purges what the hold kept: what its users deleted, and what retention expired. ' +
      'Audited with the hold as it was. 404 if there is no such hold.',
    errors: [404],
  },
  previewRetention: {
    summary: 'What a retention policy of `days` would delete now',
    description:
      'Counts from the purge index (never a scan of the table) what a sweep run now would physically delete ' +
      'under a policy of `days` for the app default (users with an override of their own left out) or for ' +
      '`userId`: copies, conversations, users, and the oldest copy kept. `method` says whether the copies are ' +
      'exact or estimated from a uniform sample (with a 95% error bound and a hard lower bound).',
  },
  cancelPendingRetention: {
    summary: 'Cancel a pending retention shortening (the app default, or `userId`)',
    description:
      'Until its `effectiveAt`. 409 when none is pending (none was set, or it is in force already: set a ' +
      'longer policy instead). Nothing it would have expired is deleted; what an instance may already have ' +
      'hidden under it stays hidden (docs/consistency.md, section 7).',
    errors: [409],
  },
  listSweeps: { summary: 'Recent retention sweep runs, newest first, with progress' },
  listAudit: {
    summary: 'The audit trail of admin actions, newest first',
    description:
      'Every retention change and every sweep started by hand: who, what, the value before and after, when.',
  },
  replayEvents: {
    summary: 'Deliver stored events again',
    description:
      'Every stored event (kept ROAMING_EVENT_RETENTION_DAYS) that occurred in [from, to] (ms; to defaults ' +
      "to now) is delivered again, with its own id and in its conversation's order. At most 5000 a call: " +
      'when the window holds more, `next` says where to call again from. Audited (events.replay).',
    requestExample: { from: 1767225600000, to: 1767229200000 },
  },
  startSweep: {
    summary: 'Start a retention sweep now',
    description: 'Starts a run (or joins the one in progress) and answers at once with its id.',
    requestExample: {},
  },
  startExport: {
    summary: "Start an export of one user's data (NDJSON)",
    description:
      "A resumable job writes the user's conversations and every message copy they own, oldest first, one JSON " +
      'object a line (docs/compliance.md, "Export"): by default what the user can see; with `includeHidden` also ' +
      'what is stored but hidden from them (deleted and not yet purged, expired and not yet swept), each line ' +
      'saying why. Answers 202 at once; follow it with GET /v1/admin/exports/{exportId}. Audited.',
    requestExample: { userId: 'alice', includeHidden: false },
  },
  getExport: {
    summary: "An export's progress, and where its file is once done",
    description:
      '`location` appears when `status` is `done`: deployed, a presigned S3 URL valid until `locationExpiresAt` ' +
      '(ask again for a fresh one); under `npm start`, a path of the server, fetched with an admin token.',
    errors: [404],
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
  holdId: 'The legal hold: an id the operator chooses (a case number)',
};

/** Tags group the routes in the reference page, by path. */
export function tagOf(path: string): string {
  if (path.startsWith('/v1/admin')) return 'Admin';
  if (path.startsWith('/v1/groups')) return 'Groups';
  if (path.startsWith('/v1/messages') || path.endsWith('/messages')) return 'Messages';
  return 'Conversations';
}
