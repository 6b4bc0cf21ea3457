import { type Timer, ttlAfter } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import { createRateLimiter } from '../core/rate-limiter.js';
import { eventAction } from '../events/outbox.js';
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
  listRunRecords,
  putRunRecord,
  type RunInfo,
  type RunRecord,
  type SweepCounts,
  zeroCounts,
} from '../store/sweep-store.js';
import { createWritePipe } from '../store/write-pipe.js';
import type { Deps } from './deps.js';
import { PURGE_BATCH } from './purge.js';
import { inForceAt, SWEEP_CLOCK_MARGIN_MS } from './retention.js';
import { finishPendingRevisions } from './revise.js';
import {
  purgeSharedHistories,
  type SharedPurgeCounts,
  zeroSharedPurgeCounts,
} from './shared-history-purge.js';
import { createBudget } from './sweep-budget.js';
import { DELETE_STREAMS_PER_WORKER } from './sweep-round.js';
import { type SweepContext, type SweepEvent, sweepShard } from './sweep-shard.js';

/**
 * The retention sweep deletes every copy at or before max(watermark, retention cutoff). Invocations
 * started together join one run (SWEEPS/ACTIVE: a conditional put); their workers claim its shards one by
 * one (sweep-shard.ts); whoever finds all done closes it, and purges large groups' shared histories
 * (shared-history-purge.ts). Design and cost: docs/storage.md.
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

/** 'stopped': early (time, batch limit), the next resumes; 'busy': shards left, leased by others. */
export type SweepOutcome = 'finished' | 'stopped' | 'busy' | 'idle';

/**
 * Counts are at least once (a crashed round's replay, or a second invocation, may count some again):
 * `counts` are this invocation's, `runCounts` the whole run's so far. `joined`: another invocation
 * started the run; `closedRun`: this one marked it finished (one does per run).
 */
export interface SweepSummary {
  runId: string | null;
  joined: boolean;
  outcome: SweepOutcome;
  closedRun: boolean;
  shardsCompleted: number[];
  shardsDone: number;
  shardCount: number;
  counts: SweepCounts;
  runCounts: SweepCounts;
  /** What this invocation purged of large groups' shared histories: only the one that closed the run does. */
  sharedHistories: SharedPurgeCounts;
  /** Group recalls and edits whose writer died midway, carried to every member (by any invocation). */
  revisionsFinished: number;
  durationMs: number;
}

/** A group revision this recent may still be carried by its writer: the sweep leaves it to them. */
const PENDING_REVISION_GRACE_MS = 60_000;

/** TTL of a run's shard items, and of its record. */
const PROGRESS_TTL_DAYS = 30;
const RECORD_TTL_DAYS = 90;

/** What this invocation's workers did; `stopped`: one stopped before the run was done. */
type Invocation = { counts: SweepCounts; shardsCompleted: number[]; stopped: boolean };

/** Runs the sweep: joins the active run or starts one, works shards until done or told to stop. */
export async function runSweep(deps: Deps, options: SweepOptions = {}): Promise<SweepSummary> {
  const timer = options.timer ?? deps.timer;
  const started = timer.now();
  const emit = options.onEvent ?? (() => undefined);
  const opened = await openRun(deps, options.trigger ?? 'schedule', options.runId);
  if (!opened) {
    const [counts, runCounts, durationMs] = [zeroCounts(), zeroCounts(), timer.now() - started];
    const none = { joined: false, closedRun: false, shardsCompleted: [], shardsDone: 0, shardCount: 0 };
    const sharedHistories = zeroSharedPurgeCounts();
    const revisionsFinished = await finishPendingRevisions(
      deps,
      deps.clock.now() - PENDING_REVISION_GRACE_MS,
    );
    return {
      runId: options.runId ?? null,
      outcome: 'idle',
      ...none,
      counts,
      runCounts,
      sharedHistories,
      revisionsFinished,
      durationMs,
    };
  }
  const { run, joined } = opened;
  const mine: Invocation = { counts: zeroCounts(), shardsCompleted: [], stopped: false };
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
  // Pending changes as the sweep sees them (its clock margin): the run's plan uses the days then in force.
  const policies = inForceAt(await getAllPolicies(deps.db), run.now - SWEEP_CLOCK_MARGIN_MS);
  const ctx: SweepContext = { run, policies, budget, deletes, emit };
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
  const { counts: runCounts, shardsDone } = await progressOf(deps, run.runId);
  const finished = shardsDone === run.shardCount;
  const closedRun =
    finished &&
    (await finishRunRecord(
      deps.db,
      run.runId,
      runCounts,
      deps.clock.now(),
      eventAction(
        deps,
        'retention.swept',
        { runId: run.runId, counts: { ...runCounts } },
        { id: `retention.swept:${run.runId}` },
      ),
    ));
  if (finished) {
    await clearActiveRun(deps.db, run.runId);
    emit({ type: 'run-finished', runId: run.runId, counts: runCounts, closedHere: closedRun });
  }
  // Once a run, by the invocation that closed it, within its budget: a crash or a stop there leaves
  // the rest to the next run (the deletes are idempotent).
  const sharedHistories = closedRun
    ? await purgeSharedHistories(deps, run.now, { budget, deletes })
    : zeroSharedPurgeCounts();
  if (closedRun) emit({ type: 'shared-histories-purged', runId: run.runId, counts: sharedHistories });
  // Every invocation (one Query when there are none): whichever runs next finishes what a writer left.
  // (By this instance's clock: a joined run's `now` may be hours old.)
  const revisionsFinished = await finishPendingRevisions(deps, deps.clock.now() - PENDING_REVISION_GRACE_MS);
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
    sharedHistories,
    revisionsFinished,
    durationMs: timer.now() - started,
  };
}

/** One worker: claims a free shard, works it, and goes on to the next until none is free. */
async function runWorker(deps: Deps, ctx: SweepContext, leaseOwner: string, mine: Invocation) {
  while (ctx.budget.stopReason() === undefined) {
    const claimed = await claimFreeShard(deps, ctx.run, leaseOwner);
    if (!claimed) return;
    const db = createDb(deps.db.client, deps.db.tableName, deps.db.retry);
    const { outcome, counts } = await sweepShard({ ...deps, db }, ctx, claimed, leaseOwner);
    addCounts(mine.counts, counts);
    if (outcome === 'done') mine.shardsCompleted.push(claimed.shard);
    if (outcome === 'stopped') break;
  }
  mine.stopped = true;
}

/** Claims a free shard (not done, lease lapsed), at random so concurrent workers rarely collide. */
async function claimFreeShard(deps: Deps, run: RunInfo, owner: string): Promise<ShardItem | undefined> {
  for (let attempt = 0; attempt < run.shardCount; attempt++) {
    const shards = await listShards(deps.db, run.runId);
    const now = deps.clock.now();
    const held = (n: number) => shards.some((s) => s.shard === n && (s.done || s.leaseUntil >= now));
    const free = [...Array(run.shardCount).keys()].filter((n) => !held(n));
    if (free.length === 0) return undefined;
    const pick = free[Math.floor(deps.random() * free.length)] as number;
    const [leaseUntil, expiresAt] = [now + deps.config.sweepLeaseMs, ttlAfter(run.now, PROGRESS_TTL_DAYS)];
    const claimed = await claimShard(deps.db, run.runId, pick, { owner, now, leaseUntil, expiresAt });
    if (claimed) return claimed;
  }
}

/** A sweep run as GET /v1/admin/sweeps shows it: a running run's counts are read live from its shards. */
export type SweepRunView = Omit<RunRecord, 'finishedAt' | 'updatedAt'> & {
  finishedAt: number | null;
  shardsDone: number;
};

/** Starts a run, or joins the one in progress: POST /v1/admin/sweeps gets its id at once this way. */
export async function startSweepRun(deps: Deps, trigger: SweepTrigger) {
  const opened = await openRun(deps, trigger);
  if (!opened) throw new StoreError('Could not start or join a sweep run');
  return opened;
}

/** Joins the active run, or starts one; with `onlyRunId`, only that run (undefined if it is over). */
async function openRun(deps: Deps, trigger: SweepTrigger, onlyRunId?: string) {
  for (let attempt = 0; attempt < 3; attempt++) {
    let run = await getActiveRun(deps.db);
    if (onlyRunId !== undefined && run?.runId !== onlyRunId) return undefined;
    if (!run) {
      const [now, shardCount] = [deps.clock.now(), deps.config.purgeShards];
      const proposed = { runId: deps.ids.next(), now, startedAt: now, shardCount, trigger };
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

/** The newest runs first. */
export async function listSweepRuns(deps: Deps, limit: number): Promise<SweepRunView[]> {
  const records = await listRunRecords(deps.db, limit);
  return Promise.all(
    records.map(async ({ runId, status, trigger, startedAt, finishedAt, now, shardCount, counts }) => {
      const view = { runId, status, trigger, startedAt, finishedAt: finishedAt ?? null, now, shardCount };
      if (status === 'finished') return { ...view, shardsDone: shardCount, counts };
      return { ...view, ...(await progressOf(deps, runId)) };
    }),
  );
}

async function progressOf(deps: Deps, runId: string) {
  const shards = await listShards(deps.db, runId);
  const counts = shards.reduce((sum, shard) => addCounts(sum, shard), zeroCounts());
  return { counts, shardsDone: shards.filter((shard) => shard.done).length };
}
