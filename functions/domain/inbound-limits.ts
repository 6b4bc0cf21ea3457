import { RateLimitedError } from '../core/errors.js';
import { keys } from '../store/keys.js';
import { addCharge } from '../store/request-budget-store.js';
import { bucketNow } from './bucket-clock.js';
import type { Deps } from './deps.js';
import { BoundedStates, chargeGcra } from './request-budget.js';

/**
 * Inbound limits (docs/large-groups.md, "Hot items"): every send to a user checks that user's sync head
 * in its transaction, and every send to a group updates its META: on AWS, transactions that overlap on
 * one item cancel each other (TransactionConflict), so concurrent sends to one recipient or one group
 * mostly cancel, retry and give up. So sends to one user or one group are *spaced*: each takes the next
 * slot of `inboundPerSecond` a second in a GCRA budget item of its own (`B#{userId}` or `B#G#{groupId}`,
 * `inbound`: one conditional UpdateItem outside the send's transaction, sent alongside its first read)
 * and waits for it, so their transactions do not overlap. A send whose slot is more than
 * `inboundQueueMs` away is refused with a clear 429 `rate_limited` (`limit: inbound`) and Retry-After.
 * bench/hot-items.ts measures what it keeps.
 */
export type InboundTarget = { recipient: string } | { groupId: string };

/**
 * Charges of one inbound budget that raced before giving up: every sender to a hot recipient charges
 * the same item at once, and a charge that lost a race learns the state from its failure (no read).
 */
const INBOUND_CHARGE_ATTEMPTS = 25;

const seenByDeps = new WeakMap<Deps, BoundedStates>();

function seenOf(deps: Deps): BoundedStates {
  let seen = seenByDeps.get(deps);
  if (!seen) {
    seen = new BoundedStates();
    seenByDeps.set(deps, seen);
  }
  return seen;
}

/** A slot taken: how long the send waited for it, and how to give it back (a send that wrote nothing). */
export interface InboundAdmission {
  waitedMs: number;
  release(): Promise<void>;
}

/** No slot held: nothing to wait for or give back (limit off, or an admission already used). */
export const NOTHING_TAKEN: InboundAdmission = { waitedMs: 0, release: async () => {} };

/**
 * Takes the target's next inbound slot, and waits until it comes (at most `inboundQueueMs`). Throws
 * RateLimitedError (429) when every slot that near is taken.
 */
export async function admitInbound(deps: Deps, target: InboundTarget): Promise<InboundAdmission> {
  const { inboundPerSecond, inboundQueueMs } = deps.config;
  if (!(inboundPerSecond > 0)) return NOTHING_TAKEN;
  const owner = 'groupId' in target ? `G#${target.groupId}` : target.recipient;
  const slotMs = Math.ceil(1000 / inboundPerSecond);
  const charged = await chargeGcra(
    deps,
    seenOf(deps),
    { key: keys.requestBudget(owner, 'inbound'), seenKey: owner },
    slotMs,
    {
      windowMs: Math.max(0, inboundQueueMs) + slotMs,
      what: 'An inbound limit',
      maxAttempts: INBOUND_CHARGE_ATTEMPTS,
    },
  );
  if ('refuseForMs' in charged) {
    const retryAfterSeconds = Math.max(1, Math.ceil(charged.refuseForMs / 1000));
    const whom = 'groupId' in target ? 'this group' : 'this user';
    throw new RateLimitedError(
      `Too many messages to ${whom}: at most ${inboundPerSecond} a second from all senders; retry in ${retryAfterSeconds} s`,
      { retryAfterSeconds, limit: 'inbound' },
    );
  }
  const key = keys.requestBudget(owner, 'inbound');
  // Unconditional: the slot's time goes back to the budget (the slots after it stay where they are).
  const release = async () => {
    await addCharge(deps.db, key, -slotMs);
  };
  // The slot begins where the charge before this one ended.
  const waitMs = charged.state.tat - slotMs - bucketNow(deps, charged.state.at);
  if (!(waitMs > 0)) return { waitedMs: 0, release };
  await deps.timer.sleep(waitMs);
  return { waitedMs: waitMs, release };
}
