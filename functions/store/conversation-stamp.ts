import { change, entryOf } from './conversation-item.js';
import {
  type ConversationState,
  conversationKey,
  isListed,
  type WriteContext,
} from './conversation-state.js';
import { keys } from './keys.js';
import { type ChangedIds, changeMarker, deletedIdsRecord, epochCheck, pinCountUpdate } from './sync-store.js';
import type { TransactItem } from './transactions.js';
import type { UpdateExpression } from './update-expression.js';

/**
 * What every visible change of a conversation item carries besides the item's own update, all in the
 * same transaction (docs/consistency.md, section 3):
 * - the sync head, checked to still be at the epoch the writer read (or, for a pin or unpin, updated:
 *   its pin count moves, never past the cap);
 * - the change marker of that epoch (once per epoch), and for a delete by ids, a recall or an edit a
 *   record of those ids;
 * - the entries of the owner's marks: a copy of the conversation in `U#{owner}#MARK#{n}` at its list
 *   position, so the list of a mark is one Query. They follow the conversation: moved when it moves,
 *   rewritten when it changes, removed when it leaves the list or loses the mark.
 * A conversation that leaves the list loses its pin and marks here, whichever write took it off, and
 * the owner's pin count follows (the sync head's update instead of its check).
 */
export interface StampOptions {
  /** Message ids this write deleted, recalled or edited, for other devices. */
  changedIds?: ChangedIds;
}

export function stamped(
  ctx: WriteContext,
  state: ConversationState,
  u: UpdateExpression,
  changed: ConversationState,
  options: StampOptions = {},
): { actions: TransactItem[]; next: ConversationState } {
  let next = changed;
  // Whatever takes a conversation off the list (a delete of all the owner sees, retention, leaving a
  // group) drops its pin and marks: a new message lists it again, unpinned and unmarked.
  if (!isListed(next) && (next.pinnedAt !== undefined || next.marks.length > 0)) {
    next = change(u, next, { pinnedAt: undefined, marks: [] }, { purgeShards: ctx.purgeShards });
  }
  const marking = needsMarker(ctx, state);
  next = change(
    u,
    next,
    { changeEpoch: ctx.sync.epoch, ...(marking ? { markedAt: ctx.now } : {}) },
    { add: { rev: 1 }, purgeShards: ctx.purgeShards },
  );
  next = { ...next, exists: true };
  // The owner's pin count follows their pins, never past the cap (the head's condition).
  const pinDelta = Number(next.pinnedAt !== undefined) - Number(state.pinnedAt !== undefined);
  const actions: TransactItem[] = [
    pinDelta !== 0
      ? pinCountUpdate(ctx.tableName, ctx.sync, pinDelta as 1 | -1)
      : epochCheck(ctx.tableName, ctx.sync),
    { Update: u.toUpdate(ctx.tableName, conversationKey(state.ref)) },
  ];
  if (marking) actions.push(changeMarker(ctx.tableName, ctx.sync, state.ref, ctx.now));
  const changedIds = options.changedIds ?? {};
  if (Object.values(changedIds).some((ids) => ids.length > 0)) {
    actions.push(
      deletedIdsRecord(ctx.tableName, ctx.sync, state.ref, { rev: next.rev, now: ctx.now }, changedIds),
    );
  }
  actions.push(...markEntryActions(ctx, state, next));
  return { actions, next };
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
  // A large group's marks have no entries: a mark's list merges large groups in (member-view.ts).
  const wasIn = isListed(before) && !before.shared ? before.marks : [];
  const isIn = isListed(after) && !after.shared ? after.marks : [];
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
