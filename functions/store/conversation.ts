import { lowestIdAt, nextId } from '../core/ids.js';
import { previewOf } from '../core/message-preview.js';
import type { Message } from '../core/model.js';
import { stamped } from './conversation-stamp.js';
import {
  type ConversationState,
  type ConversationWrite,
  conversationKey,
  isListed,
  type WriteContext,
} from './conversation-state.js';
import { keys, purgeShardOf } from './keys.js';
import { toStoredMessage } from './stored-message.js';
import { deletedGapAction, skippedGapAction } from './unread-gaps.js';
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
    // Its mark entries copy the new state: marks added or removed since the read must fail this write.
    if (state.marks.length > 0) u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
    else u.require(`attribute_not_exists(${u.name('marks')})`);
  } else {
    u.require('attribute_not_exists(pk)');
  }
  const listSk = keys.listSk(message.msgId, ref.chatType, ref.convId);
  u.set('owner', ref.owner).set('convId', ref.convId).set('chatType', ref.chatType);
  u.set('seq', seq).set('headMsgId', message.msgId).set('lastMsgId', message.msgId);
  const preview = previewOf(message);
  u.set('lastMessage', toStoredMessage(preview)).set('updatedAt', message.timestamp).set('listSk', listSk);
  u.setIfAbsent('purgeShard', purgeShardKey(ctx, state)).setIfAbsent(
    'purgeSk',
    keys.purgeSk(message.timestamp, ref),
  );
  if (own) u.set('readThrough', message.msgId).set('unreadCount', 0);
  else u.increment('unreadCount', 1);
  return stamped(ctx, state, u, {
    ...state,
    seq,
    headMsgId: message.msgId,
    lastMessage: preview,
    listSk,
    ...(own ? { readThrough: message.msgId, unread: 0 } : { unread: state.unread + 1 }),
    purgeSk: state.purgeSk ?? keys.purgeSk(message.timestamp, ref),
  });
}

/**
 * Position `seq` is passed over without a message: its fan-out log entry expired before this member got
 * it (a fan-out interrupted and not finished for days). Keeps the member's positions contiguous.
 */
export function skipPosition(ctx: WriteContext, state: ConversationState, seq: number): ConversationWrite {
  const u = new UpdateExpression();
  u.require(`${u.name('seq')} = ${u.value(seq - 1)}`).require(`attribute_not_exists(${u.name('left')})`);
  u.set('seq', seq);
  return {
    actions: [
      { Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) },
      skippedGapAction(ctx.tableName, state.ref, {
        at: nextId(state.headMsgId ?? lowestIdAt(0)),
        count: 1,
        unique: `s${seq}`,
      }),
    ],
    next: { ...state, seq },
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
  const u = userOperation(state);
  u.set('clearedThrough', input.through);
  // Nothing visible left means nothing unread either.
  const unread = input.latest === null ? 0 : Math.max(0, state.unread - input.unreadHidden);
  u.set('unreadCount', unread);
  fileDueNow(ctx, state, u);
  const next = { ...state, clearedThrough: input.through, unread, purgeSk: keys.purgeSk(0, state.ref) };
  return stamped(ctx, state, u, showLatest(u, next, input.latest));
}

/**
 * Copies were deleted by id (in the same transaction): unread drops by those after the read position
 * (`unreadIds`), whose positions are recorded as gaps so later counts stay arithmetic (unread-gaps.ts).
 */
export function removeCopies(
  ctx: WriteContext,
  state: ConversationState,
  input: { msgIds: readonly string[]; unreadIds: readonly string[]; latest?: Message | null },
): ConversationWrite {
  const u = userOperation(state);
  const unread = input.latest === null ? 0 : Math.max(0, state.unread - input.unreadIds.length);
  u.set('unreadCount', unread);
  const written = stamped(ctx, state, u, showLatest(u, { ...state, unread }, input.latest), {
    deletedIds: input.msgIds,
  });
  if (input.unreadIds.length > 0) {
    written.actions.push(deletedGapAction(ctx.tableName, state.ref, input.unreadIds, `r${written.next.rev}`));
  }
  return written;
}

/** The read position moves forward to `through`; `unread` copies remain after it. */
export function markRead(
  ctx: WriteContext,
  state: ConversationState,
  input: { through: string; unread: number },
): ConversationWrite {
  const u = userOperation(state);
  u.set('readThrough', input.through).set('unreadCount', input.unread);
  return stamped(ctx, state, u, { ...state, readThrough: input.through, unread: input.unread });
}

/**
 * The owner deleted the conversation, keeping its history: off the list, read through the head, and its
 * pin and marks dropped (a new message lists it again, unpinned and unmarked).
 */
export function unlist(ctx: WriteContext, state: ConversationState): ConversationWrite {
  const u = userOperation(state);
  const next = withoutPinAndMarks(u, unlisted(u, state));
  return stamped(ctx, state, u, next, pinChange(state));
}

/**
 * The owner deleted the conversation with its messages: everything they have (through their head) is
 * gone, it leaves the list, its pin and marks are dropped. With `leave`, the owner also left the group:
 * no later message applies to them.
 */
export function clear(
  ctx: WriteContext,
  state: ConversationState,
  options: { leave?: boolean } = {},
): ConversationWrite {
  const u = userOperation(state);
  let next: ConversationState;
  if (state.headMsgId === undefined) {
    next = unlisted(u, state);
  } else {
    u.set('clearedThrough', state.headMsgId).set('unreadCount', 0);
    fileDueNow(ctx, state, u);
    const cleared = {
      ...state,
      clearedThrough: state.headMsgId,
      unread: 0,
      purgeSk: keys.purgeSk(0, state.ref),
    };
    next = showLatest(u, cleared, null);
  }
  next = withoutPinAndMarks(u, next);
  if (options.leave) {
    u.set('left', true);
    next = { ...next, left: true };
  }
  return stamped(ctx, state, u, next, pinChange(state));
}

/**
 * A member joins at the group's position `seq` (head `headMsgId`): they see what is sent after it. A
 * rejoining member's old copies are at or below the new watermark and get purged.
 */
export function join(
  ctx: WriteContext,
  state: ConversationState,
  input: { seq: number; headMsgId?: string },
): ConversationWrite {
  const { ref } = state;
  const u = new UpdateExpression();
  if (state.exists) u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
  else u.require('attribute_not_exists(pk)');
  u.set('owner', ref.owner).set('convId', ref.convId).set('chatType', ref.chatType);
  u.set('seq', input.seq).set('unreadCount', 0);
  u.remove('left', 'listSk', 'lastMessage', 'lastMsgId', 'pinnedAt', 'pinSk', 'marks');
  if (input.headMsgId === undefined) u.remove('headMsgId', 'clearedThrough', 'readThrough');
  else
    u.set('headMsgId', input.headMsgId)
      .set('clearedThrough', input.headMsgId)
      .set('readThrough', input.headMsgId);
  if (state.exists) fileDueNow(ctx, state, u);
  return stamped(
    ctx,
    state,
    u,
    {
      ref,
      exists: true,
      rev: state.rev,
      seq: input.seq,
      headMsgId: input.headMsgId,
      readThrough: input.headMsgId,
      clearedThrough: input.headMsgId,
      unread: 0,
      marks: [],
      changeEpoch: state.changeEpoch,
      left: false,
      purgeSk: state.exists ? keys.purgeSk(0, ref) : state.purgeSk,
    },
    pinChange(state),
  );
}

/** Pinned at `pinnedAt` (the caller checked it was not pinned: a pin keeps its first time). */
export function pin(ctx: WriteContext, state: ConversationState, pinnedAt: number): ConversationWrite {
  const u = userOperation(state);
  u.set('pinnedAt', pinnedAt).set('pinSk', keys.pinSk(pinnedAt, state.ref.chatType, state.ref.convId));
  return stamped(ctx, state, u, { ...state, pinnedAt }, { pinDelta: 1 });
}

export function unpin(ctx: WriteContext, state: ConversationState): ConversationWrite {
  const u = userOperation(state);
  u.remove('pinnedAt', 'pinSk');
  return stamped(ctx, state, u, { ...state, pinnedAt: undefined }, { pinDelta: -1 });
}

/** The owner's marks become `marks` (one added or removed by the caller). */
export function setMarks(
  ctx: WriteContext,
  state: ConversationState,
  marks: readonly number[],
): ConversationWrite {
  const u = userOperation(state);
  const sorted = [...new Set(marks)].sort((a, b) => a - b);
  if (sorted.length) u.set('marks', sorted);
  else u.remove('marks');
  return stamped(ctx, state, u, { ...state, marks: sorted });
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
  input: { oldestRemaining?: number; unread?: number; emptied: boolean },
): ConversationWrite | undefined {
  const { ref } = state;
  const u = userOperation(state);
  const purgeSk = input.oldestRemaining === undefined ? undefined : keys.purgeSk(input.oldestRemaining, ref);
  if (purgeSk === undefined) u.remove('purgeShard', 'purgeSk');
  else u.set('purgeSk', purgeSk);
  let next: ConversationState = { ...state, purgeSk };
  const unlisting = input.emptied && (isListed(state) || state.lastMessage !== undefined);
  const recount = input.unread !== undefined && input.unread !== state.unread;
  if (!unlisting && !recount) {
    if (purgeSk === state.purgeSk) return undefined;
    // Only the purge filing changes: no stamp, no rev bump (nothing the owner sees moved).
    const bare = new UpdateExpression();
    bare.require(`${bare.name('rev')} = ${bare.value(state.rev)}`);
    if (purgeSk === undefined) bare.remove('purgeShard', 'purgeSk');
    else bare.set('purgeSk', purgeSk);
    return { actions: [{ Update: bare.toUpdate(ctx.tableName, conversationKey(ref)) }], next };
  }
  const unread = unlisting ? 0 : (input.unread ?? state.unread);
  if (unread !== state.unread) u.set('unreadCount', unread);
  next = { ...next, unread };
  if (unlisting) next = showLatest(u, next, null);
  return stamped(ctx, state, u, next);
}

// ---- Helpers --------------------------------------------------------------------------------------

/** A user operation decided on the state it read: it applies only if nothing changed since. */
function userOperation(state: ConversationState): UpdateExpression {
  const u = new UpdateExpression();
  u.require(`${u.name('rev')} = ${u.value(state.rev)}`);
  return u;
}

function unlisted(u: UpdateExpression, state: ConversationState): ConversationState {
  u.remove('listSk').set('unreadCount', 0);
  const next: ConversationState = { ...state, listSk: undefined, unread: 0 };
  if (state.headMsgId !== undefined) {
    u.set('readThrough', state.headMsgId);
    next.readThrough = state.headMsgId;
  }
  return next;
}

function withoutPinAndMarks(u: UpdateExpression, next: ConversationState): ConversationState {
  u.remove('pinnedAt', 'pinSk', 'marks');
  return { ...next, pinnedAt: undefined, marks: [] };
}

/** Dropping a pin gives the owner's pin count back. */
function pinChange(state: ConversationState): { pinDelta?: -1 } {
  return state.pinnedAt === undefined ? {} : { pinDelta: -1 };
}

function showLatest(u: UpdateExpression, next: ConversationState, latest: Message | null | undefined) {
  if (latest === undefined) return next;
  if (latest === null) {
    u.remove('lastMessage', 'lastMsgId', 'listSk');
    return { ...next, lastMessage: undefined, listSk: undefined };
  }
  // The list shows a bounded preview, whichever way a message became the latest.
  const preview = previewOf(latest);
  u.set('lastMessage', toStoredMessage(preview))
    .set('lastMsgId', latest.msgId)
    .set('updatedAt', latest.timestamp);
  return { ...next, lastMessage: preview };
}

function fileDueNow(ctx: WriteContext, state: ConversationState, u: UpdateExpression): void {
  u.set('purgeShard', purgeShardKey(ctx, state)).set('purgeSk', keys.purgeSk(0, state.ref));
}

function purgeShardKey(ctx: WriteContext, state: ConversationState): string {
  return keys.purgeShard(purgeShardOf(state.ref.owner, ctx.purgeShards));
}
