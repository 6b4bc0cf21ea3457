import { RateLimitedError, ThrottledError } from '../core/errors.js';
import type { Key } from '../store/db.js';
import {
  addCharge,
  applyCharge,
  type BudgetState,
  budgetKey,
  type Charge,
} from '../store/request-budget-store.js';
import { beyondTolerance, bucketNow } from './bucket-clock.js';
import type { Deps } from './deps.js';

/**
 * The per-user request budget (docs/api.md, "Per-user limits"): every route charges the caller before
 * it does any work, so one account cannot take the read capacity (or the stage's request rate) that the
 * others share. A budget holds `requestBudget` units and refills `requestBudgetPerSecond` a second; a
 * unit is one read unit (4 KB read strongly consistent). A request costs the read units its work used,
 * at least `requestBaseUnits`:
 *
 * - **before the work** it is charged the base (one conditional UpdateItem on the caller's budget item,
 *   no read), and refused with 429 `rate_limited` (`limit: requests`) and `Retry-After` when the budget
 *   cannot pay it;
 * - **after the work** the read units it used beyond the base are charged too (a second UpdateItem, only
 *   for requests that read more than the base), whatever they answered. That can leave the budget in
 *   debt, which the next requests wait out.
 *
 * Charging the base and settling the rest (rather than reserving an upper bound up front) is exact for
 * every request, and needs no bound: what a request reads depends on the data (item sizes, hidden
 * copies), and a bound large enough for a 50-message page of 12 KB messages would refuse a phone's
 * ordinary sync long before it cost that. What it allows is overdraft: requests admitted together each
 * spend up to their own cost past an empty budget (one history page is at most ~2 × 51 copies), and the
 * user then waits that debt out. Admin routes charge a budget of their own (`adminRequests`, the same
 * size): an operator's dashboards and their own app do not starve each other.
 *
 * Refused requests cost the store at most one UpdateItem (a failed charge returns the state it found)
 * and, once an instance has seen a budget too low, nothing: `tat` only moves forward, so a budget this
 * instance saw exhausted stays so at least until the time it computed.
 */
export type BudgetName = 'requests' | 'adminRequests';

/** What an admitted request does when its work is done: charge the read units beyond the base. */
export interface Admission {
  settle(readUnits: number): Promise<void>;
}

export interface RequestBudget {
  /** Charges the base cost of one request; throws RateLimitedError (429) when the budget cannot pay it. */
  admit(owner: string, access: 'user' | 'admin'): Promise<Admission>;
}

interface Rule {
  /** Units one request costs at least, charged before its work. */
  baseUnits: number;
  /** Refill, units per second. */
  perSecond: number;
  /** Size of the budget, in units. */
  capacity: number;
}

function ruleOf(deps: Deps): Rule | undefined {
  const c = deps.config;
  if (!(c.requestBudgetPerSecond > 0)) return undefined;
  const baseUnits = Math.max(0, c.requestBaseUnits);
  return { baseUnits, perSecond: c.requestBudgetPerSecond, capacity: Math.max(c.requestBudget, baseUnits) };
}

/** Milliseconds of refill `units` take: what they move `tat` by (whole ms, rounded up). */
function msOf(rule: Rule, units: number): number {
  return Math.ceil((units * 1000) / rule.perSecond);
}

/** Charges of one budget that raced each other's form (see request-budget-store.ts) before giving up. */
const MAX_ATTEMPTS = 5;
const NOTHING_TO_SETTLE: Admission = { settle: async () => {} };

const budgets = new WeakMap<Deps, RequestBudget>();

/** The request budget of this process (one per Deps: it remembers the budgets it has seen). */
export function requestBudget(deps: Deps): RequestBudget {
  let budget = budgets.get(deps);
  if (!budget) {
    budget = createRequestBudget(deps);
    budgets.set(deps, budget);
  }
  return budget;
}

function createRequestBudget(deps: Deps): RequestBudget {
  const seen = new BoundedStates();
  return {
    async admit(owner, access) {
      const rule = ruleOf(deps);
      if (!rule) return NOTHING_TO_SETTLE;
      const name: BudgetName = access === 'admin' ? 'adminRequests' : 'requests';
      const key = budgetKey(owner, name);
      const seenKey = `${name}|${owner}`;
      const charged = await chargeGcra(deps, seen, { key, seenKey }, msOf(rule, rule.baseUnits), {
        windowMs: msOf(rule, rule.capacity),
        what: 'The request budget',
      });
      if ('refuseForMs' in charged) throw refusal(rule, name, charged.refuseForMs);
      return {
        async settle(readUnits) {
          const beyondBase = readUnits - rule.baseUnits;
          if (!(beyondBase > 0)) return;
          const after = await addCharge(deps.db, key, msOf(rule, beyondBase));
          if (after) seen.set(seenKey, after);
        },
      };
    },
  };
}

/**
 * Charges `costMs` to the GCRA budget at `key` (request-budget-store.ts), trying first the form of
 * charge the state `seen` remembers suggests: the state after, or how long to refuse when the budget
 * (`windowMs` of refill) cannot pay. Shared by the request budget and the inbound limits.
 */
export async function chargeGcra(
  deps: Deps,
  seen: BoundedStates,
  where: { key: Key; seenKey: string },
  costMs: number,
  options: { windowMs: number; what: string; maxAttempts?: number },
): Promise<{ state: BudgetState } | { refuseForMs: number }> {
  let known = seen.get(where.seenKey);
  for (let attempt = 0; attempt < (options.maxAttempts ?? MAX_ATTEMPTS); attempt++) {
    const charge = chargeFor(deps, known, costMs, options.windowMs);
    if ('refuseForMs' in charge) return charge;
    const outcome = await applyCharge(deps.db, where.key, charge);
    if (outcome.applied) {
      seen.set(where.seenKey, outcome.state);
      return { state: outcome.state };
    }
    known = outcome.found;
    if (known) seen.set(where.seenKey, known);
    else seen.delete(where.seenKey);
  }
  throw new ThrottledError(`${options.what} kept changing; retry shortly`);
}

/**
 * The charge to try given the state this instance believes (it may be behind: other instances and
 * devices only ever move `tat` forward), or how long to refuse when that state already cannot pay.
 */
function chargeFor(
  deps: Deps,
  known: BudgetState | undefined,
  costMs: number,
  windowMs: number,
): Charge | { refuseForMs: number } {
  if (known && beyondTolerance(deps, known.at)) {
    return { form: 'replace', now: bucketNow(deps, undefined), costMs, seen: known };
  }
  const now = bucketNow(deps, known?.at);
  if (!known || known.tat < now) return { form: 'restart', now, costMs };
  const latestTat = now + windowMs - costMs;
  if (known.tat > latestTat) return { refuseForMs: known.tat - latestTat };
  return { form: 'continue', now, costMs, latestTat };
}

function refusal(rule: Rule, name: BudgetName, refuseForMs: number): RateLimitedError {
  const retryAfterSeconds = Math.max(1, Math.ceil(refuseForMs / 1000));
  const whose = name === 'adminRequests' ? 'admin request budget' : 'request budget';
  return new RateLimitedError(
    `Too many requests: your ${whose} is used up (${rule.capacity} read units, ${rule.perSecond} more a second; ` +
      `a request costs the read units it uses, at least ${rule.baseUnits}); retry in ${retryAfterSeconds} s`,
    { retryAfterSeconds, limit: name },
  );
}

/**
 * The budgets this instance has seen, as it saw them: which form of charge to try first, and a budget
 * seen exhausted is refused without a request. Bounded; forgotten when the instance is cold.
 */
export class BoundedStates {
  private static readonly MAX = 10_000;
  private readonly states = new Map<string, BudgetState>();
  get(key: string): BudgetState | undefined {
    return this.states.get(key);
  }
  set(key: string, state: BudgetState): void {
    if (this.states.size >= BoundedStates.MAX && !this.states.has(key)) this.states.clear();
    this.states.set(key, state);
  }
  delete(key: string): void {
    this.states.delete(key);
  }
}
