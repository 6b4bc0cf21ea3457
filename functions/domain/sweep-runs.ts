import { listShards } from '../store/sweep-shard-store.js';
import { addCounts, listRunRecords, type SweepCounts, zeroCounts } from '../store/sweep-store.js';
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
  return Promise.all(
    records.map(async function viewOf({
      runId,
      status,
      trigger,
      startedAt,
      finishedAt,
      now,
      shardCount,
      counts,
    }) {
      const view = { runId, status, trigger, startedAt, finishedAt: finishedAt ?? null, now, shardCount };
      if (status === 'finished') return { ...view, shardsDone: shardCount, counts };
      const shards = await listShards(deps.db, runId);
      const running = shards.reduce((sum, shard) => addCounts(sum, shard), zeroCounts());
      return { ...view, shardsDone: shards.filter((shard) => shard.done).length, counts: running };
    }),
  );
}
