import '../../local/quiet-warnings.js';
import { parseArgs } from 'node:util';
import { ensureTable } from '../../functions/store/create-table.js';
import { exitCodeOf, runCommand, StartupError } from '../../local/cli.js';
import { startEmbeddedDynamo, stopAllEmbeddedDynamos } from '../../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../../local/local-app.js';
import { runSeeds } from './run.js';

/**
 * `npm run simulate -- --seeds N [--from S] [--concurrency C]`: runs the consistency simulation for N
 * seeds on a DynamoDB Local of its own and prints every failing seed with what the oracle found. A
 * failing seed replays exactly: add it to REGRESSION_SEEDS in test/simulation.test.ts. Exit code 1 when
 * a seed failed; whatever ends it, the DynamoDB Local it started stops.
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
    const tableName = 'roaming_simulation';
    await ensureTable(raw, tableName);
    const seeds = Array.from({ length: count }, (_, i) => from + i);
    const started = performance.now();
    let done = 0;
    const results = await runSeeds(seeds, documentClientOf(raw), tableName, {
      concurrency,
      onResult: (result) => {
        done++;
        if (result.failures.length > 0) {
          console.log(`seed ${result.seed} FAILED:`);
          for (const failure of result.failures) console.log(`  ${failure}`);
        } else if (done % 25 === 0) {
          console.log(`${done}/${count} seeds passed so far`);
        }
      },
    });
    raw.destroy();
    const failed = results.filter((r) => r.failures.length > 0);
    const steps = results.reduce((sum, r) => sum + r.steps, 0);
    const contended = results.reduce((sum, r) => sum + r.contended, 0);
    console.log(
      `${results.length} seeds (${from}..${from + count - 1}) in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
        `${steps} scheduled commands, ${contended} operations gave up on contention; ` +
        `${failed.length ? `failing seeds: ${failed.map((r) => r.seed).join(' ')}` : 'no failure'}`,
    );
    await lifetime.end(failed.length ? 1 : 0);
  },
  {
    onSignal(signal) {
      console.log('Simulation interrupted.');
      return exitCodeOf(signal);
    },
  },
);
