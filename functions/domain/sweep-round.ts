import { mapLimited } from '../core/concurrency.js';
import { highestIdAt, lowestIdAt, maxId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { deleteCopyRequest, dueCopyIds, oldestCopyAbove } from '../store/message-store.js';
import { getPoliciesForUsers, type RetentionPolicies } from '../store/policy-store.js';
import type { ShardItem } from '../store/sweep-shard-store.js';
import type { SweepCounts } from '../store/sweep-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import { readConversationsOnly, type Snapshot } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH, settleReadPurge } from './purge.js';
import { deletableCutoff, NO_CUTOFF } from './retention.js';
import type { Budget, StopReason } from './sweep-budget.js';

/**
 * One round of a shard's pass: up to 8 due conversations purged together. Its reads go out at once: each
 * conversation's due copy ids (up to 250) and oldest copy above its bound, one BatchGetItem of their
 * items (no sync heads: the settle writes nothing an owner sees) and one of their owners' policies. The
 * deletes go in BatchWriteItem calls of 25 mixed across the round through the invocation's write pipe;
 * each finished conversation is then settled on the round's read (purge.ts, settleReadPurge).
 */

export const ROUND_CONVERSATIONS = 8;
/** A pass's rounds until its first deletes: small, so the write streams get work sooner. */
export const FIRST_ROUND_CONVERSATIONS = 2;
/** Due copies read per conversation and round. */
export const ROUND_COPIES = 5 * PURGE_BATCH;
/** BatchWriteItem calls in flight per worker: an invocation's write pipe has this many per worker. */
export const DELETE_STREAMS_PER_WORKER = 2;
/** Reads in flight per worker while a round is read. */
const READS_IN_FLIGHT = 8;
/** Below every message id: a bound that deletes nothing. */
const NOTHING = lowestIdAt(0);

/** Where a shard's pass is: a later claim resumes there. */
export type Position = Pick<ShardItem, 'indexCursor' | 'indexDone' | 'userCursor'>;

/** A due conversation: copies at or below `through` go. */
export interface RoundEntry {
  ref: ConversationRef;
  through: string;
  /** The pass's position at its candidate. */
  position: Position;
  /** An earlier round of the pass deleted some of its copies (and counted it). */
  continued?: boolean;
}

/** A round entry once read: the ids it deletes now, and what settling it needs. */
export interface ReadEntry extends RoundEntry {
  ids: string[];
  /** More due copies than the round takes: the conversation goes on in the next round. */
  more: boolean;
  oldestRemaining?: string;
}

/**
 * Reads the round (the round before it has finished). Its owners' policies are read strongly consistent
 * with it, right before its deletes, and cut its entries to what they let go: a policy change that
 * answered before binds the round. One that answers later finds these copies hidden already (at or
 * below the cutoff read here, less the sweep's clock margin) and keeps them hidden (its floor), so
 * nothing it shows is deleted (docs/consistency.md, section 7).
 */
export async function readRound(deps: Deps, round: readonly RoundEntry[], runNow: number) {
  const [snapshot, policies, entries] = await Promise.all([
    readConversationsOnly(
      deps,
      round.map((entry) => entry.ref),
    ),
    getPoliciesForUsers(deps.db, [...new Set(round.map((entry) => entry.ref.owner))]),
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
    const bound = purgeBound(policies, ref.owner, snapshot.state(ref).clearedThrough, runNow) ?? NOTHING;
    if (bound >= through) return entry;
    const kept = ids.filter((id) => id <= bound);
    if (kept.length === ids.length) return { ...entry, through: bound };
    // The conversation is settled under the first id kept.
    return { ...entry, through: bound, ids: kept, more: false, oldestRemaining: ids[kept.length] };
  });
  return { snapshot, entries: bounded };
}

/** What may be deleted of an owner's conversation: what they cleared, and what retention in force expires. */
export function purgeBound(
  policies: RetentionPolicies,
  owner: string,
  clearedThrough: string | undefined,
  now: number,
): string | undefined {
  const cutoff = deletableCutoff(policies, owner, now);
  const byRetention = cutoff === NO_CUTOFF ? undefined : highestIdAt(cutoff);
  if (clearedThrough === undefined) return byRetention;
  return byRetention === undefined ? clearedThrough : maxId(clearedThrough, byRetention);
}

/**
 * The prefix of the round the budget allows, 50 copies at a time (an entry cut short goes on later),
 * and why the invocation stops after it, if it must.
 */
export function takeBudget(budget: Budget, entries: readonly ReadEntry[]) {
  const taken: ReadEntry[] = [];
  for (const entry of entries) {
    let allowed = 0;
    while (allowed < entry.ids.length && budget.takeBatch()) allowed += PURGE_BATCH;
    if (allowed >= entry.ids.length) taken.push(entry);
    else {
      if (allowed > 0) taken.push({ ...entry, ids: entry.ids.slice(0, allowed), more: true });
      return { taken, stop: budget.stopReason() ?? ('aborted' as StopReason) };
    }
  }
  return { taken, stop: undefined };
}

/** Adds what the round deletes: a conversation unless `continued`, an owner unless in `owners`. */
export function countRound(counts: SweepCounts, owners: Set<string>, taken: readonly ReadEntry[]): void {
  for (const entry of taken.filter((entry) => entry.ids.length > 0)) {
    counts.messagesDeleted += entry.ids.length;
    counts.batches += Math.ceil(entry.ids.length / PURGE_BATCH);
    if (!entry.continued) counts.conversations++;
    if (!owners.has(entry.ref.owner)) counts.users++;
    owners.add(entry.ref.owner);
  }
}

/** Deletes the round's copies through the invocation's write pipe, then settles each finished entry. */
export async function purgeRound(
  deps: Deps,
  pipe: WritePipe,
  snapshot: Snapshot,
  taken: readonly ReadEntry[],
) {
  const requests = taken.flatMap((entry) => entry.ids.map((id) => deleteCopyRequest(entry.ref, id)));
  if (requests.length > 0) await pipe.write(deps.db, requests);
  const finished = taken.filter((entry) => !entry.more);
  await mapLimited(finished, READS_IN_FLIGHT, (entry) =>
    settleReadPurge(deps, snapshot, entry.ref, {
      purgedThrough: entry.through,
      oldestRemaining: entry.oldestRemaining,
    }),
  );
}
