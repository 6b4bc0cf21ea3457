import { ConflictError, ForbiddenError, ValidationError } from '../core/errors.js';
import type { ConversationRef, Group } from '../core/model.js';
import { clear, join } from '../store/conversation.js';
import {
  createGroupMeta,
  deleteMemberAction,
  type GroupView,
  groupOf,
  membershipChangeAction,
  putMemberAction,
  readGroup,
} from '../store/group-store.js';
import type { TransactItem } from '../store/transactions.js';
import { commit, readForWrite, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { purgeInline } from './purge.js';

/**
 * Groups (docs/consistency.md, section 5). Every membership change is one transaction: the member item,
 * the member's own conversation item (created at the group's head on joining, cleared and marked `left`
 * on leaving) and META's `membersVersion` and count (conditioned on META as read, so the cap holds under
 * concurrency and a send never fans out to a member list that changed after it was read).
 */

export interface CreateGroupInput {
  groupId?: string;
  name?: string;
  members?: string[];
}

/** Members joined per transaction: four actions each (member, conversation, epoch check, marker). */
const JOINS_PER_TRANSACTION = 24;

/** Creates a group owned by the caller, who is always a member. */
export async function createGroup(deps: Deps, owner: string, input: CreateGroupInput): Promise<Group> {
  const members = [...new Set([owner, ...(input.members ?? [])])];
  if (members.length > deps.config.maxGroupMembers) {
    throw new ValidationError(`members: a group has at most ${deps.config.maxGroupMembers} members`);
  }
  const proposed = {
    groupId: input.groupId ?? deps.ids.next(),
    name: input.name ?? '',
    owner,
    createdAt: deps.clock.now(),
  };
  const group = (await createGroupMeta(deps.db, proposed))
    ? proposed
    : await unfinishedCreation(deps, owner, proposed.groupId);
  if (!group) throw new ConflictError('groupId is already taken');
  for (let i = 0; i < members.length; i += JOINS_PER_TRANSACTION) {
    await joinMembers(deps, group.groupId, members.slice(i, i + JOINS_PER_TRANSACTION));
  }
  return { ...group, members };
}

/**
 * A group of `owner` that nobody has joined: its creation stopped after META was written (throttled,
 * the store gone). The owner joins in the creation's first transaction, so no finished group is ever
 * without members. The owner's retry finishes it instead of finding the id taken forever.
 */
async function unfinishedCreation(deps: Deps, owner: string, groupId: string) {
  const view = await readGroup(deps.db, groupId);
  if (!view || view.meta.owner !== owner || view.members.length > 0) return undefined;
  const { name, createdAt } = view.meta;
  return { groupId, name, owner, createdAt };
}

/** The owner adds a member. Adding an existing member is a no-op. */
export async function addMember(deps: Deps, caller: string, groupId: string, userId: string): Promise<Group> {
  const view = await groupOwnedBy(deps, caller, groupId);
  if (view.members.includes(userId)) return groupOf(view);
  const joined = await joinMembers(deps, groupId, [userId]);
  return groupOf(joined);
}

/**
 * The owner removes a member, or a member leaves. The owner cannot leave (the group would have no one
 * to manage it). The former member's copy of the group history is cleared for them, as a group's
 * history is readable only by members. Returns the group as it is now.
 */
export async function removeMember(
  deps: Deps,
  caller: string,
  groupId: string,
  userId: string,
): Promise<Group> {
  const ref: ConversationRef = { owner: userId, chatType: 'group', convId: groupId };
  let clearedThrough: string | undefined;
  const view = await withRetries(deps, 'remove member', async function attemptRemoval() {
    const current = await readGroup(deps.db, groupId);
    if (!current?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
    if (caller !== current.meta.owner && caller !== userId) {
      throw new ForbiddenError('Only the group owner can remove others');
    }
    if (userId === current.meta.owner) throw new ConflictError('The group owner cannot leave the group');
    if (!current.members.includes(userId)) return current;
    const read = await readForWrite(deps, [ref]);
    const state = read.state(ref);
    const actions: TransactItem[] = [
      membershipChangeAction(deps.db.tableName, current.meta, {
        added: 0,
        removed: 1,
        maxMembers: deps.config.maxGroupMembers,
      }),
      deleteMemberAction(deps.db.tableName, groupId, userId),
      ...(state.exists ? clear(read.context(userId), state, { leave: true }).actions : []),
    ];
    if ((await commit(deps, actions)) === TRY_AGAIN) return TRY_AGAIN;
    clearedThrough = state.headMsgId;
    return { ...current, members: current.members.filter((member) => member !== userId) };
  });
  // A former member keeps nothing of the group: their copies go (one-way, for them only).
  if (clearedThrough !== undefined) await purgeInline(deps, ref, clearedThrough);
  return groupOf(view);
}

/**
 * Makes `userIds` members at the group's current position (those already members are skipped), in one
 * transaction. Returns the group as it is after.
 */
async function joinMembers(deps: Deps, groupId: string, userIds: readonly string[]): Promise<GroupView> {
  return withRetries(deps, 'add members', async function attemptJoin() {
    const view = await readGroup(deps.db, groupId);
    if (!view) throw new ForbiddenError('You are not a member of this group');
    const newcomers = userIds.filter((userId) => !view.members.includes(userId));
    if (newcomers.length === 0) return view;
    if (view.meta.memberCount + newcomers.length > deps.config.maxGroupMembers) {
      throw new ConflictError(`the group is full (${deps.config.maxGroupMembers} members)`);
    }
    const refs = newcomers.map((owner): ConversationRef => ({ owner, chatType: 'group', convId: groupId }));
    const read = await readForWrite(deps, refs);
    const now = deps.clock.now();
    const { meta } = view;
    const actions: TransactItem[] = [
      membershipChangeAction(deps.db.tableName, meta, {
        added: newcomers.length,
        removed: 0,
        maxMembers: deps.config.maxGroupMembers,
      }),
    ];
    for (const ref of refs) {
      actions.push(putMemberAction(deps.db.tableName, groupId, ref.owner, meta.seq, now));
      actions.push(
        ...join(read.context(ref.owner), read.state(ref), { seq: meta.seq, headMsgId: meta.headMsgId })
          .actions,
      );
    }
    if ((await commit(deps, actions)) === TRY_AGAIN) return TRY_AGAIN;
    return {
      meta: {
        ...meta,
        membersVersion: meta.membersVersion + 1,
        memberCount: meta.memberCount + newcomers.length,
      },
      members: [...view.members, ...newcomers],
    };
  });
}

async function groupOwnedBy(deps: Deps, caller: string, groupId: string): Promise<GroupView> {
  const view = await readGroup(deps.db, groupId);
  if (!view?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
  if (view.meta.owner !== caller) throw new ForbiddenError('Only the group owner can add members');
  return view;
}
