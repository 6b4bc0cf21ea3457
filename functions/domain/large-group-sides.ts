import { createHash } from 'node:crypto';
import { highestIdAt } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type ConversationState, conversationKey, stateOf, unreadAfter } from '../store/conversation.js';
import { batchGet, keyString } from '../store/db.js';
import { type GroupMeta, metaKey, metaOf } from '../store/group-store.js';
import { advance } from '../store/member-view.js';
import { conversationCutoff } from './conversation-retention.js';
import type { Deps } from './deps.js';
import { NO_CUTOFF } from './retention.js';
import { unreadAbove } from './unread.js';

/**
 * Reading members' sides as they are now: the conversation items and, for groups, META, in one
 * BatchGetItem, each group member's side derived from META (member-view.ts). Lists and `?since=` use
 * it for the user's large groups, whose sides no send writes.
 */

export interface Sides {
  states: ConversationState[];
  /** META of each group read (by id). */
  metas: Map<string, GroupMeta>;
  /** The groups (by id) whose unread retention lowered at this read: nothing stamps that change. */
  retentionLowered: Set<string>;
}

/**
 * The sides as they are now, with unread counted past each one's retention cutoff (its own policy's, or
 * the owner's `cutoff`, ms): a
 * shared-mode side keeps positions, not copies, so retention lowers its unread here, at read time (the
 * sweep does it for copies it purges).
 */
export async function readSides(
  deps: Deps,
  refs: readonly ConversationRef[],
  cutoff: number,
): Promise<Sides> {
  const sides = await readRawSides(deps, refs);
  const now = deps.clock.now();
  // Each side by its own policy if it has one (conversation-retention.ts), else by its owner's.
  const states = await Promise.all(
    sides.states.map((state) => withRetentionUnread(deps, state, conversationCutoff(state, cutoff, now))),
  );
  const retentionLowered = new Set(
    states.filter((state, i) => state.unread !== sides.states[i]?.unread).map((state) => state.ref.convId),
  );
  return { ...sides, states, retentionLowered };
}

/**
 * A derived side whose unread reaches back to or before the cutoff: unread is what is after it, counted
 * from positions (unread.ts): a Query or two, only for such a side.
 */
async function withRetentionUnread(
  deps: Deps,
  state: ConversationState,
  cutoff: number,
): Promise<ConversationState> {
  if (!state.shared || state.unread === 0 || cutoff === NO_CUTOFF) return state;
  const after = unreadAfter(state);
  const expiredThrough = highestIdAt(cutoff);
  if (after !== undefined && after >= expiredThrough) return state;
  return { ...state, unread: await unreadAbove(deps, state, expiredThrough) };
}

async function readRawSides(
  deps: Deps,
  refs: readonly ConversationRef[],
): Promise<Omit<Sides, 'retentionLowered'>> {
  const groups = [...new Set(refs.filter((ref) => ref.chatType === 'group').map((ref) => ref.convId))];
  const items = await batchGet(deps.db, [...refs.map(conversationKey), ...groups.map(metaKey)]);
  const metas = new Map<string, GroupMeta>();
  for (const groupId of groups) {
    const item = items.get(keyString(metaKey(groupId)));
    if (item) metas.set(groupId, metaOf(groupId, item));
  }
  const states = refs.map((ref) =>
    advance(
      stateOf(ref, items.get(keyString(conversationKey(ref)))),
      ref.chatType === 'group' ? metas.get(ref.convId) : undefined,
    ),
  );
  return { states, metas };
}

/** The sides of the owner's large groups (the groups of their large-groups item). */
export function readLargeGroupSides(
  deps: Deps,
  owner: string,
  groupIds: readonly string[],
  cutoff: number,
): Promise<Sides> {
  return readSides(
    deps,
    groupIds.map((convId): ConversationRef => ({ owner, chatType: 'group', convId })),
    cutoff,
  );
}

/**
 * What a sync token remembers of the user's large groups: each one's position when it was issued, by a
 * short digest of its id (8 characters; a token stays small). Two groups with one digest keep the lower
 * position: a since call then reports the other too (more than changed, never less).
 */
export type GroupPositions = Map<string, number>;

export function groupDigest(groupId: string): string {
  return createHash('sha256').update(groupId).digest('base64url').slice(0, 8);
}

export function positionsOf(metas: Map<string, GroupMeta>): GroupPositions {
  const positions: GroupPositions = new Map();
  for (const [groupId, meta] of metas) {
    const digest = groupDigest(groupId);
    positions.set(digest, Math.min(positions.get(digest) ?? meta.seq, meta.seq));
  }
  return positions;
}

/** Whether the group got a message after the token was issued (or the token does not know it). */
export function movedSince(positions: GroupPositions, meta: GroupMeta): boolean {
  const seen = positions.get(groupDigest(meta.groupId));
  return seen === undefined || meta.seq > seen;
}
