import { ttlAfter } from '../core/clock.js';
import { ConflictError, ForbiddenError, RateLimitedError } from '../core/errors.js';
import { MAX_ID_TIME, timeOfId } from '../core/ids.js';
import type { ConversationRef, Message, SendRequest } from '../core/model.js';
import { messageEventData } from '../events/event.js';
import { eventAction } from '../events/outbox.js';
import { applyMessage, applyOwnShared, isMemberView } from '../store/conversation.js';
import { batchGet, keyString } from '../store/db.js';
import {
  allocateActions,
  fanOutFinished,
  type GroupMeta,
  type GroupView,
  readGroup,
  sharedAllocateActions,
} from '../store/group-store.js';
import {
  putRecordAction,
  type RetryableRequest,
  retryableRequest,
  type SendRecord,
  sendRecordOf,
} from '../store/idempotency-store.js';
import { keys } from '../store/keys.js';
import { putCopyAction } from '../store/message-store.js';
import { revisionKey, revisionOf } from '../store/revision-store.js';
import type { TransactItem } from '../store/transactions.js';
import {
  commit,
  present,
  readForWrite,
  type Snapshot,
  TRY_AGAIN,
  withRetries,
} from './conversation-writes.js';
import type { Deps } from './deps.js';
import { applyToMembers } from './group-fanout.js';
import { admitInbound, type InboundAdmission, type InboundTarget, NOTHING_TAKEN } from './inbound-limits.js';
import { checkMessageSize, copyUnits } from './message-limits.js';
import { presendOutcome } from './presend.js';
import { limitKey, refuseIfKnownEmpty, spend } from './rate-limits.js';
import { inSenderLane } from './sender-lanes.js';
import { finishSwitch } from './switch.js';

/**
 * Sending (docs/consistency.md, section 1). A message takes the next position of its conversation; its
 * timestamp is max(now, previous + 1) and its id is made from that timestamp, so no instance's clock can
 * put it before a message accepted earlier.
 *
 * - Single chat: everything in one transaction (both sides' conversation items, both copies, the
 *   idempotency record): all of it or none.
 * - Group: the position and the message (fan-out log) in one transaction, then every member's side in a
 *   small transaction of its own, strictly in order. A retry with the same clientMsgId finishes what an
 *   earlier attempt started; it never rewrites a copy its owner deleted, nor counts unread twice.
 */
export async function sendMessage(deps: Deps, sender: string, input: SendRequest): Promise<Message> {
  checkMessageSize(input);
  // A send with a clientMsgId may be the retry of one accepted already, which costs no token: only the
  // read of its record can tell, so it is never refused unread.
  const refuseUnread = () => {
    if (input.clientMsgId !== undefined) return;
    refuseIfKnownEmpty(deps, sender, 'send');
    refuseIfKnownEmpty(deps, sender, 'sendCopies');
  };
  refuseUnread();
  // Of what the client sent, whatever the pre-send hook makes of it: the client's retry must match it.
  const idempotency = idempotencyOf(deps, sender, input);
  // Before the lane, so one user's slow hook does not hold up their other sends. A rewrite is applied
  // the same way to every attempt (the decision is recorded), so a replay answers the rewritten body.
  const message = await presendOutcome(deps, sender, input, idempotency);
  return inSenderLane(deps, sender, function sendInTurn() {
    // Re-checked in turn: the sends ahead in the lane may have emptied the bucket.
    refuseUnread();
    return message.chatType === 'single'
      ? sendSingle(deps, sender, message, idempotency)
      : sendToGroup(deps, sender, message, idempotency);
  });
}

async function sendSingle(
  deps: Deps,
  sender: string,
  input: SendRequest,
  idempotency: RetryableRequest | undefined,
): Promise<Message> {
  const sides: ConversationRef[] =
    sender === input.to
      ? [{ owner: sender, chatType: 'single', convId: sender }]
      : [
          { owner: sender, chatType: 'single', convId: input.to },
          { owner: input.to, chatType: 'single', convId: sender },
        ];
  const limits = sendLimits(deps, sender, input);
  let admission = inboundAdmission(deps, { recipient: input.to });
  return withRetries(deps, 'send', async function attemptSingleSend() {
    const { read, refused, release } = await readAdmitted(admission, () =>
      readForWrite(deps, sides, present(idempotency?.key, ...limits.keys)),
    );
    admission = ADMITTED;
    const earlier = idempotency && sendRecordOf(read.item(idempotency.key), deps.clock.now());
    // The earlier attempt was accepted whole (one transaction): the same message, nothing to write.
    if (earlier) {
      await release();
      return asRevised(deps, replayed(sender, input, earlier, idempotency.hash));
    }
    if (refused) throw refused;
    const spent = limits.spend(read, sides.length);
    const states = sides.map((ref) => read.state(ref));
    const head = states.reduce((a, b) => (b.seq > a.seq ? b : a));
    const seq = head.seq + 1;
    const message = newMessage(deps, sender, input, head.headMsgId);
    const actions: TransactItem[] = [];
    for (const state of states) {
      const written = applyMessage(read.context(state.ref.owner), state, {
        message,
        seq,
        own: state.ref.owner === sender,
      });
      actions.push(...written.actions, putCopyAction(deps.db.tableName, state.ref, message, seq));
    }
    if (idempotency) actions.push(recordAction(deps, idempotency, message, seq));
    actions.push(...spent, sentEventAction(deps, message));
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : message;
  });
}

/**
 * The recipient's (or group's) inbound limit, charged alongside the send's first read (no round trip of
 * its own); awaited with that read, so a refusal answers 429 before anything is written. Resolves with
 * how long the send waited for its slot.
 */
function inboundAdmission(deps: Deps, target: InboundTarget): Promise<InboundAdmission> {
  const admitted = admitInbound(deps, target);
  // Handled where it is awaited; this keeps a refusal that meets an earlier failure from going unhandled.
  admitted.catch(() => undefined);
  return admitted;
}

/** An admission already used (a retry of the attempt): nothing to wait for or give back. */
const ADMITTED: Promise<InboundAdmission> = Promise.resolve(NOTHING_TAKEN);

/**
 * The send's read, sent with its admission; read again when the admission waited for its slot: what
 * was read before the wait has likely moved (a group's META surely, by the sends of the slots before).
 * A refusal (429) is handed back, not thrown: the retry of an accepted send is answered whatever the
 * limit, so the caller throws it only once the read shows a new message. `release` gives the slot back
 * when the send writes nothing (a retry answered from its record, a sender who is not a member).
 */
async function readAdmitted(
  admission: Promise<InboundAdmission>,
  read: () => Promise<Snapshot>,
): Promise<{ read: Snapshot; refused?: RateLimitedError; release: () => Promise<void> }> {
  const [snapshot, outcome] = await Promise.all([
    read(),
    admission.catch((error: unknown) => {
      if (error instanceof RateLimitedError) return error;
      throw error;
    }),
  ]);
  if (outcome instanceof RateLimitedError)
    return { read: snapshot, refused: outcome, release: NOTHING_TAKEN.release };
  return { read: outcome.waitedMs > 0 ? await read() : snapshot, release: outcome.release };
}

/**
 * The sender's two send limits, read with the send's other items: messages (`send`), and the copies
 * they write (`sendCopies`: one unit per copy per started KB of content, message-limits.ts).
 */
function sendLimits(deps: Deps, sender: string, input: SendRequest) {
  const messages = limitKey(deps, sender, 'send');
  const copies = limitKey(deps, sender, 'sendCopies');
  return {
    keys: present(messages, copies),
    /** The spends of a send that writes `copyCount` copies; throws 429 when either limit cannot pay. */
    spend(read: Snapshot, copyCount: number): TransactItem[] {
      return [
        messages && spend(deps, sender, 'send', read.item(messages)),
        copies && spend(deps, sender, 'sendCopies', read.item(copies), copyUnits(input, copyCount)),
      ].filter((action): action is TransactItem => action !== undefined);
    },
  };
}

async function sendToGroup(
  deps: Deps,
  sender: string,
  input: SendRequest,
  idempotency: RetryableRequest | undefined,
): Promise<Message> {
  const groupId = input.to;
  const side: ConversationRef = { owner: sender, chatType: 'group', convId: groupId };
  const limits = sendLimits(deps, sender, input);
  const extra = present(idempotency?.key, ...limits.keys);
  let admission = inboundAdmission(deps, { groupId });
  const accepted = await withRetries(deps, 'send', async function attemptGroupAllocation() {
    // The sender's side, the group's META, the record and the limits, in one read: META says the mode.
    const { read, refused, release } = await readAdmitted(admission, () => readForWrite(deps, [side], extra));
    admission = ADMITTED;
    const meta = read.meta(groupId);
    const earlier = idempotency && sendRecordOf(read.item(idempotency.key), deps.clock.now());
    // A replay answers (and finishes the fan-out with) the message as revised since, if it was.
    const again = earlier && {
      seq: earlier.seq,
      message: await asRevised(deps, replayed(sender, input, earlier, idempotency.hash)),
    };
    if (meta?.shared) {
      // A shared-mode send is one transaction (and the switch finished every fan-out before it).
      if (again) {
        await release();
        return { ...again, group: undefined };
      }
      if (refused) throw refused;
      if (!isMemberView(read.state(side))) {
        await release();
        throw new ForbiddenError('You are not a member of this group');
      }
      return sendShared(deps, read, side, input, { idempotency, limits });
    }
    // Refused by the inbound limit: only the retry of an accepted send goes on (it writes no message).
    if (refused && !again) throw refused;
    // A switch to shared mode that an instance left unfinished is finished first (switch.ts).
    if (meta?.switching) {
      await finishSwitch(deps, groupId);
      return TRY_AGAIN;
    }
    // The retry of a send that reached every member is answered from its record (a few reads, not the
    // fan-out's).
    if (again && (await fanOutFinished(deps.db, groupId, again.seq))) {
      await release();
      return { ...again, group: undefined };
    }
    const group = await readGroup(deps.db, groupId);
    // One answer for "no such group" and "not a member", so group ids cannot be probed.
    if (!group?.members.includes(sender)) {
      await release();
      throw new ForbiddenError('You are not a member of this group');
    }
    // The earlier attempt took its position; its fan-out did not finish: finish it.
    if (again) {
      await release();
      return { ...again, group };
    }
    // Fan-out writes a copy per member.
    const spent = limits.spend(read, group.members.length);
    const seq = group.meta.seq + 1;
    const message = newMessage(deps, sender, input, group.meta.headMsgId);
    const actions = allocateActions(deps.db.tableName, group.meta, { message, seq });
    if (idempotency) actions.push(recordAction(deps, idempotency, message, seq));
    actions.push(...spent, sentEventAction(deps, message));
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : { group, seq, message };
  });
  if (accepted.group) await fanOut(deps, accepted.group, accepted.message, accepted.seq);
  return accepted.message;
}

/**
 * A send to a group in shared mode: the position, the one shared copy, the sender's side (read through
 * their own message), the record and the limit, in one transaction: the same requests and write units
 * whatever the group's size (docs/large-groups.md).
 */
async function sendShared(
  deps: Deps,
  read: Snapshot,
  side: ConversationRef,
  input: SendRequest,
  options: { idempotency?: RetryableRequest; limits: ReturnType<typeof sendLimits> },
): Promise<typeof TRY_AGAIN | { seq: number; message: Message; group: undefined }> {
  const { idempotency, limits } = options;
  const meta = read.meta(side.convId) as GroupMeta;
  const state = read.state(side);
  if (!isMemberView(state)) throw new ForbiddenError('You are not a member of this group');
  // One shared copy, whatever the group's size.
  const spent = limits.spend(read, 1);
  const seq = meta.seq + 1;
  const message = newMessage(deps, side.owner, input, meta.headMsgId);
  const actions: TransactItem[] = [
    ...sharedAllocateActions(deps.db.tableName, meta, { message, seq }),
    ...applyOwnShared(read.context(side.owner), state, { message, seq }).actions,
  ];
  if (idempotency) actions.push(recordAction(deps, idempotency, message, seq));
  actions.push(...spent, sentEventAction(deps, message));
  return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : { seq, message, group: undefined };
}

/**
 * Moves every member's side to message `seq` (and anything before it they are still missing). Members
 * who joined later are already past it; members who left are skipped by their item's condition. Then
 * every member has the log entries through `seq`, and only then may they expire: a message that took a
 * position reaches every member (an interrupted fan-out is finished by the retry or by the next send,
 * however much later) and never only some.
 */
async function fanOut(deps: Deps, group: GroupView, message: Message, seq: number): Promise<void> {
  await applyToMembers(deps, group.meta.groupId, group.members, { seq, message });
}

/** The timestamp: now, unless the conversation's last message is at or after now (another clock). */
function newMessage(
  deps: Deps,
  sender: string,
  input: SendRequest,
  previousMsgId: string | undefined,
): Message {
  const previous = previousMsgId === undefined ? -1 : timeOfId(previousMsgId);
  const timestamp = Math.min(MAX_ID_TIME, Math.max(deps.clock.now(), previous + 1));
  return buildMessage(sender, input, deps.ids.at(timestamp), timestamp);
}

function buildMessage(sender: string, input: SendRequest, msgId: string, timestamp: number): Message {
  return {
    msgId,
    from: sender,
    to: input.to,
    chatType: input.chatType,
    type: input.type,
    body: input.body,
    ...(input.ext !== undefined ? { ext: input.ext } : {}),
    timestamp,
  };
}

/** A send with a clientMsgId; its hash covers the fields that make the message. */
function idempotencyOf(deps: Deps, sender: string, input: SendRequest): RetryableRequest | undefined {
  if (input.clientMsgId === undefined) return undefined;
  const { to, chatType, type, body, ext } = input;
  return retryableRequest(
    keys.idempotency(sender, input.clientMsgId),
    { to, chatType, type, body, ext },
    deps.idempotencyKey,
  );
}

/**
 * The message as it is now: a retry of a send whose message was recalled or edited since answers the
 * tombstone or the edit (never the text it took back), and a fan-out it finishes carries that.
 */
async function asRevised(deps: Deps, message: Message): Promise<Message> {
  const record = revisionOf(
    (await batchGet(deps.db, [revisionKey(message)])).get(keyString(revisionKey(message))),
  );
  return record?.message ?? message;
}

function replayed(sender: string, input: SendRequest, record: SendRecord, hash: string): Message {
  if (record.requestHash !== hash)
    throw new ConflictError('clientMsgId was already used for a different message');
  return buildMessage(sender, input, record.msgId, record.timestamp);
}

/**
 * The send's event, in the transaction that gives the message its position (all of a single chat's
 * send; a group's allocation): named by the message, so it is told once however often the send is tried.
 */
function sentEventAction(deps: Deps, message: Message): TransactItem {
  return eventAction(
    deps,
    'message.sent',
    { ...messageEventData(message), message },
    { id: `message.sent:${message.msgId}`, occurredAt: message.timestamp },
  );
}

function recordAction(deps: Deps, idempotency: RetryableRequest, message: Message, seq: number) {
  const now = deps.clock.now();
  return putRecordAction(
    deps.db.tableName,
    idempotency,
    {
      msgId: message.msgId,
      seq,
      timestamp: message.timestamp,
      expiresAt: ttlAfter(now, deps.config.idempotencyDays),
    },
    now,
  );
}
