import type { ChatType, Message } from '../../functions/core/model.js';
import { type Device, newDevice } from './devices.js';
import type { World } from './world.js';

/**
 * The log the oracle judges: every send (with when its first attempt started and when it was
 * acknowledged), every delete, read acknowledgement and membership change (with the steps between which
 * it took effect), the devices, and how many operations of each kind ran.
 */

export interface SendRecord {
  clientMsgId: string;
  from: string;
  to: string;
  chatType: ChatType;
  text: string;
  /** Step at which the first attempt started. */
  firstStart: number;
  /** True time (ms) at which the first attempt started. */
  firstStartAt: number;
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
  /** The client stopped retrying it (see RETRY_WINDOW_MS). */
  givenUp?: boolean;
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

/** A recall or an edit (docs/recall-and-edit.md): who asked, of which acknowledged message, how it ended. */
export interface RevisionRecord {
  kind: 'recall' | 'edit';
  by: string;
  msgId: string;
  /** The send it revises. */
  send: SendRecord;
  /** An edit's new text (unique in the run). */
  text?: string;
  startStep: number;
  lastStep: number;
  /** The answer, when it succeeded: the tombstone or the edited message (with its edit count). */
  answer?: Message;
}

export interface SimulationLog {
  sends: SendRecord[];
  changes: ChangeRecord[];
  revisions: RevisionRecord[];
  devices: Device[];
  /** Operations that failed in a way no scenario explains. */
  errors: string[];
  /** Operations that gave up on contention (429): allowed, counted. */
  contended: number;
  /** Messages an owner saw in a history page, by conversation: the step at which they were seen. */
  seen: Map<string, Map<string, number>>;
  /** The highest retention cutoff a `?since=` answer reported to each user's devices. */
  reportedCutoffs: Map<string, number>;
  /** How many operations of each kind ran. */
  counts: OperationCounts;
}

/** Operations run, by kind (npm run simulate prints them; the test checks that each kind ran). */
export interface OperationCounts {
  /** Messages sent (first attempts), and retries of failed ones. */
  sends: number;
  retries: number;
  /** Sends a client gave up on: the idempotency window had passed before one was acknowledged. */
  givenUp: number;
  /** Deletes by ids, before a time, and of conversations. */
  deletes: number;
  reads: number;
  memberships: number;
  pinsAndMarks: number;
  syncs: number;
  policyChanges: number;
  /** Shortenings that waited (pending-policies.ts), and pending ones cancelled. */
  pendingSet: number;
  pendingCancelled: number;
  /** Changes of a conversation's own policy (conversation-policies.ts). */
  conversationPolicyChanges: number;
  /** Sweep invocations, and those whose process died at a random command. */
  sweeps: number;
  sweepsCrashed: number;
  /** Items TTL deleted. */
  expiries: number;
  clockAdvances: number;
  /** Legal holds set (or replaced) and released through the admin routes (holds.ts). */
  holdsSet: number;
  holdsReleased: number;
  /** Copies deletes by ids kept as tombstones under a hold. */
  heldDeletes: number;
  /** Hidden or expired copies still stored under the holds in force when the run ended. */
  keptByHolds: number;
  /** Copies a hold covered, deleted by work that read the holds before it was set (the window). */
  holdWindowDeletes: number;
  /** Recalls and edits asked for, and how many of each were answered 2xx. */
  recalls: number;
  edits: number;
  revisionsAnswered: number;
}

export function zeroCounts(): OperationCounts {
  return {
    sends: 0,
    retries: 0,
    givenUp: 0,
    deletes: 0,
    reads: 0,
    memberships: 0,
    pinsAndMarks: 0,
    syncs: 0,
    policyChanges: 0,
    pendingSet: 0,
    pendingCancelled: 0,
    conversationPolicyChanges: 0,
    sweeps: 0,
    sweepsCrashed: 0,
    expiries: 0,
    clockAdvances: 0,
    holdsSet: 0,
    holdsReleased: 0,
    heldDeletes: 0,
    keptByHolds: 0,
    holdWindowDeletes: 0,
    recalls: 0,
    edits: 0,
    revisionsAnswered: 0,
  };
}

export function newLog(world: World): SimulationLog {
  return {
    sends: [],
    changes: [],
    revisions: [],
    devices: world.users.flatMap((user) => ['a', 'b'].map((name) => newDevice(user, name))),
    errors: [],
    contended: 0,
    seen: new Map(),
    reportedCutoffs: new Map(),
    counts: zeroCounts(),
  };
}

/** Errors an operation may end with for reasons the scenario explains. */
const EXPECTED_ERRORS = new Set(['InjectedCrash', 'ForbiddenError', 'NotFoundError', 'ConflictError']);

/** Counts a contended operation, ignores an expected error, logs any other. */
export function classify(log: SimulationLog, what: string, error: unknown): void {
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
