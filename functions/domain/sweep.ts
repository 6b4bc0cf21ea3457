import type { Timer } from '../core/clock.js';
import { ttlAfter } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import { createDb } from '../store/db.js';
import { getAllPolicies } from '../store/policy-store.js';
import { claimShard, listShards, type ShardItem } from '../store/sweep-shard-store.js';
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
import { createBudget, createRateLimiter } from './sweep-budget.js';
import { DELETE_STREAMS_PER_WORKER } from './sweep-round.js';
import { type SweepContext, type SweepEvent, sweepShard } from './sweep-shard.js';

/**
 * The retention sweep: physically deletes every message copy at or before max(watermark, retention
 * cutoff), per user and conversation, so it also finishes the purges one-way deletes left pending.
 * Reads never depend on it: every read bounds its key range by the watermark and the caller's cutoff.
 * The design and a run's cost: docs/storage.md, "Retention sweep".
 *
 * A run is split into the shards of the purge index (by owner). SWEEPS/ACTIVE names the run in
 * progress, created by a conditional put: invocations started together join one run and use its fixed
 * `now`. Each worker of an invocation claims a free shard (a conditional update: absent, or not done
 * and its lease lapsed) and works it (sweep-shard.ts) until it is done, the invocation must stop (its
 * time, a batch limit, a failed worker), or the lease is lost; then the next. Whoever finds every shard
 * done marks the run finished (conditional: once) with the sum of the shards' counts and clears ACTIVE.
 * Counts are metrics, counted at least once (sweep-shard.ts). Deletes go through a token bucket
 * (sweepMaxDeletesPerSecond per invocation) and a write pipe of 2 BatchWriteItem calls per worker.
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

/** Counts are at least once: a crashed round's replay, or a second invocation, may count some again. */
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

/** How long the run's shard items are kept (TTL), and its record. */
const PROGRESS_TTL_DAYS = 30;
const RECORD_TTL_DAYS = 90;

/** Runs the sweep: joins the active run or starts one, works shards until done or told to stop. */
export async function runSweep(deps: Deps, options: SweepOptions = {}): Promise<SweepSummary> {
  const timer = options.timer ?? deps.timer;
  const started = timer.now();
  const emit = options.onEvent ?? (() => undefined);
  const opened = await openRun(deps, options.trigger ?? 'schedule', options.runId);
  const mine: Invocation = { counts: zeroCounts(), shardsCompleted: [], stopped: false };
  if (!opened) {
    const none = { shardsDone: 0, shardCount: 0, runCounts: zeroCounts(), durationMs: timer.now() - started };
    return {
      runId: options.runId ?? null,
      joined: false,
      outcome: 'idle',
      closedRun: false,
      ...mine,
      ...none,
    };
  }
  const { run, joined } = opened;
  emit({ type: 'run', runId: run.runId, joined, now: run.now, shardCount: run.shardCount });
  const budget = createBudget({
    remainingMs: options.remainingMs ?? (() => Number.POSITIVE_INFINITY),
    stopBeforeTimeoutMs: deps.config.sweepStopBeforeTimeoutMs,
    maxBatches: options.maxBatches ?? Number.POSITIVE_INFINITY,
  });
  const workers = Math.max(1, Math.floor(options.workers ?? deps.config.sweepWorkers));
  const limiter = createRateLimiter(deps.config.sweepMaxDeletesPerSecond, PURGE_BATCH, timer);
  const deletes = createWritePipe(workers * DELETE_STREAMS_PER_WORKER, (chunk) =>
    limiter.take(chunk.filter((request) => 'DeleteRequest' in request).length),
  );
  const ctx: SweepContext = { run, policies: await getAllPolicies(deps.db), budget, deletes, emit };
  const invocationId = options.invocationId ?? deps.ids.next();
  const results = await Promise.allSettled(
    Array.from({ length: workers }, (_, i) =>
      runWorker(deps, ctx, `${invocationId}/${i}`, mine).catch((error: unknown) => {
        budget.abort(); // the other workers checkpoint and release their shards, then the error surfaces
        throw error;
      }),
    ),
  );
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;

  const shards = await listShards(deps.db, run.runId);
  const runCounts = shards.reduce((sum, shard) => addCounts(sum, shard), zeroCounts());
  const shardsDone = shards.filter((shard) => shard.done).length;
  const finished = shardsDone === run.shardCount;
  const closedRun = finished && (await finishRunRecord(deps.db, run.runId, runCounts, deps.clock.now()));
  if (finished) {
    await clearActiveRun(deps.db, run.runId);
    emit({ type: 'run-finished', runId: run.runId, counts: runCounts, closedHere: closedRun });
  } else await updateRunCounts(deps.db, run.runId, runCounts, deps.clock.now());
  return {
    runId: run.runId,
    joined,
    outcome: finished ? 'finished' : mine.stopped ? 'stopped' : 'busy',
    closedRun,
    shardsCompleted: mine.shardsCompleted.sort((a, b) => a - b),
    shardsDone,
    shardCount: run.shardCount,
    counts: mine.counts,
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
    if (onlyRunId !== undefined && active?.runId !== onlyRunId) return undefined;
    let run = active;
    if (!run) {
      const now = deps.clock.now();
      const proposed = {
        runId: deps.ids.next(),
        now,
        startedAt: now,
        shardCount: deps.config.purgeShards,
        trigger,
      };
      run = await claimActiveRun(deps.db, proposed);
      if (run.runId === proposed.runId) {
        await putRunRecord(deps.db, run, ttlAfter(run.now, RECORD_TTL_DAYS));
        return { run, joined: false };
      }
    }
    const record = await getRunRecord(deps.db, run.runId);
    if (!record) await putRunRecord(deps.db, run, ttlAfter(run.now, RECORD_TTL_DAYS));
    if (record?.status !== 'finished') return { run, joined: true };
    await clearActiveRun(deps.db, run.runId); // finished, but the pointer survived a crash: look again
  }
  throw new StoreError('Could not start or join a sweep run');
}

/** What this invocation's workers did. */
interface Invocation {
  counts: SweepCounts;
  shardsCompleted: number[];
  /** A worker stopped before the run was done (time, batch limit): the next invocation resumes. */
  stopped: boolean;
}

/** One worker: claims a free shard, works it, and goes on to the next until none is free. */
async function runWorker(deps: Deps, ctx: SweepContext, leaseOwner: string, mine: Invocation) {
  while (ctx.budget.stopReason() === undefined) {
    const claimed = await claimFreeShard(deps, ctx.run, leaseOwner);
    if (!claimed) return;
    // Its own Db (same client), so the retries it counts are the claim's.
    const db = createDb(deps.db.client, deps.db.tableName, deps.db.retry);
    const { outcome, counts } = await sweepShard({ ...deps, db }, ctx, claimed, leaseOwner);
    addCounts(mine.counts, counts);
    if (outcome === 'done') mine.shardsCompleted.push(claimed.shard);
    if (outcome === 'stopped') break;
  }
  mine.stopped = true;
}

/**
 * Claims a free shard: not done, and its lease absent or lapsed; at random among those, so concurrent
 * workers rarely collide. Lists the run's shards again after a failed claim.
 */
async function claimFreeShard(deps: Deps, run: RunInfo, owner: string): Promise<ShardItem | undefined> {
  for (let attempt = 0; attempt < run.shardCount; attempt++) {
    const shards = new Map((await listShards(deps.db, run.runId)).map((item) => [item.shard, item]));
    const now = deps.clock.now();
    const free = [...Array(run.shardCount).keys()].filter((n) => {
      const item = shards.get(n);
      return !item || (!item.done && item.leaseUntil < now);
    });
    if (free.length === 0) return undefined;
    const pick = free[Math.floor(deps.random() * free.length)] as number;
    const leaseUntil = now + deps.config.sweepLeaseMs;
    const expiresAt = ttlAfter(run.now, PROGRESS_TTL_DAYS);
    const claimed = await claimShard(deps.db, run.runId, pick, { owner, now, leaseUntil, expiresAt });
    if (claimed) return claimed;
  }
  return undefined;
}
