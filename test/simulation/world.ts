import { type Clock, ManualClock, type Timer } from '../../functions/core/clock.js';
import { type Deps, NO_RATE_LIMITS } from '../../functions/domain/deps.js';
import { createGroup } from '../../functions/domain/groups.js';
import { createDeps } from '../../functions/runtime.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { Dice } from '../support/prng.js';
import { Scheduler } from './scheduler.js';

/**
 * The simulated deployment for one seed: K server instances over one table, each with a clock seconds
 * off the true time (up to ±5 s) and its own seeded randomness, all behind one deterministic scheduler;
 * three users (the first owns a group the second is in) with two devices each. `direct` is an instance
 * outside the scheduler, on the true clock, for setup and for the oracle's reads.
 */
export interface SimInstance {
  name: string;
  clockOffsetMs: number;
  deps: Deps;
}

export interface World {
  seed: number;
  /** True time; every instance's clock is this plus its offset. */
  clock: ManualClock;
  scheduler: Scheduler;
  instances: SimInstance[];
  direct: Deps;
  users: string[];
  groupId: string;
  groupOwner: string;
  dice: Dice;
}

export const START_TIME = Date.UTC(2026, 5, 1);
const INSTANCES = 3;
const MAX_SKEW_MS = 5_000;

/** Sleeping never waits in a simulation (retries back off in scheduler steps, not in time). */
function simulatedTimer(clock: Clock): Timer {
  return { now: () => clock.now(), sleep: () => Promise.resolve() };
}

/**
 * `namespace` prefixes the run's user and group ids, so one seed can run twice on one table (its choices
 * depend on the seed alone).
 */
export async function createWorld(
  seed: number,
  client: DocumentSender,
  tableName: string,
  namespace = '',
): Promise<World> {
  const dice = Dice.seeded(seed);
  const clock = new ManualClock(START_TIME + dice.int(1_000_000));
  const scheduler = new Scheduler(Dice.seeded(dice.fork()).next);
  // Inline purges stop at their batch cap, not at a time budget; per-user rate limits are not what these runs test.
  const config = { inlinePurgeBudgetMs: 60_000, ...NO_RATE_LIMITS };
  const instances: SimInstance[] = Array.from({ length: INSTANCES }, (_, i) => {
    const clockOffsetMs = dice.between(-MAX_SKEW_MS, MAX_SKEW_MS);
    const instanceClock = { now: () => clock.now() + clockOffsetMs };
    return {
      name: `instance-${i}`,
      clockOffsetMs,
      deps: createDeps({
        client: scheduler.wrap(client),
        tableName,
        clock: instanceClock,
        timer: simulatedTimer(instanceClock),
        random: Dice.seeded(dice.fork()).next,
        config,
      }),
    };
  });
  // The namespace also seeds the setup instance's ids (the group's id), so a replay on the same table gets
  // its own group; nothing the run decides depends on it.
  const namespaceSeed = [...namespace].reduce((hash, c) => (hash * 31 + c.charCodeAt(0)) >>> 0, 0);
  const direct = createDeps({
    client,
    tableName,
    clock,
    timer: simulatedTimer(clock),
    random: Dice.seeded((dice.fork() ^ namespaceSeed) >>> 0).next,
    config,
  });
  const users = [0, 1, 2].map((i) => `${namespace}s${seed}-u${i}`);
  const [owner, member] = users as [string, string, string];
  const group = await createGroup(direct, owner, { name: `${namespace}s${seed}`, members: [member] });
  return {
    seed,
    clock,
    scheduler,
    instances,
    direct,
    users,
    groupId: group.groupId,
    groupOwner: owner,
    dice,
  };
}
