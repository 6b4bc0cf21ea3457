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
 * One round of a shard's pass: a few due conversations purged together (see sweep.ts for the design).
 * Their reads go out at once (each one's due copy ids and the oldest copy above its bound, and one
 * BatchGetItem of their items without sync heads); the owners' policies are read again right before the
 * deletes; the deletes go in BatchWriteItem calls of 25 mixed across the round through the invocation's
 * write pipe; each finished conversation is then settled, mostly by one conditional write.
 */

/** Conversations per round; a shard pass's first round is smaller, so its deletes start sooner. */
export const ROUND_CONVERSATIONS = 8;
export const FIRST_ROUND_CONVERSATIONS = 2;
/** Due copies read per conversation and round. */
export const ROUND_COPIES = 5 * PURGE_BATCH;
/** BatchWriteItem calls in flight per worker: an invocation's write pipe has this many per worker. */
export const DELETE_STREAMS_PER_WORKER = 2;
/** Reads in flight per worker while a round is read. */
const READS_IN_FLIGHT = 8;

/** Where a shard's pass is: a later claim resumes at it. */
export type Position = Pick<ShardItem, 'indexCursor' | 'indexDone' | 'userCursor'>;

/** A due conversation in a round. */
export interface RoundEntry {
  ref: ConversationRef;
  /** owner#chatType#convId: a round holds a conversation once. */
  conversation: string;
  /** Copies at or below this id go. */
  through: string;
  /** The pass's position at this conversation's candidate. */
  position: Position;
  /** An earlier round of this pass deleted some of its copies (it is counted already). */
  continued?: boolean;
}

/** A round entry once read: the ids it deletes now, and what settling it needs. */
export interface ReadEntry extends RoundEntry {
  ids: string[];
  /** More due copies than this round takes: the conversation goes on in the next round. */
  more: boolean;
  oldestRemaining?: string;
}

export const conversationName = (ref: ConversationRef) => `${ref.owner}#${ref.chatType}#${ref.convId}`;

/** Reads the round: every entry's due ids and oldest copy left, and every item, all at once. */
export async function readRound(deps: Deps, entries: readonly RoundEntry[]) {
  const [snapshot, read] = await Promise.all([
    // The settle it serves writes nothing the owners see (purge.ts, settleReadPurge): no sync heads.
    readConversationsOnly(
      deps,
      entries.map((entry) => entry.ref),
    ),
    mapLimited(entries, READS_IN_FLIGHT / 2, async function readEntry(entry): Promise<ReadEntry> {
      const [due, oldestRemaining] = await Promise.all([
        dueCopyIds(deps.db, entry.ref, entry.through, ROUND_COPIES),
        oldestCopyAbove(deps.db, entry.ref, entry.through),
      ]);
      return { ...entry, ids: due.ids, more: due.more, oldestRemaining };
    }),
  ]);
  return { snapshot, entries: read };
}

/**
 * The round cut down to what the policies in force let go, read right before its deletes (strongly
 * consistent; the round before has finished). A policy change that answered before this read binds the
 * round: it keeps what the new policy keeps. One that answers later finds these copies hidden already
 * (they are at or below the cutoff read here, less the sweep's clock margin) and keeps them hidden (its
 * floor), so nothing it shows is deleted (docs/consistency.md, section 7).
 */
export async function boundRound(
  deps: Deps,
  snapshot: Snapshot,
  entries: readonly ReadEntry[],
  runNow: number,
): Promise<ReadEntry[]> {
  if (entries.length === 0) return [];
  const policies = await getPoliciesForUsers(deps.db, [...new Set(entries.map((entry) => entry.ref.owner))]);
  return entries.map((entry) =>
    withinBound(
      entry,
      purgeBound(policies, entry.ref.owner, snapshot.state(entry.ref).clearedThrough, runNow),
    ),
  );
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

/** The entry cut down to `bound` (ids above it stay; the conversation is settled under the first). */
function withinBound(entry: ReadEntry, bound: string | undefined): ReadEntry {
  const through = bound === undefined ? NOTHING : bound < entry.through ? bound : entry.through;
  if (through === entry.through) return entry;
  const kept = entry.ids.filter((id) => id <= through);
  if (kept.length === entry.ids.length) return { ...entry, through };
  return { ...entry, through, ids: kept, more: false, oldestRemaining: entry.ids[kept.length] };
}

/** Below every message id: a bound that deletes nothing. */
const NOTHING = lowestIdAt(0);

/**
 * The prefix of the round the budget allows, 50 copies at a time; why the invocation stops after it,
 * if it must. An entry cut short goes on later (`more`).
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

/** Adds what the round deletes to `counts`: a conversation once per pass, an owner once per `owners`. */
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
  entries: readonly ReadEntry[],
): Promise<void> {
  const requests = entries.flatMap((entry) => entry.ids.map((id) => deleteCopyRequest(entry.ref, id)));
  if (requests.length > 0) await pipe.write(deps.db, requests);
  await mapLimited(
    entries.filter((entry) => !entry.more),
    READS_IN_FLIGHT,
    (entry) =>
      settleReadPurge(deps, snapshot, entry.ref, {
        purgedThrough: entry.through,
        oldestRemaining: entry.oldestRemaining,
      }),
  );
}
