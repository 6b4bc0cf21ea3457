import { DAY_MS } from '../../functions/core/clock.js';
import type { ChatType, ConversationRef, Message } from '../../functions/core/model.js';
import {
  deleteConversation,
  deleteMessagesBefore,
  deleteMessagesByIds,
  mayMeanEverything,
} from '../../functions/domain/deletion.js';
import type { Deps } from '../../functions/domain/deps.js';
import { addMember, removeMember } from '../../functions/domain/groups.js';
import { fetchHistory } from '../../functions/domain/history.js';
import { setMarked, setPinned } from '../../functions/domain/pins-and-marks.js';
import { markConversationRead } from '../../functions/domain/read-position.js';
import { sendMessage } from '../../functions/domain/send.js';
import type { Dice } from '../support/prng.js';
import { conversationKey, type Device, syncDevice } from './devices.js';
import { type ChangeRecord, classify, type SendRecord, type SimulationLog } from './log.js';
import type { OperationTag } from './scheduler.js';
import { advanceClock, changePolicy, expire, sweep } from './upkeep.js';
import { SIMULATION_CONFIG, type World } from './world.js';

/**
 * What the simulated users do (log.ts records it): send (some attempts crashing at a random write,
 * retried), delete in all three ways, acknowledge reads, join and leave the group, pin and mark, read
 * history pages, sync their devices; and, interleaved with all of it (upkeep.ts), what operators and
 * the platform do: retention policy changes, sweep invocations (some dying at a random command), TTL
 * deleting expired items, time passing.
 */

/**
 * A client retries a failed send with the same clientMsgId while the idempotency record of an attempt
 * that may have placed it still reads as present on every instance (its expiry is stamped on one clock
 * and read on another, up to two hours apart); after that a retry would be a new send (docs/consistency.md,
 * section 1), and the client gives up instead.
 */
export const RETRY_WINDOW_MS = (SIMULATION_CONFIG.idempotencyDays ?? 7) * DAY_MS - 3 * 3_600_000;

const sideKey = (ref: ConversationRef) => `${ref.owner}|${conversationKey(ref)}`;

/** When `ref`'s owner first saw `msgId` in a history page (undefined: never). */
export function seenAt(log: SimulationLog, ref: ConversationRef, msgId: string): number | undefined {
  return log.seen.get(sideKey(ref))?.get(msgId);
}

/** The conversations a user can have: each other user, themself, and the group. */
function conversationsOf(world: World, owner: string): ConversationRef[] {
  return [
    ...world.users.map((peer): ConversationRef => ({ owner, chatType: 'single', convId: peer })),
    { owner, chatType: 'group', convId: world.groupId },
  ];
}

/** Acknowledged messages of the conversation `ref` names, from its owner's side. */
export function messagesIn(log: SimulationLog, ref: ConversationRef): Message[] {
  return log.sends.flatMap((s) => (s.message && belongsTo(s, ref) ? [s.message] : []));
}

export function belongsTo(send: Pick<SendRecord, 'from' | 'to' | 'chatType'>, ref: ConversationRef): boolean {
  if (send.chatType !== ref.chatType) return false;
  if (send.chatType === 'group') return send.to === ref.convId;
  return (
    (send.from === ref.owner && send.to === ref.convId) || (send.to === ref.owner && send.from === ref.convId)
  );
}

/** One simulated user's session: `operations` operations, time passing between them. */
export async function actor(world: World, log: SimulationLog, dice: Dice, operations: number): Promise<void> {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    await oneOperation(world, log, dice);
  }
}

/** Failed sends a client would retry now: not in flight, not refused, inside the retry window. */
export function retryableSends(world: World, log: SimulationLog): SendRecord[] {
  const now = world.clock.now();
  return log.sends.filter(
    (record) =>
      !record.message && !record.refused && !record.inFlight && now < record.firstStartAt + RETRY_WINDOW_MS,
  );
}

async function oneOperation(world: World, log: SimulationLog, dice: Dice): Promise<void> {
  const instance = dice.pick(world.instances);
  const deps = instance.deps;
  const owner = dice.pick(world.users);
  // Half the time the group: one hot conversation makes every race likelier.
  const ref = dice.chance(0.5)
    ? { owner, chatType: 'group' as const, convId: world.groupId }
    : dice.pick(conversationsOf(world, owner));
  const failed = retryableSends(world, log);
  // A client retries a failed send (same clientMsgId), often on another instance.
  if (failed.length > 0 && dice.chance(0.25)) {
    log.counts.retries++;
    return attemptSend(world, log, deps, dice.pick(failed));
  }
  const roll = dice.int(100);
  if (roll < 15) return send(world, log, dice, deps, owner, dice.pick(world.users), 'single');
  if (roll < 33) return send(world, log, dice, deps, owner, world.groupId, 'group');
  if (roll < 43) return readHistory(world, log, dice, deps, ref);
  if (roll < 52) {
    // A device deletes what it has seen: acknowledged messages, and any it read in a history page.
    const seen = [...(log.seen.get(sideKey(ref))?.keys() ?? [])];
    const known = [
      ...new Set([...seen, ...(dice.chance(0.5) ? messagesIn(log, ref).map((m) => m.msgId) : [])]),
    ];
    if (known.length === 0) return readHistory(world, log, dice, deps, ref);
    const msgIds = dice.some(known, 3);
    log.counts.deletes++;
    return change(world, log, { kind: 'ids', ...ref, msgIds }, () => deleteMessagesByIds(deps, ref, msgIds));
  }
  if (roll < 57) {
    const known = messagesIn(log, ref);
    const now = deps.clock.now();
    const before =
      known.length > 0 && dice.chance(0.5)
        ? dice.pick(known).timestamp
        : now + (dice.chance(0.25) ? 5_000 : 0);
    log.counts.deletes++;
    // Whether it means "everything so far" is decided on the instance's clock as the delete starts.
    return change(world, log, { kind: 'before', ...ref, before }, (record) => {
      record.mayCoverEverything = mayMeanEverything(deps, before);
      return deleteMessagesBefore(deps, ref, before);
    });
  }
  if (roll < 61) {
    const withMessages = dice.chance(0.6);
    log.counts.deletes++;
    return change(world, log, { kind: 'conversation', ...ref, withMessages }, () =>
      deleteConversation(deps, ref, withMessages),
    );
  }
  if (roll < 67) {
    const known = messagesIn(log, ref);
    const msgId = known.length > 0 && dice.chance(0.5) ? dice.pick(known).msgId : undefined;
    log.counts.reads++;
    return change(world, log, { kind: 'read', ...ref, ...(msgId ? { msgIds: [msgId] } : {}) }, () =>
      markConversationRead(deps, ref, msgId),
    );
  }
  if (roll < 71) {
    log.counts.memberships++;
    return membership(world, log, dice, deps);
  }
  if (roll < 78) {
    // Pins and marks (a 404 for a conversation the owner does not have is expected).
    const on = dice.chance(0.6);
    log.counts.pinsAndMarks++;
    if (dice.chance(0.5)) return change(world, log, { kind: 'pin', ...ref }, () => setPinned(deps, ref, on));
    const mark = dice.int(3);
    return change(world, log, { kind: 'mark', ...ref }, () => setMarked(deps, ref, mark, on));
  }
  if (roll < 90) return sync(world, log, deps, dice.pick(log.devices));
  // An admin starts a sweep by hand (POST /v1/admin/sweeps), maybe while the scheduled one runs.
  if (roll < 92) return sweep(world, log, dice, deps);
  return advanceClock(world, log, dice);
}

/** The operator's session: retention policy changes, now and then a sweep started by hand. */
export async function operator(world: World, log: SimulationLog, dice: Dice, operations: number) {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    const deps = dice.pick(world.instances).deps;
    if (dice.chance(0.85)) await changePolicy(world, log, dice, deps);
    else await sweep(world, log, dice, deps);
  }
}

/** The platform: the scheduled sweep's invocations, and DynamoDB's TTL process. */
export async function platform(world: World, log: SimulationLog, dice: Dice, operations: number) {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    if (dice.chance(0.6)) await sweep(world, log, dice, dice.pick(world.instances).deps);
    else await expire(world, log, dice);
  }
}

async function send(
  world: World,
  log: SimulationLog,
  dice: Dice,
  deps: Deps,
  from: string,
  to: string,
  chatType: ChatType,
): Promise<void> {
  const n = log.sends.length;
  const record: SendRecord = {
    clientMsgId: `c${n}`,
    from,
    to,
    chatType,
    text: `s${world.seed}-m${n}`,
    firstStart: world.scheduler.step,
    firstStartAt: world.clock.now(),
    failures: 0,
    outcomes: [],
    inFlight: false,
  };
  log.sends.push(record);
  log.counts.sends++;
  const fault = dice.chance(0.3)
    ? { at: dice.int(chatType === 'single' ? 3 : 6), when: dice.pick(['before', 'after'] as const) }
    : undefined;
  await attemptSend(world, log, deps, record, fault);
}

/** One attempt of a send; a failed one is retried later with the same clientMsgId (see retryFailedSends). */
export async function attemptSend(
  world: World,
  log: SimulationLog,
  deps: Deps,
  record: SendRecord,
  fault?: OperationTag['fault'],
): Promise<void> {
  record.inFlight = true;
  const { done } = world.scheduler.start(
    'send',
    () =>
      sendMessage(deps, record.from, {
        to: record.to,
        chatType: record.chatType,
        type: 'text',
        body: { text: record.text },
        clientMsgId: record.clientMsgId,
      }),
    fault,
  );
  try {
    record.message = await done;
    record.ackStep = world.scheduler.step;
    record.outcomes.push('ok');
  } catch (error) {
    if ((error as Error).name === 'ForbiddenError' && record.failures === 0) record.refused = true;
    record.failures++;
    record.lastError = (error as Error).name;
    record.outcomes.push(record.lastError);
    classify(log, 'send', error);
  } finally {
    record.inFlight = false;
  }
}

/**
 * In the seeds whose group switches mid-run (world.ts, groupModeThreshold), the third user joins as
 * the second phase starts, interleaved with everything else: past the threshold, the group's switch
 * runs while the others send, delete and sync (a no-op if they are a member already).
 */
export function joinPastThreshold(world: World, log: SimulationLog): Promise<void> {
  const user = world.users[2] as string;
  const deps = (world.instances[0] as (typeof world.instances)[number]).deps;
  const ref = { owner: user, chatType: 'group' as const, convId: world.groupId };
  return change(world, log, { kind: 'join', ...ref }, () =>
    addMember(deps, world.groupOwner, world.groupId, user),
  );
}

async function change(
  world: World,
  log: SimulationLog,
  input: Omit<ChangeRecord, 'startStep' | 'lastStep' | 'ok'>,
  body: (record: ChangeRecord) => Promise<unknown>,
): Promise<void> {
  const record: ChangeRecord = { ...input, startStep: world.scheduler.step, lastStep: 0, ok: false };
  log.changes.push(record);
  const { tag, done } = world.scheduler.start(input.kind, () => body(record));
  // The owner's delete by ids may delete the copies it names, in its transaction (store-audit.ts).
  if (input.kind === 'ids') {
    const { owner, chatType, convId, msgIds = [] } = input;
    world.justifications.set(tag.id, { byIds: { owner, chatType, convId, msgIds } });
  }
  try {
    await done;
    record.ok = true;
  } catch (error) {
    classify(log, input.kind, error);
  }
  record.lastStep = Math.max(tag.lastStep, world.scheduler.step);
}

async function membership(world: World, log: SimulationLog, dice: Dice, deps: Deps): Promise<void> {
  const others = world.users.filter((u) => u !== world.groupOwner);
  const user = dice.pick(others);
  const ref = { owner: user, chatType: 'group' as const, convId: world.groupId };
  if (dice.chance(0.5)) {
    return change(world, log, { kind: 'join', ...ref }, () =>
      addMember(deps, world.groupOwner, world.groupId, user),
    );
  }
  const caller = dice.chance(0.5) ? world.groupOwner : user;
  return change(world, log, { kind: 'leave', ...ref }, () => removeMember(deps, caller, world.groupId, user));
}

async function readHistory(world: World, log: SimulationLog, dice: Dice, deps: Deps, ref: ConversationRef) {
  const { done } = world.scheduler.start('history', () =>
    fetchHistory(deps, ref, { pageSize: 3, direction: dice.pick(['up', 'down'] as const) }),
  );
  try {
    const page = await done;
    const seen = log.seen.get(sideKey(ref)) ?? new Map<string, number>();
    for (const m of page.messages) if (!seen.has(m.msgId)) seen.set(m.msgId, world.scheduler.step);
    log.seen.set(sideKey(ref), seen);
  } catch (error) {
    classify(log, 'history', error);
  }
}

/** A device syncs (its first sync walks the list; later ones replay `?since=` from its token). */
export async function sync(world: World, log: SimulationLog, deps: Deps, device: Device): Promise<void> {
  log.counts.syncs++;
  const { done } = world.scheduler.start('sync', () =>
    syncDevice(deps, device, (cutoff) => noteCutoff(log, device.user, cutoff)),
  );
  await done.catch((error: unknown) => classify(log, 'sync', error));
}

/** Remembers the highest retention cutoff a user's devices were told. */
export function noteCutoff(log: SimulationLog, user: string, cutoff: number): void {
  log.reportedCutoffs.set(user, Math.max(cutoff, log.reportedCutoffs.get(user) ?? cutoff));
}
