import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { DocumentSender } from '../functions/store/db.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import type { OperationCounts } from './simulation/log.js';
import { type GroupMode, runSeeds } from './simulation/run.js';

/**
 * The consistency simulation (test/simulation/): per seed, on a table of its own, three server
 * instances with clocks up to an hour off the true time, four sessions sending (some crashing at a
 * random write and retried), deleting in all three ways, acknowledging reads, joining and leaving the
 * group, pinning and marking, while two devices per user walk the list and replay ?since= with their
 * message caches; interleaved with them, retention policy changes (app default and per-user overrides
 * shortened, lengthened, kept forever, cleared), sweep invocations (some dying at a random command and
 * resumed later), DynamoDB's TTL deleting expired items one by one within two days, and minutes of time
 * passing; legal holds set, replaced and released through the admin routes in some phases (holds.ts);
 * hours to days pass between the run's four phases. The group fans out in a third of the seeds,
 * is in shared mode from its creation in a third, and switches to it mid-run in the rest (world.ts). All of it is interleaved one DynamoDB
 * command at a time by a seeded scheduler, and every physical delete is checked as it is sent; then the
 * oracle (oracle.ts) checks every promise. `npm run simulate -- --seeds N` runs more seeds; a seed that
 * ever fails is replayed here for good (REGRESSION_SEEDS).
 */
const SEEDS = 200;
const BATCH = 25;
/**
 * Seeds that once found a bug in the product, replayed for good (even if SEEDS changes). Seeds replay
 * only while the workload makes the same choices: when it changes, re-find them with `npm run simulate`.
 * 108, 116, 136, 173 (before retention was simulated): a mark added while a message was being applied
 * left a stale mark entry.
 * 169: a sweep invocation died between a round's deletes and its settle; the one that resumed the round
 * found the policy now keeps forever and dropped the round unsettled: unread still counts the purged copy.
 * 594, 893, 1213, 1219: a lengthened policy or a hold set on an instance up to an hour slow computed its
 * floor on that clock, below what a faster instance had hidden or told a device had expired: it was
 * visible again (fixed: floors are computed two hours ahead).
 * 35 (once rounds overlapped): a sweep died in a round's settle, after filing the conversation due now,
 * behind its index cursor; the invocation that resumed the pass never met it, and unread kept counting the
 * purged copy (fixed: a resumed pass first meets what is filed due now behind its cursor).
 * 412, 472 (shared from the start), 581 (switched mid-run): a pinned large group whose member item's own
 * latest had expired was dropped from the pinned list before its side was derived from META (fixed: the
 * page derives, then filters).
 * 196 (shared from the start, with the purge of shared copies): a since call reported a large group that
 * had moved as its first read saw it; a delete of the conversation made before the call's new epoch
 * began was in an epoch the call read, so never reported again (fixed: moved groups are read again with
 * the markers' conversations).
 * 8 (pending changes): a user's override scheduled as a shortening (3 days to 2) was left keeping more
 * than the app default once the default was shortened at once (to 1); the sweep took the policies in force
 * two hours behind its clock, before the override's effectiveAt, and deleted by the default what the
 * override (in force by then) kept (fixed: the sweep keeps what any policy in force in its window keeps).
 * 116 (again, with conversations' own retention): a sweep that met a held conversation settled what
 * its owner sees and re-keyed its filing a second time by its own days; after the release the sweep met
 * it a day late and kept an expired copy (fixed: a held conversation stays filed as it is).
 * 348, 366, 387 (holds with conversations' own retention): a user set a conversation's own retention
 * after their held deletes had filed it due now; the refiling keyed it by the policy from time 0, so the
 * first sweep after the release met it as an own-policy filing and left the tombstones and their records
 * (fixed: a due-now filing stays due now).
 * 103, 124, 233, 259 (recall and edit): a group revision that died after revising the shared copy and
 * before every member's side was never carried further: devices kept the old text and unread counted a
 * recalled message (fixed: the sweep finishes pending revisions; recall-edit-races.test.ts pins it).
 * 19, 115 (recall and edit under holds): a shared copy's held version was written for every held
 * member, also for one who did not see the message (deleted it, joined after): their side was never
 * revised, so never filed due now, and the version outlived the release (fixed: a held member's side
 * keeps the shared copy as it was when it is revised).
 * 245 (recall and edit under holds, with own retention): an inline purge's settle filed a conversation
 * with held records "due now" from time 0 plus its own days, which the sweep then met as an own-policy
 * filing and re-keyed without deleting the held version (fixed: due now stays due now whatever the own
 * days: purgeKeyOf; conversation-retention.test.ts pins it).
 * 236 (the oracle's model): a client's retry of an older edit landed after a newer edit was acknowledged;
 * that is allowed (the edit as asked, counted), the oracle now allows it.
 * The large-group work (shared mode, the sends' new reads, the third user joining in the second phase of
 * the seeds that switch mid-run) changed every seed's schedule: the seeds above may no longer replay
 * the interleavings that found their bugs (196, 412, 472 and 581 are also pinned by staged tests in
 * large-groups.test.ts); they stay as seeds.
 */
const REGRESSION_SEEDS: number[] = [
  8, 19, 35, 103, 108, 115, 116, 124, 136, 169, 173, 196, 233, 236, 245, 259, 348, 366, 387, 412, 472, 581,
  594, 893, 1213, 1219,
];

let raw: ReturnType<typeof localDynamoClient>;
let client: DocumentSender;

beforeAll(() => {
  raw = localDynamoClient(inject('dynamoEndpoint'));
  client = documentClientOf(raw);
});
afterAll(() => {
  raw.destroy();
});

/** The operations every batch must have run at least once, so the workload cannot stop exercising one. */
const EVERY_BATCH_RUNS: (keyof OperationCounts)[] = [
  'sends',
  'retries',
  'deletes',
  'reads',
  'memberships',
  'pinsAndMarks',
  'syncs',
  'policyChanges',
  'conversationPolicyChanges',
  'sweeps',
  'sweepsCrashed',
  'expiries',
  'clockAdvances',
  'holdsSet',
  'holdsReleased',
  'recalls',
  'edits',
  'revisionsAnswered',
];

const EVERY_BATCH_MODES: GroupMode[] = ['fan-out', 'shared from the start', 'switched mid-run'];

async function failuresOf(seeds: number[], tablePrefix: string): Promise<string[]> {
  const results = await runSeeds(seeds, raw, client, { concurrency: 3, tablePrefix });
  expect(results.map((r) => r.seed)).toEqual(seeds);
  // Every seed did real work: messages, deletes and syncs interleaved over dozens of commands.
  for (const result of results) expect(result.steps).toBeGreaterThan(30);
  if (seeds.length >= BATCH) {
    const idle = EVERY_BATCH_RUNS.filter((kind) => results.every((r) => r.counts[kind] === 0));
    expect(idle, 'operation kinds no seed of the batch ran').toEqual([]);
    // Both storage modes, and the switch between them while the run goes on (docs/large-groups.md).
    const modes = new Set(results.map((r) => r.groupMode));
    expect(
      [...EVERY_BATCH_MODES].filter((mode) => !modes.has(mode)),
      'group modes no seed ran',
    ).toEqual([]);
  }
  return results.flatMap((r) => r.failures.map((failure) => `seed ${r.seed}: ${failure}`));
}

/**
 * A batch takes about half a minute alone; on 2 cores shared with the rest of `npm test` (and other
 * work) it takes longer. A limit, not an assertion: the result is the same either way.
 */
const BATCH_TIMEOUT_MS = 300_000;

describe('consistency simulation', () => {
  for (let from = 1; from <= SEEDS; from += BATCH) {
    const seeds = Array.from({ length: BATCH }, (_, i) => from + i);
    it(`keeps every promise for seeds ${from}-${from + BATCH - 1}`, {
      timeout: BATCH_TIMEOUT_MS,
    }, async () => {
      expect(await failuresOf(seeds, `roaming_simulation_${process.pid}`)).toEqual([]);
    });
  }
  it('keeps every promise for the seeds that once failed', { timeout: BATCH_TIMEOUT_MS }, async () => {
    expect(await failuresOf(REGRESSION_SEEDS, `roaming_simulation_${process.pid}_regression`)).toEqual([]);
  });
});
