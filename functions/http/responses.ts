import * as z from 'zod/mini';
import { LIMIT_NAMES } from '../core/errors.js';
import { lazy } from '../core/lazy.js';
import type { Conversation, Group, Message } from '../core/model.js';
import type { ConversationPage } from '../domain/conversations.js';
import type { PurgeReport } from '../domain/deletion.js';
import type { ErasureView } from '../domain/erasure.js';
import type { HistoryPage } from '../domain/history.js';
import type { RetentionView } from '../domain/policies.js';
import type { ReadPosition } from '../domain/read-position.js';
import type { RetentionPreview } from '../domain/retention-preview.js';
import type { SweepRunView } from '../domain/sweep.js';
import type { ChainedAuditRecord, ChainVerification } from '../store/audit-store.js';
import { ERASURE_COUNT_NAMES } from '../store/erasure-store.js';
import type { Hold } from '../store/hold-store.js';
import { chatType, described, id, integer, messageType, msgId, named } from './schemas.js';

/**
 * What the routes answer, in zod: the handlers' replies are typed by these (endpoint's `responses`),
 * the OpenAPI document and the client's types are generated from them. Each shape named with
 * `named(…, { id })` becomes one schema under `components/schemas`. The `Agrees` checks at the end fail
 * the type check when a domain type and its wire schema drift apart. Each is built on first use: a
 * Lambda never builds them (only the OpenAPI generator and the tests read them).
 */
const EXAMPLE_TIME = 1767225600000;
const EXAMPLE_MSG_ID = '01KDX8S4G0R8Q1Z6V3B2N9M7TA';

const nullableMsgId = /* @__PURE__ */ lazy(() => z.nullable(msgId()));

export const messageSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      msgId: msgId(),
      from: described(id(), 'The sender'),
      to: described(id(), 'The recipient user (single chat) or the group id (group chat)'),
      chatType: chatType(),
      type: messageType(),
      body: described(
        z.optional(z.record(z.string(), z.unknown())),
        'Kept exactly as sent (or as last edited); absent only on a recalled message',
      ),
      ext: z.optional(z.record(z.string(), z.unknown())),
      timestamp: described(integer(), 'Server time in ms, the time encoded in msgId'),
      recalled: z.optional(
        described(
          z.object({ by: described(id(), 'Its sender, or the group owner'), at: integer() }),
          'The message was recalled: a tombstone in its place, with no body and no ext, on every device',
        ),
      ),
      edited: z.optional(
        described(
          z.object({ count: integer(z.minimum(1)), at: integer() }),
          'The sender edited the message: how many times, and when last (ms)',
        ),
      ),
      erased: z.optional(
        described(
          z.literal(true),
          "The sender's data was erased: a tombstone in its place (`from` is `erased`, `body` is empty, no `ext`)",
        ),
      ),
    }),
    {
      id: 'Message',
      description: 'A message as every participant sees it: one msgId everywhere.',
      examples: [
        {
          msgId: EXAMPLE_MSG_ID,
          from: 'alice',
          to: 'bob',
          chatType: 'single',
          type: 'text',
          body: { text: 'hi bob' },
          timestamp: EXAMPLE_TIME,
        },
      ],
    },
  ),
);

/** A conversation's latest message: a preview of at most ~1 KB (history has the whole message). */
export const messagePreviewSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.extend(messageSchema(), {
      truncated: described(
        z.optional(z.literal(true)),
        'Present when the body or ext was cut: the first 200 characters of a text; other bodies up to 512 bytes; ext up to 256',
      ),
    }),
    {
      id: 'MessagePreview',
      description:
        'A message as a conversation list shows it: bounded in size; fetch history for the whole message.',
    },
  ),
);

/** A conversation's own retention (per-conversation policy), present only when it has one. */
const ownRetention = () => ({
  retentionDays: described(
    z.optional(integer(z.minimum(1), z.maximum(36_500))),
    "This conversation's own retention in days, set by this user (absent: the user's or app's policy applies)",
  ),
  retentionFloor: described(
    z.optional(integer()),
    'Messages at or before this server time (ms) stay hidden whatever the days: what had expired when the ' +
      "conversation's own policy last changed (absent: none)",
  ),
});

export const conversationSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      convId: described(id(), 'The peer (single chat) or the group id (group chat)'),
      chatType: chatType(),
      lastMessage: described(
        messagePreviewSchema(),
        'The newest message this user can still see, as a preview',
      ),
      unreadCount: integer(z.minimum(0)),
      updatedAt: integer(),
      readThrough: described(nullableMsgId(), 'The read position: messages at or before it are read'),
      clearedThrough: described(
        nullableMsgId(),
        'The deletion watermark: everything at or before it is gone',
      ),
      pinnedAt: described(z.nullable(integer()), 'When this user pinned it (ms), or null'),
      marks: described(z.array(integer(z.minimum(0), z.maximum(19))), "This user's marks, sorted"),
      ...ownRetention(),
    }),
    { id: 'Conversation', description: "One conversation in a user's list." },
  ),
);

const conversationKey = () => ({ convId: id(), chatType: chatType() });

export const removedConversationSchema = /* @__PURE__ */ lazy(() =>
  named(z.object({ ...conversationKey(), clearedThrough: nullableMsgId(), ...ownRetention() }), {
    id: 'RemovedConversation',
    description:
      'A conversation that left the list: drop cached messages at or before clearedThrough (deleted with its messages). ' +
      'Its own retention, if any, still expires cached messages.',
  }),
);

export const deletedMessagesSchema = /* @__PURE__ */ lazy(() =>
  named(z.object({ ...conversationKey(), msgIds: z.array(msgId()) }), {
    id: 'DeletedMessages',
    description: 'Messages the user deleted by id, on any device.',
  }),
);

export const recalledMessagesSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      ...conversationKey(),
      msgIds: z.array(msgId()),
      messages: described(
        z.array(messageSchema()),
        'The tombstones of those the caller still sees (not deleted, not expired): replace cached copies with them',
      ),
    }),
    {
      id: 'RecalledMessages',
      description: 'Messages recalled (by their sender or the group owner) since the sync token.',
    },
  ),
);

export const editedMessagesSchema = /* @__PURE__ */ lazy(() =>
  named(z.object({ ...conversationKey(), messages: z.array(messageSchema()) }), {
    id: 'EditedMessages',
    description: 'Messages edited since the sync token, as the caller sees them now.',
  }),
);

export const conversationPageSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      conversations: z.array(conversationSchema()),
      cursor: described(
        z.nullable(z.string()),
        'Pass back as `cursor` (or as `since` in a sync) for the next page',
      ),
      syncToken: described(
        z.optional(z.string()),
        'On a first page and at the end of a sync: use as `since` later',
      ),
      removed: described(z.optional(z.array(removedConversationSchema())), 'In a sync (`since`) only'),
      messagesDeleted: described(z.optional(z.array(deletedMessagesSchema())), 'In a sync (`since`) only'),
      messagesRecalled: described(
        z.optional(z.array(recalledMessagesSchema())),
        'In a sync (`since`) only: replace these cached messages with their tombstones',
      ),
      messagesEdited: described(
        z.optional(z.array(editedMessagesSchema())),
        'In a sync (`since`) only: these cached messages as they are now (a recalled one as its tombstone)',
      ),
      retentionCutoff: described(
        z.optional(z.nullable(integer())),
        'In a sync (`since`) only: messages at or before this server time (ms) have expired for the caller ' +
          '(null: nothing has). Drop cached messages at or before it, and conversations whose lastMessage is. ' +
          'It never goes back: a lengthened policy does not show expired messages again. A conversation with ' +
          'its own `retentionDays` goes by those instead (see serverTime).',
      ),
      serverTime: described(
        z.optional(integer()),
        'In a sync (`since`) only: the server time (ms) the cutoffs were computed for. For each cached ' +
          'conversation, cutoff = max(retentionFloor ?? -1, retentionDays ? serverTime - retentionDays * 86400000 ' +
          ': retentionCutoff); drop its cached messages at or before it, and the conversation if its lastMessage is.',
      ),
    }),
    { id: 'ConversationPage' },
  ),
);

export const historyPageSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      messages: z.array(messageSchema()),
      cursor: described(
        nullableMsgId(),
        'Pass as `startMsgId` for the next page; null when there is no more',
      ),
    }),
    { id: 'HistoryPage' },
  ),
);

export const purgeReportSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      purged: described(integer(z.minimum(0)), 'Copies physically deleted during this request'),
      purgePending: described(
        z.boolean(),
        'Copies remain hidden but not yet deleted: the sweep finishes them',
      ),
    }),
    { id: 'PurgeReport' },
  ),
);

export const readPositionSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({ ...conversationKey(), readThrough: nullableMsgId(), unreadCount: integer(z.minimum(0)) }),
    { id: 'ReadPosition' },
  ),
);

export const groupSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      groupId: id(),
      name: z.string(),
      owner: id(),
      members: z.array(id()),
      createdAt: integer(),
    }),
    {
      id: 'Group',
      examples: [
        { groupId: 'team', name: 'Team', owner: 'alice', members: ['alice', 'bob'], createdAt: EXAMPLE_TIME },
      ],
    },
  ),
);

export const retentionDaysSchema = /* @__PURE__ */ lazy(() =>
  named(z.nullable(integer(z.minimum(1), z.maximum(36_500))), {
    id: 'RetentionDays',
    description: 'Retention in whole days; null keeps history forever.',
  }),
);

export const retentionViewSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      appDays: described(retentionDaysSchema(), 'The app default in force now'),
      users: described(
        z.array(z.object({ userId: id(), days: retentionDaysSchema() })),
        'Per-user overrides in force now',
      ),
      pending: described(
        z.array(
          z.object({
            userId: described(z.nullable(id()), 'The user whose override it is; null: the app default'),
            days: integer(z.minimum(1), z.maximum(36_500)),
            effectiveAt: described(
              integer(),
              'When it takes effect (server time in ms), unless cancelled first',
            ),
          }),
        ),
        'Shortenings waiting for their time: DELETE /v1/admin/retention/pending cancels one',
      ),
    }),
    { id: 'RetentionPolicy' },
  ),
);

export const holdSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      holdId: id(),
      userIds: described(z.array(id()), 'The users it covers'),
      reason: z.string(),
      conversations: z.optional(
        described(
          z.array(z.object({ chatType: chatType(), convId: id() })),
          'Only these conversations of its users (absent: everything of theirs)',
        ),
      ),
      createdAt: integer(),
      updatedAt: integer(),
      setBy: described(id(), "The admin's `sub` who set it last"),
    }),
    {
      id: 'LegalHold',
      description:
        "While it stands nothing of its users' (in those conversations) is physically deleted; what they see is unchanged.",
    },
  ),
);

export const retentionPreviewSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      days: retentionDaysSchema(),
      userId: described(z.nullable(id()), 'The user previewed; null: the app default (overrides left out)'),
      asOf: described(integer(), 'The sweep time previewed: a sweep then, under this policy, deletes this'),
      cutoff: described(integer(), 'Copies at or before this time (ms) are deleted; -1: none'),
      copies: described(integer(z.minimum(0)), 'Message copies deleted (see method)'),
      conversations: described(integer(z.minimum(0)), 'Conversations that lose at least one copy'),
      users: described(integer(z.minimum(0)), 'Users who lose at least one copy'),
      oldestKept: described(
        z.nullable(integer()),
        'The time (ms) of the oldest copy kept among those the policy governs; null: none left',
      ),
      method: described(
        z.union([
          z.object({ kind: z.literal('exact') }),
          z.object({
            kind: z.literal('estimate'),
            basis: z.literal('uniform-sample'),
            sampled: integer(z.minimum(1)),
            of: integer(z.minimum(1)),
            confidence: z.literal(0.95),
            maxError: integer(z.minimum(0)),
            copiesAtLeast: integer(z.minimum(0)),
          }),
        ]),
        'exact: every conversation counted; estimate: copies from a uniform sample of `sampled` of `of` ' +
          'conversations, within ± maxError at 95% confidence, and never below copiesAtLeast ' +
          '(conversations and users stay exact; oldestKept is at or after the true one)',
      ),
    }),
    { id: 'RetentionPreview' },
  ),
);

/** A change that keeps less than the days in force: it waits, and can be cancelled until effectiveAt. */
export const pendingRetentionSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      userId: described(z.nullable(id()), 'null: the app default'),
      days: retentionDaysSchema(),
      effectiveAt: described(integer(), 'When it takes effect (server time in ms), unless cancelled first'),
      preview: retentionPreviewSchema(),
    }),
    { id: 'PendingRetention' },
  ),
);

export const sweepCountsSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      users: integer(z.minimum(0)),
      conversations: integer(z.minimum(0)),
      messagesDeleted: integer(z.minimum(0)),
      batches: integer(z.minimum(0)),
      retries: integer(z.minimum(0)),
    }),
    { id: 'SweepCounts' },
  ),
);

export const sweepRunSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      runId: z.string(),
      status: z.enum(['running', 'finished']),
      trigger: z.string(),
      startedAt: integer(),
      finishedAt: z.nullable(integer()),
      now: described(integer(), "The time the run's cutoffs are computed from"),
      shardCount: integer(),
      shardsDone: integer(),
      counts: sweepCountsSchema(),
    }),
    { id: 'SweepRun' },
  ),
);

export const startedSweepSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      runId: z.string(),
      status: z.literal('running'),
      joined: described(z.boolean(), 'A run was already in progress: this request joined it'),
      startedAt: integer(),
      now: integer(),
    }),
    { id: 'StartedSweep' },
  ),
);

export const erasureCountsSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object(
      Object.fromEntries(ERASURE_COUNT_NAMES.map((name) => [name, integer(z.minimum(0))])) as Record<
        (typeof ERASURE_COUNT_NAMES)[number],
        ReturnType<typeof integer>
      >,
    ),
    {
      id: 'ErasureCounts',
      description:
        "At least once: a page replayed after a crash counts again. itemsDeleted: the user's own items and their peers' single chats with them; messagesErased: tombstones made of messages they sent; previewsErased: latest-message previews; skippedHeld: items a hold on their owner kept as they were",
    },
  ),
);

export const erasureSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      erasureId: z.string(),
      status: described(
        z.enum(['running', 'done', 'held']),
        '`held`: a legal hold placed while it ran stopped it; the counts say what was erased before',
      ),
      userId: z.optional(described(id(), 'Only while it runs, or when a hold stopped it')),
      phase: described(
        z.enum(['groups', 'scan', 'close']),
        "Leaving the user's groups, then the table scan, then the closing walk (what landed behind the scan)",
      ),
      segmentsDone: integer(z.minimum(0)),
      segmentCount: integer(z.minimum(1)),
      counts: erasureCountsSchema(),
      startedAt: integer(),
      finishedAt: z.optional(integer()),
    }),
    { id: 'Erasure', description: 'An erasure job and its progress.' },
  ),
);

export const auditRecordSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      seq: described(integer(), 'Its number in the trail: 1, 2, 3... with no gaps; newest first'),
      auditId: described(msgId(), 'A ULID: the id of the action'),
      actor: described(id(), "The admin's `sub`"),
      action: z.enum([
        'retention.set',
        'retention.schedule',
        'retention.cancel',
        'retention.clear',
        'sweep.start',
        'hold.set',
        'hold.release',
        'export.start',
        'erasure.start',
        'message.recall',
        'events.replay',
      ]),
      target: described(
        z.string(),
        '`app`, `user:{id}` (a policy; an export: whose data), `hold:{id}`, or a sweep run id',
      ),
      before: described(z.unknown(), 'The value before (`unset` when there was none)'),
      after: described(z.unknown(), 'The value after (`unset` when it was removed)'),
      at: described(integer(), 'Server time in ms'),
      prevHash: described(z.string(), 'The hash of record `seq - 1` (`genesis` for the first)'),
      hash: described(z.string(), 'SHA-256 (base64url) of this record with `prevHash`: the chain'),
    }),
    {
      id: 'AuditRecord',
      description:
        'One admin action, written in the same transaction as the change, chained to the record before it.',
    },
  ),
);

export const auditVerificationSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      intact: described(z.boolean(), 'No record missing, none edited'),
      checked: described(integer(), 'Records read'),
      head: described(
        z.nullable(z.object({ seq: integer(), hash: z.string() })),
        'The newest record: compare with the `seq` and `hash` of the newest admin action in the logs',
      ),
      problems: described(
        z.array(
          z.object({
            seq: integer(),
            problem: z.enum(['missing', 'edited']),
            detail: z.string(),
          }),
        ),
        'At most 100, oldest first',
      ),
    }),
    { id: 'AuditVerification', description: 'The whole trail read and its chain checked (`verify=true`).' },
  ),
);

export const auditPageSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      records: z.array(auditRecordSchema()),
      cursor: described(z.nullable(z.string()), 'The `seq` to continue before (`cursor=`), or null'),
      verification: z.optional(auditVerificationSchema()),
    }),
    { id: 'AuditPage' },
  ),
);

/**
 * Every error answer: `code` is stable (see the OpenAPI document's error responses), `message` is for
 * people; a 429 `rate_limited` also names the per-user limit it hit (`limit`).
 */
export const errorSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      error: z.object({ code: z.string(), message: z.string(), limit: z.optional(z.enum(LIMIT_NAMES)) }),
    }),
    {
      id: 'Error',
      examples: [{ error: { code: 'bad_request', message: 'pageSize: must be a whole number' } }],
    },
  ),
);

/** Compile-time agreement between the domain's types and the wire schemas (both directions). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Agrees<T extends true> = T;
export type WireAgreesWithDomain = [
  Agrees<Same<z.output<ReturnType<typeof messageSchema>>, Message>>,
  Agrees<Same<z.output<ReturnType<typeof conversationSchema>>, Conversation>>,
  Agrees<Same<z.output<ReturnType<typeof conversationPageSchema>>, ConversationPage>>,
  Agrees<Same<z.output<ReturnType<typeof historyPageSchema>>, HistoryPage>>,
  Agrees<Same<z.output<ReturnType<typeof purgeReportSchema>>, PurgeReport>>,
  Agrees<Same<z.output<ReturnType<typeof readPositionSchema>>, ReadPosition>>,
  Agrees<Same<z.output<ReturnType<typeof groupSchema>>, Group>>,
  Agrees<Same<z.output<ReturnType<typeof retentionViewSchema>>, RetentionView>>,
  Agrees<Same<z.output<ReturnType<typeof holdSchema>>, Hold>>,
  Agrees<Same<z.output<ReturnType<typeof retentionPreviewSchema>>, RetentionPreview>>,
  Agrees<Same<z.output<ReturnType<typeof sweepRunSchema>>, SweepRunView>>,
  Agrees<Same<z.output<ReturnType<typeof erasureSchema>>, ErasureView>>,
  Agrees<Same<z.output<ReturnType<typeof auditRecordSchema>>, ChainedAuditRecord>>,
  Agrees<Same<z.output<ReturnType<typeof auditVerificationSchema>>, ChainVerification>>,
];
