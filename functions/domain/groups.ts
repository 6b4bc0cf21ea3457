import { ttlAfter } from '../core/clock.js';
import { ConflictError, ForbiddenError, ValidationError } from '../core/errors.js';
import type { ConversationRef, Group } from '../core/model.js';
import { eventAction } from '../events/outbox.js';
import { clear, join } from '../store/conversation.js';
import {
  createGroupMetaAction,
  deleteMemberAction,
  type GroupView,
  groupOf,
  markSwitching,
  membershipChangeAction,
  putMemberAction,
  readGroup,
} from '../store/group-store.js';
import {
  groupCreationProgressAction,
  groupCreationRecordOf,
  putRecordAction,
  type RetryableRequest,
  retryableRequest,
} from '../store/idempotency-store.js';
import { keys } from '../store/keys.js';
import { addLargeGroupAction, removeLargeGroupAction } from '../store/large-groups.js';
import type { TransactItem } from '../store/transactions.js';
import { commit, present, readForWrite, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { purgeInline } from './purge.js';
import { limitKey, spend } from './rate-limits.js';

/**
 * Groups (docs/consistency.md, section 5). Every membership change is one transaction: the member item,
 * the member's own conversation item (created at the group's head on joining, cleared and marked `left`
 * on leaving) and META's `membersVersion` and count (conditioned on META as read, so the cap holds under
 * concurrency and a send never fans out to a member list that changed after it was read).
 */

export interface CreateGroupInput {
  name?: string;
  members?: string[];
  /**
   * Makes the creation safe to retry: for idempotencyDays, a creation with the same id answers with the
   * group the first one made, spends no limit again and finishes joining its members; the same id with
   * a different name or member list is a conflict.
   */
  clientRequestId?: string;
}

/**
 * Members joined per transaction: up to five actions each (member, conversation, epoch check, marker,
 * and in a large group their large-groups item), under DynamoDB's 100 with room for META and two limit
 * spends and a creation's record (or its progress).
 */
const JOINS_PER_TRANSACTION = 19;

/**
 * Creates a group owned by the caller, who is always a member. META, the limits it spends, the first
 * members (the owner first) and the clientRequestId's record are one transaction: a creation stopped at
 * any point leaves either nothing or a group its owner belongs to. Members beyond the first transaction
 * join in further ones; a creation interrupted there keeps those who joined, and its retry with the same
 * clientRequestId finds the group by the record and joins the rest.
 */
export async function createGroup(deps: Deps, owner: string, input: CreateGroupInput): Promise<Group> {
  const members = [...new Set([owner, ...(input.members ?? [])])];
  if (members.length > deps.config.maxGroupMembers) {
    throw new ValidationError(`members: a group has at most ${deps.config.maxGroupMembers} members`);
  }
  let group = {
    groupId: deps.ids.next(),
    name: input.name ?? '',
    owner,
    createdAt: deps.clock.now(),
  };
  const founders = members.slice(0, JOINS_PER_TRANSACTION);
  const refs = founders.map(
    (userId): ConversationRef => ({ owner: userId, chatType: 'group', convId: group.groupId }),
  );
  const idempotency = creationIdempotency(deps, owner, input.clientRequestId, group.name, members);
  const reads = present(
    limitKey(deps, owner, 'createGroup'),
    limitKey(deps, owner, 'addMembers'),
    idempotency?.key,
  );
  // Where the members still to join start: after the founders, or where an earlier attempt got to.
  let joinedThrough = founders.length;
  const replayed = await withRetries(deps, 'create group', async function attemptCreate() {
    const read = await readForWrite(deps, refs, reads);
    const earlier = idempotency && groupCreationRecordOf(read.item(idempotency.key), deps.clock.now());
    if (earlier) {
      if (earlier.requestHash !== idempotency.hash) {
        throw new ConflictError('clientRequestId was already used for a different group');
      }
      group = { ...group, groupId: earlier.groupId, createdAt: earlier.createdAt };
      joinedThrough = earlier.joinedThrough;
      return true;
    }
    const limitItem = (name: 'createGroup' | 'addMembers') => {
      const key = limitKey(deps, owner, name);
      return key && read.item(key);
    };
    const actions = [
      createGroupMetaAction(deps.db.tableName, group, founders.length),
      spend(deps, owner, 'createGroup', limitItem('createGroup')),
      spend(deps, owner, 'addMembers', limitItem('addMembers'), members.length - 1),
    ].filter((action): action is TransactItem => action !== undefined);
    for (const ref of refs) {
      actions.push(putMemberAction(deps.db.tableName, group.groupId, ref.owner, 0, group.createdAt));
      actions.push(...join(read.context(ref.owner), read.state(ref), { seq: 0 }).actions);
    }
    actions.push(membersAddedEvent(deps, group.groupId, founders, owner));
    if (idempotency) {
      actions.push(
        putRecordAction(
          deps.db.tableName,
          idempotency,
          {
            groupId: group.groupId,
            createdAt: group.createdAt,
            joinedThrough,
            expiresAt: ttlAfter(deps.clock.now(), deps.config.idempotencyDays),
          },
          deps.clock.now(),
        ),
      );
    }
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : false;
  });
  // A retry joins only those an interrupted creation did not (not one who has left since).
  let latest: GroupView | undefined;
  for (let i = joinedThrough; i < members.length; i += JOINS_PER_TRANSACTION) {
    const batch = members.slice(i, i + JOINS_PER_TRANSACTION);
    latest = await joinMembers(deps, group.groupId, batch, {
      by: owner,
      creation: idempotency && { request: idempotency, through: i + batch.length },
    });
  }
  // Founded past the threshold in its first transaction: its switch begins (the first send finishes it).
  if (members.length > deps.config.sharedHistoryAbove && !latest?.meta.switching) {
    await markSwitching(deps.db, group.groupId);
  }
  if (!replayed) return { ...group, members };
  // A retry answers with the group as it is now (members may have left since it was made).
  const current = latest ?? (await readGroup(deps.db, group.groupId));
  if (!current) throw new ForbiddenError('You are not a member of this group');
  return groupOf(current);
}

/** Members joined, in the joining transaction (a creation's founders, each further batch, an add). */
function membersAddedEvent(deps: Deps, groupId: string, members: readonly string[], by: string) {
  return eventAction(deps, 'group.member.added', { groupId, members: [...members], by });
}

/** A creation with a clientRequestId; its hash covers what makes the group. */
function creationIdempotency(
  deps: Deps,
  owner: string,
  clientRequestId: string | undefined,
  name: string,
  members: readonly string[],
): RetryableRequest | undefined {
  if (clientRequestId === undefined) return undefined;
  return retryableRequest(keys.groupCreation(owner, clientRequestId), { name, members }, deps.idempotencyKey);
}

/** The owner adds a member. Adding an existing member is a no-op. */
export async function addMember(deps: Deps, caller: string, groupId: string, userId: string): Promise<Group> {
  const view = await groupOwnedBy(deps, caller, groupId);
  if (view.members.includes(userId)) return groupOf(view);
  const joined = await joinMembers(deps, groupId, [userId], {
    by: caller,
    chargedTo: caller,
    justRead: view,
  });
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
      ...(state.shared ? [removeLargeGroupAction(deps.db.tableName, userId, groupId)] : []),
      eventAction(deps, 'group.member.removed', { groupId, member: userId, by: caller }),
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
async function joinMembers(
  deps: Deps,
  groupId: string,
  userIds: readonly string[],
  options: {
    /** Who adds them (the owner): their event names them. */
    by: string;
    /** Whose member-add limit the newcomers count against (group creation has counted them already). */
    chargedTo?: string;
    /**
     * The group as the caller just read it (strongly consistent), for the first attempt: the transaction
     * is conditional on its membership version, so a change since fails it and the retry reads again.
     */
    justRead?: GroupView;
    /**
     * The creation (with a clientRequestId) these members are joined for, and how far its member list is
     * joined once they are: its record's `joinedThrough` moves there in the joining transaction. Each
     * attempt reads the record with the newcomers: once another attempt of the same creation joined this
     * batch, it is done (a newcomer missing from the group now has left since, and stays out).
     */
    creation?: { request: RetryableRequest; through: number };
  },
): Promise<GroupView> {
  const { chargedTo, justRead, creation } = options;
  const limit = chargedTo === undefined ? undefined : limitKey(deps, chargedTo, 'addMembers');
  let known = justRead;
  const joined = await withRetries(deps, 'add members', async function attemptJoin() {
    const view = known ?? (await readGroup(deps.db, groupId));
    known = undefined;
    if (!view) throw new ForbiddenError('You are not a member of this group');
    const newcomers = userIds.filter((userId) => !view.members.includes(userId));
    if (newcomers.length === 0) return view;
    if (view.meta.memberCount + newcomers.length > deps.config.maxGroupMembers) {
      throw new ConflictError(`the group is full (${deps.config.maxGroupMembers} members)`);
    }
    const refs = newcomers.map((owner): ConversationRef => ({ owner, chatType: 'group', convId: groupId }));
    const read = await readForWrite(deps, refs, present(limit, creation?.request.key));
    const now = deps.clock.now();
    const record = creation && groupCreationRecordOf(read.item(creation.request.key), now);
    if (record && record.joinedThrough >= creation.through) return view;
    const { meta } = view;
    // Once a switch to shared mode has begun, newcomers join in shared form (switch.ts); a join read
    // before it began must not commit in fan-out form after it.
    const shared = meta.shared || meta.switching;
    const actions: TransactItem[] = [
      membershipChangeAction(deps.db.tableName, meta, {
        added: newcomers.length,
        removed: 0,
        maxMembers: deps.config.maxGroupMembers,
        fanOutForm: !shared,
      }),
    ];
    const spent =
      limit && chargedTo && spend(deps, chargedTo, 'addMembers', read.item(limit), newcomers.length);
    if (spent) actions.push(spent);
    if (record)
      actions.push(groupCreationProgressAction(deps.db.tableName, creation.request, creation.through));
    for (const ref of refs) {
      actions.push(putMemberAction(deps.db.tableName, groupId, ref.owner, meta.seq, now));
      actions.push(
        ...join(read.context(ref.owner), read.state(ref), {
          seq: meta.seq,
          headMsgId: meta.headMsgId,
          shared,
        }).actions,
      );
      if (shared) actions.push(addLargeGroupAction(deps.db.tableName, ref.owner, groupId));
    }
    actions.push(membersAddedEvent(deps, groupId, newcomers, options.by));
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
  // Past the threshold, the group's switch to shared mode begins (one way); joins from now on are in
  // shared form, and the next send finishes the switch before it takes a position (switch.ts).
  const { meta } = joined;
  if (!meta.shared && !meta.switching && meta.memberCount > deps.config.sharedHistoryAbove) {
    await markSwitching(deps.db, groupId);
    return { ...joined, meta: { ...meta, switching: true } };
  }
  return joined;
}

async function groupOwnedBy(deps: Deps, caller: string, groupId: string): Promise<GroupView> {
  const view = await readGroup(deps.db, groupId);
  if (!view?.members.includes(caller)) throw new ForbiddenError('You are not a member of this group');
  if (view.meta.owner !== caller) throw new ForbiddenError('Only the group owner can add members');
  return view;
}
