import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { ManualClock } from '../../functions/core/clock.js';
import type { ConversationRef } from '../../functions/core/model.js';
import {
  conversationCutoff,
  setConversationRetention,
} from '../../functions/domain/conversation-retention.js';
import { cutoffFor, FLOOR_CLOCK_MARGIN_MS, MAX_CLOCK_SKEW_MS } from '../../functions/domain/retention.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { keys } from '../../functions/store/keys.js';
import type { Dice } from '../support/prng.js';
import { classify, type SimulationLog } from './log.js';
import { currentOperation, type OperationTag } from './scheduler.js';
import type { World } from './world.js';

/**
 * Per-conversation retention in the simulation (docs/compliance.md, "Per-conversation retention"): users
 * give their side of a single chat or of the group its own days (1 day, shorter than the users' 1-3, up
 * to 1000, longer than any), change them and clear them, through the scheduler, some crashing at one of
 * their commands. The audit keeps each conversation's own policy as stored over the run (days, floor),
 * and which step each operation last read each conversation item at (a sweep round bounds a
 * conversation by the own policy its snapshot read: withOwnPolicy).
 */

const DAYS: readonly (number | null)[] = [null, null, 1, 2, 4, 30, 1000];

/** A user's change of a conversation's own policy (a 404 or 403 for one they lack is expected). */
async function changeConversationPolicy(world: World, log: SimulationLog, dice: Dice): Promise<void> {
  const deps = dice.pick(world.instances).deps;
  const owner = dice.pick(world.users);
  const ref: ConversationRef = dice.chance(0.5)
    ? { owner, chatType: 'group', convId: world.groupId }
    : { owner, chatType: 'single', convId: dice.pick(world.users) };
  const days = dice.pick(DAYS);
  const fault = dice.chance(0.15)
    ? { at: dice.int(3), when: dice.pick(['before', 'after'] as const) }
    : undefined;
  log.counts.conversationPolicyChanges++;
  const { done } = world.scheduler.start(
    'conversation policy',
    () => setConversationRetention(deps, ref, days),
    fault,
  );
  await done.catch((error: unknown) => classify(log, 'conversation policy', error));
}

/** A user's session of own-policy changes, minutes apart (its dice are not the world's). */
export async function conversationPolicyUser(
  world: World,
  log: SimulationLog,
  dice: Dice,
  operations: number,
) {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    await changeConversationPolicy(world, log, dice);
  }
}

/** A conversation's own policy as stored from a step on (until the next entry). */
export interface OwnPolicyState {
  step: number;
  /** True time (ms) at which it was stored. */
  at: number;
  /** True time (ms) at which the operation that stored it started. */
  changedFrom: number;
  days?: number;
  floor?: number;
}

const NONE: OwnPolicyState = { step: -1, at: -1, changedFrom: -1 };

interface Command {
  constructor: { name: string };
  input: {
    Key?: Record<string, unknown>;
    RequestItems?: Record<string, unknown>;
    TransactItems?: {
      Update?: {
        Key: Record<string, unknown>;
        UpdateExpression?: string;
        ExpressionAttributeNames?: Record<string, string>;
      };
    }[];
    UpdateExpression?: string;
    ExpressionAttributeNames?: Record<string, string>;
  };
}

const keyOf = (key: Record<string, unknown>) => `${String(key.pk)}|${String(key.sk)}`;

export class ConversationPolicyAudit {
  /** By conversation item key: its own policy's states, oldest first (none before the first). */
  private readonly timelines = new Map<string, OwnPolicyState[]>();
  /** By operation: the step of its last read of each conversation item. */
  private readonly reads = new Map<number, Map<string, number>>();

  constructor(
    private readonly raw: DocumentSender,
    private readonly tableName: string,
    private readonly clock: ManualClock,
    private readonly step: () => number,
  ) {}

  /** Notes the conversation items the command reads (a Get, or a BatchGet of a round's snapshot). */
  noteReads(command: Command, operation: OperationTag): void {
    const read: Record<string, unknown>[] = [];
    if (command.constructor.name === 'GetCommand' && command.input.Key) read.push(command.input.Key);
    if (command.constructor.name === 'BatchGetCommand') {
      for (const request of Object.values(command.input.RequestItems ?? {}))
        read.push(...((request as { Keys?: Record<string, unknown>[] }).Keys ?? []));
    }
    const reads = this.reads.get(operation.id) ?? new Map<string, number>();
    this.reads.set(operation.id, reads);
    for (const key of read) reads.set(keyOf(key), this.step());
  }

  /** After a command that wrote a conversation's own policy: records what is stored now. */
  async afterSending(command: Command): Promise<void> {
    const updates =
      command.constructor.name === 'TransactWriteCommand'
        ? (command.input.TransactItems ?? []).flatMap((action) => (action.Update ? [action.Update] : []))
        : command.constructor.name === 'UpdateCommand' && command.input.Key
          ? [
              command.input as {
                Key: Record<string, unknown>;
                UpdateExpression?: string;
                ExpressionAttributeNames?: Record<string, string>;
              },
            ]
          : [];
    for (const update of updates) {
      const names = Object.values(update.ExpressionAttributeNames ?? {});
      const expression = update.UpdateExpression ?? '';
      const writesOwn = ['retentionDays', 'retentionFloor'].some(
        (a) => names.includes(a) || expression.includes(a),
      );
      if (writesOwn) await this.record(update.Key);
    }
  }

  private async record(key: Record<string, unknown>): Promise<void> {
    const output = (await this.raw.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    )) as { Item?: Record<string, unknown> };
    const item = output.Item ?? {};
    const days = item.retentionDays === undefined ? undefined : Number(item.retentionDays);
    const floor = item.retentionFloor === undefined ? undefined : Number(item.retentionFloor);
    const timeline = this.timelines.get(keyOf(key)) ?? [];
    const last = timeline.at(-1) ?? NONE;
    if (last.days === days && last.floor === floor) return;
    const at = this.clock.now();
    timeline.push({ step: this.step(), at, changedFrom: currentOperation()?.startedAt ?? at, days, floor });
    this.timelines.set(keyOf(key), timeline);
  }

  /** Every state the conversation's own policy has had, oldest first (the first: none). */
  timeline(ref: ConversationRef): OwnPolicyState[] {
    return [NONE, ...(this.timelines.get(keyOf(keys.conversation(ref))) ?? [])];
  }

  current(ref: ConversationRef): OwnPolicyState {
    return this.timeline(ref).at(-1) as OwnPolicyState;
  }

  /**
   * The own-policy states a sweep round of `operation` may have bound the conversation by: the one in
   * force at its last read of the conversation item before now (its start if none), and every later one.
   */
  statesForRound(ref: ConversationRef, operation: OperationTag): OwnPolicyState[] {
    const from = Math.max(
      this.reads.get(operation.id)?.get(keyOf(keys.conversation(ref))) ?? -1,
      operation.startStep,
    );
    const timeline = this.timeline(ref);
    const inForce = timeline.filter((state) => state.step <= from).at(-1) ?? NONE;
    return [inForce, ...timeline.filter((state) => state.step > from)];
  }

  /**
   * The longest own policy any member ever gave the group (undefined: none): the group's `keepDays`,
   * raised by each, never lowered (shared-groups.ts).
   */
  longestEverInGroup(groupId: string): number | undefined {
    const sk = keys.conversationSk('group', groupId);
    const days = [...this.timelines]
      .filter(([key]) => key.endsWith(`|${sk}`))
      .flatMap(([, timeline]) => timeline.flatMap((state) => (state.days === undefined ? [] : [state.days])));
    return days.length === 0 ? undefined : Math.max(...days);
  }
}

/** What the conversation hides now on a clock at `at`, given the user's visible cutoff there. */
export function ownCutoff(state: OwnPolicyState, userCutoff: number, at: number): number {
  return conversationCutoff({ retentionDays: state.days, retentionFloor: state.floor }, userCutoff, at);
}

/**
 * The expiry bounds of one conversation (expiry-model.ts), from the user's: with an own policy now,
 * its days bound both ways; any change of it stored a floor, what the conversation had hidden then on a
 * clock up to three hours ahead (its own days then, or at most what the user's bound lets be hidden),
 * and at least what its own days then hid on a clock an hour slow. A user's reported cutoffs do not bind
 * a conversation with its own policy (devices apply its days instead: docs/api.md).
 */
export function conversationBounds(
  audit: ConversationPolicyAudit,
  ref: ConversationRef,
  now: number,
  user: (at: number) => { mayHideThrough: number; mustHideThrough: number },
): { mayHideThrough: number; mustHideThrough: number } {
  const timeline = audit.timeline(ref);
  const last = timeline.at(-1) as OwnPolicyState;
  const atNow = user(now);
  if (timeline.length === 1) return atNow;
  let mayHideThrough = last.days === undefined ? atNow.mayHideThrough : cutoffFor(last.days, now);
  let mustHideThrough = last.days === undefined ? atNow.mustHideThrough : cutoffFor(last.days, now);
  timeline.forEach((state, i) => {
    const next = timeline[i + 1];
    if (!next) return;
    const fastEnd = next.at + MAX_CLOCK_SKEW_MS + FLOOR_CLOCK_MARGIN_MS;
    const hidBy =
      state.days === undefined ? user(Math.max(now, fastEnd)).mayHideThrough : cutoffFor(state.days, fastEnd);
    mayHideThrough = Math.max(mayHideThrough, hidBy);
    if (state.days !== undefined) {
      const slowEnd = next.changedFrom - MAX_CLOCK_SKEW_MS;
      mustHideThrough = Math.max(mustHideThrough, cutoffFor(state.days, slowEnd));
    }
  });
  return { mayHideThrough, mustHideThrough };
}
