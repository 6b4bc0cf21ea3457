import { DAY_MS } from '../core/clock.js';
import { forEachLimited } from '../core/concurrency.js';
import { highestIdAt, minId } from '../core/ids.js';
import type { RetentionDays } from '../core/model.js';
import { batchGet, batchWriteAll } from '../store/db.js';
import { expiredSendEventDelete } from '../store/event-store.js';
import { type Hold, listHolds } from '../store/hold-store.js';
import { keys } from '../store/keys.js';
import { deleteCopyRequest, dueCopyIds, sharedHistoryOf } from '../store/message-store.js';
import { getAllPolicies, type RetentionPolicies } from '../store/policy-store.js';
import { listSharedGroups } from '../store/shared-groups.js';
import type { WritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH } from './purge.js';
import { cutoffFor, longestDuring, NO_CUTOFF, SWEEP_CLOCK_MARGIN_MS, sweepWindow } from './retention.js';
import { type Budget, createBudget, type StopReason } from './sweep-budget.js';
import { ROUND_COPIES } from './sweep-round.js';

/**
 * The physical deletion of large groups' shared copies (docs/large-groups.md), once per sweep run.
 * Retention is per user, and every member's read of a shared history is bounded by their own cutoff;
 * one copy serves them all, so it may go only once nobody could see it. The rule is conservative: a
 * shared copy is deleted once it is at or before the cutoff of the LONGEST retention in force for
 * anyone (the app default and every user's override, members or not; a cleared override follows the
 * app default), at the run's fixed `now` less the sweep's clock margin, as the sweep deletes own copies
 * (deletableCutoff). An app default or any override of "forever" deletes nothing. So no copy goes that
 * any member could still see under their own policy; copies may stay longer than their members'
 * policies need (one user keeping a year keeps every group's copies a year). Floors are not read: they
 * only ever hide more. The policies are read again (strongly consistent) before each page of groups,
 * after the deletes of the page before: a policy change that answered by then binds that page, as a
 * sweep round's do (docs/consistency.md, section 7).
 * The deletes are idempotent: a crash or an early stop leaves the rest to the next run.
 * A group under a legal hold (named by a hold, or with a held user's side) is skipped whole: its copies
 * stay until the hold is released, and the first run after purges them (docs/compliance.md).
 */

export interface SharedPurgeCounts {
  /** Registered groups whose shared history was read. */
  groups: number;
  copiesDeleted: number;
  /** Set when the budget stopped the purge before every group was done (the next run goes on). */
  stoppedBy?: StopReason;
}

export const zeroSharedPurgeCounts = (): SharedPurgeCounts => ({ groups: 0, copiesDeleted: 0 });

export interface SharedPurgeOptions {
  /** The sweep invocation's time and batch limits (50 copies a batch). @default unlimited */
  budget?: Budget;
  /** The sweep invocation's rate-limited delete streams. @default BatchWriteItem calls of 25 */
  deletes?: WritePipe;
}

/** Registered groups read per Query of the registry, and purged at once. */
const GROUPS_PAGE = 100;
const GROUPS_AT_ONCE = 4;

/**
 * What may be deleted of any shared history at `now`: the cutoff of the longest retention in force
 * for anyone at any moment of the sweep's clock window (NO_CUTOFF if anyone keeps forever), at its start.
 */
export function sharedDeletableCutoff(stored: RetentionPolicies, now: number): number {
  const { from, to } = sweepWindow(now);
  const longestOfAnyone = (policies: RetentionPolicies): RetentionDays => {
    const days = [policies.appDays, ...policies.userDays.values()];
    return days.some((d) => d === null) ? null : Math.max(...(days as number[]));
  };
  return cutoffFor(longestDuring(stored, from, to, longestOfAnyone), from);
}

/**
 * Deletes every registered group's shared copies at or before sharedDeletableCutoff, oldest first, in
 * BatchWriteItem calls of 25. Stops early when the budget says so (the next run goes on). Costs one
 * Query per 100 registered groups, one key Query per group (and one more per 250 copies deleted), and
 * one write unit per copy deleted; nothing at all while anyone keeps forever.
 */
export async function purgeSharedHistories(
  deps: Deps,
  now: number,
  options: SharedPurgeOptions = {},
): Promise<SharedPurgeCounts> {
  const counts = zeroSharedPurgeCounts();
  const budget = options.budget ?? unlimitedBudget();
  const deletes = options.deletes ?? directDeletes;
  const stoppedAlready = budget.stopReason();
  if (stoppedAlready !== undefined) return { ...counts, stoppedBy: stoppedAlready };
  let startKey: Record<string, unknown> | undefined;
  do {
    // Bound again before each page's deletes (strongly consistent): a policy change that answered
    // while the page before was deleting binds this one (docs/consistency.md, section 7).
    // The holds too: a group one of whose members (or former members) is held keeps its copies.
    const [inForce, holds] = await Promise.all([getAllPolicies(deps.db), listHolds(deps.db)]);
    const cutoff = sharedDeletableCutoff(inForce, now);
    if (cutoff === NO_CUTOFF) return counts;
    const through = highestIdAt(cutoff);
    const page = await listSharedGroups(deps.db, { limit: GROUPS_PAGE, startKey });
    await forEachLimited(page.groupIds, GROUPS_AT_ONCE, async function purgeGroup(groupId) {
      const stop = counts.stoppedBy ?? budget.stopReason();
      if (stop !== undefined) {
        counts.stoppedBy = stop;
        return;
      }
      counts.groups++;
      if (await groupIsHeld(deps, holds, groupId)) return;
      // A member's own longer policy on this group keeps its copies that long (conversation-retention.ts).
      const keep = page.keepDays.get(groupId);
      const bound =
        keep === undefined
          ? through
          : minId(through, highestIdAt(now - SWEEP_CLOCK_MARGIN_MS - keep * DAY_MS));
      const purged = await purgeHistory(deps, groupId, bound, { budget, deletes });
      counts.copiesDeleted += purged.deleted;
      if (purged.stoppedBy !== undefined) counts.stoppedBy ??= purged.stoppedBy;
    });
    startKey = page.nextKey;
  } while (startKey && counts.stoppedBy === undefined);
  return counts;
}

/** Deletes one shared history's copies at or below `through`, unless the budget stops it first. */
async function purgeHistory(
  deps: Deps,
  groupId: string,
  through: string,
  { budget, deletes }: { budget: Budget; deletes: WritePipe },
): Promise<{ deleted: number; stoppedBy?: StopReason }> {
  const home = sharedHistoryOf(groupId);
  let deleted = 0;
  for (;;) {
    // Deleted copies are gone from the next strongly consistent read: it starts at the bottom again.
    const { ids, more } = await dueCopyIds(deps.db, home, through, ROUND_COPIES);
    let allowed = 0;
    while (allowed < ids.length && budget.takeBatch()) allowed += PURGE_BATCH;
    const taken = ids.slice(0, allowed);
    const options = {
      shards: deps.config.eventShards,
      retentionDays: deps.config.eventRetentionDays,
      now: deps.clock.now(),
    };
    // Each message's send event goes with its one shared copy (event-store.ts).
    const sendEvents = taken
      .map((msgId) =>
        expiredSendEventDelete({ chatType: 'group', owner: groupId, convId: groupId, msgId }, options),
      )
      .filter((request) => request !== undefined);
    await deletes.write(deps.db, [...taken.map((id) => deleteCopyRequest(home, id)), ...sendEvents]);
    deleted += taken.length;
    if (taken.length < ids.length) return { deleted, stoppedBy: budget.stopReason() ?? 'aborted' };
    if (!more) return { deleted };
  }
}

/**
 * Whether a legal hold covers the group's shared copies: a hold names the group as a conversation, or
 * holds everything of a user who has a side of it (a member, or a former one: what they could see is
 * kept). One BatchGetItem of the held users' sides, only while there are such holds.
 */
async function groupIsHeld(deps: Deps, holds: readonly Hold[], groupId: string): Promise<boolean> {
  const group = { chatType: 'group' as const, convId: groupId };
  if (holds.some((hold) => hold.conversations?.some((c) => c.chatType === 'group' && c.convId === groupId))) {
    return true;
  }
  const users = [
    ...new Set(holds.filter((hold) => hold.conversations === undefined).flatMap((h) => h.userIds)),
  ];
  if (users.length === 0) return false;
  const sides = await batchGet(
    deps.db,
    users.map((owner) => keys.conversation({ owner, ...group })),
  );
  return sides.size > 0;
}

function unlimitedBudget(): Budget {
  const unlimited = { remainingMs: () => Number.POSITIVE_INFINITY, stopBeforeTimeoutMs: 0 };
  return createBudget({ ...unlimited, maxBatches: Number.POSITIVE_INFINITY });
}

const directDeletes: WritePipe = {
  async write(db, requests) {
    await batchWriteAll(db, requests);
  },
};
