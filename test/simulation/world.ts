import { type Clock, DAY_MS, ManualClock, type Timer } from '../../functions/core/clock.js';
import { type Deps, NO_RATE_LIMITS, type RoamingConfig } from '../../functions/domain/deps.js';
import { createGroup } from '../../functions/domain/groups.js';
import { setAppRetention } from '../../functions/domain/policies.js';
import { MAX_CLOCK_SKEW_MS } from '../../functions/domain/retention.js';
import { createDeps } from '../../functions/runtime.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { Dice } from '../support/prng.js';
import { Scheduler } from './scheduler.js';
import { type DeleteJustification, StoreAudit } from './store-audit.js';

/**
 * The simulated deployment for one seed, on a table of its own (retention policies and sweep runs are
 * table-wide): K server instances, each with a clock up to an hour off the true time (the most the
 * design tolerates, MAX_CLOCK_SKEW_MS) and its own seeded randomness, all behind one deterministic
 * scheduler; three users (the first owns a group the second is in) with two devices each; a TTL process
 * that deletes expired items lazily, as DynamoDB does. `direct` is an instance outside the scheduler, on
 * the true clock, for setup and for the oracle's reads. Every command of every instance passes the store
 * audit (store-audit.ts) right before it reaches the table.
 */
export interface SimInstance {
  name: string;
  clockOffsetMs: number;
  deps: Deps;
}

export interface World {
  seed: number;
  tableName: string;
  /** True time; every instance's clock is this plus its offset. */
  clock: ManualClock;
  /** The latest true time a run reaches (sync tokens are honoured 7 days: a run stays well inside). */
  endsBy: number;
  scheduler: Scheduler;
  instances: SimInstance[];
  direct: Deps;
  /** The store as DynamoDB's own TTL process reaches it: through the audit and the scheduler. */
  ttlClient: DocumentSender;
  /** When TTL gets round to each expired item, once it is seen expired (by `pk|sk|expiresAt`). */
  ttlDelays: Map<string, number>;
  audit: StoreAudit;
  /** What entitles an operation (by its id) to physically delete message copies. */
  justifications: Map<number, DeleteJustification>;
  users: string[];
  groupId: string;
  groupOwner: string;
  /** The operator who changes retention policies. */
  admin: string;
  dice: Dice;
}

export const START_TIME = Date.UTC(2026, 5, 1);
const INSTANCES = 3;
/** Each instance's clock is off the true time by up to this, either way. */
export const MAX_SKEW_MS = MAX_CLOCK_SKEW_MS;
/** How long a run lasts at most, in true time. */
export const RUN_MS = 5 * DAY_MS;

/**
 * The service's settings in the simulation. Idempotency records (and group log entries) last a day
 * instead of seven, so that runs of a few days see them expire and TTL delete them; a client retries a
 * failed send only within that day (workload.ts). Two purge shards and two workers keep a sweep invocation to a
 * few dozen commands; deletes are not rate-limited (time only moves when the workload
 * moves it). Inline purges stop at their batch cap, not at a time budget; per-user rate limits are not
 * what these runs test.
 */
export const SIMULATION_CONFIG: Partial<RoamingConfig> = {
  idempotencyDays: 1,
  purgeShards: 2,
  sweepWorkers: 2,
  sweepMaxDeletesPerSecond: 0,
  inlinePurgeBudgetMs: 60_000,
  ...NO_RATE_LIMITS,
};

/**
 * The group's storage mode, by seed (not by the dice, so every seed keeps its schedule): a third of the
 * runs keep fan-out (the group never passes 200 members), a third start in shared mode (past 0: the
 * first send finishes the switch), and a third switch mid-run, when the third user joins (past 2).
 */
export function groupModeThreshold(seed: number): number {
  return [200, 0, 2][seed % 3] as number;
}

/** Sleeping never waits in a simulation (retries back off in scheduler steps, not in time). */
function simulatedTimer(clock: Clock): Timer {
  return { now: () => clock.now(), sleep: () => Promise.resolve() };
}

/** Builds the world on `tableName` (an empty table of its own) and sets it up: the group, maybe a policy. */
export async function createWorld(seed: number, raw: DocumentSender, tableName: string): Promise<World> {
  const dice = Dice.seeded(seed);
  const config = { ...SIMULATION_CONFIG, sharedHistoryAbove: groupModeThreshold(seed) };
  const clock = new ManualClock(START_TIME + dice.int(1_000_000));
  const scheduler = new Scheduler(Dice.seeded(dice.fork()).next, () => clock.now());
  const justifications = new Map<number, DeleteJustification>();
  const audit = new StoreAudit(
    raw,
    tableName,
    clock,
    () => scheduler.step,
    (operation) => justifications.get(operation.id) ?? {},
  );
  await audit.start();
  const audited = audit.wrap(raw);
  // The hold audit notes when each command was sent, before it waits its turn (holds.ts).
  const scheduled = audit.holds.noteIssued(scheduler.wrap(audited));
  const instances: SimInstance[] = Array.from({ length: INSTANCES }, (_, i) => {
    // As often as not at the limit, either way: where two instances disagree most.
    const roll = dice.int(3);
    const clockOffsetMs =
      roll < 2 ? (roll === 0 ? -MAX_SKEW_MS : MAX_SKEW_MS) : dice.between(-MAX_SKEW_MS, MAX_SKEW_MS);
    const instanceClock = { now: () => clock.now() + clockOffsetMs };
    return {
      name: `instance-${i}`,
      clockOffsetMs,
      deps: createDeps({
        client: scheduled,
        tableName,
        clock: instanceClock,
        timer: simulatedTimer(instanceClock),
        random: Dice.seeded(dice.fork()).next,
        config,
      }),
    };
  });
  const direct = createDeps({
    client: audited,
    tableName,
    clock,
    timer: simulatedTimer(clock),
    random: Dice.seeded(dice.fork()).next,
    config,
  });
  const users = [0, 1, 2].map((i) => `s${seed}-u${i}`);
  const [owner, member] = users as [string, string, string];
  const admin = `s${seed}-ops`;
  const group = await createGroup(direct, owner, { name: `s${seed}`, members: [member] });
  // Half the runs start with an app policy in force (the others keep everything until one is set).
  if (dice.chance(0.5)) await setAppRetention(direct, admin, dice.between(1, 3));
  return {
    seed,
    tableName,
    clock,
    endsBy: clock.now() + RUN_MS,
    scheduler,
    instances,
    direct,
    ttlClient: scheduled,
    ttlDelays: new Map(),
    audit,
    justifications,
    users,
    groupId: group.groupId,
    groupOwner: owner,
    admin,
    dice,
  };
}
