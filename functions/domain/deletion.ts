import { performance } from 'node:perf_hooks';
import { ForbiddenError } from '../core/errors.js';
import { highestIdAt, lowestIdAt, timeOfId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import {
  type ConversationItem,
  clearConversation,
  getConversation,
  raiseWatermark,
  replaceLatest,
  unlistConversation,
} from '../store/conversation-store.js';
import { isMember } from '../store/group-store.js';
import { keys, purgeShardOf } from '../store/keys.js';
import { deleteCopies, queryHistory } from '../store/message-store.js';
import type { Deps } from './deps.js';
import { purgeThrough, type SettleState, settleConversationPurge } from './purge.js';

/** One-way deletes: each changes only the caller's copies and conversation item. */

export interface PurgeReport {
  /** Copies physically deleted during this request. */
  purged: number;
  /** True when copies remain hidden but not yet deleted: the sweep finishes them. */
  purgePending: boolean;
}

/** Deletes the caller's copies of these messages. Ids the caller does not have are ignored. */
export async function deleteMessagesByIds(
  deps: Deps,
  ref: ConversationRef,
  msgIds: readonly string[],
): Promise<void> {
  const [conversation] = await Promise.all([getConversation(deps.db, ref), assertMayChange(deps, ref)]);
  await deleteCopies(deps.db, ref, msgIds);
  if (conversation?.lastMsgId !== undefined && msgIds.includes(conversation.lastMsgId)) {
    await refreshLatest(deps, ref, conversation);
  }
}

/**
 * Hides every message at or before `before` (ms, clamped to now) at once by raising the watermark,
 * which every read uses as a key bound; then purges a few batches inline and leaves the rest to the
 * sweep (the watermark write filed the conversation in the purge index). O(1) in the history's size.
 */
export async function deleteMessagesBefore(
  deps: Deps,
  ref: ConversationRef,
  before: number,
): Promise<PurgeReport> {
  await assertMayChange(deps, ref);
  return hideThrough(deps, ref, Math.min(before, deps.clock.now()));
}

/** Raises the watermark (it only rises), repoints "latest" if it got hidden, then purges inline. */
async function hideThrough(deps: Deps, ref: ConversationRef, through: number): Promise<PurgeReport> {
  const conversation = await raiseWatermark(deps.db, ref, through, deps.newId(), purgeShardFor(deps, ref));
  if (!conversation) return { purged: 0, purgePending: false };
  const clearedThrough = conversation.clearedThrough ?? through;
  let state: SettleState | undefined = conversation;
  if (conversation.lastMessage && conversation.lastMessage.timestamp <= clearedThrough) {
    state = await refreshLatest(deps, ref, conversation);
  }
  return purgeInline(deps, ref, clearedThrough, state);
}

/**
 * Takes the conversation off the caller's list. With `deleteMessages` its history goes too (watermark
 * at its latest message, then purge); without, the history stays fetchable. A later message lists it again.
 */
export async function deleteConversation(
  deps: Deps,
  ref: ConversationRef,
  deleteMessages: boolean,
): Promise<PurgeReport> {
  await assertMayChange(deps, ref);
  if (!deleteMessages) {
    await unlistConversation(deps.db, ref, deps.newId());
    return { purged: 0, purgePending: false };
  }
  return clearHistory(deps, ref);
}

/**
 * Clears the whole conversation for its owner, up to the latest message they had seen; also used when
 * a member leaves or is removed from a group.
 */
export async function clearHistory(deps: Deps, ref: ConversationRef): Promise<PurgeReport> {
  const conversation = await getConversation(deps.db, ref);
  if (!conversation) return { purged: 0, purgePending: false };
  if (conversation.lastMsgId === undefined) {
    // Nothing visible is left: only the listing (if any) has to go.
    await unlistConversation(deps.db, ref, deps.newId());
    return { purged: 0, purgePending: false };
  }
  const through = Math.max(timeOfId(conversation.lastMsgId), conversation.clearedThrough ?? -1);
  const changeSk = deps.newId();
  const cleared = await clearConversation(deps.db, ref, {
    seenLastMsgId: conversation.lastMsgId,
    through,
    changeSk,
    purgeShard: purgeShardFor(deps, ref),
  });
  if (cleared) return purgeInline(deps, ref, through, { changeSk, lastMsgId: undefined });
  // A message arrived after the read: it is newer than what the caller deleted, so it stays visible
  // and keeps the conversation listed; everything up to `through` still goes.
  return hideThrough(deps, ref, through);
}

/**
 * Points the conversation at the newest message the owner can still see, or unlists it when none is
 * left. Conditional on the item not having moved meanwhile; re-reads and retries if it did. Returns
 * the item's state as left (undefined if that is not known after the retries).
 */
async function refreshLatest(
  deps: Deps,
  ref: ConversationRef,
  seen: ConversationItem,
): Promise<SettleState | undefined> {
  let current: ConversationItem | undefined = seen;
  for (let attempt = 0; attempt < 5 && current; attempt++) {
    const cutoff = await deps.retention.cutoffFor(ref.owner);
    const visibleAfter = Math.max(cutoff, current.clearedThrough ?? -1);
    const [newest] = await queryHistory(deps.db, ref, {
      lowestId: lowestIdAt(visibleAfter + 1),
      highestId: highestIdAt(Number.MAX_SAFE_INTEGER),
      direction: 'up',
      limit: 1,
    });
    if (newest?.msgId === current.lastMsgId) return current;
    const changeSk = deps.newId();
    if (await replaceLatest(deps.db, ref, { seen: current, next: newest, changeSk })) {
      return { changeSk, lastMsgId: newest?.msgId };
    }
    current = await getConversation(deps.db, ref);
  }
  return undefined;
}

async function purgeInline(
  deps: Deps,
  ref: ConversationRef,
  through: number,
  state: SettleState | undefined,
): Promise<PurgeReport> {
  const started = performance.now();
  const progress = await purgeThrough(
    deps,
    ref,
    through,
    (p) =>
      p.batches < deps.config.inlinePurgeBatches &&
      performance.now() - started < deps.config.inlinePurgeBudgetMs,
  );
  if (progress.finished) await settleConversationPurge(deps, ref, state);
  return { purged: progress.deleted, purgePending: !progress.finished };
}

/** In a group, only members may change their copy (the same rule as reading it). */
async function assertMayChange(deps: Deps, ref: ConversationRef): Promise<void> {
  if (ref.chatType === 'group' && !(await isMember(deps.db, ref.convId, ref.owner))) {
    throw new ForbiddenError('You are not a member of this group');
  }
}

function purgeShardFor(deps: Deps, ref: ConversationRef): string {
  return keys.purgeShard(purgeShardOf(ref.owner, deps.config.purgeShards));
}
