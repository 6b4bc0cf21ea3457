import {
  cutoffFor,
  daysFor,
  FLOOR_CLOCK_MARGIN_MS,
  inForceAt,
  MAX_CLOCK_SKEW_MS,
  NO_CUTOFF,
} from '../../functions/domain/retention.js';
import type { RetentionPolicies } from '../../functions/store/policy-store.js';
import type { SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * What retention may hide from a user, and what it must, when the oracle reads at `now` on the true
 * clock: a model built from the policies as they were stored over the run (the audit's timeline) and
 * what devices were told, not from the product's floors (docs/consistency.md, sections 7 and 8).
 */
export interface ExpiryBounds {
  /**
   * Messages at or before this may be hidden: what the days in force at some moment hid, on a clock up
   * to three hours ahead of the true time (a floor is what a policy hid when it was changed, computed
   * two hours ahead of the admin instance's clock, itself up to an hour fast), with the app default's
   * days counted for a user who follows it at any later moment (clearing an override brings the app
   * default's floor with it), and what the policy in force hides now.
   */
  mayHideThrough: number;
  /**
   * Messages at or before this must be hidden: what the policy in force hides now; what the user saw
   * hidden when any policy was changed, on a clock up to an hour slow (expiry never goes backwards); and
   * every cutoff a `?since=` answer reported to their devices (an instance an hour fast reports one an
   * hour ahead, but the oracle reads more than an hour after the last operation, when it has passed).
   */
  mustHideThrough: number;
}

export function expiryBounds(world: World, log: SimulationLog, owner: string, now: number): ExpiryBounds {
  const timeline = world.audit.policyTimeline;
  const last = timeline.at(-1);
  if (!last) throw new Error('the audit read no policy');
  // Pending shortenings only shorten as time passes: within a state, its latest moment hides the most.
  const daysAt = (policies: RetentionPolicies, at: number) => daysFor(inForceAt(policies, at), owner);
  const inForce = cutoffFor(daysAt(last.policies, now), now);
  let mayHideThrough = inForce;
  let mustHideThrough = Math.max(inForce, log.reportedCutoffs.get(owner) ?? NO_CUTOFF);
  timeline.forEach((state, i) => {
    const next = timeline[i + 1];
    if (!next) return;
    const followsAppLater = timeline.slice(i).some((later) => !later.policies.userDays.has(owner));
    const fastEnd = next.at + MAX_CLOCK_SKEW_MS + FLOOR_CLOCK_MARGIN_MS;
    mayHideThrough = Math.max(mayHideThrough, cutoffFor(daysAt(state.policies, fastEnd), fastEnd));
    if (followsAppLater) {
      const appDays = inForceAt(state.policies, fastEnd).appDays;
      mayHideThrough = Math.max(mayHideThrough, cutoffFor(appDays, fastEnd));
    }
    const slowEnd = next.changedFrom - MAX_CLOCK_SKEW_MS;
    mustHideThrough = Math.max(mustHideThrough, cutoffFor(daysAt(state.policies, slowEnd), slowEnd));
  });
  return { mayHideThrough, mustHideThrough };
}
