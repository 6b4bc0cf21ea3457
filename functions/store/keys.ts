import type { ChatType, ConversationRef } from '../core/model.js';

/**
 * Every key of every item, in one place (docs/storage.md lists the access patterns). Ids never contain
 * '#' (validated at the edge), so prefixes cannot be forged.
 *
 * | item             | pk                          | sk                       |
 * |------------------|-----------------------------|--------------------------|
 * | message copy     | U#{owner}#C#{type}#{convId} | M#{msgId}                |
 * | conversation     | U#{owner}                   | C#{type}#{convId}        |
 * | sync head        | U#{owner}                   | SYNC                     |
 * | change marker    | U#{owner}#CHG               | E{epoch}#C#{type}#{convId} |
 * | mark entry       | U#{owner}#MARK#{n}          | {listSk}                 |
 * | held deletes     | U#{owner}#HD#{type}#{convId} | R{rev, zero-padded}     |
 * | idempotency      | U#{owner}#IDEM              | {clientMsgId}            |
 * | message revision | U#{sender}#REV              | {type}#{convId}#{msgId}  |
 * | pending revision | PENDING_REVISIONS           | {revision pk}|{revision sk} |
 * | group creation   | U#{owner}#IDEM              | G#{clientRequestId}      |
 * | pre-send decision | U#{sender}#IDEM            | H#{clientMsgId}          |
 * | group / member   | G#{groupId}                 | META / M#{userId}        |
 * | group log entry  | G#{groupId}#LOG             | {seq, zero-padded}       |
 * | shared copy      | G#{groupId}#H               | M#{msgId}                |
 * | large groups     | U#{owner}                   | LARGE                    |
 * | shared group     | SHARED_GROUPS               | {groupId}                |
 * | retention policy | POLICY                      | APP / U#{userId}         |
 * | legal hold       | HOLD                        | {holdId}                 |
 * | erasure job      | ERASURE                     | {erasureId}              |
 * | resync marker    | U#{owner}#CHG               | E{epoch}#RESYNC          |
 * | sweep run        | SWEEPS                      | R#{runId}                |
 * | active sweep run | SWEEPS                      | ACTIVE                   |
 * | sweep shard      | SWEEP#{runId}               | SHARD#{n}                |
 * | export job       | EXPORT                      | {exportId}               |
 * | health probe     | HEALTH                      | PROBE (never written)    |
 * | event (outbox)   | EV#{shard}                  | {occurredAt, padded}#{eventId} |
 * | event stream cursor (npm start) | EVENT_CURSOR | {shardId}                |
 */
export const keys = {
  /** GET /health reads this key (it never exists): the store answered, nothing about the data is learned. */
  healthProbe: { pk: 'HEALTH', sk: 'PROBE' },
  /** An event in the outbox (event-store.ts): its conversation's shard, then time order. */
  eventPk: (shard: number) => `EV#${shard}`,
  eventSkAt: (occurredAt: number) => String(occurredAt).padStart(15, '0'),
  event: (shard: number, occurredAt: number, eventId: string) => ({
    pk: keys.eventPk(shard),
    sk: `${keys.eventSkAt(occurredAt)}#${eventId}`,
  }),
  /** How far npm start's event pipeline has delivered one stream shard (local/event-pipeline.ts). */
  eventCursor: (shardId: string) => ({ pk: 'EVENT_CURSOR', sk: shardId }),
  userPk: (owner: string) => `U#${owner}`,
  /** A user's request budget (`requests` or `adminRequests`), in a partition of its own: see store-access.ts. */
  requestBudget: (owner: string, name: string) => ({ pk: `B#${owner}`, sk: name }),
  conversationSkPrefix: 'C#',
  conversationSk: (chatType: ChatType, convId: string) => `C#${chatType}#${convId}`,
  conversation: (ref: ConversationRef) => ({
    pk: keys.userPk(ref.owner),
    sk: keys.conversationSk(ref.chatType, ref.convId),
  }),
  /**
   * Sort key in the list index: the conversation's head (last arrived) msgId, then the conversation, so
   * the order is total. Deleting messages never lowers it, so a cursor walk never meets a conversation twice.
   */
  listSk: (headMsgId: string, chatType: ChatType, convId: string) => `${headMsgId}#${chatType}#${convId}`,

  /** Sort key in the pinned index: most recently pinned first (zero-padded ms), then the conversation. */
  pinSk: (pinnedAt: number, chatType: ChatType, convId: string) =>
    `${String(pinnedAt).padStart(15, '0')}#${chatType}#${convId}`,
  /** A marked, listed conversation's entry in the list of its mark, at its list position. */
  markPk: (owner: string, mark: number) => `U#${owner}#MARK#${mark}`,

  /** The user's sync head: its `epoch` stamps every change (docs/consistency.md, section 3). */
  syncHead: (owner: string) => ({ pk: keys.userPk(owner), sk: 'SYNC' }),
  /** The sync head sits in the list index above every conversation, so a list page reads it for free. */
  syncHeadListSk: '~',
  changePk: (owner: string) => `U#${owner}#CHG`,
  /** Epochs are zero-padded so string order is epoch order. */
  changeEpochPrefix: (epoch: number) => `E${String(epoch).padStart(12, '0')}#`,
  changeSk: (epoch: number, chatType: ChatType, convId: string) =>
    `${keys.changeEpochPrefix(epoch)}C#${chatType}#${convId}`,
  /** Sorts right after its conversation's marker (`#` before any id character), in write order. */
  deletedIdsSk: (epoch: number, chatType: ChatType, convId: string, rev: number) =>
    `${keys.changeSk(epoch, chatType, convId)}#D#${String(rev).padStart(12, '0')}`,

  /** Group revisions not yet carried to every member: the sweep finishes them (revision-store.ts). */
  pendingRevisionsPk: 'PENDING_REVISIONS',
  /** A recalled or edited message's revision record, in its sender's partition (revision-store.ts). */
  revision: (sender: string, chatType: ChatType, convId: string, msgId: string) => ({
    pk: `U#${sender}#REV`,
    sk: `${chatType}#${convId}#${msgId}`,
  }),

  historyPk: (ref: ConversationRef) => `U#${ref.owner}#C#${ref.chatType}#${ref.convId}`,
  messageSkPrefix: 'M#',
  messageSk: (msgId: string) => `M#${msgId}`,
  msgIdOfSk: (sk: string) => sk.slice(2),
  /** Gaps in the owner's positions above their read position (unread-gaps.ts). */
  gapPk: (ref: ConversationRef) => `U#${ref.owner}#GAP#${ref.chatType}#${ref.convId}`,
  /** By the highest id the record stands for, then what makes it unique (`#` sorts before any id character). */
  gapSk: (highestId: string, unique: string) => `G#${highestId}#${unique}`,
  gapSkAbove: (id: string) => `G#${id}#~`,
  gapSkTop: 'G#~',

  /** Copies the owner deleted by id under a legal hold, kept as tombstones: one record per delete. */
  heldDeletesPk: (ref: ConversationRef) => `U#${ref.owner}#HD#${ref.chatType}#${ref.convId}`,
  heldDeletesSk: (rev: number) => `R${String(rev).padStart(12, '0')}`,

  idempotency: (owner: string, clientMsgId: string) => ({ pk: `U#${owner}#IDEM`, sk: clientMsgId }),
  /** '#' is not allowed in a clientMsgId, so these never meet a send's record. */
  groupCreation: (owner: string, clientRequestId: string) => ({
    pk: `U#${owner}#IDEM`,
    sk: `G#${clientRequestId}`,
  }),
  /** The pre-send hook's decision on one send (presend-store.ts); '#' keeps it apart from a send's record too. */
  presendDecision: (sender: string, clientMsgId: string) => ({
    pk: `U#${sender}#IDEM`,
    sk: `H#${clientMsgId}`,
  }),

  groupPk: (groupId: string) => `G#${groupId}`,
  groupMetaSk: 'META',
  memberSkPrefix: 'M#',
  memberSk: (userId: string) => `M#${userId}`,
  groupLogPk: (groupId: string) => `G#${groupId}#LOG`,
  groupLogSk: (seq: number) => String(seq).padStart(12, '0'),
  /** A large group's history: one copy of each message, shared by its members (shared-history.ts). */
  sharedHistoryPk: (groupId: string) => `G#${groupId}#H`,
  /** The groups in shared mode a user belongs to: a list page merges them in (large-groups.ts). */
  largeGroups: (owner: string) => ({ pk: keys.userPk(owner), sk: 'LARGE' }),
  /** Every group in shared mode, registered before its flip: the sweep lists them to purge their histories. */
  sharedGroupsPk: 'SHARED_GROUPS',
  sharedGroup: (groupId: string) => ({ pk: keys.sharedGroupsPk, sk: groupId }),

  policyPk: 'POLICY',
  appPolicySk: 'APP',
  userPolicySk: (userId: string) => `U#${userId}`,

  holdsPk: 'HOLD',
  hold: (holdId: string) => ({ pk: keys.holdsPk, sk: holdId }),

  /** An erasure job's progress (erasure-store.ts): the user id is on it only while the job runs. */
  erasuresPk: 'ERASURE',
  erasure: (erasureId: string) => ({ pk: keys.erasuresPk, sk: erasureId }),
  /**
   * "Fetch everything again": an erasure removed conversations of this owner whose id it may not keep
   * (a single chat with the erased user). Sorts after the epoch's conversation markers ('C' < 'R').
   */
  resyncSk: (epoch: number) => `${keys.changeEpochPrefix(epoch)}RESYNC`,

  sweepRunsPk: 'SWEEPS',
  /** Run ids are ULIDs, so a descending Query lists the newest runs first. */
  sweepRunSkPrefix: 'R#',
  sweepRunSk: (runId: string) => `R#${runId}`,
  /** The one run in progress: created with a conditional put, so concurrent starts join one run. */
  sweepActiveSk: 'ACTIVE',
  sweepShardPk: (runId: string) => `SWEEP#${runId}`,
  sweepShardSkPrefix: 'SHARD#',
  sweepShardSk: (shard: number) => `SHARD#${shard}`,

  /** Export jobs (export-store.ts): progress, lease and parts of each, by its id (a ULID). */
  exportsPk: 'EXPORT',

  purgeShard: (shard: number) => `P#${shard}`,
  /**
   * The shard of conversations with their own retention (conversation-retention.ts): their purge key's
   * time is when their oldest copy expires by that policy, not the copy's time (still under `P#*`).
   */
  ownPurgeShard: (shard: number) => `P#${shard}#C`,
  /** Zero-padded so string order is time order; then the conversation, so keys are unique. */
  purgeSk: (dueAt: number, ref: ConversationRef) =>
    `${String(dueAt).padStart(15, '0')}#${ref.owner}#${ref.chatType}#${ref.convId}`,
  purgeSkUpperBound: (dueAt: number) => `${String(dueAt).padStart(15, '0')}#~`,
  /** The due time (ms) a purge key was filed under: 0 for a pending one-way delete. */
  dueAtOfPurgeSk: (purgeSk: string) => Number(purgeSk.slice(0, 15)),
  /**
   * The due-time part of a purge key (`{dueAt}#`): sorts before every key of that time, and names no
   * one (a sweep checkpoints it instead of the key, which names an owner and a conversation).
   */
  purgeSkTimePrefix: (purgeSk: string) => `${purgeSk.slice(0, 15)}#`,
};

/** Spreads purge work over shards by owner, so parallel sweeps can lease disjoint parts. */
export function purgeShardOf(owner: string, shardCount: number): number {
  let hash = 0;
  for (let i = 0; i < owner.length; i++) hash = (hash * 31 + owner.charCodeAt(i)) >>> 0;
  return hash % shardCount;
}
