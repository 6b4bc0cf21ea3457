import '../../local/quiet-warnings.js';
import { parseArgs } from 'node:util';
import { exitCodeOf, runCommand, StartupError } from '../../local/cli.js';
import { startEmbeddedDynamo, stopAllEmbeddedDynamos } from '../../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../../local/local-app.js';
import type { OperationCounts } from './log.js';
import { runSeeds } from './run.js';

/**
 * `npm run simulate -- --seeds N [--from S] [--concurrency C]`: runs the consistency simulation for N
 * seeds on a DynamoDB Local of its own (a table per seed) and prints, per seed, how many operations of
 * each kind ran, and every failing seed with what the oracle found; then the totals. A failing seed
 * replays exactly: add it to REGRESSION_SEEDS in test/simulation.test.ts. Exit code 1 when a seed
 * failed; whatever ends it, the DynamoDB Local it started stops.
 */
runCommand(
  async function simulate(lifetime) {
    lifetime.onEnd(stopAllEmbeddedDynamos);
    const { values } = parseArgs({
      options: { seeds: { type: 'string' }, from: { type: 'string' }, concurrency: { type: 'string' } },
    });
    const count = Number(values.seeds ?? 200);
    const from = Number(values.from ?? 1);
    const concurrency = Number(values.concurrency ?? 4);
    if (![count, from, concurrency].every((n) => Number.isInteger(n) && n > 0)) {
      throw new StartupError(
        'usage: npm run simulate -- --seeds N [--from S] [--concurrency C] (whole numbers above 0)',
      );
    }
    const dynamo = await startEmbeddedDynamo({ command: 'npm run simulate' });
    const raw = localDynamoClient(dynamo.endpoint);
    const seeds = Array.from({ length: count }, (_, i) => from + i);
    const started = performance.now();
    const results = await runSeeds(seeds, raw, documentClientOf(raw), {
      tablePrefix: 'roaming_simulation',
      concurrency,
      onResult: (result) => {
        const verdict = result.failures.length > 0 ? 'FAILED' : 'ok';
        console.log(
          `seed ${result.seed} ${verdict} (group ${result.groupMode}): ${describeCounts(result.counts)}`,
        );
        for (const failure of result.failures) console.log(`  ${failure}`);
      },
    });
    raw.destroy();
    const failed = results.filter((r) => r.failures.length > 0);
    const steps = results.reduce((sum, r) => sum + r.steps, 0);
    const contended = results.reduce((sum, r) => sum + r.contended, 0);
    const totals = results.reduce(
      (sum, r) => {
        for (const [kind, n] of Object.entries(r.counts)) sum[kind as keyof OperationCounts] += n;
        return sum;
      },
      Object.fromEntries(
        Object.keys(results[0]?.counts ?? {}).map((k) => [k, 0]),
      ) as unknown as OperationCounts,
    );
    console.log(
      `${results.length} seeds (${from}..${from + count - 1}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${steps} scheduled commands, ${contended} operations gave up on contention; ` +
        `${failed.length ? `failing seeds: ${failed.map((r) => r.seed).join(' ')}` : 'no failure'}`,
    );
    console.log(`in all: ${describeCounts(totals)}`);
    const modes = new Map<string, number>();
    for (const result of results) modes.set(result.groupMode, (modes.get(result.groupMode) ?? 0) + 1);
    console.log(`groups: ${[...modes].map(([mode, n]) => `${n} ${mode}`).join(', ')}`);
    await lifetime.end(failed.length ? 1 : 0);
  },
  {
    onSignal(signal) {
      console.log('Simulation interrupted.');
      return exitCodeOf(signal);
    },
  },
);

function describeCounts(counts: OperationCounts): string {
  return (
    `${counts.sends} sends (${counts.retries} retries, ${counts.givenUp} given up), ${counts.deletes} deletes, ` +
    `${counts.policyChanges} policy changes (${counts.pendingSet} waited, ${counts.pendingCancelled} cancelled), ${counts.conversationPolicyChanges} conversation policy changes, ${counts.sweeps} sweeps (${counts.sweepsCrashed} died), ` +
    `${counts.expiries} expiries, ${counts.clockAdvances} clock advances, ${counts.syncs} syncs, ` +
    `${counts.reads} read acks, ${counts.memberships} membership changes, ${counts.pinsAndMarks} pins and marks, ` +
    `${counts.recalls} recalls and ${counts.edits} edits (${counts.revisionsAnswered} answered 2xx), ` +
    `${counts.holdsSet} holds set, ${counts.holdsReleased} released (${counts.heldDeletes} copies kept as tombstones, ` +
    `${counts.keptByHolds} hidden or expired kept at the end, ${counts.holdWindowDeletes} deleted in the window)`
  );
}
