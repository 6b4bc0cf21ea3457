import {
  type ConversationState,
  conversationKey,
  isListed,
  type WriteContext,
} from './conversation-state.js';
import { keys } from './keys.js';
import { toStoredMessage } from './stored-message.js';
import { changeMarker, deletedIdsRecord, epochCheck, pinCountUpdate } from './sync-store.js';
import type { TransactItem } from './transactions.js';
import type { UpdateExpression } from './update-expression.js';

/**
 * What every visible change of a conversation item carries besides the item's own update, all in the
 * same transaction (docs/consistency.md, section 3):
 * - the sync head, checked to still be at the epoch the writer read (or, for a pin or unpin, updated:
 *   its pin count moves, never past the cap);
 * - the change marker of that epoch (once per epoch), and for a delete by ids a record of those ids;
 * - the entries of the owner's marks: a copy of the conversation in `U#{owner}#MARK#{n}` at its list
 *   position, so the list of a mark is one Query. They follow the conversation: moved when it moves,
 *   rewritten when it changes, removed when it leaves the list or loses the mark.
 * A conversation that leaves the list loses its pin and marks here, whichever write took it off.
 */
export interface StampOptions {
  /** The owner pinned (+1) or unpinned (-1) it. */
  pinDelta?: 1 | -1;
  /** Message ids deleted by this write, for other devices. */
  deletedIds?: readonly string[];
}

export function stamped(
  ctx: WriteContext,
  state: ConversationState,
  u: UpdateExpression,
  next: ConversationState,
  options: StampOptions = {},
): { actions: TransactItem[]; next: ConversationState } {
  // Whatever takes a conversation off the list (a delete of all the owner sees, retention) drops its
  // pin and marks, and gives the pin back: a new message lists it again, unpinned and unmarked.
  if (isListed(state) && !isListed(next) && (next.pinnedAt !== undefined || next.marks.length > 0)) {
    u.remove('pinnedAt', 'pinSk', 'marks');
    if (next.pinnedAt !== undefined) options = { ...options, pinDelta: -1 };
    next = { ...next, pinnedAt: undefined, marks: [] };
  }
  u.increment('rev', 1).set('changeEpoch', ctx.sync.epoch);
  const marking = needsMarker(ctx, state);
  if (marking) u.set('markedAt', ctx.now);
  const stampedNext: ConversationState = {
    ...next,
    exists: true,
    rev: state.rev + 1,
    changeEpoch: ctx.sync.epoch,
    markedAt: marking ? ctx.now : state.markedAt,
  };
  const actions: TransactItem[] = [
    options.pinDelta
      ? pinCountUpdate(ctx.tableName, ctx.sync, options.pinDelta)
      : epochCheck(ctx.tableName, ctx.sync),
    { Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) },
  ];
  if (marking) actions.push(changeMarker(ctx.tableName, ctx.sync, state.ref, ctx.now));
  if (options.deletedIds?.length) {
    actions.push(
      deletedIdsRecord(
        ctx.tableName,
        ctx.sync,
        state.ref,
        { rev: stampedNext.rev, now: ctx.now },
        options.deletedIds,
      ),
    );
  }
  actions.push(...markEntryActions(ctx, state, stampedNext));
  return { actions, next: stampedNext };
}

/**
 * The epoch's change marker is written at the conversation's first change in the epoch, and again at a
 * change once it is half a day old: an epoch lasts until the owner's next sync (days, maybe), and a
 * marker must outlive every token that names its epoch. Rewritten at most twice a day, each marker
 * expires at least 7.5 days after the last change it stands for, later than any token issued before
 * that change is honoured (SYNC_TOKEN_DAYS = 7), with hours to spare for clocks an hour off.
 */
export const MARKER_RENEW_MS = 12 * 60 * 60 * 1000;

function needsMarker(ctx: WriteContext, state: ConversationState): boolean {
  if (state.changeEpoch < ctx.sync.epoch) return true;
  return state.markedAt === undefined || ctx.now - state.markedAt >= MARKER_RENEW_MS;
}

/** Moves, rewrites or removes the conversation's entries in the lists of its marks. */
function markEntryActions(
  ctx: WriteContext,
  before: ConversationState,
  after: ConversationState,
): TransactItem[] {
  const { owner } = before.ref;
  const actions: TransactItem[] = [];
  const wasIn = isListed(before) ? before.marks : [];
  const isIn = isListed(after) ? after.marks : [];
  for (const mark of wasIn) {
    if (!isIn.includes(mark) || before.listSk !== after.listSk) {
      actions.push({
        Delete: { TableName: ctx.tableName, Key: { pk: keys.markPk(owner, mark), sk: before.listSk } },
      });
    }
  }
  for (const mark of isIn) {
    actions.push({
      Put: {
        TableName: ctx.tableName,
        Item: { ...entryOf(after), pk: keys.markPk(owner, mark), sk: after.listSk },
      },
    });
  }
  return actions;
}

/** A mark entry: the conversation as its list shows it (stateOf reads it back like the item). */
function entryOf(state: ConversationState): Record<string, unknown> {
  return {
    owner: state.ref.owner,
    chatType: state.ref.chatType,
    convId: state.ref.convId,
    listSk: state.listSk,
    headMsgId: state.headMsgId,
    ...(state.lastMessage
      ? { lastMessage: toStoredMessage(state.lastMessage), updatedAt: state.lastMessage.timestamp }
      : {}),
    unreadCount: state.unread,
    readThrough: state.readThrough,
    clearedThrough: state.clearedThrough,
    pinnedAt: state.pinnedAt,
    marks: state.marks,
  };
}
