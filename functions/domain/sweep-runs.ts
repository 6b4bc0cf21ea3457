import { listShards } from '../store/sweep-shard-store.js';
import {
  addCounts,
  listRunRecords,
  type RunRecord,
  type SweepCounts,
  zeroCounts,
} from '../store/sweep-store.js';
import type { Deps } from './deps.js';

/** A sweep run as GET /v1/admin/sweeps shows it: a running run's counts are read live from its shards. */
export interface SweepRunView {
  runId: string;
  status: 'running' | 'finished';
  trigger: string;
  startedAt: number;
  finishedAt: number | null;
  /** The time the run's cutoffs are computed from. */
  now: number;
  shardCount: number;
  shardsDone: number;
  counts: SweepCounts;
}

/** The newest runs first. */
export async function listSweepRuns(deps: Deps, limit: number): Promise<SweepRunView[]> {
  const records = await listRunRecords(deps.db, limit);
  return Promise.all(records.map((record) => viewOf(deps, record)));
}

async function viewOf(deps: Deps, record: RunRecord): Promise<SweepRunView> {
  const base = {
    runId: record.runId,
    status: record.status,
    trigger: record.trigger,
    startedAt: record.startedAt,
    finishedAt: record.finishedAt ?? null,
    now: record.now,
    shardCount: record.shardCount,
  };
  if (record.status === 'finished') return { ...base, shardsDone: record.shardCount, counts: record.counts };
  const shards = await listShards(deps.db, record.runId);
  return {
    ...base,
    shardsDone: shards.filter((shard) => shard.done).length,
    counts: shards.reduce((sum, shard) => addCounts(sum, shard), zeroCounts()),
  };
}
