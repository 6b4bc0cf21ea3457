import type { ChatType, Conversation, ConversationRef, Message } from '../../functions/core/model.js';
import { listConversations } from '../../functions/domain/conversations.js';
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
import type { OperationTag } from './scheduler.js';
import type { World } from './world.js';

/**
 * What the simulated users do, and the log the oracle judges: every send (with when its first attempt
 * started and when it was acknowledged), every delete, read acknowledgement and membership change (with
 * the steps between which it took effect), and two devices per user replaying `?since=`.
 */

export interface SendRecord {
  clientMsgId: string;
  from: string;
  to: string;
  chatType: ChatType;
  text: string;
  /** Step at which the first attempt started. */
  firstStart: number;
  /** Step at which an attempt returned 2xx. */
  ackStep?: number;
  message?: Message;
  /** The first attempt got a 403 (the sender was not a member): not retried. */
  refused?: boolean;
  failures: number;
  /** How each finished attempt ended: 'ok' or the error's name (a crash is 'StoreError'). */
  outcomes: string[];
  /** An attempt is running (a client does not retry a request it is still waiting for). */
  inFlight: boolean;
  /** The error of the last failed attempt, by name. */
  lastError?: string;
}

export interface ChangeRecord {
  kind: 'ids' | 'before' | 'conversation' | 'read' | 'join' | 'leave' | 'pin' | 'mark';
  owner: string;
  chatType: ChatType;
  convId: string;
  msgIds?: string[];
  before?: number;
  /**
   * A delete before a time not yet past on its instance: unless that is a visible message's own time,
   * it covers everything its owner had (the oracle lets it excuse any missing message, and holds it to
   * its timestamps for what must be gone).
   */
  mayCoverEverything?: boolean;
  withMessages?: boolean;
  startStep: number;
  /** The step of its last command: no effect of it lands later. */
  lastStep: number;
  ok: boolean;
}

export interface Device {
  user: string;
  name: string;
  token?: string;
  conversations: Map<string, Conversation>;
}

export interface SimulationLog {
  sends: SendRecord[];
  changes: ChangeRecord[];
  devices: Device[];
  /** Operations that failed in a way no scenario explains. */
  errors: string[];
  /** Operations that gave up on contention (429): allowed, counted. */
  contended: number;
  /** Messages an owner saw in a history page, by conversation: the step at which they were seen. */
  seen: Map<string, Map<string, number>>;
  /** Sends that failed and were retried, and faults injected. */
  retried: number;
}

/** Errors an operation may end with for reasons the scenario explains. */
const EXPECTED_ERRORS = new Set(['InjectedCrash', 'ForbiddenError', 'NotFoundError', 'ConflictError']);

export function newLog(world: World): SimulationLog {
  return {
    sends: [],
    changes: [],
    devices: world.users.flatMap((user) =>
      ['a', 'b'].map((name) => ({ user, name: `${user}/${name}`, conversations: new Map() })),
    ),
    errors: [],
    contended: 0,
    seen: new Map(),
    retried: 0,
  };
}

export const conversationKey = (c: { chatType: ChatType; convId: string }) => `${c.chatType}#${c.convId}`;
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

async function oneOperation(world: World, log: SimulationLog, dice: Dice): Promise<void> {
  const instance = dice.pick(world.instances);
  const deps = instance.deps;
  const owner = dice.pick(world.users);
  // Half the time the group: one hot conversation makes every race likelier.
  const ref = dice.chance(0.5)
    ? { owner, chatType: 'group' as const, convId: world.groupId }
    : dice.pick(conversationsOf(world, owner));
  const failed = log.sends.filter((record) => !record.message && !record.refused && !record.inFlight);
  // A client retries a failed send (same clientMsgId), often on another instance.
  if (failed.length > 0 && dice.chance(0.25)) {
    log.retried++;
    return attemptSend(world, log, deps, dice.pick(failed));
  }
  const roll = dice.int(100);
  if (roll < 15) return send(world, log, dice, deps, owner, dice.pick(world.users), 'single');
  if (roll < 35) return send(world, log, dice, deps, owner, world.groupId, 'group');
  if (roll < 48) return readHistory(world, log, dice, deps, ref);
  if (roll < 57) {
    // A device deletes what it has seen: acknowledged messages, and any it read in a history page.
    const seen = [...(log.seen.get(sideKey(ref))?.keys() ?? [])];
    const known = [
      ...new Set([...seen, ...(dice.chance(0.5) ? messagesIn(log, ref).map((m) => m.msgId) : [])]),
    ];
    if (known.length === 0) return readHistory(world, log, dice, deps, ref);
    const msgIds = dice.some(known, 3);
    return change(world, log, { kind: 'ids', ...ref, msgIds }, () => deleteMessagesByIds(deps, ref, msgIds));
  }
  if (roll < 63) {
    const known = messagesIn(log, ref);
    const now = deps.clock.now();
    const before =
      known.length > 0 && dice.chance(0.5)
        ? dice.pick(known).timestamp
        : now + (dice.chance(0.25) ? 5_000 : 0);
    // Whether it means "everything so far" is decided on the instance's clock as the delete starts.
    return change(world, log, { kind: 'before', ...ref, before }, (record) => {
      record.mayCoverEverything = mayMeanEverything(deps, before);
      return deleteMessagesBefore(deps, ref, before);
    });
  }
  if (roll < 67) {
    const withMessages = dice.chance(0.6);
    return change(world, log, { kind: 'conversation', ...ref, withMessages }, () =>
      deleteConversation(deps, ref, withMessages),
    );
  }
  if (roll < 75) {
    const known = messagesIn(log, ref);
    const msgId = known.length > 0 && dice.chance(0.5) ? dice.pick(known).msgId : undefined;
    return change(world, log, { kind: 'read', ...ref, ...(msgId ? { msgIds: [msgId] } : {}) }, () =>
      markConversationRead(deps, ref, msgId),
    );
  }
  if (roll < 80) return membership(world, log, dice, deps);
  if (roll < 87) {
    // Pins and marks (a 404 for a conversation the owner does not have is expected).
    const on = dice.chance(0.6);
    if (dice.chance(0.5)) return change(world, log, { kind: 'pin', ...ref }, () => setPinned(deps, ref, on));
    const mark = dice.int(3);
    return change(world, log, { kind: 'mark', ...ref }, () => setMarked(deps, ref, mark, on));
  }
  return sync(world, log, deps, dice.pick(log.devices));
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
    failures: 0,
    outcomes: [],
    inFlight: false,
  };
  log.sends.push(record);
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

async function change(
  world: World,
  log: SimulationLog,
  input: Omit<ChangeRecord, 'startStep' | 'lastStep' | 'ok'>,
  body: (record: ChangeRecord) => Promise<unknown>,
): Promise<void> {
  const record: ChangeRecord = { ...input, startStep: world.scheduler.step, lastStep: 0, ok: false };
  log.changes.push(record);
  const { tag, done } = world.scheduler.start(input.kind, () => body(record));
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

/** A device's first sync walks the list (cursor pages of 2); later ones replay `?since=` from its token. */
export async function sync(world: World, log: SimulationLog, deps: Deps, device: Device): Promise<void> {
  const { done } = world.scheduler.start('sync', () => syncDevice(deps, device));
  await done.catch((error: unknown) => classify(log, 'sync', error));
}

export async function syncDevice(deps: Deps, device: Device): Promise<void> {
  if (device.token === undefined) {
    const seen = new Map<string, Conversation>();
    let cursor: string | undefined;
    let token: string | undefined;
    do {
      const page = await listConversations(deps, device.user, { form: 'cursor', limit: 2, cursor });
      token ??= page.syncToken;
      for (const c of page.conversations) seen.set(conversationKey(c), c);
      cursor = page.cursor ?? undefined;
    } while (cursor);
    device.conversations = seen;
    device.token = token;
    return;
  }
  let since: string = device.token;
  for (;;) {
    const page = await listConversations(deps, device.user, { form: 'since', since, limit: 3 });
    for (const c of page.conversations) device.conversations.set(conversationKey(c), c);
    for (const r of page.removed ?? []) device.conversations.delete(conversationKey(r));
    if (page.cursor === null) {
      device.token = page.syncToken;
      return;
    }
    since = page.cursor;
  }
}

function classify(log: SimulationLog, what: string, error: unknown): void {
  const name = (error as Error)?.name;
  if (name === 'ThrottledError') {
    log.contended++;
    return;
  }
  if (EXPECTED_ERRORS.has(name)) return;
  const cause = (error as { cause?: Error }).cause;
  if (name === 'StoreError' && cause?.name === 'InjectedCrash') return;
  log.errors.push(
    `${what}: ${name}: ${(error as Error)?.message}${cause ? ` (cause: ${cause.name}: ${cause.message})` : ''}`,
  );
}
