import { z } from 'zod';
import type { Conversation, Group, Message } from '../core/model.js';
import type { ConversationPage } from '../domain/conversations.js';
import type { PurgeReport } from '../domain/deletion.js';
import type { HistoryPage } from '../domain/history.js';
import type { RetentionView } from '../domain/policies.js';
import type { ReadPosition } from '../domain/read-position.js';
import type { SweepRunView } from '../domain/sweep-runs.js';
import type { AuditRecord } from '../store/audit-store.js';
import { chatType, id, messageType, msgId } from './schemas.js';

/**
 * What the routes answer, in zod: the handlers' replies are typed by these (endpoint's `responses`),
 * the OpenAPI document and the client's types are generated from them. Each shape named with
 * `meta({ id })` becomes one schema under `components/schemas`. The `Agrees` checks at the end fail the
 * type check when a domain type and its wire schema drift apart.
 */
const EXAMPLE_TIME = 1767225600000;
const EXAMPLE_MSG_ID = '01KDX8S4G0R8Q1Z6V3B2N9M7TA';

const nullableMsgId = msgId.nullable();

export const messageSchema = z
  .object({
    msgId,
    from: id.describe('The sender'),
    to: id.describe('The recipient user (single chat) or the group id (group chat)'),
    chatType,
    type: messageType,
    body: z.record(z.string(), z.unknown()).describe('Kept exactly as sent'),
    ext: z.record(z.string(), z.unknown()).optional(),
    timestamp: z.number().int().describe('Server time in ms, the time encoded in msgId'),
  })
  .meta({
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
  });

/** A conversation's latest message: a preview of at most ~1 KB (history has the whole message). */
export const messagePreviewSchema = messageSchema
  .extend({
    truncated: z
      .literal(true)
      .optional()
      .describe(
        'Present when the body or ext was cut: the first 200 characters of a text; other bodies up to 512 bytes; ext up to 256',
      ),
  })
  .meta({
    id: 'MessagePreview',
    description:
      'A message as a conversation list shows it: bounded in size; fetch history for the whole message.',
  });

export const conversationSchema = z
  .object({
    convId: id.describe('The peer (single chat) or the group id (group chat)'),
    chatType,
    lastMessage: messagePreviewSchema.describe('The newest message this user can still see, as a preview'),
    unreadCount: z.number().int().min(0),
    updatedAt: z.number().int(),
    readThrough: nullableMsgId.describe('The read position: messages at or before it are read'),
    clearedThrough: nullableMsgId.describe('The deletion watermark: everything at or before it is gone'),
    pinnedAt: z.number().int().nullable().describe('When this user pinned it (ms), or null'),
    marks: z.array(z.number().int().min(0).max(19)).describe("This user's marks, sorted"),
  })
  .meta({ id: 'Conversation', description: "One conversation in a user's list." });

const conversationKey = { convId: id, chatType };

export const removedConversationSchema = z
  .object({ ...conversationKey, clearedThrough: nullableMsgId })
  .meta({
    id: 'RemovedConversation',
    description:
      'A conversation that left the list: drop cached messages at or before clearedThrough (deleted with its messages).',
  });

export const deletedMessagesSchema = z
  .object({ ...conversationKey, msgIds: z.array(msgId) })
  .meta({ id: 'DeletedMessages', description: 'Messages the user deleted by id, on any device.' });

export const conversationPageSchema = z
  .object({
    conversations: z.array(conversationSchema),
    cursor: z
      .string()
      .nullable()
      .describe('Pass back as `cursor` (or as `since` in a sync) for the next page'),
    syncToken: z
      .string()
      .optional()
      .describe('On a first page and at the end of a sync: use as `since` later'),
    removed: z.array(removedConversationSchema).optional().describe('In a sync (`since`) only'),
    messagesDeleted: z.array(deletedMessagesSchema).optional().describe('In a sync (`since`) only'),
  })
  .meta({ id: 'ConversationPage' });

export const historyPageSchema = z
  .object({
    messages: z.array(messageSchema),
    cursor: nullableMsgId.describe('Pass as `startMsgId` for the next page; null when there is no more'),
  })
  .meta({ id: 'HistoryPage' });

export const purgeReportSchema = z
  .object({
    purged: z.number().int().min(0).describe('Copies physically deleted during this request'),
    purgePending: z.boolean().describe('Copies remain hidden but not yet deleted: the sweep finishes them'),
  })
  .meta({ id: 'PurgeReport' });

export const readPositionSchema = z
  .object({ ...conversationKey, readThrough: nullableMsgId, unreadCount: z.number().int().min(0) })
  .meta({ id: 'ReadPosition' });

export const groupSchema = z
  .object({
    groupId: id,
    name: z.string(),
    owner: id,
    members: z.array(id),
    createdAt: z.number().int(),
  })
  .meta({
    id: 'Group',
    examples: [
      { groupId: 'team', name: 'Team', owner: 'alice', members: ['alice', 'bob'], createdAt: EXAMPLE_TIME },
    ],
  });

export const retentionDaysSchema = z
  .number()
  .int()
  .min(1)
  .max(36_500)
  .nullable()
  .meta({ id: 'RetentionDays', description: 'Retention in whole days; null keeps history forever.' });

export const retentionViewSchema = z
  .object({
    appDays: retentionDaysSchema,
    users: z.array(z.object({ userId: id, days: retentionDaysSchema })),
  })
  .meta({ id: 'RetentionPolicy' });

export const sweepCountsSchema = z
  .object({
    users: z.number().int().min(0),
    conversations: z.number().int().min(0),
    messagesDeleted: z.number().int().min(0),
    batches: z.number().int().min(0),
    retries: z.number().int().min(0),
  })
  .meta({ id: 'SweepCounts' });

export const sweepRunSchema = z
  .object({
    runId: z.string(),
    status: z.enum(['running', 'finished']),
    trigger: z.string(),
    startedAt: z.number().int(),
    finishedAt: z.number().int().nullable(),
    now: z.number().int().describe("The time the run's cutoffs are computed from"),
    shardCount: z.number().int(),
    shardsDone: z.number().int(),
    counts: sweepCountsSchema,
  })
  .meta({ id: 'SweepRun' });

export const startedSweepSchema = z
  .object({
    runId: z.string(),
    status: z.literal('running'),
    joined: z.boolean().describe('A run was already in progress: this request joined it'),
    startedAt: z.number().int(),
    now: z.number().int(),
  })
  .meta({ id: 'StartedSweep' });

export const auditRecordSchema = z
  .object({
    auditId: msgId.describe('A ULID: records sort by it, newest first'),
    actor: id.describe("The admin's `sub`"),
    action: z.enum(['retention.set', 'retention.clear', 'sweep.start']),
    target: z.string().describe('`app`, `user:{id}`, or a sweep run id'),
    before: z.unknown().describe('The value before (`unset` when there was none)'),
    after: z.unknown().describe('The value after (`unset` when it was removed)'),
    at: z.number().int().describe('Server time in ms'),
  })
  .meta({
    id: 'AuditRecord',
    description: 'One admin action, written in the same transaction as the change.',
  });

export const auditPageSchema = z
  .object({ records: z.array(auditRecordSchema), cursor: msgId.nullable() })
  .meta({ id: 'AuditPage' });

/** Every error answer: `code` is stable (see the OpenAPI document's error responses), `message` is for people. */
export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) }).meta({
  id: 'Error',
  examples: [{ error: { code: 'bad_request', message: 'pageSize: must be a whole number' } }],
});

/** Compile-time agreement between the domain's types and the wire schemas (both directions). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Agrees<T extends true> = T;
export type WireAgreesWithDomain = [
  Agrees<Same<z.output<typeof messageSchema>, Message>>,
  Agrees<Same<z.output<typeof conversationSchema>, Conversation>>,
  Agrees<Same<z.output<typeof conversationPageSchema>, ConversationPage>>,
  Agrees<Same<z.output<typeof historyPageSchema>, HistoryPage>>,
  Agrees<Same<z.output<typeof purgeReportSchema>, PurgeReport>>,
  Agrees<Same<z.output<typeof readPositionSchema>, ReadPosition>>,
  Agrees<Same<z.output<typeof groupSchema>, Group>>,
  Agrees<Same<z.output<typeof retentionViewSchema>, RetentionView>>,
  Agrees<Same<z.output<typeof sweepRunSchema>, SweepRunView>>,
  Agrees<Same<z.output<typeof auditRecordSchema>, AuditRecord>>,
];
