import type { ConversationRef } from '../core/model.js';
import type { WriteRequest } from '../store/db.js';
import { keys, purgeShardOf } from '../store/keys.js';
import type { RetentionPolicies } from '../store/policy-store.js';
import { type PurgeCandidate, queryDueInShard, queryUserCandidates } from '../store/purge-index.js';
import {
  checkpointShard,
  type PendingBatch,
  pendingOf,
  type ShardItem,
  userMarkerPut,
} from '../store/sweep-shard-store.js';
import { addCounts, type RunInfo, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
import type { WritePipe } from '../store/write-pipe.js';
import { readConversationsOnly } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH } from './purge.js';
import type { Budget, StopReason, Timer } from './sweep-budget.js';
import {
  boundRound,
  conversationName,
  deleteRound,
  FIRST_ROUND_CONVERSATIONS,
  freshIds,
  pendingEntry,
  purgeBound,
  type ReadEntry,
  ROUND_CONVERSATIONS,
  type RoundEntry,
  readRound,
  refOfConversation,
  settleRound,
} from './sweep-round.js';

/** One shard's share of a sweep run, under a lease, in rounds (see sweep.ts for the whole design). */

/** Each user's cutoff at the run's `now`, from the policies the invocation read. */
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
  timer: Timer;
  /** TTL (epoch s) of the run's shard and marker items. */
  expiresAt: number;
  /** Users this invocation has marked as purged (their marker is written once per invocation). */
  markedOwners: Set<string>;
  emit(event: SweepEvent): void;
}

export interface ShardWorker {
  leaseOwner: string;
  /** This worker's counts over all its shards; every checkpoint adds to it. */
  totals: SweepCounts;
  /** Retries of the worker's Db already counted (the Db's counter only grows). */
  retryMark: { taken: number };
  /** Rounds this worker has read in this invocation (its first is smaller: see FIRST_ROUND_CONVERSATIONS). */
  roundsRead: number;
}

export type ShardOutcome = 'done' | 'stopped' | 'lost';

/** Candidates read per Query of the purge index. */
const INDEX_PAGE = 200;
const PROGRESS_EVERY_MS = 5000;

class SweepStopped extends Error {
  constructor(readonly reason: StopReason) {
    super(`sweep stopped (${reason})`);
    this.name = 'SweepStopped';
  }
}

class LeaseLostError extends Error {
  constructor(shard: number) {
    super(`lost the lease on shard ${shard}`);
    this.name = 'LeaseLostError';
  }
}

type Position = RoundEntry['position'];

/** Works a claimed shard until it is done, the invocation must stop, or the lease is lost. */
export function sweepShard(deps: Deps, ctx: SweepContext, claimed: ShardItem, worker: ShardWorker) {
  return new ShardSweep(deps, ctx, claimed, worker).run();
}

class ShardSweep {
  private readonly shard: number;
  /** The pass's position: everything before it is finished (saved at the next checkpoint). */
  private readonly cursor: Pick<ShardItem, 'indexCursor' | 'userCursor' | 'indexDone'>;
  /** The position of the last candidate met: the cursor once the round in the making is finished. */
  private seen: Position = {};
  /** Due conversations for the next round, in pass order. */
  private waiting: RoundEntry[] = [];
  /** Conversations purged in part and counted so far (pending in the shard item): they go first. */
  private carried: RoundEntry[] = [];
  private readonly resumedPending: PendingBatch[];
  /**
   * The last round's deletes and settles, running while the next round is read. It moves the cursor
   * when it finishes; a round's checkpoint waits for it, so at most one round is unfinished.
   */
  private tail: Promise<void> | undefined;
  private checkpoints: number;
  /** Work since the last checkpoint. */
  private delta = zeroCounts();
  private readonly shardCounts: SweepCounts;
  private lastCheckpointAt: number;
  private lastProgressAt: number;

  constructor(
    private readonly deps: Deps,
    private readonly ctx: SweepContext,
    claimed: ShardItem,
    private readonly worker: ShardWorker,
  ) {
    this.shard = claimed.shard;
    this.cursor = {
      indexCursor: claimed.indexCursor,
      userCursor: claimed.userCursor,
      indexDone: claimed.indexDone,
    };
    this.resumedPending = pendingOf(claimed);
    this.checkpoints = claimed.checkpoints;
    this.shardCounts = addCounts(zeroCounts(), claimed);
    this.lastCheckpointAt = deps.clock.now();
    this.lastProgressAt = ctx.timer.now();
  }

  async run(): Promise<ShardOutcome> {
    const { shard } = this;
    this.ctx.emit({ type: 'shard-claimed', shard, resumed: this.checkpoints > 0, counts: this.counts() });
    try {
      await this.finishPendingRound();
      if (!this.cursor.indexDone) await this.sweepIndex();
      await this.sweepShorterRetentionUsers();
      await this.checkpoint({ done: true, pending: null });
      this.ctx.emit({ type: 'shard-done', shard, counts: this.counts() });
      return 'done';
    } catch (error) {
      if (!(error instanceof SweepStopped)) await this.tail?.catch(() => undefined);
      if (error instanceof SweepStopped) return this.stop(error.reason);
      if (error instanceof LeaseLostError) {
        this.ctx.emit({ type: 'shard-stopped', shard, reason: 'lease-lost', counts: this.counts() });
        return 'lost';
      }
      throw error;
    }
  }

  /** A clean stop: save the cursor and what is pending, and release the lease: the next invocation resumes. */
  private async stop(reason: StopReason): Promise<ShardOutcome> {
    await this.finishTail();
    try {
      await this.checkpoint({ release: true, pending: this.carried.map(asPending) });
    } catch (error) {
      if (!(error instanceof LeaseLostError)) throw error;
      this.ctx.emit({
        type: 'shard-stopped',
        shard: this.shard,
        reason: 'lease-lost',
        counts: this.counts(),
      });
      return 'lost';
    }
    this.ctx.emit({ type: 'shard-stopped', shard: this.shard, reason, counts: this.counts() });
    return 'stopped';
  }

  /**
   * The round a previous holder checkpointed and did not see through (it stopped or crashed): its
   * conversations are finished first, without counting again what it counted. Some may be settled
   * already, and moved in the index where no pass would meet them again.
   */
  private async finishPendingRound(): Promise<void> {
    if (this.resumedPending.length === 0) return;
    const refs = this.resumedPending.map((p) => refOfConversation(p.conversation));
    const read = await readConversationsOnly(this.deps, refs);
    this.resumedPending.forEach((pending, i) => {
      const ref = refs[i] as ConversationRef;
      const state = read.state(ref);
      if (!state.exists) return;
      const through = this.throughOf(ref.owner, state.clearedThrough);
      if (through === undefined) return;
      this.carried.push({
        ref,
        conversation: pending.conversation,
        through,
        countedThrough: pending.lastMsgId,
        position: {},
      });
    });
    await this.flushAll();
  }

  /** The shard's range of the purge index that is due by the app default's cutoff, oldest first. */
  private async sweepIndex(): Promise<void> {
    const from = this.cursor.indexCursor ?? '0';
    const upTo = keys.purgeSkUpperBound(Math.max(this.ctx.plan.appCutoff, 0));
    let startKey: Record<string, unknown> | undefined;
    do {
      this.throwIfStopping();
      const page = await queryDueInShard(this.deps.db, this.shard, {
        from,
        upTo,
        limit: INDEX_PAGE,
        startKey,
      });
      for (const candidate of page.items) {
        if (candidate.purgeSk === from) continue; // the cursor itself is finished
        await this.meet(candidate, { indexCursor: candidate.purgeSk });
      }
      startKey = page.nextKey;
    } while (startKey);
    await this.flushAll();
    this.cursor.indexDone = true;
  }

  /** Users of this shard whose retention is shorter than the default: their own partition, one by one. */
  private async sweepShorterRetentionUsers(): Promise<void> {
    const after = this.cursor.userCursor;
    const owners = this.ctx.plan.shorterRetentionUsers.filter(
      (owner) =>
        purgeShardOf(owner, this.ctx.run.shardCount) === this.shard && (after === undefined || owner > after),
    );
    // Save that the index pass is over (the done checkpoint does it when there is nothing else to do).
    if (owners.length > 0) await this.checkpoint({});
    for (const owner of owners) {
      let startKey: Record<string, unknown> | undefined;
      do {
        this.throwIfStopping();
        const page = await queryUserCandidates(this.deps.db, owner, startKey);
        for (const candidate of page.items) await this.meet(candidate, {});
        startKey = page.nextKey;
      } while (startKey);
      this.seen = { ...this.seen, userCursor: owner };
    }
    await this.flushAll();
  }

  /** A candidate of the pass: queued for the next round if it is due; the round goes when full. */
  private async meet(candidate: PurgeCandidate, position: Position): Promise<void> {
    const entry = this.entryOf(candidate, position);
    this.seen = { ...this.seen, ...position };
    // Met again in one pass (an inline purge re-filed it further on meanwhile): one entry per round, or
    // its keys would go twice in one BatchWriteItem, which DynamoDB refuses.
    if (entry && !this.inRound(entry.conversation)) this.waiting.push(entry);
    if (this.waiting.length + this.carried.length >= this.roundSize()) {
      await this.flushRound();
      return;
    }
    // Nothing waiting and no round in flight: the pass is finished up to here.
    if (this.waiting.length === 0 && this.carried.length === 0 && this.tail === undefined) {
      Object.assign(this.cursor, this.seen);
    }
    // Skipping candidates writes nothing, but the lease must not lapse during a long stretch of them,
    // also while a round is gathering (its entries are met again after a crash: the cursor is before them).
    await this.renewLeaseIfDue();
  }

  private inRound(conversation: string): boolean {
    return [...this.carried, ...this.waiting].some((entry) => entry.conversation === conversation);
  }

  /** The round entry of a candidate that is due by its owner's cutoff, else undefined. */
  private entryOf(candidate: PurgeCandidate, position: Position): RoundEntry | undefined {
    const cutoff = this.ctx.plan.cutoffOf(candidate.owner);
    const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
    if (dueAt !== 0 && dueAt > cutoff) return undefined;
    const through = this.throughOf(candidate.owner, candidate.clearedThrough);
    if (through === undefined) return undefined;
    const ref = { owner: candidate.owner, chatType: candidate.chatType, convId: candidate.convId };
    return { ref, conversation: conversationName(ref), through, position };
  }

  /** Everything hidden by the owner's watermark, and everything the retention planned expires. */
  private throughOf(owner: string, clearedThrough: string | undefined): string | undefined {
    return purgeBound(this.ctx.plan.policies, owner, clearedThrough, this.ctx.run.now);
  }

  /**
   * A worker's first round in an invocation is small, so its deletes start after a few reads instead of a
   * full round's: until then the invocation's write streams have nothing to send.
   */
  private roundSize(): number {
    return this.worker.roundsRead === 0 ? FIRST_ROUND_CONVERSATIONS : ROUND_CONVERSATIONS;
  }

  private async flushAll(): Promise<void> {
    while (this.waiting.length > 0 || this.carried.length > 0) await this.flushRound();
    await this.finishTail();
    Object.assign(this.cursor, this.seen);
  }

  /** Waits for the last round to be deleted and settled (and fails with it). */
  private async finishTail(): Promise<void> {
    const tail = this.tail;
    if (tail === undefined) return;
    await tail;
    if (this.tail === tail) this.tail = undefined;
  }

  /**
   * Purges the round in the making: reads it, counts it and checkpoints it (write-ahead: a crash
   * replays the round without counting it again), deletes, settles what is finished. Conversations with
   * more due copies than a round takes go on in the next one. The delete budget is taken per batch of
   * 50; when it runs out the round is cut there and the shard stops after it.
   */
  private async flushRound(): Promise<void> {
    this.throwIfStopping();
    // A conversation going on from the last round is read once that round has deleted its part.
    if (this.carried.length > 0) await this.finishTail();
    const round = [...this.carried, ...this.waiting];
    const seen = this.seen;
    this.waiting = [];
    this.carried = [];
    this.worker.roundsRead++;
    const read = await readRound(this.deps, round);
    await this.finishTail();
    const { snapshot } = read;
    const entries = await boundRound(this.deps, snapshot, read.entries, this.ctx.run.now);
    const { taken, stop } = this.takeBudget(entries);
    const { markers, newOwners } = this.count(taken);
    if (taken.some((entry) => entry.ids.length > 0)) {
      await this.checkpoint({ pending: taken.filter(isPending).map(pendingEntry) });
    }
    this.carried = [
      ...taken.filter((entry) => entry.more).map(continued),
      // Cut off by the budget, not started: a resumed purge stays pending; others are met again.
      ...entries.slice(taken.length).filter((entry) => entry.countedThrough !== undefined),
    ];
    const finished = async () => {
      try {
        await deleteRound(this.deps, this.ctx.deletes, taken, markers);
      } catch (error) {
        // Their markers may not be written: whoever replays the round writes them.
        for (const owner of newOwners) this.ctx.markedOwners.delete(owner);
        throw error;
      }
      await settleRound(this.deps, snapshot, taken);
      if (stop === undefined) Object.assign(this.cursor, seen);
      else for (const entry of taken) Object.assign(this.cursor, entry.position);
      // Finished: skipped candidates met from now on move the cursor again (at most one round is in
      // flight, so this tail is the current one). A failed tail stays, for finishTail to surface.
      this.tail = undefined;
    };
    if (stop !== undefined) {
      await finished();
      throw new SweepStopped(stop);
    }
    // Runs while the pass reads on and the next round is read; a failure surfaces when it is awaited.
    const tail = finished();
    tail.catch(() => undefined);
    this.tail = tail;
    await this.renewLeaseIfDue();
  }

  /** The prefix of the round the budget allows, batch by batch; why it stops after, if it must. */
  private takeBudget(entries: readonly ReadEntry[]): { taken: ReadEntry[]; stop?: StopReason } {
    const taken: ReadEntry[] = [];
    for (const entry of entries) {
      let allowed = 0;
      while (allowed < entry.ids.length && this.ctx.budget.takeBatch()) allowed += PURGE_BATCH;
      if (allowed >= entry.ids.length) {
        taken.push(entry);
        continue;
      }
      if (allowed > 0) taken.push({ ...entry, ids: entry.ids.slice(0, allowed), more: true });
      return { taken, stop: this.ctx.budget.stopReason() ?? 'aborted' };
    }
    return { taken };
  }

  /** Counts what the round deletes for the first time; the markers of users new to this invocation. */
  private count(taken: readonly ReadEntry[]): { markers: WriteRequest[]; newOwners: string[] } {
    const markers: WriteRequest[] = [];
    const newOwners: string[] = [];
    for (const entry of taken) {
      const fresh = new Set(freshIds(entry));
      this.delta.messagesDeleted += fresh.size;
      for (let i = 0; i < entry.ids.length; i += PURGE_BATCH) {
        if (entry.ids.slice(i, i + PURGE_BATCH).some((id) => fresh.has(id))) this.delta.batches++;
      }
      if (fresh.size > 0 && entry.countedThrough === undefined) this.delta.conversations++;
      const { owner } = entry.ref;
      if (!this.ctx.markedOwners.has(owner)) {
        this.ctx.markedOwners.add(owner);
        this.delta.users++;
        newOwners.push(owner);
        markers.push(userMarkerPut(this.ctx.run.runId, owner, this.ctx.expiresAt));
      }
    }
    return { markers, newOwners };
  }

  private throwIfStopping(): void {
    const reason = this.ctx.budget.stopReason();
    if (reason !== undefined) throw new SweepStopped(reason);
  }

  private async renewLeaseIfDue(): Promise<void> {
    if (this.deps.clock.now() - this.lastCheckpointAt >= this.deps.config.sweepLeaseMs / 3) {
      await this.checkpoint({});
    }
  }

  /**
   * Saves the cursor, counts and the pending round and renews the lease, all conditional on holding
   * it: before every round's deletes, so a worker that lost its lease never deletes again.
   */
  private async checkpoint(change: { pending?: PendingBatch[] | null; done?: boolean; release?: boolean }) {
    const now = this.deps.clock.now();
    const retries = this.deps.db.retryCounter.retries - this.worker.retryMark.taken;
    const counts = { ...this.delta, retries };
    const saved = await checkpointShard(
      this.deps.db,
      this.ctx.run.runId,
      this.shard,
      this.worker.leaseOwner,
      {
        counts,
        now,
        leaseUntil: change.done || change.release ? 0 : now + this.deps.config.sweepLeaseMs,
        indexCursor: this.cursor.indexCursor,
        userCursor: this.cursor.userCursor,
        indexDone: this.cursor.indexDone || undefined,
        pending: change.pending,
        done: change.done,
      },
    );
    if (!saved) throw new LeaseLostError(this.shard);
    this.worker.retryMark.taken += retries;
    addCounts(this.worker.totals, counts);
    addCounts(this.shardCounts, counts);
    this.delta = zeroCounts();
    this.checkpoints++;
    this.lastCheckpointAt = now;
    if (this.ctx.timer.now() - this.lastProgressAt >= PROGRESS_EVERY_MS && !change.done) {
      this.lastProgressAt = this.ctx.timer.now();
      this.ctx.emit({ type: 'shard-progress', shard: this.shard, counts: this.counts() });
    }
  }

  private counts(): SweepCounts {
    return { ...this.shardCounts };
  }
}

/** An entry the shard item must name as pending: it deletes copies, or a resumed purge is in it. */
function isPending(entry: ReadEntry): boolean {
  return entry.ids.length > 0 || entry.countedThrough !== undefined;
}

/** A conversation purged in part goes on in the next round, counted through this round's last id. */
function continued(entry: ReadEntry): RoundEntry {
  const { ids: _ids, more: _more, oldestRemaining: _oldest, ...rest } = entry;
  return { ...rest, countedThrough: pendingEntry(entry).lastMsgId, position: {} };
}

function asPending(entry: RoundEntry): PendingBatch {
  return { conversation: entry.conversation, lastMsgId: entry.countedThrough as string };
}
