import { forEachLimited } from '../core/concurrency.js';
import { ThrottledError } from '../core/errors.js';
import type { ConversationRef } from '../core/model.js';
import { moveToShared } from '../store/conversation.js';
import { flipToShared, markSwitching, readGroup, readLog } from '../store/group-store.js';
import { addLargeGroupAction } from '../store/large-groups.js';
import { commit, readForWrite, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { applyToMembers } from './group-fanout.js';

/**
 * The one-way switch of a group to shared mode (docs/large-groups.md), once a join takes it past
 * `sharedHistoryAbove` members. It runs while sends and deletes go on:
 * 1. META is marked `switching` (by that join): members who join from now on join in shared form. The
 *    next send to the group runs the rest before it takes a position.
 * 2. Every member's side moves to shared form (off the list index, onto their large-groups item), one
 *    small transaction each. Sends still fan out meanwhile, into the moved sides as into the others.
 * 3. Every member is brought to the group's head (the fan-out of every position so far is finished).
 * 4. META flips to `shared`, only if no send took a position and no member joined or left since step 2
 *    read the group; else round again. From the flip on, each message is stored once, and each member's
 *    side is derived from their item (which is at the flip's position) and META.
 * Idempotent and resumable: every send that meets a group `switching` finishes the switch first.
 */

/** Rounds of steps 2–4 before giving up (each is cut short only by a send or a membership change). */
const MAX_ROUNDS = 20;
const MOVE_CONCURRENCY = 16;

export async function finishSwitch(deps: Deps, groupId: string): Promise<void> {
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const group = await readGroup(deps.db, groupId);
    if (!group || group.meta.shared) return;
    if (!group.meta.switching) {
      await markSwitching(deps.db, groupId);
      continue;
    }
    await forEachLimited(group.members, MOVE_CONCURRENCY, (member) => moveMember(deps, groupId, member));
    const { meta } = group;
    if (meta.seq > 0) {
      const [head] = await readLog(deps.db, groupId, { from: meta.seq, to: meta.seq }, deps.clock.now());
      // No entry: it was settled and expired, so every member has it already.
      if (head) await applyToMembers(deps, groupId, group.members, head);
    }
    if (await flipToShared(deps.db, meta)) return;
    await deps.timer.sleep(deps.random() * 20);
  }
  throw new ThrottledError('group: its switch to shared mode kept being overtaken; retry shortly');
}

/** Moves one member's side to shared form, with their large-groups item (a no-op once moved). */
async function moveMember(deps: Deps, groupId: string, member: string): Promise<void> {
  const ref: ConversationRef = { owner: member, chatType: 'group', convId: groupId };
  await withRetries(deps, 'group switch', async function attemptMove() {
    const read = await readForWrite(deps, [ref]);
    const state = read.state(ref);
    if (!state.exists || state.left || state.shared) return undefined;
    const written = moveToShared(read.context(member), state);
    const actions = [...written.actions, addLargeGroupAction(deps.db.tableName, member, groupId)];
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : undefined;
  });
}
