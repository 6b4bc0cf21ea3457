import { lowestIdAt, nextId } from '../core/ids.js';
import type { ConversationRef, Message } from '../core/model.js';
import type { ConversationState } from './conversation-state.js';
import type { Db, Key } from './db.js';
import type { GroupMeta } from './group-store.js';
import { keys } from './keys.js';
import {
  copyKey,
  deleteCopyAction,
  type HistoryPageRead,
  type HistoryRange,
  type HistoryRead,
  isTombstone,
  messageOfCopy,
  oldestPositionIn,
  positionOfCopy,
  putTombstoneAction,
  readHistoryPage,
  sharedHistoryOf,
} from './message-store.js';
import type { TransactItem } from './transactions.js';

/**
 * The one seam for where a member's messages live (docs/large-groups.md). A conversation's copies are
 * the owner's own (single chats, groups in fan-out mode); a group in shared mode stores each message
 * once, and a member's view of it is:
 * - their own partition: the copies fan-out wrote before the switch, and tombstones of shared copies
 *   they deleted (one-way deletes become markers: the shared copy stays for everyone else);
 * - the group's shared history: every message since the switch.
 * Their conversation item holds their positions as of its `seq`; `advance` derives the rest from META
 * (the group's head and latest message), so a send writes neither members' items nor their lists.
 * Domain code reads through here and does not know which mode a conversation is in.
 */

/**
 * The member's side as it is now: the item's positions moved on by what the group got since. Every
 * position after the item's `seq` holds a message from another member (a member's own send moves their
 * item in its transaction), so each one is unread and the newest is the latest. A state that needs no
 * deriving is returned as it is.
 */
export function advance(state: ConversationState, meta: GroupMeta | undefined): ConversationState {
  if (!state.shared || !meta?.shared || !state.exists || state.left) return state;
  if (meta.seq <= state.seq || meta.headMsgId === undefined || meta.lastMessage === undefined) return state;
  return {
    ...state,
    seq: meta.seq,
    headMsgId: meta.headMsgId,
    lastMessage: meta.lastMessage,
    listSk: keys.listSk(meta.headMsgId, 'group', state.ref.convId),
    unread: state.unread + (meta.seq - state.seq),
    advanced: true,
  };
}

/** Whether this side may have copies in its group's shared history (it is read along with its own). */
export function readsShared(ref: ConversationRef, shared: boolean): boolean {
  return ref.chatType === 'group' && shared;
}

/**
 * One Query of the member's view of `range`: their own copies, and (`shared`) the shared history's,
 * read together. What either read stopped short of is cut off, so the result is exact up to where it
 * stopped (`lastReadId`), as one Query's is.
 */
export async function readViewPage(
  db: Db,
  ref: ConversationRef,
  shared: boolean,
  range: HistoryRange & { afterId?: string },
): Promise<HistoryPageRead> {
  if (!readsShared(ref, shared)) return readHistoryPage(db, ref, range);
  const [own, common] = await Promise.all([
    readHistoryPage(db, ref, range),
    readHistoryPage(db, sharedHistoryOf(ref.convId), range),
  ]);
  return mergeView(own, common, range.direction);
}

/** `own` wins over `common` for the same id: a tombstone hides the shared copy. */
function mergeView(own: HistoryPageRead, common: HistoryPageRead, direction: 'up' | 'down'): HistoryPageRead {
  const first = (a: string, b: string) => (direction === 'up' ? a > b : a < b);
  let stop: string | undefined;
  for (const id of [own.lastReadId, common.lastReadId]) {
    if (id !== undefined && (stop === undefined || first(id, stop))) stop = id;
  }
  const within = (id: string) => stop === undefined || !first(stop, id);
  const ownIds = new Set([...own.messages.map((m) => m.msgId), ...own.hidden]);
  const messages = [...own.messages, ...common.messages.filter((m) => !ownIds.has(m.msgId))]
    .filter((m) => within(m.msgId))
    .sort((a, b) => (first(a.msgId, b.msgId) ? -1 : first(b.msgId, a.msgId) ? 1 : 0));
  return {
    messages,
    hidden: own.hidden.filter(within),
    positions: new Map([...common.positions, ...own.positions]),
    scanned: own.scanned + common.scanned,
    ...(stop !== undefined ? { lastReadId: stop } : {}),
  };
}

/** readHistory over the member's view: Queries until `limit` messages, the range or the budget ends. */
export async function readView(
  db: Db,
  ref: ConversationRef,
  shared: boolean,
  range: HistoryRange,
): Promise<HistoryRead & { positions: Map<string, number> }> {
  const positions = new Map<string, number>();
  if (range.lowestId > range.highestId) return { messages: [], positions };
  const messages: Message[] = [];
  let budget = range.budget ?? Number.POSITIVE_INFINITY;
  let resumeAfter: string | undefined;
  do {
    const page = await readViewPage(db, ref, shared, {
      ...range,
      limit: range.limit - messages.length,
      budget,
      afterId: resumeAfter,
    });
    messages.push(...page.messages);
    for (const [id, seq] of page.positions) positions.set(id, seq);
    budget -= page.scanned;
    resumeAfter = page.lastReadId;
  } while (resumeAfter !== undefined && messages.length < range.limit && budget > 0);
  const stoppedEarly = resumeAfter !== undefined && messages.length < range.limit;
  return { messages: messages.slice(0, range.limit), positions, ...(stoppedEarly ? { resumeAfter } : {}) };
}

/**
 * The newest message the member sees in (`above`, `atOrBelow`] whose id is not in `excluding`: what
 * the conversation shows once those go.
 */
export async function newestInView(
  db: Db,
  state: Pick<ConversationState, 'ref' | 'shared'>,
  range: { above?: string; atOrBelow: string; excluding?: ReadonlySet<string> },
): Promise<Message | undefined> {
  const excluding = range.excluding ?? new Set<string>();
  const { messages } = await readView(db, state.ref, state.shared, {
    lowestId: lowIdAbove(range.above),
    highestId: range.atOrBelow,
    direction: 'up',
    limit: excluding.size + 1,
  });
  return messages.find((message) => !excluding.has(message.msgId));
}

/**
 * The oldest message the member sees in (`above`, `atOrBelow`], by id and position: where unread
 * counting starts. In fan-out mode one key Query; in a shared view the first visible of both partitions.
 */
export async function oldestInView(
  db: Db,
  state: Pick<ConversationState, 'ref' | 'shared'>,
  range: { above?: string; atOrBelow: string },
): Promise<{ msgId: string; seq?: number } | undefined> {
  if (!readsShared(state.ref, state.shared)) return oldestPositionIn(db, state.ref, range);
  // A recalled message counts as no copy (its gap is recorded): the oldest one not recalled.
  let lowestId = lowIdAbove(range.above);
  for (let limit = 1; lowestId <= range.atOrBelow; limit = 50) {
    const { messages, positions } = await readView(db, state.ref, state.shared, {
      lowestId,
      highestId: range.atOrBelow,
      direction: 'down',
      limit,
    });
    const oldest = messages.find((message) => message.recalled === undefined);
    if (oldest) return { msgId: oldest.msgId, seq: positions.get(oldest.msgId) };
    const last = messages.at(-1);
    if (last === undefined || messages.length < limit) return undefined;
    lowestId = nextId(last.msgId);
  }
  return undefined;
}

/** The smallest id strictly above `id` (or the smallest id of all). */
function lowIdAbove(id: string | undefined): string {
  return id === undefined ? lowestIdAt(0) : nextId(id);
}

/** A message the member sees, as a delete read it: their own copy, or the group's shared copy. */
export type ViewCopy = { own: true; msgId: string } | { own: false; message: Message; seq: number };

/**
 * The keys a delete by ids reads along with the member's side: their own copies, and for a group the
 * shared ones (the side, read in the same request, says whether those count).
 */
export function viewCopyKeys(ref: ConversationRef, msgIds: readonly string[]): Key[] {
  const shared = ref.chatType === 'group' ? sharedHistoryOf(ref.convId) : undefined;
  return msgIds.flatMap((msgId) => [copyKey(ref, msgId), ...(shared ? [copyKey(shared, msgId)] : [])]);
}

/** The member's copy of `msgId` among what was read (`item`), if they see one: a tombstone hides it. */
export function viewCopyOf(
  item: (key: Key) => Record<string, unknown> | undefined,
  state: Pick<ConversationState, 'ref' | 'shared'>,
  msgId: string,
): ViewCopy | undefined {
  const own = item(copyKey(state.ref, msgId));
  if (own) return isTombstone(own) ? undefined : { own: true, msgId };
  if (!readsShared(state.ref, state.shared)) return undefined;
  const common = item(copyKey(sharedHistoryOf(state.ref.convId), msgId));
  return common && { own: false, message: messageOfCopy(common), seq: positionOfCopy(common) ?? 0 };
}

/**
 * A one-way delete of one message the member sees: their own copy is deleted; a shared one gets their
 * tombstone (it stays for the other members).
 */
export function removeFromViewAction(tableName: string, ref: ConversationRef, copy: ViewCopy): TransactItem {
  return copy.own
    ? deleteCopyAction(tableName, ref, copy.msgId)
    : putTombstoneAction(tableName, ref, copy.message, copy.seq);
}

/**
 * The newest message the member may see, for bounding a history page: their head, or none for a
 * shared-mode side (its item does not know the group's head, and needs no bound: a shared copy is
 * written in the transaction that takes its position, so every one there is visible).
 */
export function viewHead(state: Pick<ConversationState, 'shared' | 'headMsgId'>): string | undefined {
  return state.shared ? undefined : state.headMsgId;
}

/** Nothing to read: a fan-out side before its first message (a shared side's item cannot tell). */
export function viewIsEmpty(state: Pick<ConversationState, 'shared' | 'headMsgId'>): boolean {
  return !state.shared && state.headMsgId === undefined;
}

/**
 * Whether the member may still see a message though their own partition is empty (a purge takes only
 * their copies and tombstones): a shared-mode side whose head is above its watermark.
 */
export function mayShowShared(state: ConversationState): boolean {
  if (!state.shared || state.headMsgId === undefined) return false;
  return state.clearedThrough === undefined || state.headMsgId > state.clearedThrough;
}

/**
 * A history page read before the side is (in parallel with it): a group's shared history is read along,
 * in case the side is in shared mode.
 */
export function readFirstViewPage(
  db: Db,
  ref: ConversationRef,
  range: HistoryRange & { afterId?: string },
): Promise<HistoryPageRead> {
  return readViewPage(db, ref, ref.chatType === 'group', range);
}
