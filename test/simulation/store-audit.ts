import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { ManualClock } from '../../functions/core/clock.js';
import { timeOfId } from '../../functions/core/ids.js';
import type { ChatType, ConversationRef } from '../../functions/core/model.js';
import {
  cutoffFor,
  daysFor,
  inForceAt,
  MAX_CLOCK_SKEW_MS,
  SWEEP_CLOCK_MARGIN_MS,
  visibleCutoff,
} from '../../functions/domain/retention.js';
import { createDb, type DocumentSender } from '../../functions/store/db.js';
import { keys } from '../../functions/store/keys.js';
import { getAllPolicies, type RetentionPolicies } from '../../functions/store/policy-store.js';
import { ConversationPolicyAudit, ownCutoff } from './conversation-policies.js';
import { HoldAudit } from './holds.js';
import { currentOperation, type OperationTag } from './scheduler.js';

/**
 * Watches every command the simulated instances send, right before the store applies it, from inside
 * the scheduler (so it sees the store exactly as that command will): it keeps the timeline of the
 * retention policies as stored, and checks every physical delete of a message copy (a user's, or a large
 * group's shared one) against what may justify it (invariant 9 in oracle.ts). Its own reads go straight
 * to the store, outside the scheduler.
 */

/** The policies as stored from a step on (until the next entry). */
export interface PolicyState {
  step: number;
  /** True time (ms) at which they were stored. */
  at: number;
  /** True time (ms) at which the operation that stored them started (its clock read came after). */
  changedFrom: number;
  policies: RetentionPolicies;
}

/** What the audit needs to know about an operation that may delete copies. */
export interface DeleteJustification {
  /** The owner's own delete by ids: the copies it names (in its conversation) may go in its transaction. */
  byIds?: ConversationRef & { msgIds: readonly string[] };
  /** A sweep invocation: copies the retention in force expires may go. */
  sweep?: boolean;
}

interface Command {
  constructor: { name: string };
  input: {
    Key?: Record<string, unknown>;
    ExpressionAttributeValues?: Record<string, unknown>;
    RequestItems?: Record<
      string,
      { DeleteRequest?: { Key: Record<string, unknown> } }[] | { Keys?: Record<string, unknown>[] }
    >;
    TransactItems?: {
      Put?: { Item: Record<string, unknown> };
      Delete?: { Key: Record<string, unknown> };
      Update?: { Key: Record<string, unknown> };
    }[];
  };
}

const COPY_PK = /^U#([^#]+)#C#(single|group)#([^#]+)$/;
const SHARED_COPY_PK = /^G#([^#]+)#H$/;

export class StoreAudit {
  readonly policyTimeline: PolicyState[] = [];
  readonly failures: string[] = [];
  /** Message copies physically deleted, by the kind of operation that deleted them. */
  readonly copiesDeleted = new Map<string, number>();
  /** By operation: the step of its last read of each user's policy item ('*': of all of them). */
  private readonly policyReads = new Map<number, Map<string, number>>();
  /** Legal holds: their timeline, and which deletes they forbid (holds.ts). */
  readonly holds: HoldAudit;
  /** Conversations' own policies: their timeline, and which each sweep round read (conversation-policies.ts). */
  readonly conversations: ConversationPolicyAudit;

  constructor(
    private readonly raw: DocumentSender,
    private readonly tableName: string,
    private readonly clock: ManualClock,
    private readonly step: () => number,
    private readonly justificationOf: (operation: OperationTag) => DeleteJustification,
  ) {
    this.holds = new HoldAudit(raw, tableName, step);
    this.conversations = new ConversationPolicyAudit(raw, tableName, clock, step);
  }

  /** Reads the policies and holds as they are now (before any operation runs). */
  async start(): Promise<void> {
    await this.recordPolicies();
    await this.holds.start();
  }

  /** The store as the audit watches it: wrap the raw client with this, then the scheduler around it. */
  wrap(client: DocumentSender): DocumentSender {
    return {
      send: (async (command: Command) => {
        await this.beforeSending(command, currentOperation());
        const output = await (client.send as (c: unknown) => Promise<unknown>)(command);
        if (touchesPolicies(command)) await this.recordPolicies();
        await this.holds.afterSending(command);
        await this.conversations.afterSending(command);
        return output;
      }) as DocumentSender['send'],
    };
  }

  /** The policy states stored at some step of [from, to]: the one in force at `from`, and every later one. */
  statesDuring(from: number, to: number): PolicyState[] {
    const inForce = this.policyTimeline.filter((state) => state.step <= from).at(-1);
    const later = this.policyTimeline.filter((state) => state.step > from && state.step <= to);
    return inForce ? [inForce, ...later] : later;
  }

  current(): PolicyState {
    return this.policyTimeline.at(-1) as PolicyState;
  }

  private async recordPolicies(): Promise<void> {
    const policies = await getAllPolicies(createDb(this.raw, this.tableName));
    const at = this.clock.now();
    this.policyTimeline.push({
      step: this.step(),
      at,
      changedFrom: currentOperation()?.startedAt ?? at,
      policies,
    });
  }

  private async beforeSending(command: Command, operation: OperationTag | undefined): Promise<void> {
    const name = command.constructor.name;
    if (operation) this.notePolicyReads(command, operation);
    if (operation) this.conversations.noteReads(command, operation);
    await this.holds.beforeSending(command, operation);
    const deleted: { key: Record<string, unknown>; inTransaction: boolean }[] = [];
    if (name === 'BatchWriteCommand') {
      for (const requests of Object.values(command.input.RequestItems ?? {})) {
        for (const request of Array.isArray(requests) ? requests : []) {
          if (request.DeleteRequest) deleted.push({ key: request.DeleteRequest.Key, inTransaction: false });
        }
      }
    } else if (name === 'TransactWriteCommand') {
      for (const action of command.input.TransactItems ?? []) {
        if (action.Delete) deleted.push({ key: action.Delete.Key, inTransaction: true });
      }
    } else if (name === 'DeleteCommand' && command.input.Key) {
      deleted.push({ key: command.input.Key, inTransaction: false });
    }
    for (const { key, inTransaction } of deleted) {
      const copy = copyOf(key);
      if (copy) await this.checkCopyDelete(copy.ref, copy.msgId, inTransaction, operation);
      const shared = sharedCopyOf(key);
      if (shared) await this.checkSharedCopyDelete(shared.groupId, shared.msgId, operation);
    }
  }

  /** Notes which users' policies the command reads, and when. */
  private notePolicyReads(command: Command, operation: OperationTag): void {
    const name = command.constructor.name;
    const readKeys: Record<string, unknown>[] = [];
    if (name === 'GetCommand' && command.input.Key) readKeys.push(command.input.Key);
    if (name === 'BatchGetCommand') {
      for (const request of Object.values(command.input.RequestItems ?? {})) {
        if (!Array.isArray(request)) readKeys.push(...(request.Keys ?? []));
      }
    }
    const reads = this.policyReads.get(operation.id) ?? new Map<string, number>();
    this.policyReads.set(operation.id, reads);
    if (name === 'QueryCommand' && command.input.ExpressionAttributeValues?.[':pk'] === keys.policyPk) {
      reads.set('*', this.step());
    }
    const userPrefix = keys.userPolicySk('');
    for (const key of readKeys) {
      const sk = String(key.sk);
      if (key.pk === keys.policyPk && sk.startsWith(userPrefix))
        reads.set(sk.slice(userPrefix.length), this.step());
    }
  }

  /**
   * When the operation last read the owner's policy before now: the read a sweep round bounds its
   * deletes by (rounds of one owner's conversations follow each other: they are all in the shard of
   * the owner, and a round reads the policies once the round before has deleted). Its start if none.
   */
  private lastPolicyRead(operation: OperationTag, owner: string): number {
    const reads = this.policyReads.get(operation.id);
    return Math.max(reads?.get(owner) ?? -1, reads?.get('*') ?? -1, operation.startStep);
  }

  /**
   * A copy may be physically deleted only (a) by its owner's delete by ids, in that delete's transaction;
   * (b) when it is at or below its owner's watermark (their own deletes and leaving a group hid it), or
   * (c) by a sweep, when the days in force at the sweep's last read of the owner's policy, or at some
   * moment after it, expire it behind the sweep's clock margin (the run's `now` is at most an hour ahead
   * of true time), and it is hidden from its owner on every instance at the moment it goes (floors count
   * for what is hidden, never as a reason to delete). So a policy change that answered before a round
   * read the policies binds the round's deletes; one that answers after that read does not, and then its
   * floor keeps what they delete hidden (docs/consistency.md, section 7).
   */
  private async checkCopyDelete(
    ref: ConversationRef,
    msgId: string,
    inTransaction: boolean,
    operation: OperationTag | undefined,
  ): Promise<void> {
    const copy = await this.get({ pk: keys.historyPk(ref), sk: keys.messageSk(msgId) });
    if (!copy) return; // deleting nothing
    const kind = operation?.kind ?? 'unknown';
    this.copiesDeleted.set(kind, (this.copiesDeleted.get(kind) ?? 0) + 1);
    const justification = operation ? this.justificationOf(operation) : {};
    const where = `${kind} (step ${this.step()}) deleted ${ref.owner}'s copy of ${msgId} in ${ref.chatType}#${ref.convId}`;
    const held = this.holds.copyDeleteFailure(ref, operation, where);
    if (held) this.failures.push(held);
    // A tombstone: its owner deleted it by id under a hold; it may go once no hold covers it.
    if (copy.hidden === true) return;
    const byIds = justification.byIds;
    if (
      inTransaction &&
      byIds &&
      byIds.owner === ref.owner &&
      byIds.chatType === ref.chatType &&
      byIds.convId === ref.convId &&
      byIds.msgIds.includes(msgId)
    ) {
      return;
    }
    const conversation = await this.get(keys.conversation(ref));
    const clearedThrough = conversation?.clearedThrough as string | undefined;
    if (clearedThrough !== undefined && msgId <= clearedThrough) return;
    if (!justification.sweep || !operation) {
      this.failures.push(`${where}: not its owner's delete, and above their watermark ${clearedThrough}`);
      return;
    }
    const timestamp = timeOfId(msgId);
    const now = this.clock.now();
    const states = this.statesDuring(this.lastPolicyRead(operation, ref.owner), this.step());
    // The latest a sweep's clock may read, less its margin: pending changes are in force by then or not.
    const sweepNow = now + MAX_CLOCK_SKEW_MS - SWEEP_CLOCK_MARGIN_MS;
    // A conversation's own days, as the round's snapshot read them, replace its owner's (withOwnPolicy).
    const own = this.conversations.statesForRound(ref, operation);
    const daysThen = (state: PolicyState) =>
      own.map((o) => o.days ?? daysFor(inForceAt(state.policies, sweepNow), ref.owner));
    const expiredByDays = states.some((state) =>
      daysThen(state).some((days) => timestamp <= cutoffFor(days, sweepNow)),
    );
    if (!expiredByDays) {
      const days = states.map((state) => daysThen(state).join('/')).join(',');
      this.failures.push(`${where}: no retention in force during the sweep (days ${days}) expired it`);
      return;
    }
    const slowNow = now - MAX_CLOCK_SKEW_MS;
    const userCutoff = visibleCutoff(this.current().policies, ref.owner, slowNow);
    const hidden = timestamp <= ownCutoff(this.conversations.current(ref), userCutoff, slowNow);
    if (!hidden) this.failures.push(`${where}: its owner may still see it on an instance an hour slow`);
  }

  /**
   * A large group's shared copy may be physically deleted only by a sweep, when the longest retention
   * in force for anyone (the app default and every override) at the sweep's last read of the policies,
   * or at some moment after it, expires it behind the sweep's clock margin, and it is hidden from every
   * member on every instance at the moment it goes (shared-history-purge.ts).
   */
  private async checkSharedCopyDelete(
    groupId: string,
    msgId: string,
    operation: OperationTag | undefined,
  ): Promise<void> {
    const copy = await this.get({ pk: keys.sharedHistoryPk(groupId), sk: keys.messageSk(msgId) });
    if (!copy) return; // deleting nothing
    const kind = `${operation?.kind ?? 'unknown'} (shared)`;
    this.copiesDeleted.set(kind, (this.copiesDeleted.get(kind) ?? 0) + 1);
    const where = `${kind} (step ${this.step()}) deleted the shared copy of ${msgId} in group ${groupId}`;
    const held = await this.holds.sharedDeleteFailure(groupId, operation, where);
    if (held) this.failures.push(held);
    if (!operation || !this.justificationOf(operation).sweep) {
      this.failures.push(`${where}: not a sweep`);
      return;
    }
    const timestamp = timeOfId(msgId);
    const now = this.clock.now();
    const states = this.statesDuring(this.lastPolicyRead(operation, '*'), this.step());
    const sweepNow = now + MAX_CLOCK_SKEW_MS - SWEEP_CLOCK_MARGIN_MS;
    const expired = states.some((state) => {
      const policies = inForceAt(state.policies, sweepNow);
      // A member's own policy for the group raised its keepDays, never lowered (shared-groups.ts).
      const own = this.conversations.longestEverInGroup(groupId);
      const days = [policies.appDays, ...policies.userDays.values(), ...(own === undefined ? [] : [own])];
      const longest = days.includes(null) ? null : Math.max(...(days as number[]));
      return timestamp <= cutoffFor(longest, sweepNow);
    });
    if (!expired) {
      this.failures.push(`${where}: the longest retention in force during the sweep kept it`);
      return;
    }
    const policies = this.current().policies;
    const seeing = (await this.membersOf(groupId)).filter((member) => {
      const slowNow = now - MAX_CLOCK_SKEW_MS;
      const ref = { owner: member, chatType: 'group' as const, convId: groupId };
      return (
        timestamp >
        ownCutoff(this.conversations.current(ref), visibleCutoff(policies, member, slowNow), slowNow)
      );
    });
    if (seeing.length > 0) this.failures.push(`${where}: ${seeing.join(', ')} may still see it`);
  }

  private async membersOf(groupId: string): Promise<string[]> {
    const output = (await this.raw.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :member)',
        ExpressionAttributeValues: { ':pk': keys.groupPk(groupId), ':member': keys.memberSkPrefix },
        ConsistentRead: true,
      }),
    )) as { Items?: { userId: string }[] };
    return (output.Items ?? []).map((item) => item.userId);
  }

  private async get(key: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
    const output = (await this.raw.send(
      new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }),
    )) as { Item?: Record<string, unknown> };
    return output.Item;
  }
}

function copyOf(key: Record<string, unknown>): { ref: ConversationRef; msgId: string } | undefined {
  const match = COPY_PK.exec(String(key.pk));
  const sk = String(key.sk);
  if (!match || !sk.startsWith(keys.messageSkPrefix)) return undefined;
  const [, owner, chatType, convId] = match as unknown as [string, string, ChatType, string];
  return { ref: { owner, chatType, convId }, msgId: keys.msgIdOfSk(sk) };
}

function sharedCopyOf(key: Record<string, unknown>): { groupId: string; msgId: string } | undefined {
  const match = SHARED_COPY_PK.exec(String(key.pk));
  const sk = String(key.sk);
  if (!match || !sk.startsWith(keys.messageSkPrefix)) return undefined;
  return { groupId: match[1] as string, msgId: keys.msgIdOfSk(sk) };
}

function touchesPolicies(command: Command): boolean {
  const pkOf = (action: NonNullable<Command['input']['TransactItems']>[number]) =>
    action.Put?.Item.pk ?? action.Delete?.Key.pk ?? action.Update?.Key.pk;
  if (command.constructor.name === 'TransactWriteCommand') {
    return (command.input.TransactItems ?? []).some((action) => pkOf(action) === keys.policyPk);
  }
  return false;
}
