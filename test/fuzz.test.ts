import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../functions/routes.js';
import {
  buildFuzzWorld,
  type FuzzService,
  type FuzzWorld,
  failureReport,
  fuzzRoute,
  routeSeed,
} from './fuzz/property.js';
import { type Harness, startHarness } from './support/harness.js';
import { checkedPairs } from './support/openapi-contract.js';
import { snapshotTable } from './support/table-snapshot.js';

/**
 * Property-based fuzzing of every route of the route table (test/fuzz/): malformed JSON, wrong types,
 * huge and empty strings, unicode edge cases, ids at and past their limits, boundary numbers, extra and
 * repeated fields and query keys, path encodings. Every answer is a success or a 4xx JSON error naming
 * the problem, never a 5xx, and a refused request leaves the table byte-for-byte unchanged. The seed is
 * fixed here; `npm run fuzz -- --runs N [--seed S]` runs longer, and a failure prints its seed and
 * shrunk input (add it to test/fuzz-regressions.test.ts).
 */
const RUNS_PER_ROUTE = 60;
const SEED = 11;

let h: Harness;
let service: FuzzService;
let world: FuzzWorld;
beforeAll(async () => {
  // Few purge shards: a fuzzed sweep start runs a whole sweep, and each run waits for it to end.
  h = await startHarness({ config: { purgeShards: 2 } });
  service = {
    baseUrl: h.baseUrl,
    token: (userId) => h.token(userId, { admin: true }),
    snapshot: () => snapshotTable(h.documentClient, h.tableName),
  };
  world = await buildFuzzWorld(service, 'ci');
});
afterAll(async () => {
  await h.close();
  console.log(`fuzz: ${checkedPairs.size} (operation, status) pairs seen, each documented`);
});

describe(`fuzzing every route (${RUNS_PER_ROUTE} runs each, seed ${SEED})`, () => {
  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, async () => {
      const seed = routeSeed(SEED, route);
      const statuses = new Map<number, number>();
      const details = await fuzzRoute(service, world, route, {
        seed,
        numRuns: RUNS_PER_ROUTE,
        onAnswer: (status) => statuses.set(status, (statuses.get(status) ?? 0) + 1),
      });
      const seen = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`);
      console.log(`fuzz ${route.name}: ${details.numRuns} runs, seed ${seed}: ${seen.join(' ')}`);
      expect(details.failed, failureReport(route, details)).toBe(false);
      expect(details.numRuns).toBe(RUNS_PER_ROUTE);
    });
  }
});
