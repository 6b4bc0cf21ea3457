import { keys, purgeShardOf } from '../store/keys.js';
import type { RetentionPolicies } from '../store/policy-store.js';
import {
  type CandidatePage,
  type PurgeCandidate,
  queryDueInShard,
  queryUserCandidates,
} from '../store/purge-index.js';
import { checkpointShard, type ShardItem } from '../store/sweep-shard-store.js';
import { addCounts, type RunInfo, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import type { Budget, StopReason } from './sweep-budget.js';
import {
  boundRound,
  conversationName,
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
 * One shard's pass under a lease (see sweep.ts for the whole design): its due candidates in order,
 * gathered into rounds (sweep-round.ts). While a round is deleted and settled, the pass reads the next.
 *
 * Resuming. The shard item keeps the pass's position: every candidate before it is finished. A later
 * claim resumes there, meeting the candidate at the position again (harmless: a finished conversation
 * has moved on in the index, or is not due any more). Before a round's deletes the position is saved at
 * the round's first conversation (a conversation going on from the round before comes first), so a
 * crash replays the round in flight; deletes are idempotent and the replay reads what is left.
 *
 * Counting: at least once. A round is counted in the checkpoint before its deletes, so a crash loses no
 * count, and its replay counts again what the crashed round left (copies, batches, the conversation,
 * its owner). Within one claim of a shard, a conversation and a user are counted once; a conversation or
 * a user met by two invocations (a stop or a crash between) is counted by each. The shard holds all of
 * a user's conversations, so an uninterrupted run counts exactly.
 */

/** Each user's deletable cutoff at the run's `now`, from the policies the invocation read. */
export interface RetentionPlan {
  /** The policies the invocation read at its start: they pick candidates; each round reads them again. */
  policies: RetentionPolicies;
  /** The app default's deletable cutoff (NO_CUTOFF when it keeps forever): the index pass reads up to it. */
  appCutoff: number;
  cutoffOf(owner: string): number;
  /** Users whose override expires messages sooner than the default, sorted: read per user. */
  shorterRetentionUsers: readonly string[];
}

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
  plan: RetentionPlan;
  budget: Budget;
  /** The invocation's BatchWriteItem streams (2 per worker), behind its delete-rate limit. */
  deletes: WritePipe;
  emit(event: SweepEvent): void;
}

/** Candidates read per Query of the purge index. */
const INDEX_PAGE = 200;
const PROGRESS_EVERY_MS = 5000;

/** Why a pass ends before its shard is done. */
class ShardStop extends Error {
  constructor(readonly reason: StopReason | 'lease-lost') {
    super(`shard pass stopped (${reason})`);
    this.name = 'ShardStop';
  }
}

/** The claimed shard, and what this claim has saved to it. */
interface Lease {
  claimed: ShardItem;
  owner: string;
  saved: SweepCounts;
  savedAt: number;
}

/** A pass in progress. */
interface Pass {
  /** The next round, in pass order: purges going on from the last round come first. */
  round: RoundEntry[];
  /** The last round's deletes and settles, running while the next round is read. */
  tail?: { first: RoundEntry; done: Promise<void> };
  /** The position of the last candidate met. */
  at: Position;
  /** Counted and not saved yet; the owners this pass counted. */
  tally: { counts: SweepCounts; owners: Set<string> };
}

/**
 * Works a claimed shard until it is done, the invocation must stop, or the lease is lost. `deps.db` is
 * the claim's own (its retries are the claim's). Returns what this claim saved to the shard's counts.
 */
export async function sweepShard(deps: Deps, ctx: SweepContext, claimed: ShardItem, leaseOwner: string) {
  const lease: Lease = { claimed, owner: leaseOwner, saved: zeroCounts(), savedAt: deps.clock.now() };
  const at = {
    indexCursor: claimed.indexCursor,
    indexDone: claimed.indexDone,
    userCursor: claimed.userCursor,
  };
  const pass: Pass = { round: [], at, tally: { counts: zeroCounts(), owners: new Set() } };
  const { shard } = claimed;
  ctx.emit({ type: 'shard-claimed', shard, resumed: claimed.checkpoints > 0, counts: shardCounts(lease) });
  try {
    await passOver(deps, ctx, lease, pass);
    ctx.emit({ type: 'shard-done', shard, counts: shardCounts(lease) });
    return { outcome: 'done' as const, counts: lease.saved };
  } catch (error) {
    const reason = await endEarly(deps, ctx, lease, pass, error);
    ctx.emit({ type: 'shard-stopped', shard, reason, counts: shardCounts(lease) });
    return {
      outcome: reason === 'lease-lost' ? ('lost' as const) : ('stopped' as const),
      counts: lease.saved,
    };
  }
}

async function passOver(deps: Deps, ctx: SweepContext, lease: Lease, pass: Pass): Promise<void> {
  for await (const met of candidates(deps, ctx, lease.claimed.shard, pass.at)) {
    const reason = ctx.budget.stopReason();
    if (reason !== undefined) throw new ShardStop(reason);
    pass.at = met.position;
    const { entry } = met;
    // Met again in one pass (re-filed further on meanwhile): a round holds it once, or its keys would go
    // twice in one BatchWriteItem, which DynamoDB refuses.
    if (entry && !pass.round.some((other) => other.conversation === entry.conversation))
      pass.round.push(entry);
    // Until the pass has deleted something, rounds are small: the write streams wait for its first.
    const size = pass.tally.owners.size === 0 ? FIRST_ROUND_CONVERSATIONS : ROUND_CONVERSATIONS;
    if (pass.round.length >= size) await flushRound(deps, ctx, lease, pass);
    // Skipped candidates write nothing, but the lease must not lapse during a long stretch of them.
    if (deps.clock.now() - lease.savedAt >= deps.config.sweepLeaseMs / 3) await save(deps, ctx, lease, pass);
  }
  while (pass.round.length > 0) await flushRound(deps, ctx, lease, pass);
  await finishTail(pass);
  await save(deps, ctx, lease, pass, { done: true });
}

/** A clean stop finishes the round in flight, saves where the pass is and releases the lease. */
async function endEarly(deps: Deps, ctx: SweepContext, lease: Lease, pass: Pass, error: unknown) {
  const reason = error instanceof ShardStop ? error.reason : undefined;
  if (reason === undefined || reason === 'lease-lost') {
    await pass.tail?.done.catch(() => undefined);
    if (reason === undefined) throw error;
    return reason;
  }
  await finishTail(pass);
  try {
    await save(deps, ctx, lease, pass, { release: true });
  } catch (saveError) {
    if (saveError instanceof ShardStop) return saveError.reason;
    throw saveError;
  }
  return reason;
}

/**
 * The shard's candidates from `from` on, each with the pass's position at it: the range of the purge
 * index due by the app default's cutoff, oldest first; then each user with a shorter retention than the
 * default, from their own partition (the index range does not reach their due conversations).
 */
async function* candidates(deps: Deps, ctx: SweepContext, shard: number, from: Position) {
  let indexCursor = from.indexCursor;
  if (!from.indexDone) {
    const upTo = keys.purgeSkUpperBound(Math.max(ctx.plan.appCutoff, 0));
    const start = from.indexCursor ?? '0';
    const range = { from: start, upTo, limit: INDEX_PAGE };
    for await (const candidate of pages((startKey) =>
      queryDueInShard(deps.db, shard, { ...range, startKey }),
    )) {
      indexCursor = candidate.purgeSk;
      yield met(ctx, candidate, { indexCursor });
    }
  }
  const owners = ctx.plan.shorterRetentionUsers.filter(
    (owner) => purgeShardOf(owner, ctx.run.shardCount) === shard && owner >= (from.userCursor ?? ''),
  );
  for (const owner of owners) {
    const position = { indexCursor, indexDone: true, userCursor: owner };
    for await (const candidate of pages((startKey) => queryUserCandidates(deps.db, owner, startKey))) {
      yield met(ctx, candidate, position);
    }
  }
}

async function* pages(read: (startKey?: Record<string, unknown>) => Promise<CandidatePage>) {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await read(startKey);
    yield* page.items;
    startKey = page.nextKey;
  } while (startKey);
}

/** A candidate met at `position`, with its round entry if it is due by its owner's cutoff. */
function met(ctx: SweepContext, candidate: PurgeCandidate, position: Position) {
  const { owner } = candidate;
  const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
  const through = purgeBound(ctx.plan.policies, owner, candidate.clearedThrough, ctx.run.now);
  if ((dueAt !== 0 && dueAt > ctx.plan.cutoffOf(owner)) || through === undefined) return { position };
  const ref = { owner, chatType: candidate.chatType, convId: candidate.convId };
  const entry: RoundEntry = { ref, conversation: conversationName(ref), through, position };
  return { entry, position };
}

/**
 * Purges the round in the making: reads it (while the last round is still deleted), bounds it by the
 * policies read once that round is finished, takes the budget, counts and checkpoints it, then starts
 * its deletes and settles. Conversations with more due copies than a round takes go on in the next.
 */
async function flushRound(deps: Deps, ctx: SweepContext, lease: Lease, pass: Pass): Promise<void> {
  const round = pass.round;
  pass.round = [];
  // A conversation going on from the last round is read once that round has deleted its part.
  if (round.some((entry) => entry.continued)) await finishTail(pass);
  const read = await readRound(deps, round);
  await finishTail(pass);
  const entries = await boundRound(deps, read.snapshot, read.entries, ctx.run.now);
  const { taken, stop } = takeBudget(ctx.budget, entries);
  countRound(pass.tally.counts, pass.tally.owners, taken);
  // Purges cut short go on first; what the budget did not reach stays unfinished (the stop saves it).
  pass.round = [...taken.filter((entry) => entry.more).map(goingOn), ...entries.slice(taken.length)];
  if (taken.some((entry) => entry.ids.length > 0)) {
    await save(deps, ctx, lease, pass, { at: (round[0] as RoundEntry).position });
  }
  const done = purgeRound(deps, ctx.deletes, read.snapshot, taken);
  if (stop !== undefined) {
    await done;
    throw new ShardStop(stop);
  }
  done.catch(() => undefined); // it fails when awaited
  pass.tail = { first: round[0] as RoundEntry, done };
}

function goingOn({ ref, conversation, through, position }: RoundEntry): RoundEntry {
  return { ref, conversation, through, position, continued: true };
}

async function finishTail(pass: Pass): Promise<void> {
  await pass.tail?.done;
  pass.tail = undefined;
}

/** The first candidate not finished: the round in flight's first, else the next round's, else the last met. */
function resumeAt(pass: Pass): Position {
  return (pass.tail?.first ?? pass.round[0])?.position ?? pass.at;
}

/**
 * Saves the position and the counts since the last save and renews (or releases) the lease, all
 * conditional on holding it: before every round's deletes, so a pass that lost its lease deletes no more.
 */
async function save(
  deps: Deps,
  ctx: SweepContext,
  lease: Lease,
  pass: Pass,
  change: { at?: Position; done?: boolean; release?: boolean } = {},
): Promise<void> {
  const now = deps.clock.now();
  const counts = { ...pass.tally.counts, retries: deps.db.retryCounter.retries - lease.saved.retries };
  const at = change.at ?? resumeAt(pass);
  const saved = await checkpointShard(deps.db, ctx.run.runId, lease.claimed.shard, lease.owner, {
    counts,
    now,
    leaseUntil: change.done || change.release ? 0 : now + deps.config.sweepLeaseMs,
    ...at,
    indexDone: at.indexDone || undefined,
    done: change.done,
  });
  if (!saved) throw new ShardStop('lease-lost');
  pass.tally.counts = zeroCounts();
  addCounts(lease.saved, counts);
  const progressDue = Math.floor(now / PROGRESS_EVERY_MS) > Math.floor(lease.savedAt / PROGRESS_EVERY_MS);
  lease.savedAt = now;
  if (progressDue && !change.done) {
    ctx.emit({ type: 'shard-progress', shard: lease.claimed.shard, counts: shardCounts(lease) });
  }
}

/** The shard's counts: what it had when claimed, and what this claim saved. */
function shardCounts(lease: Lease): SweepCounts {
  return addCounts(addCounts(zeroCounts(), lease.claimed), lease.saved);
}
