import { createHash } from 'node:crypto';
import { highestIdAt, maxId } from '../core/ids.js';
import { keys, purgeShardOf } from '../store/keys.js';
import type { RetentionPolicies } from '../store/policy-store.js';
import { type CandidatePage, queryDueInShard, queryUserCandidates } from '../store/purge-index.js';
import { checkpointShard, type ShardItem } from '../store/sweep-shard-store.js';
import { addCounts, type RunInfo, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import { deletableCutoff, SWEEP_CLOCK_MARGIN_MS } from './retention.js';
import type { SharedPurgeCounts } from './shared-history-purge.js';
import type { Budget, StopReason } from './sweep-budget.js';
import {
  FIRST_ROUND_CONVERSATIONS,
  type Position,
  purgeBound,
  purgeRound,
  ROUND_CONVERSATIONS,
  type RoundEntry,
  type RoundPass,
} from './sweep-round.js';

/**
 * One shard's pass under a lease: its due conversations in order, purged in rounds (sweep-round.ts).
 * Before a round's deletes, a checkpoint conditional on the lease saves its counts and the position of
 * its first conversation, so a pass that lost its lease deletes no more and the next claim resumes there.
 * Counts are therefore at least once: the replay of a crashed round counts again what it left, and a user
 * or conversation met by two invocations is counted by each (a claim counts each once).
 */

export type SweepEvent =
  | { type: 'run'; runId: string; joined: boolean; now: number; shardCount: number }
  | { type: 'shard-claimed'; shard: number; resumed: boolean; counts: SweepCounts }
  | { type: 'shard-progress'; shard: number; counts: SweepCounts }
  | { type: 'shard-done'; shard: number; counts: SweepCounts }
  | { type: 'shard-stopped'; shard: number; reason: StopReason | 'lease-lost'; counts: SweepCounts }
  | { type: 'run-finished'; runId: string; counts: SweepCounts; closedHere: boolean }
  | { type: 'shared-histories-purged'; runId: string; counts: SharedPurgeCounts };

/** What an invocation's workers share: `policies` read at its start, `deletes` behind its rate limit. */
export type SweepContext = {
  run: RunInfo;
  policies: RetentionPolicies;
  budget: Budget;
  deletes: WritePipe;
  emit(event: SweepEvent): void;
};

const INDEX_PAGE = 200;
const PROGRESS_EVERY_MS = 5000;

class ShardStop extends Error {
  constructor(readonly reason: StopReason | 'lease-lost') {
    super(`shard pass stopped (${reason})`);
    this.name = 'ShardStop';
  }
}

/** A claimed shard; `deps.db` is the claim's own, so its retries are the claim's. */
type Claim = { deps: Deps; ctx: SweepContext; shard: ShardItem; owner: string };

/** A pass: the position of the last candidate met, and what the claim saved (and when it saved last). */
interface Pass extends RoundPass {
  at: Position;
  tally: RoundPass['tally'] & { saved: SweepCounts; savedAt: number };
}

/** Works a claimed shard until it is done, the invocation must stop or the lease is lost. */
export async function sweepShard(deps: Deps, ctx: SweepContext, shard: ShardItem, owner: string) {
  const claim: Claim = { deps, ctx, shard, owner };
  const saved = zeroCounts();
  const pass: Pass = {
    round: [],
    at: {
      indexCursor: shard.indexCursor,
      indexDone: shard.indexDone,
      ownCursor: shard.ownCursor,
      ownDone: shard.ownDone,
      userKeyCursor: shard.userKeyCursor,
    },
    tally: { unsaved: zeroCounts(), owners: new Set(), saved, savedAt: deps.clock.now() },
  };
  const event = () => ({ shard: shard.shard, counts: shardCounts(shard, saved) });
  ctx.emit({ type: 'shard-claimed', resumed: shard.checkpoints > 0, ...event() });
  try {
    await passOver(claim, pass);
    ctx.emit({ type: 'shard-done', ...event() });
    return { outcome: 'done', counts: saved } as const;
  } catch (error) {
    const stop = error instanceof ShardStop && error.reason !== 'lease-lost' ? error.reason : undefined;
    // A clean stop finishes the round in flight, saves the position and releases the lease.
    await (stop ? pass.tail?.done : pass.tail?.done.catch(() => undefined));
    if (!(error instanceof ShardStop)) throw error;
    const released = stop !== undefined && (await save(claim, pass, { release: true }));
    const reason = released ? error.reason : 'lease-lost';
    ctx.emit({ type: 'shard-stopped', reason, ...event() });
    return { outcome: released ? 'stopped' : 'lost', counts: saved } as const;
  }
}

async function passOver(claim: Claim, pass: Pass): Promise<void> {
  const { deps, ctx } = claim;
  for await (const { entry, position } of candidates(claim, pass.at)) {
    const reason = ctx.budget.stopReason();
    if (reason !== undefined) throw new ShardStop(reason);
    // A later pass may meet again what an earlier one purged: that is finished (and re-filed) first.
    if ((position.indexDone && !pass.at.indexDone) || (position.ownDone && !pass.at.ownDone)) {
      await drain(claim, pass);
    }
    pass.at = position;
    // Met again (re-filed further on): once per round, or its keys would go twice in one BatchWriteItem.
    if (entry && !pass.round.some(({ ref }) => sameRef(ref, entry.ref))) pass.round.push(entry);
    // Until the invocation deletes something, rounds are small: the write streams wait for its first.
    const size = ctx.budget.started() ? ROUND_CONVERSATIONS : FIRST_ROUND_CONVERSATIONS;
    if (pass.round.length >= size) await flushRound(claim, pass);
    // The lease must not lapse during a long stretch of skipped candidates.
    if (deps.clock.now() - pass.tally.savedAt >= deps.config.sweepLeaseMs / 3) await save(claim, pass);
  }
  await drain(claim, pass);
  await save(claim, pass, { done: true });
}

/** Purges what the pass has gathered; its position stays at the last round's first (it is finished). */
async function drain(claim: Claim, pass: Pass): Promise<void> {
  while (pass.round.length > 0) await flushRound(claim, pass);
  await pass.tail?.done;
}

/**
 * The shard's candidates from `from` on, with the position at each: the purge index's range due by the
 * app default's cutoff, then the conversations with their own retention whose oldest copy has expired by
 * it (`P#{n}#C`, keyed by that time: up to the run's time less the clock margin), then the partition of
 * each user whose override is shorter (the first range misses them).
 */
async function* candidates({ deps, ctx, shard }: Claim, from: Position) {
  const { policies, run } = ctx;
  const appCutoff = deletableCutoff({ ...policies, userDays: new Map() }, '', run.now);
  const due = (from: string, upTo: string) =>
    pages((startKey) => queryDueInShard(deps.db, shard.shard, { from, upTo, limit: INDEX_PAGE, startKey }));
  let indexCursor = from.indexCursor;
  // A resumed pass first meets what a purger that died before its settle filed due now behind it.
  if (from.indexDone || indexCursor !== undefined) {
    for await (const candidate of due('0', keys.purgeSkUpperBound(0))) {
      if (from.indexDone || candidate.purgeSk < (indexCursor as string)) yield met(ctx, candidate, from);
    }
  }
  if (!from.indexDone) {
    for await (const candidate of due(indexCursor ?? '0', keys.purgeSkUpperBound(Math.max(appCutoff, 0)))) {
      indexCursor = candidate.purgeSk;
      yield met(ctx, candidate, { indexCursor });
    }
  }
  let ownCursor = from.ownCursor;
  if (!from.ownDone) {
    const upTo = keys.purgeSkUpperBound(run.now - SWEEP_CLOCK_MARGIN_MS);
    const ownDue = pages((startKey) =>
      queryDueInShard(deps.db, shard.shard, {
        from: ownCursor ?? '0',
        upTo,
        limit: INDEX_PAGE,
        startKey,
        own: true,
      }),
    );
    for await (const candidate of ownDue) {
      ownCursor = candidate.purgeSk;
      yield metOwn(ctx, candidate, { indexCursor, indexDone: true, ownCursor });
    }
  }
  const owners = [...policies.userDays.keys()]
    .filter(
      (owner) =>
        deletableCutoff(policies, owner, run.now) > appCutoff &&
        purgeShardOf(owner, run.shardCount) === shard.shard &&
        ownerOrderKey(owner) >= (from.userKeyCursor ?? ''),
    )
    .map((owner) => ({ owner, orderKey: ownerOrderKey(owner) }))
    .sort((a, b) => compare(a.orderKey, b.orderKey) || compare(a.owner, b.owner));
  for (const { owner, orderKey } of owners) {
    const position = { indexCursor, indexDone: true, ownCursor, ownDone: true, userKeyCursor: orderKey };
    for await (const candidate of pages((startKey) => queryUserCandidates(deps.db, owner, startKey))) {
      yield met(ctx, candidate, position);
    }
  }
}

/**
 * Users in the per-user pass are walked in the order of this key, which the shard checkpoints instead of
 * their id: a digest, so no sweep record names a user (an erasure must leave no trace of theirs, and
 * a sweep may run while it does). Owners sharing a key (unlikely, 64 bits) are met again on a resume.
 */
export function ownerOrderKey(owner: string): string {
  return createHash('sha256').update(owner).digest('hex').slice(0, 16);
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A position as stored: cursors cut to their due time (see ShardItem), so they name no one. */
function storedPosition(at: Position): Position {
  return {
    ...at,
    ...(at.indexCursor !== undefined ? { indexCursor: keys.purgeSkTimePrefix(at.indexCursor) } : {}),
    ...(at.ownCursor !== undefined ? { ownCursor: keys.purgeSkTimePrefix(at.ownCursor) } : {}),
  };
}

async function* pages(read: (startKey?: Record<string, unknown>) => Promise<CandidatePage>) {
  for (let page = await read(); ; page = await read(page.nextKey)) {
    yield* page.items;
    if (!page.nextKey) return;
  }
}

/**
 * A candidate met at `position`, with its round entry if it is due by its owner's cutoff. One filed as due
 * now (a one-way delete, or a settle a purger died before: fileForSettle) is always met, and recounted.
 */
function met({ policies, run }: SweepContext, candidate: CandidatePage['items'][number], position: Position) {
  const { owner, chatType, convId } = candidate;
  const ref = { owner, chatType, convId };
  const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
  // Filed due now: the round bounds it by the policy it has when read (its own, if any, may keep less).
  if (dueAt === 0) {
    const upTo = upToRunTime(run, candidate.clearedThrough);
    return { entry: { ref, through: upTo, position, recount: true } as const, position };
  }
  const through = purgeBound(policies, owner, run.now, candidate.clearedThrough);
  if (through === undefined || dueAt > deletableCutoff(policies, owner, run.now)) return { position };
  return { entry: { ref, through, position }, position };
}

/**
 * A conversation met in the pass over own policies: its oldest copy has expired by its own retention as
 * filed. Its entry reaches to the run's time; the round bounds it by the policy the conversation has
 * when the round reads it (readRound), which the index's projection does not carry.
 */
function metOwn({ run }: SweepContext, candidate: CandidatePage['items'][number], position: Position) {
  const { owner, chatType, convId, clearedThrough } = candidate;
  return {
    entry: { ref: { owner, chatType, convId }, through: upToRunTime(run, clearedThrough), position },
    position,
  };
}

/** The most a round may delete of a conversation: what it cleared, and every copy up to the run's time. */
function upToRunTime(run: SweepContext['run'], clearedThrough: string | undefined): string {
  const upTo = highestIdAt(run.now - SWEEP_CLOCK_MARGIN_MS);
  return clearedThrough === undefined ? upTo : maxId(clearedThrough, upTo);
}

const sameRef = (a: RoundEntry['ref'], b: RoundEntry['ref']) =>
  a.owner === b.owner && a.chatType === b.chatType && a.convId === b.convId;

/** Purges the round, saving its counts and first position before its deletes. */
async function flushRound(claim: Claim, pass: Pass): Promise<void> {
  const stop = await purgeRound(claim.deps, claim.ctx, pass, (at) => save(claim, pass, { at }));
  if (stop !== undefined) throw new ShardStop(stop);
}

type Change = { at?: Position; done?: boolean; release?: boolean };

/** Saves position and counts, renews or releases the lease: a lost lease throws, or is false on release. */
async function save({ deps, ctx, shard, owner }: Claim, pass: Pass, change: Change = {}): Promise<boolean> {
  const { tally } = pass;
  const now = deps.clock.now();
  const counts = { ...tally.unsaved, retries: deps.db.retryCounter.retries - tally.saved.retries };
  const at = change.at ?? pass.tail?.first ?? pass.round[0]?.position ?? pass.at;
  const leaseUntil = change.done || change.release ? 0 : now + deps.config.sweepLeaseMs;
  const checkpoint = { ...storedPosition(at), counts, now, leaseUntil, done: change.done };
  if (!(await checkpointShard(deps.db, ctx.run.runId, shard.shard, owner, checkpoint))) {
    if (change.release) return false;
    throw new ShardStop('lease-lost');
  }
  tally.unsaved = zeroCounts();
  addCounts(tally.saved, counts);
  if (!change.done && Math.floor(now / PROGRESS_EVERY_MS) > Math.floor(tally.savedAt / PROGRESS_EVERY_MS)) {
    ctx.emit({ type: 'shard-progress', shard: shard.shard, counts: shardCounts(shard, tally.saved) });
  }
  tally.savedAt = now;
  return true;
}

/** The shard's counts: what it had when claimed, and what this claim saved. */
const shardCounts = (item: ShardItem, saved: SweepCounts) => addCounts(addCounts(zeroCounts(), item), saved);
