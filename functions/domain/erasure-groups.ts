import { queryAll } from '../store/db.js';
import { deleteMemberAction, membershipChangeAction, readGroup } from '../store/group-store.js';
import { keys } from '../store/keys.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';

/**
 * An erased user leaves their groups the way a member leaves (groups.ts, removeMember): META's member
 * count and version move with the member item's removal, in one transaction conditioned on META as read,
 * so a send never fans out to them after it. What they leave behind of theirs (their conversation item,
 * copies, large-groups item) is deleted by the erasure's scan. A group they own passes to the remaining
 * member first in id order (the order a group's members are listed in), or to no one when none is left.
 */
export async function leaveGroupForErasure(
  deps: Deps,
  groupId: string,
  userId: string,
): Promise<{ left: boolean; handedOver: boolean }> {
  return withRetries(deps, 'erasure: leave group', async function attemptLeave() {
    const view = await readGroup(deps.db, groupId);
    if (!view?.members.includes(userId)) return { left: false, handedOver: false };
    const owned = view.meta.owner === userId;
    const heir = owned ? (view.members.filter((member) => member !== userId).sort()[0] ?? null) : undefined;
    const actions = [
      membershipChangeAction(deps.db.tableName, view.meta, {
        added: 0,
        removed: 1,
        maxMembers: deps.config.maxGroupMembers,
        newOwner: heir,
      }),
      deleteMemberAction(deps.db.tableName, groupId, userId),
    ];
    if ((await commit(deps, actions)) === TRY_AGAIN) return TRY_AGAIN;
    return { left: true, handedOver: owned };
  });
}

/** The groups the user's conversation items name (left ones too: a scan finds any membership missed). */
export async function groupsOfUser(deps: Deps, userId: string): Promise<string[]> {
  const items = await queryAll<{ convId: string }>(deps.db, {
    TableName: deps.db.tableName,
    KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
    ExpressionAttributeValues: {
      ':pk': keys.userPk(userId),
      ':prefix': keys.conversationSk('group', ''),
    },
    ProjectionExpression: 'convId',
    ConsistentRead: true,
  });
  return items.map((item) => item.convId);
}
