import { maxId } from '../core/ids.js';
import type { ChatType, Conversation, ConversationRef, Message } from '../core/model.js';
import type { Key } from './db.js';
import { keys, purgeShardOf } from './keys.js';
import { fromStoredMessage, type StoredMessage, toStoredMessage } from './stored-message.js';
import { changeMarker, epochCheck, type SyncState } from './sync-store.js';
import type { TransactItem } from './transactions.js';
import { UpdateExpression } from './update-expression.js';

/**
 * The conversation aggregate: one owner's side of one conversation, in one item. This module is the only
 * code that knows the item's attributes, builds its index keys and writes its conditions; callers say
 * what happened and get the write (transaction actions) and the state it leaves. See
 * docs/consistency.md, section 2, for what each attribute means and the invariants they keep.
 */
export interface ConversationState {
  ref: ConversationRef;
  /** False when the owner has no item for this conversation yet. */
  exists: boolean;
  /** Bumped by every write that changes what the owner sees: user operations condition on it. */
  rev: number;
  /** The owner's applied position: messages 1..seq (or joinedAt+1..seq in a group) are applied. */
  seq: number;
  /** The msgId at `seq`; undefined before the first message. */
  headMsgId?: string;
  /** The newest message the owner can still see. */
  lastMessage?: Message;
  listed: boolean;
  readThrough?: string;
  clearedThrough?: string;
  /** Copies in (max(readThrough, clearedThrough), head]: all from others (see applyMessage). */
  unread: number;
  /** Sync epoch of the last visible change (a marker exists for it); -1 before any. */
  changeEpoch: number;
  /** A former group member: nothing applies any more. */
  left: boolean;
  /** Filed in the purge index (purgeSk), if at all. */
  purgeSk?: string;
}

/** What every write needs besides the state: the table, the owner's sync head as read, and the time. */
export interface WriteContext {
  tableName: string;
  sync: SyncState;
  /** Wall-clock ms of the serving instance (marker expiry only; never an order). */
  now: number;
  purgeShards: number;
}

/** A conversation write: the transaction actions to commit it, and the state once committed. */
export interface ConversationWrite {
  actions: TransactItem[];
  next: ConversationState;
}

type Item = Record<string, unknown>;

export function conversationKey(ref: ConversationRef): Key {
  return keys.conversation(ref);
}

export function stateOf(ref: ConversationRef, item: Item | undefined): ConversationState {
  if (!item)
    return { ref, exists: false, rev: 0, seq: 0, listed: false, unread: 0, changeEpoch: -1, left: false };
  return {
    ref,
    exists: true,
    rev: Number(item.rev ?? 0),
    seq: Number(item.seq ?? 0),
    headMsgId: item.headMsgId as string | undefined,
    lastMessage: item.lastMessage ? fromStoredMessage(item.lastMessage as StoredMessage) : undefined,
    listed: item.listSk !== undefined,
    readThrough: item.readThrough as string | undefined,
    clearedThrough: item.clearedThrough as string | undefined,
    unread: Number(item.unreadCount ?? 0),
    changeEpoch: item.changeEpoch === undefined ? -1 : Number(item.changeEpoch),
    left: item.left === true,
    purgeSk: item.purgeSk as string | undefined,
  };
}

/** The conversation as the API shows it; undefined when it is not listed. */
export function toConversation(state: ConversationState): Conversation | undefined {
  if (!state.listed || !state.lastMessage) return undefined;
  return {
    convId: state.ref.convId,
    chatType: state.ref.chatType,
    lastMessage: state.lastMessage,
    unreadCount: state.unread,
    updatedAt: state.lastMessage.timestamp,
    readThrough: state.readThrough ?? null,
    clearedThrough: state.clearedThrough ?? null,
  };
}

/** The lowest msgId the owner may see is above this (watermark), if any. */
export function visibleAfter(state: ConversationState): string | undefined {
  return state.clearedThrough;
}

/** Where unread messages start: after the later of the read position and the watermark. */
export function unreadAfter(state: ConversationState): string | undefined {
  const { readThrough, clearedThrough } = state;
  if (readThrough === undefined) return clearedThrough;
  if (clearedThrough === undefined) return readThrough;
  return maxId(readThrough, clearedThrough);
}

/** A group conversation the owner may read and change: they are a member (their item says so). */
export function isMemberView(state: ConversationState): boolean {
  return state.exists && !state.left;
}

// ---- Events -------------------------------------------------------------------------------------

/**
 * Message `seq` was accepted into the conversation; the owner's side moves to it. Applies strictly in
 * order (condition: the owner is still at the position read), so a retry or a second helper never applies it twice and
 * unread counts it once. Never on a former member's item. The owner's own message moves their read
 * position to it (they are reading the conversation), which is why every unread copy is from others.
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
  } else {
    u.require('attribute_not_exists(pk)');
  }
  u.set('owner', ref.owner).set('convId', ref.convId).set('chatType', ref.chatType);
  u.set('seq', seq).set('headMsgId', message.msgId).set('lastMsgId', message.msgId);
  u.set('lastMessage', toStoredMessage(message)).set('updatedAt', message.timestamp);
  u.set('listSk', keys.listSk(message.msgId, ref.chatType, ref.convId));
  u.setIfAbsent('purgeShard', purgeShardKey(ctx, ref)).setIfAbsent(
    'purgeSk',
    keys.purgeSk(message.timestamp, ref),
  );
  if (own) u.set('readThrough', message.msgId).set('unreadCount', 0);
  else u.increment('unreadCount', 1);
  const next: ConversationState = {
    ...state,
    exists: true,
    seq,
    headMsgId: message.msgId,
    lastMessage: message,
    listed: true,
    ...(own ? { readThrough: message.msgId, unread: 0 } : { unread: state.unread + 1 }),
    purgeSk: state.purgeSk ?? keys.purgeSk(message.timestamp, ref),
  };
  return stamped(ctx, state, u, next);
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
    actions: [{ Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) }],
    next: { ...state, seq },
  };
}

/**
 * Everything at or before `through` is gone for the owner (a timestamp delete, a cleared conversation):
 * the watermark rises, unread drops by the copies it hid after the read position, and the conversation
 * is filed for purge now. `latest` is what the owner sees afterwards: unchanged (undefined), another
 * message, or nothing (null: it leaves the list).
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
  const next: ConversationState = {
    ...state,
    clearedThrough: input.through,
    unread,
    purgeSk: keys.purgeSk(0, state.ref),
  };
  return stamped(ctx, state, u, showLatest(u, next, input.latest));
}

/** Copies were deleted by id (in the same transaction): unread drops by those after the read position. */
export function removeCopies(
  ctx: WriteContext,
  state: ConversationState,
  input: { unreadRemoved: number; latest?: Message | null },
): ConversationWrite {
  const u = userOperation(state);
  const unread = input.latest === null ? 0 : Math.max(0, state.unread - input.unreadRemoved);
  u.set('unreadCount', unread);
  return stamped(ctx, state, u, showLatest(u, { ...state, unread }, input.latest));
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

/** Off the owner's list, history kept, and read through the head (a new message lists it again). */
export function unlist(ctx: WriteContext, state: ConversationState): ConversationWrite {
  const u = userOperation(state);
  return stamped(ctx, state, u, unlisted(u, state));
}

/**
 * Everything the owner has (through their head) is gone and the conversation leaves the list. With
 * `leave`, the owner also left the group: no later message applies to them.
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
    next = showLatest(
      u,
      { ...state, clearedThrough: state.headMsgId, purgeSk: keys.purgeSk(0, state.ref) },
      null,
    );
  }
  if (options.leave) {
    u.set('left', true);
    next = { ...next, left: true };
  }
  return stamped(ctx, state, u, next);
}

function unlisted(u: UpdateExpression, state: ConversationState): ConversationState {
  u.remove('listSk').set('unreadCount', 0);
  const next: ConversationState = { ...state, listed: false, unread: 0 };
  if (state.headMsgId !== undefined) {
    u.set('readThrough', state.headMsgId);
    next.readThrough = state.headMsgId;
  }
  return next;
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
  u.remove('left', 'listSk', 'lastMessage', 'lastMsgId');
  if (input.headMsgId === undefined) u.remove('headMsgId', 'clearedThrough', 'readThrough');
  else
    u.set('headMsgId', input.headMsgId)
      .set('clearedThrough', input.headMsgId)
      .set('readThrough', input.headMsgId);
  if (state.exists) fileDueNow(ctx, state, u);
  const next: ConversationState = {
    ref,
    exists: true,
    rev: state.rev,
    seq: input.seq,
    headMsgId: input.headMsgId,
    listed: false,
    readThrough: input.headMsgId,
    clearedThrough: input.headMsgId,
    unread: 0,
    changeEpoch: state.changeEpoch,
    left: false,
    purgeSk: state.exists ? keys.purgeSk(0, ref) : state.purgeSk,
  };
  return stamped(ctx, state, u, next);
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
  const unlisting = input.emptied && (state.listed || state.lastMessage !== undefined);
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

function showLatest(u: UpdateExpression, next: ConversationState, latest: Message | null | undefined) {
  if (latest === undefined) return next;
  if (latest === null) {
    u.remove('lastMessage', 'lastMsgId', 'listSk');
    return { ...next, lastMessage: undefined, listed: false };
  }
  u.set('lastMessage', toStoredMessage(latest))
    .set('lastMsgId', latest.msgId)
    .set('updatedAt', latest.timestamp);
  return { ...next, lastMessage: latest };
}

function fileDueNow(ctx: WriteContext, state: ConversationState, u: UpdateExpression): void {
  u.set('purgeShard', purgeShardKey(ctx, state.ref)).set('purgeSk', keys.purgeSk(0, state.ref));
}

function purgeShardKey(ctx: WriteContext, ref: ConversationRef): string {
  return keys.purgeShard(purgeShardOf(ref.owner, ctx.purgeShards));
}

/**
 * Every visible change: bumps `rev`, stamps the sync epoch the writer read, checks in the same
 * transaction that the epoch has not moved, and marks the conversation changed in that epoch (once).
 */
function stamped(
  ctx: WriteContext,
  state: ConversationState,
  u: UpdateExpression,
  next: ConversationState,
): ConversationWrite {
  u.increment('rev', 1).set('changeEpoch', ctx.sync.epoch);
  const actions: TransactItem[] = [
    epochCheck(ctx.tableName, ctx.sync),
    { Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) },
  ];
  if (state.changeEpoch < ctx.sync.epoch) {
    actions.push(changeMarker(ctx.tableName, ctx.sync, state.ref, ctx.now));
  }
  return { actions, next: { ...next, rev: state.rev + 1, changeEpoch: ctx.sync.epoch } };
}

/** The ref of a conversation item read from the table. */
export function refOfItem(item: Item): ConversationRef {
  return { owner: item.owner as string, chatType: item.chatType as ChatType, convId: item.convId as string };
}
