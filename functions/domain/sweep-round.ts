import { mapLimited } from '../core/concurrency.js';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, maxId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { deleteCopyRequest, dueCopyIds, oldestCopyAbove } from '../store/message-store.js';
import { getPoliciesForUsers, type RetentionPolicies } from '../store/policy-store.js';
import type { ShardItem } from '../store/sweep-shard-store.js';
import type { SweepCounts } from '../store/sweep-store.js';
import { readConversationsOnly } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { fileUnreadPurges, PURGE_BATCH, settleReadPurge } from './purge.js';
import { deletableCutoff, NO_CUTOFF } from './retention.js';
import type { StopReason } from './sweep-budget.js';
import type { SweepContext } from './sweep-shard.js';

/**
 * One round of a shard's pass: up to 8 due conversations (2 until the invocation's first deletes, so
 * its write streams get work sooner), up to 250 copies each, read at once and deleted together.
 */

export const ROUND_CONVERSATIONS = 8;
export const FIRST_ROUND_CONVERSATIONS = 2;
export const ROUND_COPIES = 5 * PURGE_BATCH;
export const DELETE_STREAMS_PER_WORKER = 2;
const READS_IN_FLIGHT = 8;
/** Below every message id: a bound that deletes nothing. */
export const NOTHING = lowestIdAt(0);

/** Where a shard's pass is: a later claim resumes there. */
export type Position = Pick<ShardItem, 'indexCursor' | 'indexDone' | 'userCursor'>;

/** A due conversation (copies at or below `through` go), met at `position`; `continued`: counted already. */
export interface RoundEntry {
  ref: ConversationRef;
  through: string;
  position: Position;
  continued?: boolean;
  /** Due now (a one-way delete, or a settle a purger died before): its unread is recounted. */
  recount?: true;
}

/** A pass's next round, what it counted and has not saved yet, and the owners it counted. */
export type RoundPass = { round: RoundEntry[]; tally: { unsaved: SweepCounts; owners: Set<string> } };

/** A round entry once read: the ids it deletes now (`more` left for the next round). */
export interface ReadEntry extends RoundEntry {
  ids: string[];
  more: boolean;
  oldestRemaining?: string;
}

/**
 * Reads the round, once the round before has finished: each conversation's due ids (up to 250) and
 * oldest copy above its bound, their items (no sync heads: the settle writes nothing an owner sees),
 * and their owners' policies, strongly consistent, right before the deletes. Those cut the entries to
 * what they let go: a policy change that answered before binds the round. One that answers later finds
 * these copies hidden already (at or below the cutoff read here, less the sweep's clock margin) and
 * keeps them hidden (its floor), so nothing it shows is deleted (docs/consistency.md, section 7).
 */
async function readRound(deps: Deps, round: readonly RoundEntry[], runNow: number) {
  const refs = round.map((entry) => entry.ref);
  const [snapshot, policies, entries] = await Promise.all([
    readConversationsOnly(deps, refs),
    getPoliciesForUsers(deps.db, [...new Set(refs.map((ref) => ref.owner))]),
    mapLimited(round, READS_IN_FLIGHT / 2, async function readEntry(entry): Promise<ReadEntry> {
      const [due, oldestRemaining] = await Promise.all([
        dueCopyIds(deps.db, entry.ref, entry.through, ROUND_COPIES),
        oldestCopyAbove(deps.db, entry.ref, entry.through),
      ]);
      return { ...entry, ids: due.ids, more: due.more, oldestRemaining };
    }),
  ]);
  const bounded = entries.map(function withinBound(entry): ReadEntry {
    const { ref, through, ids } = entry;
    const bound = purgeBound(policies, ref.owner, runNow, snapshot.state(ref).clearedThrough) ?? NOTHING;
    if (bound >= through) return entry;
    const kept = ids.filter((id) => id <= bound);
    if (kept.length === ids.length) return { ...entry, through: bound };
    return { ...entry, through: bound, ids: kept, more: false, oldestRemaining: ids[kept.length] };
  });
  return { snapshot, entries: bounded };
}

/** What may be deleted of an owner's conversation: what they cleared, and what retention in force expires. */
export function purgeBound(policies: RetentionPolicies, owner: string, now: number, cleared?: string) {
  const cutoff = deletableCutoff(policies, owner, now);
  const byRetention = cutoff === NO_CUTOFF ? undefined : highestIdAt(cutoff);
  if (cleared === undefined) return byRetention;
  return byRetention === undefined ? cleared : maxId(cleared, byRetention);
}

/**
 * Purges the pass's round: reads it, takes and counts what the budget allows (50 copies at a time), runs
 * `save`, deletes in BatchWriteItem calls of 25 through the invocation's write pipe, and settles each
 * conversation it finished on the round's read. What goes on is left as the next round (more due copies
 * first, then what the budget did not reach); returns why the invocation must stop, if it must.
 */
export async function purgeRound(deps: Deps, ctx: SweepContext, pass: RoundPass, save: () => Promise<void>) {
  const { tally } = pass;
  const { snapshot, entries } = await readRound(deps, pass.round, ctx.run.now);
  const taken: ReadEntry[] = [];
  let stop: StopReason | undefined;
  for (const entry of entries) {
    let allowed = 0;
    while (allowed < entry.ids.length && ctx.budget.takeBatch()) allowed += PURGE_BATCH;
    if (allowed >= entry.ids.length) {
      taken.push(entry);
      continue;
    }
    if (allowed > 0) taken.push({ ...entry, ids: entry.ids.slice(0, allowed), more: true });
    stop = ctx.budget.stopReason() ?? 'aborted';
    break;
  }
  const deleting = taken.filter((entry) => entry.ids.length > 0);
  for (const { ids, ref, continued } of deleting) {
    tally.unsaved.messagesDeleted += ids.length;
    tally.unsaved.batches += Math.ceil(ids.length / PURGE_BATCH);
    if (!continued) tally.unsaved.conversations++;
    if (!tally.owners.has(ref.owner)) tally.unsaved.users++;
    tally.owners.add(ref.owner);
  }
  if (deleting.length > 0) await Promise.all([save(), fileUnreadPurges(deps, snapshot, deleting)]);
  const requests = taken.flatMap((entry) => entry.ids.map((id) => deleteCopyRequest(entry.ref, id)));
  if (requests.length > 0) await ctx.deletes.write(deps.db, requests);
  const settle = ({ ref, through, oldestRemaining, recount }: ReadEntry) =>
    settleReadPurge(deps, snapshot, ref, {
      purgedThrough: recount ? highestIdAt(MAX_ID_TIME) : through,
      oldestRemaining,
    });
  const finished = taken.filter((entry) => !entry.more);
  await mapLimited(finished, READS_IN_FLIGHT, settle);
  const goingOn = taken.filter((entry) => entry.more);
  const left = goingOn.map(({ ref, through, position }) => ({ ref, through, position, continued: true }));
  pass.round = [...left, ...entries.slice(taken.length)];
  return stop;
}
