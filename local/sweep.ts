import './quiet-warnings.js';
import { parseArgs } from 'node:util';
import type { SharedPurgeCounts } from '../functions/domain/shared-history-purge.js';
import { runSweep, type SweepSummary } from '../functions/domain/sweep.js';
import type { SweepEvent } from '../functions/domain/sweep-shard.js';
import { createDeps } from '../functions/runtime.js';
import type { SweepCounts } from '../functions/store/sweep-store.js';
import { exitCodeOf, type Lifetime, runCommand, wholeNumberArg } from './cli.js';
import { openTable } from './open-store.js';

/**
 * `npm run sweep`: one retention sweep run now, to completion, printing progress per shard and a summary.
 * The store: DYNAMODB_ENDPOINT if set, else the one a running `npm start` uses, else DynamoDB Local
 * started here on the same data directory (locked like `npm start` does). `-- --batches N` stops cleanly
 * after N batches (a later run resumes from the checkpoints); `-- --workers N` sets the shards worked at
 * once. Whatever ends it (done, a failure, Ctrl-C), the DynamoDB Local it started stops with it; if that
 * store dies mid-run, it says so and exits 1 (the next run resumes).
 */
const COMMAND = 'npm run sweep';

runCommand(sweepNow, {
  onSignal(signal) {
    console.log('Sweep interrupted: run `npm run sweep` again to resume.');
    return exitCodeOf(signal);
  },
});

async function sweepNow(lifetime: Lifetime): Promise<void> {
  const { values } = parseArgs({ options: { batches: { type: 'string' }, workers: { type: 'string' } } });
  const maxBatches = wholeNumberArg('--batches', values.batches);
  const workers = wholeNumberArg('--workers', values.workers);
  const { tableName, config, client, documentClient } = await openTable(process.env, lifetime, {
    command: COMMAND,
    what: 'the sweep',
    again: 'Run it again to resume',
  });
  const deps = createDeps({ client: documentClient, tableName, config });
  const started = performance.now();
  let summary: SweepSummary | undefined;
  let runId: string | undefined;
  for (;;) {
    summary = await runSweep(deps, { trigger: 'cli', runId, maxBatches, workers, onEvent: printEvent });
    if (summary.outcome !== 'busy') break;
    // Another sweep holds the remaining shards (a crashed one's leases lapse after sweepLeaseMs).
    runId = summary.runId ?? undefined;
    console.log('Waiting for shards leased by another sweep...');
    await new Promise((done) => setTimeout(done, 2000));
  }
  printSummary(summary, performance.now() - started);
  client.destroy();
  await lifetime.end(0);
}

function printEvent(event: SweepEvent): void {
  switch (event.type) {
    case 'run':
      console.log(
        `${event.joined ? 'Joined' : 'Started'} sweep run ${event.runId}: ${event.shardCount} shards, ` +
          `cutoffs from ${new Date(event.now).toISOString()}`,
      );
      return;
    case 'shard-claimed':
      console.log(`  shard ${pad(event.shard)} claimed${event.resumed ? ' (resuming)' : ''}`);
      return;
    case 'shard-progress':
      console.log(`  shard ${pad(event.shard)} ... ${describe(event.counts)}`);
      return;
    case 'shard-done':
      console.log(`  shard ${pad(event.shard)} done: ${describe(event.counts)}`);
      return;
    case 'shard-stopped':
      console.log(`  shard ${pad(event.shard)} stopped (${event.reason}): ${describe(event.counts)}`);
      return;
    case 'run-finished':
      console.log(`Run ${event.runId} finished${event.closedHere ? '' : ' (closed by another sweep)'}`);
      return;
    case 'shared-histories-purged':
      console.log(`Shared histories: ${describeShared(event.counts)}`);
  }
}

function printSummary(summary: SweepSummary, elapsedMs: number): void {
  const { counts, runCounts } = summary;
  const seconds = elapsedMs / 1000;
  console.log('');
  console.log(
    `Summary of run ${summary.runId ?? '-'}: ${summary.outcome}, ${summary.shardsDone}/${summary.shardCount} shards done`,
  );
  console.log(`  this sweep:  ${describe(counts)}`);
  console.log(`  whole run:   ${describe(runCounts)}`);
  if (summary.closedRun) console.log(`  shared:      ${describeShared(summary.sharedHistories)}`);
  console.log(
    `  time:        ${seconds.toFixed(1)} s, ${(counts.messagesDeleted / Math.max(seconds, 0.001)).toFixed(0)} copies deleted/s`,
  );
  if (summary.outcome === 'stopped') console.log('  Stopped early: run `npm run sweep` again to resume.');
}

function describe(counts: SweepCounts): string {
  return (
    `${counts.messagesDeleted} copies deleted in ${counts.batches} batches, ` +
    `${counts.conversations} conversations, ${counts.users} users, ${counts.retries} retries`
  );
}

function describeShared(counts: SharedPurgeCounts): string {
  const stopped = counts.stoppedBy ? ` (stopped: ${counts.stoppedBy}; the next run goes on)` : '';
  return `${counts.copiesDeleted} copies deleted in ${counts.groups} groups${stopped}`;
}

const pad = (shard: number) => String(shard).padStart(2);
