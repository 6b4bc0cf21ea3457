import { RateLimitedError } from '../core/errors.js';
import { keys } from '../store/keys.js';
import type { Deps } from './deps.js';
import { BoundedStates, chargeGcra } from './request-budget.js';

/**
 * Inbound limits (docs/large-groups.md, "Hot items"): every send to a user checks that user's sync head
 * in its transaction, and every send to a group updates its META: on AWS, transactions that overlap on
 * one item cancel each other (TransactionConflict), so past a rate, concurrent sends to one recipient or
 * one group mostly cancel and retry, and give up. The cap is stated and enforced before that: at most
 * `inboundPerSecond` messages a second (bursts of `inboundBurst`) to one user or one group, counted in
 * a GCRA budget item of its own (`B#{userId}` or `B#G#{groupId}`, `inbound`: one conditional UpdateItem
 * outside the send's transaction, sent alongside its first read), and over it a clear 429 `rate_limited`
 * (`limit: inbound`) with Retry-After. bench/hot-items.ts measures what the cap keeps.
 */
export type InboundTarget = { recipient: string } | { groupId: string };

const seenByDeps = new WeakMap<Deps, BoundedStates>();

function seenOf(deps: Deps): BoundedStates {
  let seen = seenByDeps.get(deps);
  if (!seen) {
    seen = new BoundedStates();
    seenByDeps.set(deps, seen);
  }
  return seen;
}

/** Charges one message to the target's inbound budget; throws RateLimitedError (429) when it is spent. */
export async function admitInbound(deps: Deps, target: InboundTarget): Promise<void> {
  const { inboundPerSecond, inboundBurst } = deps.config;
  if (!(inboundPerSecond > 0)) return;
  const owner = 'groupId' in target ? `G#${target.groupId}` : target.recipient;
  const costMs = Math.ceil(1000 / inboundPerSecond);
  const charged = await chargeGcra(
    deps,
    seenOf(deps),
    { key: keys.requestBudget(owner, 'inbound'), seenKey: owner },
    costMs,
    { windowMs: costMs * Math.max(1, inboundBurst), what: 'An inbound limit' },
  );
  if (!('refuseForMs' in charged)) return;
  const retryAfterSeconds = Math.max(1, Math.ceil(charged.refuseForMs / 1000));
  const whom = 'groupId' in target ? 'this group' : 'this user';
  throw new RateLimitedError(
    `Too many messages to ${whom}: at most ${inboundPerSecond} a second from all senders; retry in ${retryAfterSeconds} s`,
    { retryAfterSeconds, limit: 'inbound' },
  );
}
