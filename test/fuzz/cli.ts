import '../../local/quiet-warnings.js';
import { parseArgs } from 'node:util';
import { ROUTES } from '../../functions/routes.js';
import { exitCodeOf, runCommand, StartupError } from '../../local/cli.js';
import { startLocalService } from '../support/local-service.js';
import { buildFuzzWorld, failureReport, fuzzRoute, routeSeed } from './property.js';

/**
 * `npm run fuzz -- --runs N [--seed S] [--route NAME]`: the fuzz property of test/fuzz.test.ts, longer,
 * on a service of its own (an in-memory DynamoDB Local, stopped however the run ends). Prints per route
 * how the answers went and, for a failure, the seed and path that replay it and the shrunk request with
 * its answer. Exit code 1 when a route failed.
 */
runCommand(
  async function fuzz(lifetime) {
    const { values } = parseArgs({
      options: { runs: { type: 'string' }, seed: { type: 'string' }, route: { type: 'string' } },
    });
    const runs = Number(values.runs ?? 200);
    const seed = Number(values.seed ?? Date.now() % 2 ** 31);
    const routes = ROUTES.filter((r) => values.route === undefined || r.name === values.route);
    if (!Number.isInteger(runs) || runs < 1 || !Number.isInteger(seed) || routes.length === 0) {
      throw new StartupError(
        `usage: npm run fuzz -- --runs N [--seed S] [--route NAME] (NAME one of ${ROUTES.map((r) => r.name).join(', ')})`,
      );
    }
    const service = await startLocalService(lifetime, {
      command: 'npm run fuzz',
      // Few purge shards: a fuzzed sweep start runs a whole sweep, and the fuzzer waits for it. No request
      // budget: one caller sends every request, and 429s would stand in for the answers it checks.
      config: { purgeShards: 2, requestBudgetPerSecond: 0 },
    });
    const target = { ...service, token: (userId: string) => service.token(userId, { admin: true }) };
    const world = await buildFuzzWorld(target, `cli-${seed}`);
    console.log(`fuzzing ${routes.length} routes, ${runs} runs each, base seed ${seed}`);
    let failed = 0;
    for (const route of routes) {
      const statuses = new Map<number, number>();
      const started = performance.now();
      const details = await fuzzRoute(target, world, route, {
        seed: routeSeed(seed, route),
        numRuns: runs,
        onAnswer: (status) => statuses.set(status, (statuses.get(status) ?? 0) + 1),
      });
      const seen = [...statuses]
        .sort(([a], [b]) => a - b)
        .map(([s, n]) => `${s}×${n}`)
        .join(' ');
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `${details.failed ? 'FAIL' : 'ok  '} ${route.method} ${route.path}: ${details.numRuns} runs in ${seconds} s (${seen})`,
      );
      if (details.failed) {
        failed++;
        console.log(failureReport(route, details));
      }
    }
    console.log(failed ? `${failed} route(s) failed (base seed ${seed})` : `no failure (base seed ${seed})`);
    await lifetime.end(failed ? 1 : 0);
  },
  {
    onSignal(signal) {
      console.log('Fuzzing interrupted.');
      return exitCodeOf(signal);
    },
  },
);
