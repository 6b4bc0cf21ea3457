import { ConflictError, NotFoundError } from '../core/errors.js';
import type { Conversation, ConversationRef } from '../core/model.js';
import {
  type ConversationState,
  isListed,
  pin,
  setMarks,
  toConversation,
  unpin,
} from '../store/conversation.js';
import { queryPinned } from '../store/list-index.js';
import { MAX_PINNED } from '../store/sync-store.js';
import { conversationCutoff } from './conversation-retention.js';
import {
  changeableState,
  commit,
  readForWrite,
  type Snapshot,
  TRY_AGAIN,
  withRetries,
} from './conversation-writes.js';
import type { Deps } from './deps.js';
import { NO_CUTOFF } from './retention.js';

/**
 * Pins and marks (docs/api.md, "Semantics"): one conditional transaction each, idempotent, on a conversation
 * the caller has (listed; 404 otherwise). Other devices learn them through `?since=`.
 */

/** Marks are 0..19 (Easemob's Type0..Type19). */
export const MAX_MARK = 19;

/**
 * Pins or unpins; pinning again keeps the first pin time. At most MAX_PINNED pinned: the next is a 409.
 * Pinned conversations that retention has hidden (the sweep has not unlisted them yet) do not count:
 * at the cap they are unpinned first, as the sweep's settle would.
 */
export async function setPinned(deps: Deps, ref: ConversationRef, pinned: boolean): Promise<Conversation> {
  try {
    return await changeHeld(deps, ref, 'pin', (read, state) => pinDecision(deps, read, state, pinned));
  } catch (error) {
    if (!(error instanceof PinCapError) || (await unpinExpired(deps, ref.owner)) === 0) throw error;
    return changeHeld(deps, ref, 'pin', (read, state) => pinDecision(deps, read, state, pinned));
  }
}

function pinDecision(deps: Deps, read: Snapshot, state: ConversationState, pinned: boolean) {
  const { owner } = state.ref;
  if (pinned === (state.pinnedAt !== undefined)) return undefined;
  if (!pinned) return unpin(read.context(owner), state);
  if (read.sync(owner).pinCount >= MAX_PINNED) throw new PinCapError();
  return pin(read.context(owner), state, deps.clock.now());
}

class PinCapError extends ConflictError {
  constructor() {
    super(`At most ${MAX_PINNED} conversations can be pinned; unpin one first`);
  }
}

/** Unpins the owner's pinned conversations that retention hides (one Query of at most 50); how many. */
async function unpinExpired(deps: Deps, owner: string): Promise<number> {
  const cutoff = await deps.retention.currentCutoff(owner); // at the cap only: read as stored
  const now = deps.clock.now();
  // Each by its own policy, if it has one (conversation-retention.ts).
  const cutoffOf = (state: ConversationState) => conversationCutoff(state, cutoff, now);
  const page = await queryPinned(deps.db, owner, { limit: MAX_PINNED, cutoffOf: () => NO_CUTOFF });
  const expired = page.items.filter(
    (item) => item.conversation.lastMessage.timestamp <= cutoffOf(item.state),
  );
  let unpinned = 0;
  for (const item of expired) {
    await withRetries(deps, 'unpin', async function attemptUnpinExpired() {
      const read = await readForWrite(deps, [item.ref]);
      // As it is now: a large group's item keeps the latest of its member's last write (member-view.ts).
      const state = read.state(item.ref);
      const latest = state.lastMessage?.timestamp;
      if (state.pinnedAt === undefined || (latest !== undefined && latest > cutoffOf(state))) return false;
      const committed = await commit(deps, unpin(read.context(owner), state).actions);
      if (committed === true) unpinned++;
      return committed;
    });
  }
  return unpinned;
}

/** Adds or removes one mark. */
export function setMarked(
  deps: Deps,
  ref: ConversationRef,
  mark: number,
  marked: boolean,
): Promise<Conversation> {
  return changeHeld(deps, ref, 'mark', (read, state) => {
    if (marked === state.marks.includes(mark)) return undefined;
    const marks = marked ? [...state.marks, mark] : state.marks.filter((m) => m !== mark);
    return setMarks(read.context(ref.owner), state, marks);
  });
}

/** Reads the caller's conversation, decides (undefined: nothing to change), commits; retries on a race. */
function changeHeld(
  deps: Deps,
  ref: ConversationRef,
  what: string,
  decide: (read: Snapshot, state: ConversationState) => ReturnType<typeof pin> | undefined,
): Promise<Conversation> {
  return withRetries(deps, what, async function attemptChange() {
    const read = await readForWrite(deps, [ref]);
    const state = changeableState(read, ref);
    const shown = toConversation(state);
    if (!isListed(state) || !shown) throw new NotFoundError('You have no such conversation');
    const written = decide(read, state);
    if (!written) return shown;
    if ((await commit(deps, written.actions)) === TRY_AGAIN) return TRY_AGAIN;
    return toConversation(written.next) as Conversation;
  });
}
