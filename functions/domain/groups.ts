import { ConflictError, ForbiddenError, ValidationError } from '../core/errors.js';
import type { Group } from '../core/model.js';
import * as groups from '../store/group-store.js';
import { clearHistory } from './deletion.js';
import type { Deps } from './deps.js';

export interface CreateGroupInput {
  groupId?: string;
  name?: string;
  members?: string[];
}

/** Creates a group owned by the caller, who is always a member. */
export async function createGroup(deps: Deps, owner: string, input: CreateGroupInput): Promise<Group> {
  const members = [...new Set([owner, ...(input.members ?? [])])];
  if (members.length > deps.config.maxGroupMembers) {
    throw new ValidationError(`members: a group has at most ${deps.config.maxGroupMembers} members`);
  }
  const group: Group = {
    groupId: input.groupId ?? deps.newId(),
    name: input.name ?? '',
    owner,
    members,
    createdAt: deps.clock.now(),
  };
  if (!(await groups.createGroup(deps.db, group))) throw new ConflictError('groupId is already taken');
  return group;
}

/** The owner adds a member. Adding an existing member is a no-op. */
export async function addMember(deps: Deps, caller: string, groupId: string, userId: string): Promise<Group> {
  const group = await groupOwnedBy(deps, caller, groupId);
  if (group.members.includes(userId)) return group;
  if (group.members.length >= deps.config.maxGroupMembers) {
    throw new ConflictError(`the group is full (${deps.config.maxGroupMembers} members)`);
  }
  await groups.addMember(deps.db, groupId, userId, deps.clock.now());
  return { ...group, members: [...group.members, userId] };
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
  const group = await groups.getGroup(deps.db, groupId);
  if (!group?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
  if (caller !== group.owner && caller !== userId)
    throw new ForbiddenError('Only the group owner can remove others');
  if (userId === group.owner) throw new ConflictError('The group owner cannot leave the group');
  if (await groups.removeMember(deps.db, groupId, userId)) {
    // A former member keeps nothing of the group: its conversation and copies go (one-way, for them only).
    await clearHistory(deps, { owner: userId, chatType: 'group', convId: groupId });
  }
  return { ...group, members: group.members.filter((m) => m !== userId) };
}

async function groupOwnedBy(deps: Deps, caller: string, groupId: string): Promise<Group> {
  const group = await groups.getGroup(deps.db, groupId);
  if (!group?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
  if (group.owner !== caller) throw new ForbiddenError('Only the group owner can add members');
  return group;
}
