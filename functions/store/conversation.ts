import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { lowestIdAt, nextId, timeOfId } from '../core/ids.js';
import { previewOf } from '../core/message-preview.js';
import type { ConversationRef, Message } from '../core/model.js';
import {
  type ChangeOptions,
  change,
  oldestOfPurgeKey,
  purgeKeyOf,
  type StoredFields,
} from './conversation-item.js';
import { type StampOptions, stamped } from './conversation-stamp.js';
import {
  type ConversationState,
  type ConversationWrite,
  conversationKey,
  isListed,
  stateOf,
  type WriteContext,
} from './conversation-state.js';
import { type Db, send } from './db.js';
import { heldDeleteAction, heldVersionAction } from './held-delete-store.js';
import { keys } from './keys.js';
import { deletedGapAction, recalledGapAction, skippedGapAction } from './unread-gaps.js';
import { UpdateExpression } from './update-expression.js';

export * from './conversation-state.js';

/**
 * The conversation aggregate's events: the only code that writes a conversation item's attributes,
 * builds its index keys and states its conditions. Callers say what happened and get the write (the
 * transaction's actions) and the state it leaves; every visible change is stamped for sync
 * (conversation-stamp.ts). docs/consistency.md, section 2, has the invariants.
 */

/**
 * Message `seq` was accepted into the conversation; the owner's side moves to it. Applies strictly in
 * order (condition: the owner is still at the position read), so a retry or a second helper never
 * applies it twice and unread counts it once. Never on a former member's item. The owner's own message
 * moves their read position to it (they are reading the conversation), which is why every unread copy
 * is from others. A marked conversation also conditions on `rev` (its mark entries copy the new state),
 * an unmarked one on still having no marks.
 */
export function applyMessage(
  ctx: WriteContext,
  state: ConversationState,
  input: { message: Message; seq: number; own: boolean },
): ConversationWrite {
  const { message, seq, own } = input;
  const { ref } = state;
  const u = new UpdateExpression();
  if (state.exists) {
    u.require(`${u.name('seq')} = ${u.value(state.seq)}`);
    u.require(`attribute_not_exists(${u.name('left')})`);
    // The list key's attribute depends on the mode: a side moved to shared mode since the read (a switch
    // running, switch.ts) must be read again.
    if (state.shared) u.require(`${u.name('shared')} = ${u.value(true)}`);
    else u.require(`attribute_not_exists(${u.name('shared')})`);
    // Its mark entries copy the new state: marks added or removed since the read must fail this write.
    if (state.marks.length > 0) u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
    else u.require(`attribute_not_exists(${u.name('marks')})`);
  } else {
    u.require('attribute_not_exists(pk)');
  }
  const next = change(
    u,
    state,
    {
      seq,
      headMsgId: message.msgId,
      lastMessage: previewOf(message),
      listSk: keys.listSk(message.msgId, ref.chatType, ref.convId),
      ...(own ? { readThrough: message.msgId, unread: 0 } : {}),
    },
    {
      ...how(ctx, { create: !state.exists }),
      add: own ? {} : { unread: 1 },
      fileIfUnfiled: purgeKeyOf(state, message.timestamp),
    },
  );
  return stamped(ctx, state, u, next);
}

/**
 * The owner sent message `seq` into a group in shared mode: its one copy is in the group's shared
 * history, and their side moves to it and reads through it (their own message), in the send's
 * transaction. So every position after a member's item `seq` holds another member's message, which
 * is what lets member-view.ts derive their side. A user operation (conditioned on `rev`): the send
 * reads again when another device changed the side meanwhile.
 */
export function applyOwnShared(
  ctx: WriteContext,
  state: ConversationState,
  input: { message: Message; seq: number },
): ConversationWrite {
  const { message, seq } = input;
  return userChange(ctx, state, {
    seq,
    headMsgId: message.msgId,
    lastMessage: previewOf(message),
    listSk: keys.listSk(message.msgId, state.ref.chatType, state.ref.convId),
    readThrough: message.msgId,
    unread: 0,
  });
}

/**
 * Position `seq` is passed over without a message: its fan-out log entry expired before this member got
 * it (only entries written before entries waited for their fan-out). Keeps the member's positions
 * contiguous, and records the gap for unread counts.
 */
export function skipPosition(ctx: WriteContext, state: ConversationState, seq: number): ConversationWrite {
  const u = new UpdateExpression();
  u.require(`${u.name('seq')} = ${u.value(seq - 1)}`).require(`attribute_not_exists(${u.name('left')})`);
  const next = change(u, state, { seq }, how(ctx));
  return {
    actions: [
      { Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) },
      skippedGapAction(ctx.tableName, state.ref, {
        at: nextId(state.headMsgId ?? lowestIdAt(0)),
        count: 1,
        unique: `s${seq}`,
      }),
    ],
    next,
  };
}

/**
 * Everything at or before `through` is gone for the owner (a timestamp delete): the watermark rises,
 * unread drops by the copies it hid after the read position, and the conversation is filed for purge
 * now. `latest` is what the owner sees afterwards: unchanged (undefined), another message, or nothing
 * (null: it leaves the list).
 */
export function hide(
  ctx: WriteContext,
  state: ConversationState,
  input: { through: string; unreadHidden: number; latest?: Message | null },
): ConversationWrite {
  // Nothing visible left means nothing unread either.
  const unread = input.latest === null ? 0 : Math.max(0, state.unread - input.unreadHidden);
  return userChange(ctx, state, {
    clearedThrough: input.through,
    unread,
    ...dueNow(state),
    ...showing(input.latest),
  });
}

/**
 * Copies were deleted by id (in the same transaction): unread drops by those after the read position
 * (`unreadIds`), whose positions are recorded as gaps so later counts stay arithmetic (unread-gaps.ts).
 */
export function removeCopies(
  ctx: WriteContext,
  state: ConversationState,
  input: {
    msgIds: readonly string[];
    unreadIds: readonly string[];
    latest?: Message | null;
    /** Own copies kept as tombstones under a legal hold (the caller writes them): recorded, due now. */
    heldIds?: readonly string[];
  },
): ConversationWrite {
  const unread = input.latest === null ? 0 : Math.max(0, state.unread - input.unreadIds.length);
  const held = input.heldIds ?? [];
  // A shared-mode side's deletes write tombstones (member-view.ts), which carry the message: filed for
  // purge under the oldest, so the sweep meets them when retention or a watermark passes them.
  const oldest = [...input.msgIds].sort()[0];
  const fileIfUnfiled =
    state.shared && oldest !== undefined && held.length === 0
      ? purgeKeyOf(state, timeOfId(oldest))
      : undefined;
  // Copies kept for a hold are due at once: the first sweep after the release meets the conversation
  // there and deletes them (a sweep leaves a held conversation filed as it is).
  const written = userChange(
    ctx,
    state,
    { unread, ...showing(input.latest), ...(held.length > 0 ? dueNow(state) : {}) },
    { changedIds: { deleted: input.msgIds } },
    { fileIfUnfiled },
  );
  if (input.unreadIds.length > 0) {
    written.actions.push(deletedGapAction(ctx.tableName, state.ref, input.unreadIds, `r${written.next.rev}`));
  }
  if (held.length > 0)
    written.actions.push(heldDeleteAction(ctx.tableName, state.ref, held, written.next.rev));
  return written;
}

/**
 * Message `revised` (a recall's tombstone or an edit's new version) replaced what the owner sees of it,
 * whose copy the caller revises in the same transaction (a shared copy: once, before). Unread drops by
 * one when the recall took an unread message (`unreadRecalled`): its position is recorded as a gap, once
 * (the record's Put fails the transaction if a replay already wrote it), so counts from positions agree.
 * The latest message shows the revision when it is the latest. Other devices learn the id.
 */
export function reviseMessage(
  ctx: WriteContext,
  state: ConversationState,
  input: {
    revised: Message;
    unreadRecalled: boolean;
    /**
     * A legal hold covers the side: what the owner had is kept (`heldVersion`, their copy as read; a
     * shared copy's was kept with the revision record), and the side is filed due now, so the first
     * sweep after the release purges it.
     */
    held?: boolean;
    heldVersion?: Record<string, unknown> & { msgId: string };
  },
): ConversationWrite {
  const { revised, heldVersion } = input;
  const patch: Partial<StoredFields> = input.held ? dueNow(state) : {};
  if (input.unreadRecalled) patch.unread = Math.max(0, state.unread - 1);
  if (state.lastMessage?.msgId === revised.msgId) patch.lastMessage = previewOf(revised);
  const written = userChange(ctx, state, patch, {
    changedIds: revised.recalled ? { recalled: [revised.msgId] } : { edited: [revised.msgId] },
  });
  if (input.unreadRecalled) {
    written.actions.push(recalledGapAction(ctx.tableName, state.ref, revised.msgId));
  }
  if (heldVersion) {
    written.actions.push(heldVersionAction(ctx.tableName, state.ref, heldVersion, written.next.rev));
  }
  return written;
}

/** The read position moves forward to `through`; `unread` copies remain after it. */
export function markRead(
  ctx: WriteContext,
  state: ConversationState,
  input: { through: string; unread: number },
): ConversationWrite {
  return userChange(ctx, state, { readThrough: input.through, unread: input.unread });
}

/**
 * The owner deleted the conversation, keeping its history: off the list, read through the head (its
 * pin and marks go with the listing: conversation-stamp.ts).
 */
export function unlist(ctx: WriteContext, state: ConversationState): ConversationWrite {
  return userChange(ctx, state, unlisted(state));
}

/**
 * The owner deleted the conversation with its messages: everything they have (through their head) is
 * gone and it leaves the list. With `leave`, the owner also left the group: no later message applies
 * to them.
 */
export function clear(
  ctx: WriteContext,
  state: ConversationState,
  options: { leave?: boolean } = {},
): ConversationWrite {
  const patch: Partial<StoredFields> =
    state.headMsgId === undefined
      ? unlisted(state)
      : { clearedThrough: state.headMsgId, unread: 0, ...dueNow(state), ...showing(null) };
  return userChange(ctx, state, options.leave ? { ...patch, left: true } : patch);
}

/**
 * A member joins at the group's position `seq` (head `headMsgId`): they see what is sent after it. A
 * rejoining member's old copies are at or below the new watermark and get purged.
 */
export function join(
  ctx: WriteContext,
  state: ConversationState,
  input: { seq: number; headMsgId?: string; shared?: boolean },
): ConversationWrite {
  const u = new UpdateExpression();
  if (state.exists) u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
  else u.require('attribute_not_exists(pk)');
  const next = change(
    u,
    state,
    {
      seq: input.seq,
      headMsgId: input.headMsgId,
      readThrough: input.headMsgId,
      clearedThrough: input.headMsgId,
      unread: 0,
      left: false,
      ...showing(null),
      pinnedAt: undefined,
      marks: [],
      shared: input.shared === true,
      ...(state.exists ? dueNow(state) : {}),
    },
    how(ctx, { create: !state.exists }),
  );
  return stamped(ctx, state, u, next);
}

/**
 * The group switches to shared mode (switch.ts): the member's side keeps what it shows, but its list key
 * leaves the list index (list pages merge large groups in) and its marks lose their entries.
 */
export function moveToShared(ctx: WriteContext, state: ConversationState): ConversationWrite {
  return userChange(ctx, state, { shared: true });
}

/** Pinned at `pinnedAt` (the caller checked it was not pinned: a pin keeps its first time). */
export function pin(ctx: WriteContext, state: ConversationState, pinnedAt: number): ConversationWrite {
  return userChange(ctx, state, { pinnedAt });
}

export function unpin(ctx: WriteContext, state: ConversationState): ConversationWrite {
  return userChange(ctx, state, { pinnedAt: undefined });
}

/** The owner's marks become `marks` (one added or removed by the caller). */
export function setMarks(
  ctx: WriteContext,
  state: ConversationState,
  marks: readonly number[],
): ConversationWrite {
  return userChange(ctx, state, { marks: [...new Set(marks)].sort((a, b) => a - b) });
}

/**
 * The owner gave the conversation its own retention (`days`), or removed it (undefined); `floor` is what
 * stays hidden (ms: what was expired at the change), or undefined for none. A user operation, stamped.
 */
export function setOwnRetention(
  ctx: WriteContext,
  state: ConversationState,
  input: { days?: number; floor?: number },
): ConversationWrite {
  // Filed again under the new policy (a due-now filing stays due now): the sweep meets it when its
  // oldest copy expires by the policy in force.
  const filed = state.purgeSk;
  const refiled =
    filed === undefined || keys.dueAtOfPurgeSk(filed) === 0
      ? {}
      : {
          purgeSk: purgeKeyOf({ ref: state.ref, retentionDays: input.days }, oldestOfPurgeKey(state, filed)),
        };
  return userChange(ctx, state, { retentionDays: input.days, retentionFloor: input.floor, ...refiled });
}

/**
 * After a purge: files the conversation under its oldest remaining copy (or out of the purge index when
 * none is left). When retention purged copies the owner could still see, what they see changes too:
 * `unread` is recounted and, with no copy left, the conversation leaves the list. Conditioned on `rev`,
 * so a send or delete in between makes the caller read again. Bookkeeping alone is a plain update (no
 * stamp: nothing visible changed); returns undefined when nothing changes at all.
 */
export function settlePurge(
  ctx: WriteContext,
  state: ConversationState,
  input: { oldestRemaining?: number; keepFiling?: true; unread?: number; emptied: boolean },
): ConversationWrite | undefined {
  // `keepFiling`: it stays filed under its key as it is (a held conversation: nothing was deleted).
  const purgeSk = input.keepFiling
    ? state.purgeSk
    : input.oldestRemaining === undefined
      ? undefined
      : purgeKeyOf(state, input.oldestRemaining);
  const unlisting = input.emptied && (isListed(state) || state.lastMessage !== undefined);
  const recount = input.unread !== undefined && input.unread !== state.unread;
  if (!unlisting && !recount) {
    if (purgeSk === state.purgeSk) return undefined;
    // Only the purge filing changes: no stamp, no rev bump (nothing the owner sees moved). So it must
    // not store a derived position either: a user operation read before it would still commit on `rev`.
    const u = userOperation(state);
    const next = change(u, { ...state, advanced: false }, { purgeSk }, how(ctx));
    return { actions: [{ Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) }], next };
  }
  const unread = unlisting ? 0 : (input.unread ?? state.unread);
  return userChange(ctx, state, { purgeSk, unread, ...(unlisting ? showing(null) : {}) });
}

/**
 * A purge is about to take copies the owner counts as unread (retention past the read position): the
 * conversation is filed as due now first, so that if the purger dies before its settle, the next sweep
 * meets it whatever the policies say by then (it always reads what is due now) and settles it: unread
 * recounted, filed under its oldest copy. Bookkeeping only (no stamp, no rev).
 */
export function fileForSettle(ctx: WriteContext, state: ConversationState): ConversationWrite {
  const u = new UpdateExpression();
  u.require('attribute_exists(pk)');
  // Not conditioned on `rev`: it must not store a derived position another write may have moved past.
  const next = change(u, { ...state, advanced: false }, dueNow(state), how(ctx));
  return { actions: [{ Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) }], next };
}

// ---- Helpers --------------------------------------------------------------------------------------

/** A user operation decided on the state it read: it applies only if nothing changed since. */
function userOperation(state: ConversationState): UpdateExpression {
  const u = new UpdateExpression();
  u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
  return u;
}

/** A user operation's change: conditioned on `rev` as read, and stamped. */
function userChange(
  ctx: WriteContext,
  state: ConversationState,
  patch: Partial<StoredFields>,
  options: StampOptions = {},
  filing: { fileIfUnfiled?: string } = {},
): ConversationWrite {
  const u = userOperation(state);
  return stamped(ctx, state, u, change(u, state, patch, { ...how(ctx), ...filing }), options);
}

function how(ctx: WriteContext, options: { create?: boolean } = {}): ChangeOptions {
  return { purgeShards: ctx.purgeShards, ...options };
}

/** Off the list, read through the head. */
function unlisted(state: ConversationState): Partial<StoredFields> {
  return {
    listSk: undefined,
    unread: 0,
    ...(state.headMsgId === undefined ? {} : { readThrough: state.headMsgId }),
  };
}

/**
 * What the owner sees as latest afterwards: unchanged (undefined), another message (its bounded
 * preview, whichever way it became the latest), or nothing (null: it leaves the list).
 */
function showing(latest: Message | null | undefined): Partial<StoredFields> {
  if (latest === undefined) return {};
  if (latest === null) return { lastMessage: undefined, listSk: undefined };
  return { lastMessage: previewOf(latest) };
}

/** Filed for purge now: a delete's hidden copies are due at once. */
function dueNow(state: ConversationState): Partial<StoredFields> {
  return { purgeSk: keys.purgeSk(0, state.ref) };
}

/** One owner's side as its item says (strongly consistent, one GetItem): what a history page reads. */
export async function readConversation(db: Db, ref: ConversationRef): Promise<ConversationState> {
  const { Item } = await send<{ Item?: Record<string, unknown> }>(
    db,
    new GetCommand({ TableName: db.tableName, Key: conversationKey(ref), ConsistentRead: true }),
  );
  return stateOf(ref, Item);
}
