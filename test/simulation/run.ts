import type { DocumentSender } from '../../functions/store/db.js';
import { Dice } from '../support/prng.js';
import { check } from './oracle.js';
import { actor, attemptSend, newLog } from './workload.js';
import { createWorld } from './world.js';

/** One seed's run: what the oracle found, and how much happened. */
export interface SimulationResult {
  seed: number;
  failures: string[];
  steps: number;
  sends: number;
  changes: number;
  contended: number;
}

const ACTORS = 4;
const OPERATIONS_PER_ACTOR = 10;
const RETRY_ROUNDS = 5;

/**
 * Runs one seed: the actors' operations interleaved by the scheduler (with crashes injected into some
 * sends), then every failed send retried until acknowledged, then the oracle. Same seed, same run.
 */
export async function runSeed(
  seed: number,
  client: DocumentSender,
  tableName: string,
  namespace = '',
): Promise<SimulationResult> {
  const world = await createWorld(seed, client, tableName, namespace);
  const log = newLog(world);
  for (let i = 0; i < ACTORS; i++) {
    const dice = Dice.seeded(world.dice.fork());
    world.scheduler.start('actor', () => actor(world, log, dice, OPERATIONS_PER_ACTOR));
  }
  await world.scheduler.drain();
  // Clients keep retrying what failed (same clientMsgId) until it is acknowledged.
  for (let round = 0; round < RETRY_ROUNDS; round++) {
    const failed = log.sends.filter((record) => !record.message && !record.refused);
    if (failed.length === 0) break;
    for (const record of failed)
      void attemptSend(
        world,
        log,
        world.instances[round % world.instances.length]?.deps ?? world.direct,
        record,
      );
    await world.scheduler.drain();
  }
  const failures: string[] = [];
  for (const record of log.sends) {
    // A retry refused because the sender has left the group since is not a lost message: it was never acknowledged.
    if (!record.message && !record.refused && record.lastError !== 'ForbiddenError') {
      failures.push(`send ${record.text} was never acknowledged (last error ${record.lastError})`);
    }
  }
  failures.push(...(await check(world, log)));
  return {
    seed,
    failures,
    steps: world.scheduler.step,
    sends: log.sends.length,
    changes: log.changes.length,
    contended: log.contended,
  };
}

/** Runs seeds `concurrency` at a time (each seed has its own users, so they share the table). */
export async function runSeeds(
  seeds: readonly number[],
  client: DocumentSender,
  tableName: string,
  options: { concurrency?: number; namespace?: string; onResult?: (result: SimulationResult) => void } = {},
): Promise<SimulationResult[]> {
  const results: SimulationResult[] = [];
  let next = 0;
  async function worker() {
    while (next < seeds.length) {
      const seed = seeds[next++] as number;
      const result = await runSeed(seed, client, tableName, options.namespace);
      results.push(result);
      options.onResult?.(result);
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return results.sort((a, b) => a.seed - b.seed);
}
