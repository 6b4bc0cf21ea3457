import { keys, purgeShardOf } from '../store/keys.js';
import type { RetentionPolicies } from '../store/policy-store.js';
import { type CandidatePage, queryDueInShard, queryUserCandidates } from '../store/purge-index.js';
import { checkpointShard, type ShardItem } from '../store/sweep-shard-store.js';
import { addCounts, type RunInfo, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import { deletableCutoff } from './retention.js';
import type { Budget, StopReason } from './sweep-budget.js';
import {
  countRound,
  FIRST_ROUND_CONVERSATIONS,
  type Position,
  purgeBound,
  purgeRound,
  ROUND_CONVERSATIONS,
  type RoundEntry,
  readRound,
  takeBudget,
} from './sweep-round.js';

/**
 * One shard's pass under a lease: its due conversations in order, purged in rounds (sweep-round.ts).
 *
 * Resuming. The shard item keeps the pass's position: every candidate before it is finished. The next
 * claim resumes there, meeting that candidate again (harmless: once purged, a conversation has moved on
 * in the index or is not due). Before a round's deletes the position is saved at the round's first
 * conversation, so a crash replays at most the round in flight; deletes are idempotent.
 *
 * Counts are metrics, counted at least once. A round is counted in the checkpoint before its deletes:
 * a crash loses no count, and the replay counts again what the crashed round left. A claim counts a
 * conversation once and a user once, so a conversation or a user met by two invocations (a stop or a
 * crash between) is counted by each. A shard holds all of a user's conversations: a run no stop or
 * crash interrupts counts exactly.
 */

export type SweepEvent =
  | { type: 'run'; runId: string; joined: boolean; now: number; shardCount: number }
  | { type: 'shard-claimed'; shard: number; resumed: boolean; counts: SweepCounts }
  | { type: 'shard-progress'; shard: number; counts: SweepCounts }
  | { type: 'shard-done'; shard: number; counts: SweepCounts }
  | { type: 'shard-stopped'; shard: number; reason: StopReason | 'lease-lost'; counts: SweepCounts }
  | { type: 'run-finished'; runId: string; counts: SweepCounts; closedHere: boolean };

/** What the workers of one invocation share. */
export interface SweepContext {
  run: RunInfo;
  /** Read at the invocation's start, they pick candidates; each round reads its owners' again. */
  policies: RetentionPolicies;
  budget: Budget;
  /** The invocation's BatchWriteItem streams, behind its delete-rate limit. */
  deletes: WritePipe;
  emit(event: SweepEvent): void;
}

const INDEX_PAGE = 200;
const PROGRESS_EVERY_MS = 5000;

class ShardStop extends Error {
  constructor(readonly reason: StopReason | 'lease-lost') {
    super(`shard pass stopped (${reason})`);
    this.name = 'ShardStop';
  }
}

/** A claimed shard: `deps.db` is the claim's own, so its retries are the claim's. */
interface Claim {
  deps: Deps;
  ctx: SweepContext;
  shard: ShardItem;
  owner: string;
}

interface Pass {
  /** The next round, in pass order: purges going on from the round before come first. */
  round: RoundEntry[];
  /** The position of the last candidate met. */
  at: Position;
  tally: {
    unsaved: SweepCounts;
    /** The owners this claim counted. */
    owners: Set<string>;
    saved: SweepCounts;
    savedAt: number;
  };
}

/** Works a claimed shard until it is done, the invocation must stop or the lease is lost. */
export async function sweepShard(deps: Deps, ctx: SweepContext, shard: ShardItem, owner: string) {
  const claim: Claim = { deps, ctx, shard, owner };
  const tally = {
    unsaved: zeroCounts(),
    owners: new Set<string>(),
    saved: zeroCounts(),
    savedAt: deps.clock.now(),
  };
  const pass: Pass = { round: [], at: shard, tally };
  const event = { shard: shard.shard, counts: shardCounts(claim, pass) };
  ctx.emit({ type: 'shard-claimed', ...event, resumed: shard.checkpoints > 0 });
  try {
    await passOver(claim, pass);
    ctx.emit({ type: 'shard-done', ...event, counts: shardCounts(claim, pass) });
    return { outcome: 'done', counts: tally.saved } as const;
  } catch (error) {
    const reason = await endEarly(claim, pass, error);
    ctx.emit({ type: 'shard-stopped', ...event, reason, counts: shardCounts(claim, pass) });
    return { outcome: reason === 'lease-lost' ? 'lost' : 'stopped', counts: tally.saved } as const;
  }
}

async function passOver(claim: Claim, pass: Pass): Promise<void> {
  const { deps, ctx } = claim;
  for await (const met of candidates(claim, pass.at)) {
    const reason = ctx.budget.stopReason();
    if (reason !== undefined) throw new ShardStop(reason);
    pass.at = met.position;
    const { entry } = met;
    // Met again (re-filed further on meanwhile): a round holds it once, or its keys would go twice in
    // one BatchWriteItem, which DynamoDB refuses.
    if (entry && !pass.round.some((other) => sameConversation(other, entry))) pass.round.push(entry);
    // Until the pass has deleted something, rounds are small: the write streams wait for its first.
    const size = pass.tally.owners.size > 0 ? ROUND_CONVERSATIONS : FIRST_ROUND_CONVERSATIONS;
    if (pass.round.length >= size) await flushRound(claim, pass);
    // Skipped candidates write nothing, but the lease must not lapse during a long stretch of them.
    if (deps.clock.now() - pass.tally.savedAt >= deps.config.sweepLeaseMs / 3) await save(claim, pass);
  }
  while (pass.round.length > 0) await flushRound(claim, pass);
  await save(claim, pass, { done: true });
}

/** A clean stop saves the position and releases the lease. */
async function endEarly(claim: Claim, pass: Pass, error: unknown) {
  if (!(error instanceof ShardStop)) throw error;
  if (error.reason === 'lease-lost') return error.reason;
  try {
    await save(claim, pass, { release: true });
    return error.reason;
  } catch (saveError) {
    if (saveError instanceof ShardStop) return saveError.reason;
    throw saveError;
  }
}

/**
 * The shard's candidates from `from` on, each with the pass's position at it: the purge index's range
 * due by the app default's cutoff, oldest first; then each user whose override is shorter than the
 * default, from their own partition (that range does not reach their due conversations).
 */
async function* candidates({ deps, ctx, shard }: Claim, from: Position) {
  const { policies, run } = ctx;
  const appCutoff = deletableCutoff({ ...policies, userDays: new Map() }, '', run.now);
  let indexCursor = from.indexCursor;
  if (!from.indexDone) {
    const range = { from: indexCursor ?? '0', upTo: keys.purgeSkUpperBound(Math.max(appCutoff, 0)) };
    const query = { ...range, limit: INDEX_PAGE };
    for await (const candidate of pages((startKey) =>
      queryDueInShard(deps.db, shard.shard, { ...query, startKey }),
    )) {
      indexCursor = candidate.purgeSk;
      yield met(ctx, candidate, { indexCursor });
    }
  }
  const owners = [...policies.userDays.keys()].filter(
    (owner) =>
      deletableCutoff(policies, owner, run.now) > appCutoff &&
      purgeShardOf(owner, run.shardCount) === shard.shard &&
      owner >= (from.userCursor ?? ''),
  );
  for (const owner of owners.sort()) {
    const position = { indexCursor, indexDone: true, userCursor: owner };
    for await (const candidate of pages((startKey) => queryUserCandidates(deps.db, owner, startKey))) {
      yield met(ctx, candidate, position);
    }
  }
}

async function* pages(read: (startKey?: Record<string, unknown>) => Promise<CandidatePage>) {
  for (let page = await read(); ; page = await read(page.nextKey)) {
    yield* page.items;
    if (!page.nextKey) return;
  }
}

/** A candidate met at `position`, and its round entry if it is due by its owner's cutoff. */
function met({ policies, run }: SweepContext, candidate: CandidatePage['items'][number], position: Position) {
  const { owner, chatType, convId } = candidate;
  const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
  const through = purgeBound(policies, owner, candidate.clearedThrough, run.now);
  if ((dueAt !== 0 && dueAt > deletableCutoff(policies, owner, run.now)) || through === undefined) {
    return { position };
  }
  const entry: RoundEntry = { ref: { owner, chatType, convId }, through, position };
  return { position, entry };
}

function sameConversation(a: RoundEntry, b: RoundEntry): boolean {
  return a.ref.owner === b.ref.owner && a.ref.chatType === b.ref.chatType && a.ref.convId === b.ref.convId;
}

/**
 * Purges the round in the making: reads it, takes the budget, counts it and saves the position at its
 * first conversation, then deletes and settles. A conversation with more due copies than a round takes
 * goes on in the next.
 */
async function flushRound(claim: Claim, pass: Pass): Promise<void> {
  const { deps, ctx } = claim;
  const round = pass.round;
  const read = await readRound(deps, round, ctx.run.now);
  const { taken, stop } = takeBudget(ctx.budget, read.entries);
  countRound(pass.tally.unsaved, pass.tally.owners, taken);
  // Purges cut short go on first; what the budget did not reach stays unfinished (a stop saves it).
  const goingOn = taken.filter((entry) => entry.more);
  pass.round = goingOn.map(({ ref, through, position }) => ({ ref, through, position, continued: true }));
  pass.round.push(...read.entries.slice(taken.length));
  const first = round[0] as RoundEntry;
  if (taken.some((entry) => entry.ids.length > 0)) await save(claim, pass, { at: first.position });
  await purgeRound(deps, ctx.deletes, read.snapshot, taken);
  if (stop !== undefined) throw new ShardStop(stop);
}

/**
 * Saves the position (by default the first conversation not finished, else the last candidate met) and
 * the counts since the last save, and renews or releases the lease, all conditional on holding it. It
 * comes before every round's deletes, so a pass that lost its lease deletes no more.
 */
async function save(
  claim: Claim,
  pass: Pass,
  change: { at?: Position; done?: boolean; release?: boolean } = {},
) {
  const { deps, ctx, shard, owner } = claim;
  const { tally } = pass;
  const now = deps.clock.now();
  const counts = { ...tally.unsaved, retries: deps.db.retryCounter.retries - tally.saved.retries };
  const at = change.at ?? pass.round[0]?.position ?? pass.at;
  const saved = await checkpointShard(deps.db, ctx.run.runId, shard.shard, owner, {
    counts,
    now,
    leaseUntil: change.done || change.release ? 0 : now + deps.config.sweepLeaseMs,
    indexCursor: at.indexCursor,
    userCursor: at.userCursor,
    indexDone: at.indexDone || undefined,
    done: change.done,
  });
  if (!saved) throw new ShardStop('lease-lost');
  tally.unsaved = zeroCounts();
  addCounts(tally.saved, counts);
  const progressDue = Math.floor(now / PROGRESS_EVERY_MS) > Math.floor(tally.savedAt / PROGRESS_EVERY_MS);
  tally.savedAt = now;
  if (progressDue && !change.done) {
    ctx.emit({ type: 'shard-progress', shard: shard.shard, counts: shardCounts(claim, pass) });
  }
}

/** The shard's counts: what it had when claimed, and what this claim saved. */
function shardCounts(claim: Claim, pass: Pass): SweepCounts {
  return addCounts(addCounts(zeroCounts(), claim.shard), pass.tally.saved);
}
