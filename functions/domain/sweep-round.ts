import { mapLimited } from '../core/concurrency.js';
import { highestIdAt, lowestIdAt, maxId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import type { WriteRequest } from '../store/db.js';
import { deleteCopyRequest, dueCopyIds, oldestCopyAbove } from '../store/message-store.js';
import { getPoliciesForUsers, type RetentionPolicies } from '../store/policy-store.js';
import type { PendingBatch } from '../store/sweep-shard-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import { readConversationsOnly, type Snapshot } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH, settleReadPurge } from './purge.js';
import { deletableCutoff, NO_CUTOFF } from './retention.js';

/**
 * One round of a shard's sweep: a few due conversations purged together (see sweep.ts for the design).
 * Their reads go out at once (each conversation's due copy ids and, alongside, the oldest copy above its
 * bound, and one BatchGetItem of all their conversation items for the settle, without sync heads); the
 * shard checkpoints the round before its deletes; the deletes go in BatchWriteItem calls of 25 mixed
 * across conversations through the invocation's write pipe (the user markers ride along); each finished
 * conversation is then settled, mostly by one conditional write.
 */

/** Conversations per round, and due copies read per conversation and round. */
export const ROUND_CONVERSATIONS = 8;
/** A worker's first round of an invocation: its deletes start sooner. */
export const FIRST_ROUND_CONVERSATIONS = 2;
export const ROUND_COPIES = 5 * PURGE_BATCH;
/** BatchWriteItem calls in flight per worker: an invocation's write pipe has this many per worker. */
export const DELETE_STREAMS_PER_WORKER = 2;
/** Reads in flight per worker while a round is read. */
const READS_IN_FLIGHT = 8;

/** A due conversation in a round. */
export interface RoundEntry {
  ref: ConversationRef;
  /** owner#chatType#convId, as a pending entry names it. */
  conversation: string;
  /** Copies at or below this id go. */
  through: string;
  /** Copies at or below this id were counted by an earlier round (a resumed or continued purge). */
  countedThrough?: string;
  /** Where the shard's pass is once this conversation is finished. */
  position: { indexCursor?: string; userCursor?: string };
}

/** A round entry once read: the ids it deletes now, and what settling it needs. */
export interface ReadEntry extends RoundEntry {
  ids: string[];
  /** More due copies than this round takes: the conversation goes on in the next round. */
  more: boolean;
  oldestRemaining?: string;
}

export function conversationName(ref: ConversationRef): string {
  return `${ref.owner}#${ref.chatType}#${ref.convId}`;
}

export function refOfConversation(conversation: string): ConversationRef {
  const [owner, chatType, convId] = conversation.split('#') as [string, 'single' | 'group', string];
  return { owner, chatType, convId };
}

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

/** What a round deletes that no round counted before, per entry. */
export function freshIds(entry: ReadEntry): string[] {
  const counted = entry.countedThrough;
  return counted === undefined ? entry.ids : entry.ids.filter((id) => id > counted);
}

/** The entry as the shard's pending round names it. */
export function pendingEntry(entry: ReadEntry): PendingBatch {
  const last = entry.ids.at(-1);
  const counted = entry.countedThrough;
  const lastMsgId =
    last === undefined ? (counted as string) : counted === undefined || last > counted ? last : counted;
  return { conversation: entry.conversation, lastMsgId };
}

/** Deletes the round's copies and writes its markers, through the invocation's write pipe. */
export async function deleteRound(
  deps: Deps,
  pipe: WritePipe,
  entries: readonly ReadEntry[],
  markers: readonly WriteRequest[],
): Promise<void> {
  const requests: WriteRequest[] = [
    ...entries.flatMap((entry) => entry.ids.map((id) => deleteCopyRequest(entry.ref, id))),
    ...markers,
  ];
  if (requests.length > 0) await pipe.write(deps.db, requests);
}

/** Settles every finished entry (nothing due left), on the round's snapshot. */
export async function settleRound(
  deps: Deps,
  snapshot: Awaited<ReturnType<typeof readRound>>['snapshot'],
  entries: readonly ReadEntry[],
): Promise<void> {
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
