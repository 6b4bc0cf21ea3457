import { DAY_MS } from '../../functions/core/clock.js';
import type { Deps } from '../../functions/domain/deps.js';
import {
  cancelPendingRetention,
  setAppRetention,
  setUserRetention,
} from '../../functions/domain/policies.js';
import type { Dice } from '../support/prng.js';
import { classify, type SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * Retention shortenings that wait, and their cancels (docs/compliance.md, "Retention preview and undo"):
 * the app default or a user's override set to 1-3 days with a delay from a minute to two days (some reach
 * their effectiveAt within the phase, some at the time that passes between phases, some never), or the
 * pending change of the app default or of a user cancelled (409 when none waits: an expected conflict).
 * Each may crash at one of its commands, before or after the store applied it, as a policy change may.
 */
export async function changePending(world: World, log: SimulationLog, dice: Dice, deps: Deps): Promise<void> {
  log.counts.policyChanges++;
  const user = dice.chance(0.5) ? undefined : dice.pick(world.users);
  const fault = dice.chance(0.15)
    ? { at: dice.int(3), when: dice.pick(['before', 'after'] as const) }
    : undefined;
  const cancel = dice.chance(0.4);
  const days = dice.between(1, 3);
  const delayMs = dice.chance(0.3) ? dice.between(1, 10) * 60_000 : dice.between(1, 48) * (DAY_MS / 24);
  const run = () => {
    if (cancel) return cancelPendingRetention(deps, world.admin, user);
    return user === undefined
      ? setAppRetention(deps, world.admin, days, delayMs)
      : setUserRetention(deps, world.admin, user, days, delayMs);
  };
  const { done } = world.scheduler.start('policy', run, fault);
  const change = await done.catch((error: unknown) => classify(log, 'pending policy', error));
  if (change?.cancelled) log.counts.pendingCancelled++;
  if (change?.shortened?.waits) log.counts.pendingSet++;
}

/** A second admin, with shortenings that wait and cancels only: a few each phase, minutes apart. */
export async function pendingOperator(world: World, log: SimulationLog, dice: Dice, operations: number) {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    await changePending(world, log, dice, dice.pick(world.instances).deps);
  }
}
