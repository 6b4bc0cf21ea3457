import { mapLimited } from '../core/concurrency.js';
import { highestIdAt, lowestIdAt, MAX_ID_TIME, maxId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { keyString, type WriteRequest } from '../store/db.js';
import { expiredSendEventDelete } from '../store/event-store.js';
import { isHeld, listHolds } from '../store/hold-store.js';
import { keys } from '../store/keys.js';
import { deleteCopyRequest, dueCopyIds, oldestCopyAbove } from '../store/message-store.js';
import { getPoliciesForUsers, type RetentionPolicies } from '../store/policy-store.js';
import type { ShardItem } from '../store/sweep-shard-store.js';
import type { SweepCounts } from '../store/sweep-store.js';
import { withOwnPolicy } from './conversation-retention.js';
import { readConversationsOnly } from './conversation-writes.js';
import type { Deps } from './deps.js';
import {
  fileUnreadPurges,
  PURGE_BATCH,
  purgeAllHeldDeletes,
  settleHeldView,
  settleReadPurge,
} from './purge.js';
import { deletableCutoff, NO_CUTOFF } from './retention.js';
import type { StopReason } from './sweep-budget.js';
import type { SweepContext } from './sweep-shard.js';

/** A round: its conversations (fewer until the invocation's first deletes), and due copies read each. */
export const ROUND_CONVERSATIONS = 8;
export const FIRST_ROUND_CONVERSATIONS = 2;
export const ROUND_COPIES = 5 * PURGE_BATCH;
export const DELETE_STREAMS_PER_WORKER = 2;
/** Reads or settles in flight per worker. */
const PARALLEL = 8;
/** Below every message id: a bound that deletes nothing. */
export const NOTHING = lowestIdAt(0);

/** Where a shard's pass is: a later claim resumes there. */
export type Position = Pick<
  ShardItem,
  'indexCursor' | 'indexDone' | 'ownCursor' | 'ownDone' | 'userKeyCursor'
>;

/** A due conversation (copies at or below `through` go), met at `position`; `continued`: counted already. */
export interface RoundEntry {
  ref: ConversationRef;
  through: string;
  position: Position;
  continued?: boolean;
  /** Due now (a one-way delete, or a settle a purger died before): its unread is recounted. */
  recount?: true;
}

/**
 * A pass's next round, what it counted and not saved yet, the owners it counted, and its tail: the round
 * before, whose deletes and settles run while the next is read (from its `first` position on).
 */
export interface RoundPass {
  round: RoundEntry[];
  tally: { unsaved: SweepCounts; owners: Set<string> };
  tail?: { first: Position; done: Promise<unknown> };
}

type SavePosition = (at: Position) => Promise<unknown>;

/**
 * A round entry once read: the ids it deletes now (`more` left for the next round). `held`: a legal hold
 * covers it, so it deletes nothing and is not settled (it stays filed where the sweep meets it again).
 * `heldDeletes`: filed due now, so it may have tombstones a released hold kept (held-delete-store.ts).
 */
type ReadEntry = RoundEntry & {
  ids: string[];
  more: boolean;
  oldestRemaining?: string;
  held?: true;
  heldDeletes?: true;
};

/**
 * Reads the round's due ids (up to 250 each), oldest copies left and items (no sync heads: the settle
 * writes nothing an owner sees) while the round before is deleted; then, once it has finished, the
 * owners' policies, strongly consistent, which cut the entries: a policy change that answered before
 * binds the round. One that answers later finds its copies hidden already (at or below the cutoff read
 * here, less the clock margin) and keeps them so (its floor): docs/consistency.md, section 7.
 */
async function readRound(deps: Deps, { round, tail }: RoundPass, runNow: number) {
  const refs = round.map((entry) => entry.ref);
  // A conversation going on from the round before is read once that round has deleted its part.
  if (round.some((entry) => entry.continued)) await tail?.done;
  const readEntry = async (entry: RoundEntry): Promise<ReadEntry> => {
    const [due, oldestRemaining] = await Promise.all([
      dueCopyIds(deps.db, entry.ref, entry.through, ROUND_COPIES),
      oldestCopyAbove(deps.db, entry.ref, entry.through),
    ]);
    return { ...entry, ids: due.ids, more: due.more, oldestRemaining };
  };
  const reads = Promise.all([readConversationsOnly(deps, refs), mapLimited(round, PARALLEL / 2, readEntry)]);
  const [[snapshot, entries]] = await Promise.all([reads, tail?.done]);
  // The holds are read with the policies, once the round before has finished: a hold that answered
  // by then keeps everything of this round it covers (docs/consistency.md, section 9).
  const [policies, holds] = await Promise.all([
    getPoliciesForUsers(deps.db, [...new Set(refs.map((ref) => ref.owner))]),
    listHolds(deps.db),
  ]);
  const bounded = entries.map(function withinBound(read): ReadEntry {
    const { ref } = read;
    // A conversation's own retention, as read now, wins over its owner's (longer: it keeps more).
    const state = snapshot.state(ref);
    const bound =
      purgeBound(withOwnPolicy(policies, state), ref.owner, runNow, state.clearedThrough) ?? NOTHING;
    if (isHeld(holds, ref.owner, ref)) {
      return { ...read, through: bound, ids: [], more: false, oldestRemaining: undefined, held: true };
    }
    const filedNow = state.purgeSk !== undefined && keys.dueAtOfPurgeSk(state.purgeSk) === 0;
    const entry: ReadEntry = read.recount || filedNow ? { ...read, heldDeletes: true } : read;
    const { through, ids } = entry;
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
 * `save` at its first position, and leaves as the pass's tail its deletes (calls of 25 through the write
 * pipe) and the settles of what it finished. What goes on is left as the next round (more due copies
 * first, then what the budget did not reach); returns why the invocation must stop, if it must.
 */
export async function purgeRound(deps: Deps, ctx: SweepContext, pass: RoundPass, save: SavePosition) {
  const first = (pass.round[0] as RoundEntry).position;
  const { snapshot, entries } = await readRound(deps, pass, ctx.run.now);
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
    const { unsaved, owners } = pass.tally;
    unsaved.messagesDeleted += ids.length;
    unsaved.batches += Math.ceil(ids.length / PURGE_BATCH);
    if (!continued) unsaved.conversations++;
    if (!owners.has(ref.owner)) unsaved.users++;
    owners.add(ref.owner);
  }
  if (deleting.length > 0) await Promise.all([save(first), fileUnreadPurges(deps, snapshot, deleting)]);
  const requests = [
    ...taken.flatMap((entry) => entry.ids.map((id) => deleteCopyRequest(entry.ref, id))),
    ...sendEventDeletes(deps, taken),
  ];
  const settle = async ({ ref, through, oldestRemaining, recount, heldDeletes }: ReadEntry) => {
    // Tombstones a released hold kept go first; the settle then files the conversation as it is.
    if (heldDeletes) await purgeAllHeldDeletes(deps, ref);
    return settleReadPurge(deps, snapshot, ref, {
      purgedThrough: recount ? highestIdAt(MAX_ID_TIME) : through,
      oldestRemaining,
    });
  };
  const finished = taken.filter((entry) => !entry.more && !entry.held);
  // A held conversation keeps its copies and its filing; only what its owner sees follows retention.
  const held = taken.filter((entry) => entry.held);
  const done = ctx.deletes
    .write(deps.db, requests)
    .then(() =>
      Promise.all([
        mapLimited(finished, PARALLEL, settle),
        mapLimited(held, PARALLEL, ({ ref, through }) => settleHeldView(deps, ref, through)),
      ]),
    );
  done.catch(() => undefined); // it fails when awaited
  pass.tail = { first, done };
  const goingOn = taken.filter((entry) => entry.more);
  const left = goingOn.map(({ ids, more, oldestRemaining, ...entry }) => ({ ...entry, continued: true }));
  pass.round = [...left, ...entries.slice(taken.length)];
  return stop;
}

/**
 * The send events of the single-chat messages a round deletes (event-store.ts, expiredSendEventDelete),
 * each once however many sides of it the round deletes. A fan-out group's events are left to their
 * TTL: every member's copy would delete the same one (docs/events.md, "Limits").
 */
function sendEventDeletes(deps: Deps, taken: readonly { ref: ConversationRef; ids: readonly string[] }[]) {
  const options = {
    shards: deps.config.eventShards,
    retentionDays: deps.config.eventRetentionDays,
    now: deps.clock.now(),
  };
  const deletes = new Map<string, WriteRequest>();
  for (const { ref, ids } of taken) {
    if (ref.chatType !== 'single') continue;
    for (const msgId of ids) {
      const request = expiredSendEventDelete({ ...ref, msgId }, options);
      const key = request && 'DeleteRequest' in request ? request.DeleteRequest?.Key : undefined;
      if (request && key) deletes.set(keyString(key as { pk: string; sk: string }), request);
    }
  }
  return [...deletes.values()];
}
