import { ttlAfter } from '../core/clock.js';
import { ConflictError, HookUnavailableError, RejectedError } from '../core/errors.js';
import type { SendRequest } from '../core/model.js';
import { askPresendHook, type PresendDecision } from '../events/presend-hook.js';
import type { RetryableRequest } from '../store/idempotency-store.js';
import { keys } from '../store/keys.js';
import {
  claimPresendDecision,
  type PresendRecord,
  type RecordedDecision,
  readPresendDecision,
  settlePresendDecision,
} from '../store/presend-store.js';
import type { Deps, PresendHookSettings, PresendPolicy } from './deps.js';

/**
 * The pre-send hook's say on a send (docs/presend-hook.md): the message to send (the client's, or the
 * hook's rewrite of its body), or a RejectedError (403) or a HookUnavailableError (503, policy `closed`).
 *
 * A send with a clientMsgId asks the hook at most once, ever: the request that claims the decision
 * record asks, and every other request for that clientMsgId (a concurrent duplicate, a retry) uses the
 * decision it records. A claim left without a decision (its request died asking) is settled by the
 * policy once a waiter has waited the hook's timeout and a margin on its own monotonic timer, so no
 * two instances' clocks are ever compared. Whoever's conditional write sets the decision first, it is
 * the one everyone uses.
 */
export async function presendOutcome(
  deps: Deps,
  sender: string,
  input: SendRequest,
  idempotency: RetryableRequest | undefined,
): Promise<SendRequest> {
  const hook = deps.presend;
  if (!hook) return input;
  if (input.clientMsgId === undefined || idempotency === undefined) {
    return applied(input, recordedOf(await ask(deps, hook, sender, input), hook.policy));
  }
  return applied(
    input,
    await decisionFor(deps, hook, sender, { ...input, clientMsgId: input.clientMsgId }, idempotency.hash),
  );
}

/** What a waiter allows beyond the hook's timeout for the claimer to record its answer. */
export const DECISION_MARGIN_MS = 2000;
const FIRST_POLL_MS = 20;
const MAX_POLL_MS = 200;

async function decisionFor(
  deps: Deps,
  hook: PresendHookSettings,
  sender: string,
  input: SendRequest & { clientMsgId: string },
  requestHash: string,
): Promise<RecordedDecision> {
  const key = keys.presendDecision(sender, input.clientMsgId);
  const now = deps.clock.now();
  const claim = { requestHash, claimedAt: now, expiresAt: ttlAfter(now, deps.config.idempotencyDays) };
  const found = await claimPresendDecision(deps.db, key, claim, now);
  if (found === undefined) {
    // Ours to ask: nobody else will, for this clientMsgId.
    const answered = recordedOf(await ask(deps, hook, sender, input), hook.policy);
    return settle(deps, key, requestHash, answered);
  }
  let record: PresendRecord | undefined = found;
  const deadline = deps.timer.now() + deps.config.presendTimeoutMs + DECISION_MARGIN_MS;
  for (let pause = FIRST_POLL_MS; ; pause = Math.min(MAX_POLL_MS, pause * 2)) {
    if (record === undefined) {
      // The claim vanished (it expired meanwhile): the hook may have been asked; it is not asked again.
      return unavailableBy(hook.policy, 'the claim on this clientMsgId expired');
    }
    if (record.requestHash !== requestHash)
      throw new ConflictError('clientMsgId was already used for a different message');
    if (record.decision) return record.decision;
    const left = deadline - deps.timer.now();
    if (left <= 0) break;
    await deps.timer.sleep(Math.min(pause, left));
    record = await readPresendDecision(deps.db, key, deps.clock.now());
  }
  // The claimer died or is stuck: the policy decides, and it is final for this clientMsgId.
  return settle(deps, key, requestHash, unavailableBy(hook.policy, 'no decision was recorded in time'));
}

/** Records `decision` unless another request recorded one first: then that one stands. */
async function settle(
  deps: Deps,
  key: { pk: string; sk: string },
  requestHash: string,
  decision: RecordedDecision,
): Promise<RecordedDecision> {
  if (await settlePresendDecision(deps.db, key, requestHash, decision, deps.clock.now())) return decision;
  const record = await readPresendDecision(deps.db, key, deps.clock.now());
  if (record && record.requestHash !== requestHash)
    throw new ConflictError('clientMsgId was already used for a different message');
  // No record left (expired, never within a send's life): what this request decided is all there is.
  return record?.decision ?? decision;
}

function ask(deps: Deps, hook: PresendHookSettings, sender: string, message: SendRequest) {
  return askPresendHook(hook, {
    sender,
    message,
    occurredAt: deps.clock.now(),
    timeoutMs: deps.config.presendTimeoutMs,
  });
}

function recordedOf(decision: PresendDecision, policy: PresendPolicy): RecordedDecision {
  return decision.action === 'unavailable' ? unavailableBy(policy, decision.why) : decision;
}

function unavailableBy(policy: PresendPolicy, why: string): RecordedDecision {
  return { action: 'unavailable', why, policy };
}

function applied(input: SendRequest, decision: RecordedDecision): SendRequest {
  switch (decision.action) {
    case 'allow':
      return input;
    case 'rewrite':
      return { ...input, body: decision.body };
    case 'reject':
      throw new RejectedError(decision.reason);
    case 'unavailable':
      if (decision.policy === 'open') return input;
      // The cause (why the hook gave no answer) goes to the request's log line, not to the caller.
      throw new HookUnavailableError(
        input.clientMsgId === undefined
          ? 'The pre-send hook did not answer; try again'
          : 'The pre-send hook did not answer; send again with a new clientMsgId (this one stays refused)',
        { cause: new Error(decision.why) },
      );
  }
}
