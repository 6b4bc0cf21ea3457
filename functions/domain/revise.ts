import { forEachLimited } from '../core/concurrency.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../core/errors.js';
import type { ConversationRef, Message } from '../core/model.js';
import { messageEventData } from '../events/event.js';
import { eventAction, redactedEventAction } from '../events/outbox.js';
import { appendAuditAction, readAuditHead } from '../store/audit-store.js';
import { reviseMessage as reviseSide, unreadAfter } from '../store/conversation.js';
import { batchGet, type Key, keyString } from '../store/db.js';
import { type GroupView, logEntryKey, readGroup } from '../store/group-store.js';
import { type Hold, isHeld, listHolds } from '../store/hold-store.js';
import { readsShared } from '../store/member-view.js';
import {
  copyKey,
  isTombstone,
  messageOfCopy,
  positionOfCopy,
  sharedHistoryOf,
} from '../store/message-store.js';
import {
  dropPendingRevision,
  listPendingRevisions,
  pendingOf,
  pendingRevisionAction,
  pendingRevisionKey,
  putRevisionAction,
  type RevisionRecord,
  revisionKey,
  revisionOf,
  settleRevision,
} from '../store/revision-store.js';
import {
  reviseCopyAction,
  reviseEmbedded,
  reviseMetaPreview,
  showsRevision,
} from '../store/revision-writes.js';
import { fromStoredMessage, type StoredMessage } from '../store/stored-message.js';
import type { TransactItem } from '../store/transactions.js';
import { recalledGapKey } from '../store/unread-gaps.js';
import { commit, readForWrite, type Snapshot, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { applyToMembers } from './group-fanout.js';
import { checkMessageSize } from './message-limits.js';

/**
 * Recall and edit (docs/recall-and-edit.md): the sender takes a message back (every copy becomes a
 * tombstone) or corrects it (every copy takes the new body), on every participant's side.
 *
 * A revision is decided on the message's revision record (revision-store.ts) and written conditioned on
 * it, so revisions of one message are serialized: a second edit decided on the same version is refused
 * (409), a recall always lands. Then it is carried to every copy, each write conditioned never to go
 * backwards (revision-writes.ts): no edit after a recall, no older edit over a newer one, nothing into a
 * copy its owner deleted (a one-way delete wins). Each participant's side takes it in one transaction
 * with its copy (conversation.ts `reviseMessage`): the latest message's preview, unread (a recalled
 * unread message no longer counts, recorded as a gap), and the change marker and ids record that tell
 * the owner's other devices (`messagesRecalled`, `messagesEdited` in a `?since=` answer).
 *
 * - Single chat: the record, both copies and both sides in one transaction: all or nothing.
 * - Group: the record (marked pending), the fan-out log entry and the shared copy in one transaction;
 *   then the fan-out of that position is finished (from the revised entry, so a member it had not
 *   reached gets the revision, never the old text); then each member's side in a transaction of its
 *   own. A crash in between leaves the record pending: the retry (or the next revision) carries it on.
 */

export type Revision =
  | { kind: 'recall' }
  | { kind: 'edit'; body: Record<string, unknown>; ext?: Record<string, unknown> };

/** Message types a sender may edit: their bodies are the sender's text or data, not an uploaded file. */
const EDITABLE_TYPES: readonly string[] = ['text', 'custom'];

/** Members' sides revised at once. */
const SIDE_CONCURRENCY = 16;

/** The message as revised, as the caller sees it now. */
export async function reviseMessage(
  deps: Deps,
  ref: ConversationRef,
  msgId: string,
  revision: Revision,
): Promise<Message> {
  if (revision.kind === 'edit') checkEditSize(revision);
  return ref.chatType === 'single'
    ? reviseInSingleChat(deps, ref, msgId, revision)
    : reviseInGroup(deps, ref, msgId, revision);
}

// ---- Deciding ---------------------------------------------------------------------------------------

/** What a revision request comes to: a new revision to write, or the one already there. */
type Decision =
  | { kind: 'new'; next: RevisionRecord; revised: Message; byOwnerRight: boolean }
  | { kind: 'already'; record: RevisionRecord | undefined; revised: Message };

/**
 * Decides on the message as found (`found`: a copy, possibly older than the record) and its record.
 * `groupOwner`: the group's owner, who may recall any message at any time.
 */
function decide(
  deps: Deps,
  caller: string,
  found: Message,
  record: RevisionRecord | undefined,
  revision: Revision,
  groupOwner?: string,
): Decision {
  const current = record?.message ?? found;
  const now = deps.clock.now();
  if (revision.kind === 'recall') {
    if (current.recalled) return { kind: 'already', record, revised: current };
    const inWindow = now - current.timestamp <= deps.config.recallWindowSeconds * 1000;
    const bySender = current.from === caller && inWindow;
    if (!bySender && caller !== groupOwner) {
      if (current.from !== caller) {
        throw new ForbiddenError('Only its sender (or the group owner) may recall a message');
      }
      throw new ConflictError(
        `The recall window (${deps.config.recallWindowSeconds} s after sending) has passed for this message`,
      );
    }
    const { body: _body, ext: _ext, edited: _edited, ...kept } = current;
    const revised: Message = { ...kept, recalled: { by: caller, at: now } };
    return { kind: 'new', next: nextRecord(record, revised, 0), revised, byOwnerRight: !bySender };
  }
  if (current.from !== caller) throw new ForbiddenError('Only its sender may edit a message');
  if (current.recalled) throw new ConflictError('This message was recalled: it can no longer be edited');
  if (!EDITABLE_TYPES.includes(current.type)) {
    throw new ValidationError(`Only text and custom messages can be edited; this one is ${current.type}`);
  }
  if (current.type === 'text' && !(typeof revision.body.text === 'string' && revision.body.text.length > 0)) {
    throw new ValidationError('body: a text message needs body.text, a non-empty string');
  }
  const ext = revision.ext ?? current.ext;
  // The same content again (a retry of this edit): nothing new to write.
  if (current.edited && sameContent(current, revision.body, ext)) {
    return { kind: 'already', record, revised: current };
  }
  const editCount = record?.editCount ?? 0;
  if (editCount >= deps.config.maxEdits) {
    throw new ConflictError(`This message was edited ${editCount} times: the most a message may be`);
  }
  const { ext: _ext, ...rest } = current;
  const revised: Message = {
    ...rest,
    body: revision.body,
    ...(ext !== undefined ? { ext } : {}),
    edited: { count: editCount + 1, at: now },
  };
  return { kind: 'new', next: nextRecord(record, revised, 1), revised, byOwnerRight: false };
}

function nextRecord(record: RevisionRecord | undefined, revised: Message, edits: number): RevisionRecord {
  return {
    rev: (record?.rev ?? 0) + 1,
    editCount: (record?.editCount ?? 0) + edits,
    message: revised,
    pending: revised.chatType === 'group',
  };
}

function sameContent(message: Message, body: Record<string, unknown>, ext: unknown): boolean {
  return (
    JSON.stringify(message.body) === JSON.stringify(body) &&
    JSON.stringify(message.ext) === JSON.stringify(ext)
  );
}

function checkEditSize(revision: Extract<Revision, { kind: 'edit' }>): void {
  // The same bounds as a send of that content.
  checkMessageSize({ to: '', chatType: 'single', type: 'custom', body: revision.body, ext: revision.ext });
}

/**
 * An edit decided on revision `base` whose write failed: another revision landed since. The same
 * content is this edit landing twice (a retry); anything else was a concurrent revision: 409.
 */
function refuseConcurrentEdit(
  revision: Revision,
  base: number | undefined,
  record: RevisionRecord | undefined,
) {
  if (revision.kind !== 'edit' || base === undefined || record === undefined || record.rev === base) return;
  const current = record.message;
  if (current.recalled) return; // decide() answers that one
  if (sameContent(current, revision.body, revision.ext ?? current.ext)) return;
  throw new ConflictError('The message was edited meanwhile (by another device): fetch it and edit again');
}

// ---- A participant's side -----------------------------------------------------------------------

type HeldVersion = Record<string, unknown> & { msgId: string };

/** The legal holds a revision read, and the shared copy as it was (kept for held members). */
interface Holding {
  holds: readonly Hold[];
  heldBefore?: HeldVersion;
}

/** The keys a side's revision reads with the side: its copy, and its recall gap record. */
function sideKeys(ref: ConversationRef, msgId: string): Key[] {
  return [copyKey(ref, msgId), recalledGapKey(ref, msgId)];
}

/**
 * The actions that revise one participant's side (as read in `read`): none when they do not see the
 * message (deleted it, left, joined after it) or their copy shows it already.
 */
function sideActions(
  deps: Deps,
  read: Snapshot,
  ref: ConversationRef,
  revised: Message,
  holding: Holding,
): TransactItem[] {
  const state = read.state(ref);
  const id = revised.msgId;
  if (!state.exists || state.left || state.headMsgId === undefined || id > state.headMsgId) return [];
  if (state.clearedThrough !== undefined && id <= state.clearedThrough) return [];
  const own = read.item(copyKey(ref, id));
  const actions: TransactItem[] = [];
  if (own) {
    if (isTombstone(own) || showsRevision(own, revised)) return [];
    actions.push(reviseCopyAction(deps.db.tableName, ref, revised));
  } else if (!readsShared(ref, state.shared)) {
    // No copy of theirs: they deleted it (one-way), or a purge took it.
    return [];
  }
  const after = unreadAfter(state);
  const unreadRecalled =
    revised.recalled !== undefined &&
    revised.from !== ref.owner &&
    (after === undefined || id > after) &&
    read.item(recalledGapKey(ref, id)) === undefined;
  // Under a legal hold what the owner had is kept: their copy as read, or the shared copy as it was.
  const held = isHeld(holding.holds, ref.owner, ref);
  const heldVersion = held ? ((own as HeldVersion | undefined) ?? holding.heldBefore) : undefined;
  actions.push(
    ...reviseSide(read.context(ref.owner), state, { revised, unreadRecalled, held, heldVersion }).actions,
  );
  return actions;
}

/**
 * Revises every member's side: all read together (BatchGetItem, about 25 members a request), then one
 * transaction each; a side whose write failed (it changed since) is read again on its own until it lands.
 */
async function reviseMemberSides(
  deps: Deps,
  refs: readonly ConversationRef[],
  revised: Message,
  holding: Holding,
): Promise<void> {
  const read = await readForWrite(
    deps,
    refs,
    refs.flatMap((ref) => sideKeys(ref, revised.msgId)),
  );
  await forEachLimited(refs, SIDE_CONCURRENCY, async (ref) => {
    const actions = sideActions(deps, read, ref, revised, holding);
    if (actions.length === 0 || (await commit(deps, actions)) !== TRY_AGAIN) return;
    await reviseMemberSide(deps, ref, revised, holding);
  });
}

/** Revises one member's side on a fresh read, again until its write lands or nothing is left to do. */
async function reviseMemberSide(
  deps: Deps,
  ref: ConversationRef,
  revised: Message,
  holding: Holding,
): Promise<void> {
  await withRetries(deps, 'revise', async function attemptSide() {
    const read = await readForWrite(deps, [ref], sideKeys(ref, revised.msgId));
    const actions = sideActions(deps, read, ref, revised, holding);
    if (actions.length === 0) return true;
    return commit(deps, actions);
  });
}

// ---- Single chat --------------------------------------------------------------------------------

async function reviseInSingleChat(
  deps: Deps,
  ref: ConversationRef,
  msgId: string,
  revision: Revision,
): Promise<Message> {
  const caller = ref.owner;
  const peer = ref.convId;
  const sides: ConversationRef[] =
    peer === caller ? [ref] : [ref, { owner: peer, chatType: 'single', convId: caller }];
  // The message is the caller's or the peer's: both records are read with the sides and copies.
  const records = sides.map((side) => recordKeyIfSentBy(side, msgId));
  let base: number | undefined;
  return withRetries(deps, 'revise', async function attemptSingle() {
    // The holds are read with every attempt: under one, what a side had is kept.
    const [read, holds] = await Promise.all([
      readForWrite(deps, sides, [...sides.flatMap((side) => sideKeys(side, msgId)), ...records]),
      listHolds(deps.db),
    ]);
    const found = sides.map((side) => read.item(copyKey(side, msgId))).find((item) => item !== undefined);
    if (!found) throw new NotFoundError(`No message ${msgId} in this conversation`);
    const message = messageOfCopy(found);
    const record = revisionOf(read.item(revisionKey(message)));
    refuseConcurrentEdit(revision, base, record);
    const decision = decide(deps, caller, message, record, revision);
    if (decision.kind === 'already') return decision.revised;
    base ??= record?.rev ?? 0;
    const actions = [
      putRevisionAction(deps.db.tableName, record, decision.next),
      ...sides.flatMap((side) => sideActions(deps, read, side, decision.revised, { holds })),
      revisionEventAction(deps, decision.revised, decision.next.rev),
      previousEventRedaction(deps, message, record, decision.revised),
    ];
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : decision.revised;
  });
}

/**
 * The revision's event, in the transaction that decides it (on the record): a recall's tombstone or an
 * edit's new message, never the text it replaced; named by the message and the revision.
 */
function revisionEventAction(deps: Deps, revised: Message, rev: number): TransactItem {
  const about = messageEventData(revised);
  if (revised.recalled) {
    return eventAction(
      deps,
      'message.recalled',
      { ...about, by: revised.recalled.by, message: revised },
      { id: `message.recalled:${revised.msgId}`, occurredAt: revised.recalled.at },
    );
  }
  return eventAction(
    deps,
    'message.edited',
    { ...about, message: revised },
    { id: `message.edited:${revised.msgId}:${rev}`, occurredAt: revised.edited?.at },
  );
}

/**
 * The stored event that still shows the text this revision replaces (the send's, or the last edit's),
 * rewritten without any content: the message's ids, type and time, with the revision's mark. Each
 * revision redacts its predecessor's, and a redacted one never shows text again, so none does.
 */
function previousEventRedaction(
  deps: Deps,
  message: Message,
  record: RevisionRecord | undefined,
  revised: Message,
): TransactItem {
  const { body: _body, ext: _ext, ...withoutContent } = revised;
  const data = { ...messageEventData(message), message: withoutContent };
  const lastEdit = record?.message.edited;
  if (record && lastEdit) {
    return redactedEventAction(deps, 'message.edited', data, {
      id: `message.edited:${message.msgId}:${record.rev}`,
      occurredAt: lastEdit.at,
    });
  }
  return redactedEventAction(deps, 'message.sent', data, {
    id: `message.sent:${message.msgId}`,
    occurredAt: message.timestamp,
  });
}

/** The record key of `msgId` if `side`'s owner sent it. */
function recordKeyIfSentBy(side: ConversationRef, msgId: string): Key {
  return revisionKey({ from: side.owner, chatType: side.chatType, to: side.convId, msgId });
}

// ---- Group --------------------------------------------------------------------------------------

async function reviseInGroup(
  deps: Deps,
  ref: ConversationRef,
  msgId: string,
  revision: Revision,
): Promise<Message> {
  const caller = ref.owner;
  const groupId = ref.convId;
  const group = await readGroup(deps.db, groupId);
  // One answer for "no such group" and "not a member", so group ids cannot be probed.
  if (!group?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
  const { message: found, seq } = await locateInGroup(deps, group, ref, msgId);
  let base: number | undefined;
  const written = await withRetries(deps, 'revise', async function attemptGroupRecord() {
    const logKey = logEntryKey(groupId, seq);
    const sharedKey = copyKey(sharedHistoryOf(groupId), msgId);
    const pendingKey = pendingRevisionKey(revisionKey(found));
    const [items, holds] = await Promise.all([
      batchGet(deps.db, [revisionKey(found), logKey, sharedKey, pendingKey]),
      listHolds(deps.db),
    ]);
    const record = revisionOf(items.get(keyString(revisionKey(found))));
    refuseConcurrentEdit(revision, base, record);
    const decision = decide(deps, caller, found, record, revision, group.meta.owner);
    if (decision.kind === 'already') {
      const entry = items.get(keyString(pendingKey));
      return {
        revised: decision.revised,
        rev: record?.rev,
        pending: record?.pending ?? false,
        logItem: items.get(keyString(logKey)),
        heldBefore: entry ? pendingOf(entry).heldBefore : undefined,
      };
    }
    base ??= record?.rev ?? 0;
    const logItem = items.get(keyString(logKey));
    const sharedCopy = items.get(keyString(sharedKey));
    // The shared copy as it was, for the members a legal hold covers (their sides keep it when revised).
    const held = group.members.some((member) =>
      isHeld(holds, member, { chatType: 'group', convId: groupId }),
    );
    const heldBefore =
      held && sharedCopy && !showsRevision(sharedCopy, decision.revised)
        ? (sharedCopy as Record<string, unknown> & { msgId: string })
        : undefined;
    const actions: TransactItem[] = [
      putRevisionAction(deps.db.tableName, record, decision.next),
      revisionEventAction(deps, decision.revised, decision.next.rev),
      previousEventRedaction(deps, found, record, decision.revised),
      pendingRevisionAction(deps.db.tableName, {
        record: revisionKey(found),
        rev: decision.next.rev,
        seq,
        since: deps.clock.now(),
        ...(heldBefore ? { heldBefore } : {}),
      }),
    ];
    if (sharedCopy && !showsRevision(sharedCopy, decision.revised)) {
      actions.push(reviseCopyAction(deps.db.tableName, sharedHistoryOf(groupId), decision.revised));
    }
    if (decision.byOwnerRight) actions.push(await ownerRecallAudit(deps, caller, found));
    if ((await commit(deps, actions)) === TRY_AGAIN) return TRY_AGAIN;
    return { revised: decision.revised, rev: decision.next.rev, pending: true, logItem, heldBefore };
  });
  if (!written.pending || written.rev === undefined) return written.revised;
  await carryToMembers(deps, group, seq, written.revised, written.logItem, written.heldBefore);
  await settleRevision(deps.db, revisionKey(written.revised), written.rev);
  return written.revised;
}

/**
 * A group revision whose writer died before it reached every member is finished by the sweep (by every
 * invocation: one Query when there are none): those written before `writtenBefore` (one still being
 * carried is left to its writer), each carried again from its record, which is idempotent. Returns how
 * many it finished.
 */
export async function finishPendingRevisions(deps: Deps, writtenBefore: number): Promise<number> {
  let finished = 0;
  for (const pending of await listPendingRevisions(deps.db)) {
    if (pending.since >= writtenBefore) continue;
    const items = await batchGet(deps.db, [pending.record]);
    const record = revisionOf(items.get(keyString(pending.record)));
    if (!record) {
      // Its sender was erased (their partition, this record with it).
      await dropPendingRevision(deps.db, pending.record, pending.rev);
      continue;
    }
    if (!record.pending || record.rev !== pending.rev) {
      // Settled, or replaced by a later revision (whose writer or the next run carries it).
      await settleRevision(deps.db, pending.record, pending.rev);
      continue;
    }
    const groupId = record.message.to;
    const group = await readGroup(deps.db, groupId);
    if (group) {
      const logKey = logEntryKey(groupId, pending.seq);
      const log = (await batchGet(deps.db, [logKey])).get(keyString(logKey));
      await carryToMembers(deps, group, pending.seq, record.message, log, pending.heldBefore);
    }
    await settleRevision(deps.db, pending.record, pending.rev);
    finished++;
  }
  return finished;
}

/**
 * Carries a group revision everywhere: the fan-out log entry (a member a fan-out still owes gets the
 * revision), the group's latest message (shared mode), the fan-out of its position finished, then every
 * member's side.
 */
async function carryToMembers(
  deps: Deps,
  group: GroupView,
  seq: number,
  revised: Message,
  logItem: Record<string, unknown> | undefined,
  /** The shared copy as it was, for held members (pending-revision entry). */
  heldBefore?: Record<string, unknown> & { msgId: string },
): Promise<void> {
  const groupId = group.meta.groupId;
  if (logItem) {
    await reviseEmbedded(deps.db, logEntryKey(groupId, seq), 'message', revised);
    // A fan-out not finished (the send still running, or crashed): finished now, from the revision, so
    // the send's own fan-out finds every member past this position and writes no copy of the old text.
    if (logItem.expiresAt === undefined) {
      await applyToMembers(deps, groupId, group.members, { seq, message: revised });
    }
  }
  if (group.meta.shared || group.meta.switching) await reviseMetaPreview(deps.db, groupId, revised);
  const refs = group.members.map((owner): ConversationRef => ({ owner, chatType: 'group', convId: groupId }));
  await reviseMemberSides(deps, refs, revised, { holds: await listHolds(deps.db), heldBefore });
}

/**
 * The message and its position: from the caller's copy, or the group's shared one; failing both (the
 * caller deleted theirs), from any member's copy.
 */
async function locateInGroup(
  deps: Deps,
  group: GroupView,
  ref: ConversationRef,
  msgId: string,
): Promise<{ message: Message; seq: number }> {
  const groupId = group.meta.groupId;
  const first = [copyKey(ref, msgId), copyKey(sharedHistoryOf(groupId), msgId)];
  const others = group.members
    .filter((member) => member !== ref.owner)
    .map((member) => copyKey({ owner: member, chatType: 'group', convId: groupId }, msgId));
  for (const keys of [first, others]) {
    const items = await batchGet(deps.db, keys);
    for (const key of keys) {
      const item = items.get(keyString(key));
      const seq = item && positionOfCopy(item);
      if (item && seq !== undefined) return { message: storedMessageOf(item), seq };
    }
  }
  throw new NotFoundError(`No message ${msgId} in this group`);
}

/** A copy item's message (a member's tombstone of a shared copy carries its fields but no body). */
function storedMessageOf(item: Record<string, unknown>): Message {
  const { pk: _pk, sk: _sk, seq: _seq, hidden: _hidden, ...stored } = item;
  return fromStoredMessage(stored as StoredMessage);
}

/** The audit record of a group owner recalling a message by their right (not its sender's, in window). */
async function ownerRecallAudit(deps: Deps, actor: string, message: Message): Promise<TransactItem> {
  const head = await readAuditHead(deps.db);
  return appendAuditAction(deps.db, head, {
    auditId: deps.ids.next(),
    actor,
    action: 'message.recall',
    target: `message:group/${message.to}/${message.msgId}`,
    // Who sent it and when: never its content.
    before: { from: message.from, timestamp: message.timestamp },
    after: { recalled: true },
    at: deps.clock.now(),
  }).action;
}
