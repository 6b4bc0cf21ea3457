import { highestIdAt, maxId } from '../core/ids.js';
import type { ChatType } from '../core/model.js';
import { conversationKey, stateOf } from '../store/conversation.js';
import { batchGet, keyString } from '../store/db.js';
import { keys, purgeShardOf } from '../store/keys.js';
import { type PurgeCandidate, queryDueInShard, queryUserCandidates } from '../store/purge-index.js';
import {
  checkpointShard,
  markUserCounted,
  type PendingBatch,
  type ShardItem,
} from '../store/sweep-shard-store.js';
import { addCounts, type RunInfo, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
import type { Deps } from './deps.js';
import { purgeThrough, settleConversationPurge } from './purge.js';
import { NO_CUTOFF } from './retention.js';
import type { Budget, RateLimiter, StopReason, Timer } from './sweep-budget.js';

/** One shard's share of a sweep run, under a lease (see sweep.ts for the whole design). */

/** Each user's cutoff at the run's `now`, from the policies the invocation read. */
export interface RetentionPlan {
  /** The app default's cutoff (NO_CUTOFF when it keeps forever): the index pass reads up to it. */
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
  limiter: RateLimiter;
  timer: Timer;
  /** TTL (epoch s) of the run's shard and marker items. */
  expiresAt: number;
  /** Users this invocation has already marked as counted (saves repeating the marker write). */
  markedOwners: Set<string>;
  emit(event: SweepEvent): void;
}

export interface ShardWorker {
  leaseOwner: string;
  /** This worker's counts over all its shards; every checkpoint adds to it. */
  totals: SweepCounts;
  /** Retries of the worker's Db already counted (the Db's counter only grows). */
  retryMark: { taken: number };
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

/** Works a claimed shard until it is done, the invocation must stop, or the lease is lost. */
export function sweepShard(deps: Deps, ctx: SweepContext, claimed: ShardItem, worker: ShardWorker) {
  return new ShardSweep(deps, ctx, claimed, worker).run();
}

class ShardSweep {
  private readonly shard: number;
  private readonly cursor: Pick<ShardItem, 'indexCursor' | 'userCursor' | 'indexDone' | 'pending'>;
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
      pending: claimed.pending,
    };
    this.checkpoints = claimed.checkpoints;
    this.shardCounts = addCounts(zeroCounts(), claimed);
    this.lastCheckpointAt = deps.clock.now();
    this.lastProgressAt = ctx.timer.now();
  }

  async run(): Promise<ShardOutcome> {
    const { shard } = this;
    this.ctx.emit({ type: 'shard-claimed', shard, resumed: this.checkpoints > 0, counts: this.counts() });
    try {
      await this.finishPendingConversation();
      if (!this.cursor.indexDone) await this.sweepIndex();
      await this.sweepShorterRetentionUsers();
      await this.checkpoint({ done: true, pending: null });
      this.ctx.emit({ type: 'shard-done', shard, counts: this.counts() });
      return 'done';
    } catch (error) {
      if (error instanceof SweepStopped) return this.stop(error.reason);
      if (error instanceof LeaseLostError) {
        this.ctx.emit({ type: 'shard-stopped', shard, reason: 'lease-lost', counts: this.counts() });
        return 'lost';
      }
      throw error;
    }
  }

  /** A clean stop: save the cursor and release the lease, so the next invocation resumes at once. */
  private async stop(reason: StopReason): Promise<ShardOutcome> {
    try {
      await this.checkpoint({ release: true });
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
   * The conversation a previous holder was purging when it stopped or crashed (its pending batch names
   * it): finished and counted first. Its purge may even be settled already (a crash after the settle,
   * before the checkpoint), which moved it in the index where no pass would meet it again.
   */
  private async finishPendingConversation(): Promise<void> {
    const pending = this.cursor.pending;
    if (!pending) return;
    const [owner, chatType, convId] = pending.conversation.split('#') as [string, ChatType, string];
    const ref = { owner, chatType, convId };
    const key = conversationKey(ref);
    const state = stateOf(ref, (await batchGet(this.deps.db, [key])).get(keyString(key)));
    if (state.exists) {
      await this.process(
        { owner, chatType, convId, clearedThrough: state.clearedThrough, purgeSk: state.purgeSk ?? '' },
        { evenIfNotDue: true },
      );
    }
    await this.checkpoint({ pending: null });
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
        const processed = await this.process(candidate);
        this.cursor.indexCursor = candidate.purgeSk;
        if (processed) await this.checkpoint({ pending: null });
        else await this.renewLeaseIfDue();
      }
      startKey = page.nextKey;
    } while (startKey);
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
        for (const candidate of page.items) {
          if (await this.process(candidate)) await this.checkpoint({ pending: null });
        }
        startKey = page.nextKey;
      } while (startKey);
      this.cursor.userCursor = owner;
      await this.renewLeaseIfDue();
    }
  }

  /**
   * Purges one conversation through max(watermark, its owner's cutoff) if anything there is due, then
   * settles it (re-filed in the index; one left with no copy leaves the list). False when it was not due.
   */
  private async process(
    candidate: PurgeCandidate,
    options: { evenIfNotDue?: boolean } = {},
  ): Promise<boolean> {
    const cutoff = this.ctx.plan.cutoffOf(candidate.owner);
    const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
    if (!options.evenIfNotDue && dueAt !== 0 && dueAt > cutoff) return false;
    // Everything hidden by the owner's watermark, and everything at or before their retention cutoff.
    const byRetention = cutoff === NO_CUTOFF ? undefined : highestIdAt(cutoff);
    const through =
      candidate.clearedThrough === undefined
        ? byRetention
        : byRetention === undefined
          ? candidate.clearedThrough
          : maxId(candidate.clearedThrough, byRetention);
    if (through === undefined) return false;
    this.throwIfStopping();
    const ref = { owner: candidate.owner, chatType: candidate.chatType, convId: candidate.convId };
    await this.countUser(ref.owner);
    const conversation = `${ref.owner}#${ref.chatType}#${ref.convId}`;
    const pending = this.cursor.pending;
    const countedThrough = pending?.conversation === conversation ? pending.lastMsgId : undefined;
    const progress = await purgeThrough(
      this.deps,
      ref,
      through,
      () => this.ctx.budget.stopReason() === undefined,
      async (msgIds) => {
        if (!this.ctx.budget.takeBatch()) throw new SweepStopped(this.ctx.budget.stopReason() ?? 'aborted');
        await this.ctx.limiter.take(msgIds.length);
        // Copies at or below a batch counted before a crash are being deleted again, not counted again.
        const fresh =
          countedThrough === undefined ? msgIds.length : msgIds.filter((id) => id > countedThrough).length;
        this.delta.messagesDeleted += fresh;
        if (fresh > 0) this.delta.batches++;
        await this.checkpoint({ pending: { conversation, lastMsgId: msgIds[msgIds.length - 1] as string } });
      },
    );
    if (!progress.finished) throw new SweepStopped(this.ctx.budget.stopReason() ?? 'aborted');
    await settleConversationPurge(this.deps, ref, { purgedThrough: through });
    // Counted when copies went: here, or before a stop or crash (the pending batch says so), exactly once.
    if (progress.deleted > 0 || countedThrough !== undefined) this.delta.conversations++;
    return true;
  }

  /**
   * Counts a user once per run: a marker names the shard checkpoint that includes them. A marker from an
   * earlier attempt whose checkpoint never got written (a crash in between) is counted now.
   */
  private async countUser(owner: string): Promise<void> {
    if (this.ctx.markedOwners.has(owner)) return;
    const existing = await markUserCounted(this.deps.db, this.ctx.run.runId, owner, {
      shard: this.shard,
      countedAt: this.checkpoints + 1,
      expiresAt: this.ctx.expiresAt,
    });
    if (existing === undefined || (existing.shard === this.shard && existing.countedAt > this.checkpoints)) {
      this.delta.users++;
    }
    this.ctx.markedOwners.add(owner);
  }

  private throwIfStopping(): void {
    const reason = this.ctx.budget.stopReason();
    if (reason !== undefined) throw new SweepStopped(reason);
  }

  /** Skipping candidates writes nothing, but the lease must not lapse during a long stretch of them. */
  private async renewLeaseIfDue(): Promise<void> {
    if (this.deps.clock.now() - this.lastCheckpointAt >= this.deps.config.sweepLeaseMs / 3) {
      await this.checkpoint({});
    }
  }

  /** Saves cursor, counts and the pending batch and renews the lease, all conditional on holding it. */
  private async checkpoint(change: { pending?: PendingBatch | null; done?: boolean; release?: boolean }) {
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
    if (change.pending !== undefined) this.cursor.pending = change.pending ?? undefined;
    if (this.ctx.timer.now() - this.lastProgressAt >= PROGRESS_EVERY_MS && !change.done) {
      this.lastProgressAt = this.ctx.timer.now();
      this.ctx.emit({ type: 'shard-progress', shard: this.shard, counts: this.counts() });
    }
  }

  private counts(): SweepCounts {
    return { ...this.shardCounts };
  }
}
