import type { Timer } from '../core/clock.js';
import { ttlAfter } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import { createDb } from '../store/db.js';
import { getAllPolicies, type RetentionPolicies } from '../store/policy-store.js';
import { claimShard, countUserMarkers, listShards, type ShardItem } from '../store/sweep-shard-store.js';
import {
  addCounts,
  claimActiveRun,
  clearActiveRun,
  finishRunRecord,
  getActiveRun,
  getRunRecord,
  putRunRecord,
  type RunInfo,
  type SweepCounts,
  updateRunCounts,
  zeroCounts,
} from '../store/sweep-store.js';
import { createWritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH } from './purge.js';
import { deletableCutoff } from './retention.js';
import { createBudget, createRateLimiter } from './sweep-budget.js';
import { DELETE_STREAMS_PER_WORKER } from './sweep-round.js';
import { type RetentionPlan, type SweepContext, type SweepEvent, sweepShard } from './sweep-shard.js';

/**
 * The retention sweep: physically deletes every message copy at or before max(watermark, retention
 * cutoff), per user and conversation. It thereby also finishes the purges that one-way deletes left
 * pending. Reads never depended on it: every read bounds its key range by the watermark and the
 * caller's cutoff, so expiry is exact at read time.
 *
 * Finding the work (cost follows the work, not the number of users). Every conversation item with
 * copies is in the sharded purge index (byPurge: partition P#{n}, sort key {dueAt}#{owner}#{type}#{conv}),
 * filed under its oldest copy's time, or 0 once its owner deleted something. Per shard, a run reads only
 * the range due by the app default's cutoff (Query pages of 200 small projected items); a candidate
 * whose owner has a longer override is skipped. Users with a SHORTER override are read from their own
 * partition in a second pass (one Query each): the index range would otherwise have to reach everyone's
 * conversations. Keep-forever users only have pending-delete work (dueAt 0). After its purge, a
 * conversation is re-filed under its oldest remaining copy or leaves the index; one with no copy left
 * also leaves the conversation list (read-time expiry hid it already).
 *
 * Rounds (sweep-round.ts). A shard's pass gathers due conversations into rounds of up to 8 (a worker's
 * first round of an invocation takes 2, so the write streams get work after a few reads). A round's
 * reads go out together: per conversation two key Queries projected to the key (the ids of up to 250
 * due copies; the oldest copy above the bound, limit 1: one Query reading on past the bound would read
 * every copy that stays up to its limit), and one BatchGetItem of the 8 conversation items.
 * The round is checkpointed, then its deletes go in BatchWriteItem calls of 25 mixed across its
 * conversations through the invocation's write pipe (2 calls in flight per worker; store/write-pipe.ts)
 * while the pass reads the next round. Each finished conversation is settled on the round's read
 * (purge.ts, settleReadPurge): one write conditional on the item's `rev`, or the careful path (read
 * again, then decide) when the item changed, no copy is left, or unread copies were purged. A
 * conversation with more than 250 due copies goes on in the next round, first.
 *
 * Runs, shards and leases (keys: store/keys.ts; items: store/sweep-store.ts, sweep-shard-store.ts):
 * - SWEEPS/ACTIVE names the run in progress {runId, now, shardCount}. It is created by a conditional
 *   put, so invocations started together join one run, and every invocation of the run uses its fixed
 *   `now` for the cutoffs. SWEEPS/R#{runId} is the run record listed by GET /v1/admin/sweeps.
 * - SWEEP#{runId}/SHARD#{n}: lease owner and expiry, index cursor, user cursor, pending round, counts,
 *   done. Claimed by a conditional update (absent, or not done and the lease lapsed); a worker claims
 *   from its last listing of the shards and lists them again only when that shows none free or a claim
 *   fails. Every checkpoint renews the lease and applies only while the lease is still ours, so two
 *   invocations never work a shard at once: one whose lease lapsed finds out at its next checkpoint,
 *   which comes before its next round's deletes.
 * - Checkpoints are write-ahead, one per round: before a round's deletes, the shard item counts them
 *   and records the round as pending (each conversation with the highest id counted). The cursor moves
 *   past a round once it is deleted and settled, and is saved with the next checkpoint, so at most one
 *   round is unfinished. A crash replays that round first on resume; its deletes are idempotent and
 *   copies at or below a pending entry's id are not counted again, so copies, batches and
 *   conversations are counted exactly once. The user markers SWEEP#{runId}/U#{owner} ride along with
 *   the deletes (idempotent puts, once per user per invocation); the run's `users` is the number of
 *   markers, counted when the run finishes (while it runs, a shard's `users` can count a user twice
 *   across invocations).
 * - A clean stop (less than sweepStopBeforeTimeoutMs of the Lambda's time left, or a batch limit)
 *   finishes the round in flight, saves what goes on as pending and releases the lease; a crash leaves
 *   it to lapse after sweepLeaseMs. Whoever finds every shard done marks the run finished
 *   (conditional: once) with the sum of the shards' counts and clears ACTIVE.
 * - Deletes go through a token bucket (sweepMaxDeletesPerSecond per invocation); throttling and
 *   UnprocessedItems are retried with backoff and jitter in store/db.ts, counted per worker.
 *
 * Cost of a run. S shards, W workers per invocation, C conversations purged (e_c copies each, E in
 * all), R rounds (about C/8 plus one per shard and one per worker), C' index candidates read but skipped (owners with a
 * longer override), U users purged, O users with a shorter override:
 *   read requests = S + (C + C')/200          purge-index Queries (one per shard, 200 candidates a page)
 *                 + Σ_c 2⌈(e_c + 1)/250⌉      key Queries and the oldest copy left, per round (≈ 2C + 2E/250)
 *                 + 2R                          BatchGetItem of each round's items, and of its owners'
 *                                               policies right before its deletes (sweep-round.ts)
 *                 + O                           one Query of each shorter-override user's partition
 *                 + ≈ W + 5                     shard listings, ACTIVE, run record, policies, marker count
 *                 (and a GetItem and a Query for each settle that takes the careful path)
 *   write requests = ⌈(E + U)/25⌉ BatchWriteItem + R checkpoints + 2S claims and closes + C settles
 *                 + ≈ 4 for the run (a settle also unlists an emptied conversation).
 *   write units   ≈ E + U + R + 2S + 5C (a settle rewrites the item and its entries in three indexes).
 * `npm run bench` (bench/sweep.ts: 10,000 users, 1% with 121 expired copies each, S = 16, W = 4)
 * prints the requests of a run next to this model, and the sweep's delete rate next to the raw
 * BatchWriteItem rate of the same engine (bench/README.md).
 */

export type SweepTrigger = 'schedule' | 'admin' | 'cli' | 'local';

export interface SweepOptions {
  /** What started it, recorded on a new run. @default 'schedule' */
  trigger?: SweepTrigger;
  /** Work on this run only: if it is not the active run any more, do nothing (outcome 'idle'). */
  runId?: string;
  /** Names this invocation's leases. @default a new id */
  invocationId?: string;
  /** Time left before the invocation is killed (the Lambda context's). @default unlimited */
  remainingMs?: () => number;
  /** Stop cleanly after this many batches (tests; `npm run sweep -- --batches N`). @default unlimited */
  maxBatches?: number;
  /** @default config.sweepWorkers */
  workers?: number;
  /** Progress for logs: shards claimed, progressing, done or stopped; the run finishing. */
  onEvent?: (event: SweepEvent) => void;
  /** @default real time */
  timer?: Timer;
}

export type SweepOutcome =
  /** The run is finished (by this invocation or another). */
  | 'finished'
  /** This invocation stopped early (time or batch limit); the next one resumes. */
  | 'stopped'
  /** Shards are left, but others hold their leases. */
  | 'busy'
  /** The requested run was no longer active: nothing to do. */
  | 'idle';

export interface SweepSummary {
  runId: string | null;
  /** True when the run had been started by another invocation. */
  joined: boolean;
  outcome: SweepOutcome;
  /** This invocation marked the run finished (exactly one invocation per run does). */
  closedRun: boolean;
  /** Shards this invocation completed. */
  shardsCompleted: number[];
  shardsDone: number;
  shardCount: number;
  /** What this invocation did. */
  counts: SweepCounts;
  /** The whole run so far (all invocations). */
  runCounts: SweepCounts;
  durationMs: number;
}

/** How long the run's shard items and user markers are kept (TTL), and its record. */
const PROGRESS_TTL_DAYS = 30;
const RECORD_TTL_DAYS = 90;

/** Runs the sweep: joins the active run or starts one, works shards until done or told to stop. */
export async function runSweep(deps: Deps, options: SweepOptions = {}): Promise<SweepSummary> {
  const timer = options.timer ?? deps.timer;
  const started = timer.now();
  const emit = options.onEvent ?? (() => undefined);
  const joined = await openRun(deps, options.trigger ?? 'schedule', options.runId);
  if (!joined) return idleSummary(options.runId, timer.now() - started);
  const { run } = joined;
  emit({ type: 'run', runId: run.runId, joined: joined.joined, now: run.now, shardCount: run.shardCount });

  const budget = createBudget({
    remainingMs: options.remainingMs ?? (() => Number.POSITIVE_INFINITY),
    stopBeforeTimeoutMs: deps.config.sweepStopBeforeTimeoutMs,
    maxBatches: options.maxBatches ?? Number.POSITIVE_INFINITY,
  });
  const workerCount = Math.max(1, Math.floor(options.workers ?? deps.config.sweepWorkers));
  const limiter = createRateLimiter(deps.config.sweepMaxDeletesPerSecond, PURGE_BATCH, timer);
  const ctx: SweepContext = {
    run,
    plan: planRetention(await getAllPolicies(deps.db), run.now),
    budget,
    deletes: createWritePipe(workerCount * DELETE_STREAMS_PER_WORKER, (chunk) =>
      limiter.take(chunk.filter((request) => 'DeleteRequest' in request).length),
    ),
    timer,
    expiresAt: ttlAfter(run.now, PROGRESS_TTL_DAYS),
    markedOwners: new Set(),
    emit,
  };
  const invocationId = options.invocationId ?? deps.ids.next();
  const results = await Promise.allSettled(
    Array.from({ length: workerCount }, (_, i) =>
      runWorker(deps, ctx, `${invocationId}/${i}`).catch((error: unknown) => {
        budget.abort(); // the other workers checkpoint and release their shards, then the error surfaces
        throw error;
      }),
    ),
  );
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  const workers = results.map((result) => (result as PromiseFulfilledResult<WorkerResult>).value);

  const shards = await listShards(deps.db, run.runId);
  const runCounts = shards.reduce((sum, shard) => addCounts(sum, shard), zeroCounts());
  const shardsDone = shards.filter((shard) => shard.done).length;
  const finished = shardsDone === run.shardCount;
  let closedRun = false;
  if (finished) {
    // Exact whatever crashed and resumed: one marker per user purged in the run.
    runCounts.users = await countUserMarkers(deps.db, run.runId);
    closedRun = await finishRunRecord(deps.db, run.runId, runCounts, deps.clock.now());
    await clearActiveRun(deps.db, run.runId);
    emit({ type: 'run-finished', runId: run.runId, counts: runCounts, closedHere: closedRun });
  } else {
    await updateRunCounts(deps.db, run.runId, runCounts, deps.clock.now());
  }
  return {
    runId: run.runId,
    joined: joined.joined,
    outcome: finished ? 'finished' : workers.some((w) => w.stopped) ? 'stopped' : 'busy',
    closedRun,
    shardsCompleted: workers.flatMap((w) => w.completed).sort((a, b) => a - b),
    shardsDone,
    shardCount: run.shardCount,
    counts: workers.reduce((sum, w) => addCounts(sum, w.counts), zeroCounts()),
    runCounts,
    durationMs: timer.now() - started,
  };
}

/** Starts a run, or joins the one in progress: POST /v1/admin/sweeps gets its id at once this way. */
export async function startSweepRun(
  deps: Deps,
  trigger: SweepTrigger,
): Promise<{ run: RunInfo; joined: boolean }> {
  const opened = await openRun(deps, trigger);
  if (!opened) throw new StoreError('Could not start or join a sweep run');
  return opened;
}

/**
 * Joins the active run, or starts one (conditional put of the ACTIVE pointer: of two invocations
 * starting together, one creates the run and the other joins it). With `onlyRunId`, joins only that
 * run and returns undefined if it is over.
 */
async function openRun(
  deps: Deps,
  trigger: SweepTrigger,
  onlyRunId?: string,
): Promise<{ run: RunInfo; joined: boolean } | undefined> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const active = await getActiveRun(deps.db);
    if (active) {
      if (onlyRunId !== undefined && active.runId !== onlyRunId) return undefined;
      const record = await getRunRecord(deps.db, active.runId);
      if (record?.status === 'finished') {
        // Finished, but the pointer survived a crash: clear it and look again.
        await clearActiveRun(deps.db, active.runId);
        continue;
      }
      if (!record) await putRunRecord(deps.db, active, recordExpiry(active));
      return { run: active, joined: true };
    }
    if (onlyRunId !== undefined) return undefined;
    const now = deps.clock.now();
    const proposed: RunInfo = {
      runId: deps.ids.next(),
      now,
      startedAt: now,
      shardCount: deps.config.purgeShards,
      trigger,
    };
    const winner = await claimActiveRun(deps.db, proposed);
    if (winner?.runId === proposed.runId) {
      await putRunRecord(deps.db, proposed, recordExpiry(proposed));
      return { run: proposed, joined: false };
    }
    if (winner) {
      if (!(await getRunRecord(deps.db, winner.runId)))
        await putRunRecord(deps.db, winner, recordExpiry(winner));
      return { run: winner, joined: true };
    }
  }
  throw new StoreError('Could not start or join a sweep run');
}

/**
 * Each user's deletable cutoff at the run's `now` (retention.ts: the days in force, less the clock
 * margin); which users need the per-user pass. Rounds read the policies again before they delete.
 */
export function planRetention(policies: RetentionPolicies, now: number): RetentionPlan {
  const appCutoff = deletableCutoff({ ...policies, userDays: new Map() }, '', now);
  const cutoffOf = (owner: string) => deletableCutoff(policies, owner, now);
  const shorterRetentionUsers = [...policies.userDays.keys()]
    .filter((owner) => cutoffOf(owner) > appCutoff)
    .sort();
  return { policies, appCutoff, cutoffOf, shorterRetentionUsers };
}

interface WorkerResult {
  counts: SweepCounts;
  completed: number[];
  stopped: boolean;
}

/** One worker: claims a free shard, works it, and goes on to the next until none is free. */
async function runWorker(deps: Deps, ctx: SweepContext, leaseOwner: string): Promise<WorkerResult> {
  // Its own Db (same client) so the retries it counts are its own.
  const workerDeps: Deps = { ...deps, db: createDb(deps.db.client, deps.db.tableName, deps.db.retry) };
  const result: WorkerResult = { counts: zeroCounts(), completed: [], stopped: false };
  const worker = { leaseOwner, totals: result.counts, retryMark: { taken: 0 }, roundsRead: 0 };
  const view: ShardView = { shards: undefined };
  for (;;) {
    if (ctx.budget.stopReason() !== undefined) {
      result.stopped = true;
      return result;
    }
    const shard = await claimNextShard(workerDeps, ctx, leaseOwner, view);
    if (!shard) return result;
    const outcome = await sweepShard(workerDeps, ctx, shard, worker);
    if (outcome === 'done') result.completed.push(shard.shard);
    view.shards?.set(shard.shard, {
      ...shard,
      done: outcome === 'done',
      leaseUntil: Number.POSITIVE_INFINITY,
    });
    if (outcome === 'stopped') {
      result.stopped = true;
      return result;
    }
  }
}

/** A worker's last listing of the run's shards (listed again when it no longer shows a free one). */
interface ShardView {
  shards: Map<number, ShardItem> | undefined;
}

/**
 * Claims a free shard (random, so concurrent workers rarely collide), from the worker's last listing of
 * the run's shards; the listing is read again when it shows none free or a claim fails.
 */
async function claimNextShard(
  deps: Deps,
  ctx: SweepContext,
  owner: string,
  view: ShardView,
): Promise<ShardItem | undefined> {
  const { run } = ctx;
  for (let attempt = 0; attempt < run.shardCount; attempt++) {
    const now = deps.clock.now();
    let free = view.shards && freeShards(view.shards, run.shardCount, now);
    if (!free?.length) {
      view.shards = new Map((await listShards(deps.db, run.runId)).map((item) => [item.shard, item]));
      free = freeShards(view.shards, run.shardCount, now);
    }
    if (free.length === 0) return undefined;
    const pick = free[Math.floor(deps.random() * free.length)] as number;
    const claimed = await claimShard(deps.db, run.runId, pick, {
      owner,
      now,
      leaseUntil: now + deps.config.sweepLeaseMs,
      expiresAt: ctx.expiresAt,
    });
    if (claimed) return claimed;
    view.shards = undefined;
  }
  return undefined;
}

function freeShards(shards: Map<number, ShardItem>, shardCount: number, now: number): number[] {
  const free: number[] = [];
  for (let n = 0; n < shardCount; n++) {
    const item = shards.get(n);
    if (!item || (!item.done && item.leaseUntil < now)) free.push(n);
  }
  return free;
}

function recordExpiry(run: RunInfo): number {
  return ttlAfter(run.now, RECORD_TTL_DAYS);
}

function idleSummary(runId: string | undefined, durationMs: number): SweepSummary {
  return {
    runId: runId ?? null,
    joined: false,
    outcome: 'idle',
    closedRun: false,
    shardsCompleted: [],
    shardsDone: 0,
    shardCount: 0,
    counts: zeroCounts(),
    runCounts: zeroCounts(),
    durationMs,
  };
}
