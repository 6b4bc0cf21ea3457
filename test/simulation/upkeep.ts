import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { DAY_MS } from '../../functions/core/clock.js';
import type { RetentionDays } from '../../functions/core/model.js';
import type { Deps } from '../../functions/domain/deps.js';
import { clearUserRetention, setAppRetention, setUserRetention } from '../../functions/domain/policies.js';
import { runSweep } from '../../functions/domain/sweep.js';
import type { Dice } from '../support/prng.js';
import { expiredItems, type StoredItem } from '../support/ttl.js';
import { classify, type SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * What operators and the platform do, interleaved with the users' operations one command at a time:
 * retention policy changes, sweep invocations (some dying at a random command, resumed by a later one
 * once their leases lapse), DynamoDB's TTL deleting expired items, and time passing.
 */

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
/** TTL deletes an expired item some time within this after it expired (on AWS: usually within two days). */
export const TTL_LAG_MS = 2 * DAY_MS;

/**
 * The app default or a user's override set to 1-3 days or to keep forever at once (no delay: pending
 * changes are pending-policies.ts's), or a user's override cleared.
 */
export async function changePolicy(world: World, log: SimulationLog, dice: Dice, deps: Deps): Promise<void> {
  log.counts.policyChanges++;
  const roll = dice.int(10);
  const user = dice.pick(world.users);
  const days: RetentionDays = dice.chance(0.3) ? null : dice.between(1, 3);
  // Sometimes the admin's request crashes at one of its commands, before or after the store applied it.
  const fault = dice.chance(0.15)
    ? { at: dice.int(3), when: dice.pick(['before', 'after'] as const) }
    : undefined;
  const { done } = world.scheduler.start(
    'policy',
    () =>
      roll < 4
        ? setAppRetention(deps, world.admin, days, 0)
        : roll < 8
          ? setUserRetention(deps, world.admin, user, days, 0)
          : clearUserRetention(deps, world.admin, user).then((record) => record && { record }),
    fault,
  );
  await done.catch((error: unknown) => classify(log, 'policy', error));
}

/**
 * One sweep invocation of a few batches (`npm run sweep -- --batches N` does the same): it starts a run
 * or joins the active one. Three in ten die at a random command, as a Lambda killed mid-run: their
 * leases lapse and a later invocation resumes their shards, the round they left pending first.
 */
export async function sweep(world: World, log: SimulationLog, dice: Dice, deps: Deps): Promise<void> {
  log.counts.sweeps++;
  const fault = dice.chance(0.3)
    ? { at: dice.int(40), when: dice.pick(['before', 'after'] as const), dies: true }
    : undefined;
  const maxBatches = dice.between(1, 3);
  const { tag, done } = world.scheduler.start(
    'sweep',
    () => runSweep(deps, { trigger: 'cli', maxBatches }),
    fault,
  );
  world.justifications.set(tag.id, { sweep: true });
  try {
    await done;
  } catch (error) {
    // A dead invocation fails with whatever its last command's failure became.
    if (!tag.dead) classify(log, 'sweep', error);
  }
  if (tag.dead) log.counts.sweepsCrashed++;
}

/**
 * DynamoDB's TTL, as AWS runs it: each expired item (`expiresAt` at or before the true time) is deleted
 * at a random time within two days after it expired, one delete at a time, interleaved with everything
 * else; until then it stays readable. An item whose `expiresAt` moved on meanwhile is not deleted.
 */
export async function expire(world: World, log: SimulationLog, dice: Dice): Promise<void> {
  const { done } = world.scheduler.start('expiry', async () => {
    const expired = await expiredItems(world.ttlClient, world.tableName, world.clock.now());
    for (const item of expired) {
      const key = `${item.pk}|${item.sk}|${item.expiresAt}`;
      const lag = world.ttlDelays.get(key) ?? dice.int(TTL_LAG_MS);
      world.ttlDelays.set(key, lag);
      if ((item.expiresAt as number) * 1000 + lag > world.clock.now()) continue;
      if (await deleteIfExpired(world, item)) log.counts.expiries++;
    }
  });
  await done.catch((error: unknown) => classify(log, 'expiry', error));
}

async function deleteIfExpired(world: World, item: StoredItem): Promise<boolean> {
  try {
    await world.ttlClient.send(
      new DeleteCommand({
        TableName: world.tableName,
        Key: { pk: item.pk, sk: item.sk },
        ConditionExpression: 'expiresAt <= :now',
        ExpressionAttributeValues: { ':now': Math.floor(world.clock.now() / 1000) },
      }),
    );
    return true;
  } catch (error) {
    if ((error as Error).name === 'ConditionalCheckFailedException') return false;
    throw error;
  }
}

/**
 * A few minutes pass while operations are in flight (a request or an invocation can take that long).
 * Longer stretches pass between the run's phases, once everything in flight has finished (passTime).
 */
export function advanceClock(world: World, log: SimulationLog, dice: Dice): void {
  advanceBy(world, log, dice.between(1, 10) * MINUTE_MS);
}

/**
 * Hours to days pass, with nothing in flight (a real request never takes days). Often whole days give or
 * take an hour and a half: what the last phase sent is then at the edge of a 1- or 2-day retention, where
 * instances' clocks disagree on whether it expired.
 */
export function passTime(world: World, log: SimulationLog, dice: Dice): void {
  const roll = dice.int(3);
  const ms =
    roll === 0
      ? dice.between(1, 8) * HOUR_MS
      : roll === 1
        ? dice.between(1, 2) * DAY_MS + dice.between(-90, 90) * MINUTE_MS
        : dice.between(12, 40) * HOUR_MS;
  advanceBy(world, log, ms);
}

function advanceBy(world: World, log: SimulationLog, ms: number): void {
  const advance = Math.min(ms, world.endsBy - world.clock.now());
  if (advance <= 0) return;
  world.clock.advance(advance);
  log.counts.clockAdvances++;
}
