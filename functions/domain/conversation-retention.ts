import { DAY_MS } from '../core/clock.js';
import { NotFoundError } from '../core/errors.js';
import type { Conversation, ConversationRef } from '../core/model.js';
import { type ConversationState, isListed, setOwnRetention, toConversation } from '../store/conversation.js';
import { keys } from '../store/keys.js';
import { listReachOf, raiseListReachAction } from '../store/list-reach.js';
import { getPoliciesFor, type RetentionPolicies } from '../store/policy-store.js';
import { keepDaysOf, raiseKeepDaysAction } from '../store/shared-groups.js';
import { changeableState, commit, readForWrite, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { FLOOR_CLOCK_MARGIN_MS, NO_CUTOFF, visibleCutoff } from './retention.js';

/**
 * Per-conversation retention ("disappearing messages"): a user gives their side of one conversation its
 * own policy in days, or removes it. The most specific policy wins: the conversation's own, else the
 * user's override, else the app default. docs/compliance.md, "Per-conversation retention".
 */

/** What a conversation's own policy may be: whole days, 1 to 100 years (as the admin policies). */
export const MAX_CONVERSATION_DAYS = 36_500;

/**
 * Messages of this conversation at or before the returned time (ms) are hidden by retention: with its
 * own days, those days' cutoff; else the user's visible cutoff (`userCutoff`, retention.ts); never less
 * than the conversation's floor (what was expired when its own policy last changed).
 */
export function conversationCutoff(
  state: Pick<ConversationState, 'retentionDays' | 'retentionFloor'>,
  userCutoff: number,
  now: number,
): number {
  const floor = state.retentionFloor ?? NO_CUTOFF;
  return Math.max(floor, state.retentionDays === undefined ? userCutoff : now - state.retentionDays * DAY_MS);
}

/**
 * The lowest cutoff any of the user's conversations may have: the user's, or lower when a conversation
 * of theirs was given a longer policy (`reachDays`, list-reach.ts). A list page's Query starts there.
 */
export function reachCutoff(userCutoff: number, reachDays: number | undefined, now: number): number {
  return reachDays === undefined ? userCutoff : Math.min(userCutoff, now - reachDays * DAY_MS);
}

/**
 * The policies as they bind this conversation: its own days in place of its owner's, if it has them. The
 * sweep bounds what it deletes of a conversation by these (purgeBound), so a conversation with a longer
 * own policy is never purged by its owner's or the app's.
 */
export function withOwnPolicy(policies: RetentionPolicies, state: ConversationState): RetentionPolicies {
  if (state.retentionDays === undefined) return policies;
  // The owner's pending shortening (policies.ts) must not take over this conversation at its effectiveAt.
  const userPending = new Map(policies.userPending);
  userPending.delete(state.ref.owner);
  return {
    ...policies,
    userDays: new Map(policies.userDays).set(state.ref.owner, state.retentionDays),
    userPending,
  };
}

/**
 * Sets (days) or removes (null) the conversation's own policy on the caller's side of a conversation
 * they have (404 otherwise; 403 in a group they are not a member of). Idempotent: the same policy again
 * writes nothing. The new floor is what the conversation had hidden at this moment on any instance (its
 * cutoff two hours ahead of this one's clock, as the admin policies' floors: docs/consistency.md,
 * section 7), so a longer policy never shows a device again what it was told had expired.
 */
export function setConversationRetention(
  deps: Deps,
  ref: ConversationRef,
  days: number | null,
): Promise<Conversation> {
  const wanted = days ?? undefined;
  return withRetries(deps, 'conversation retention', async function attemptSetRetention() {
    const reachKey = keys.largeGroups(ref.owner);
    // A group's registry item: the shared purge keeps the group's copies as long as any member's policy.
    const registryKey = ref.chatType === 'group' ? keys.sharedGroup(ref.convId) : undefined;
    const [read, policies] = await Promise.all([
      readForWrite(deps, [ref], registryKey ? [reachKey, registryKey] : [reachKey]),
      getPoliciesFor(deps.db, ref.owner),
    ]);
    const state = changeableState(read, ref);
    const shown = toConversation(state);
    if (!isListed(state) || !shown) throw new NotFoundError('You have no such conversation');
    if (state.retentionDays === wanted) return shown;
    const ctx = read.context(ref.owner);
    const shownBy = ctx.now + FLOOR_CLOCK_MARGIN_MS;
    const floor = conversationCutoff(state, visibleCutoff(policies, ref.owner, shownBy), shownBy);
    const written = setOwnRetention(ctx, state, {
      days: wanted,
      floor: floor === NO_CUTOFF ? undefined : floor,
    });
    const reach = listReachOf(read.item(reachKey));
    if (wanted !== undefined && (reach === undefined || reach < wanted)) {
      written.actions.push(raiseListReachAction(deps.db.tableName, ref.owner, wanted));
    }
    const keep = registryKey && keepDaysOf(read.item(registryKey));
    if (registryKey && wanted !== undefined && (keep === undefined || keep < wanted)) {
      written.actions.push(raiseKeepDaysAction(deps.db.tableName, ref.convId, wanted));
    }
    if ((await commit(deps, written.actions)) === TRY_AGAIN) return TRY_AGAIN;
    return toConversation(written.next) as Conversation;
  });
}
