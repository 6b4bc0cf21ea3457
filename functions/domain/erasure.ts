import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { HeldError, NotFoundError } from '../core/errors.js';
import { appendAuditAction, type ChainedAuditRecord, readAuditHead } from '../store/audit-store.js';
import { type Db, queryAll, send } from '../store/db.js';
import {
  addErasureCounts,
  claimErasure,
  type ErasureCounts,
  type ErasureJob,
  type ErasureStatus,
  finishErasure,
  finishGroupsPhase,
  finishScanPhase,
  getErasure,
  putErasureAction,
  releaseErasure,
  type SegmentState,
  saveClosing,
  saveSegment,
  zeroErasureCounts,
} from '../store/erasure-store.js';
import {
  deleteConversationItem,
  deleteIfUnchanged,
  deleteItems,
  tombstoneCopy,
  tombstoneEmbedded,
} from '../store/erasure-writes.js';
import { readGroup } from '../store/group-store.js';
import { type Hold, isHeld, listHolds } from '../store/hold-store.js';
import { keys } from '../store/keys.js';
import { putResyncMarker } from '../store/sync-store.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { groupsOfUser, leaveGroupForErasure } from './erasure-groups.js';
import { type ItemStep, stepsFor } from './erasure-plan.js';
import { itemsNamingUser } from './erasure-walk.js';
import { MAX_CLOCK_SKEW_MS } from './retention.js';
import { createBudget } from './sweep-budget.js';

/**
 * Erasure of one user (docs/compliance.md, "Erasure"): a resumable job in three phases. `groups`: the
 * user leaves their groups and their messages in those groups' fan-out logs become tombstones (so a
 * fan-out still catching up copies the tombstone). `scan`: a parallel Scan of the whole table (strongly
 * consistent, SEGMENTS segments, pages of config.erasurePageSize items) deletes what is theirs and makes
 * tombstones of what they sent in others' data (erasure-plan.ts says what, item by item). `close`: walks
 * by key what a write behind the Scan's position can have left (erasure-walk.ts), again until a walk
 * finds nothing. Every batch re-reads the holds first: a hold on the user stops the job (`held`); an item
 * a hold covers for its owner is left as it is. Each segment (and the walk) checkpoints after each batch;
 * the peers a batch changes are saved before it and told to resync after it, so a crash anywhere replays
 * at most one batch per segment (every write is idempotent) and owes no peer its marker.
 */

export const ERASURE_SEGMENTS = 4;
/** A worker that stops checkpointing for this long has lost the job: another invocation takes it. */
export const ERASURE_LEASE_MS = 60_000;

export interface ErasureView {
  erasureId: string;
  status: ErasureStatus;
  /** Only while it runs, or when a hold stopped it. */
  userId?: string;
  phase: 'groups' | 'scan' | 'close';
  segmentsDone: number;
  segmentCount: number;
  counts: ErasureCounts;
  startedAt: number;
  finishedAt?: number;
}

/** Starts an erasure (the job record and its audit record in one transaction); 409 `held` under a hold. */
export async function startErasure(
  deps: Deps,
  actor: string,
  userId: string,
): Promise<{ job: ErasureJob; audit: ChainedAuditRecord }> {
  return withRetries(deps, 'start erasure', async function attemptStart() {
    const [holds, head] = await Promise.all([listHolds(deps.db), readAuditHead(deps.db)]);
    if (isHeld(holds, userId)) {
      throw new HeldError(`A legal hold covers user ${userId}: nothing of theirs may be erased`);
    }
    const now = deps.clock.now();
    const job: ErasureJob = {
      erasureId: deps.ids.next(),
      userId,
      status: 'running',
      phase: 'groups',
      segmentCount: ERASURE_SEGMENTS,
      segments: {},
      groupCounts: zeroErasureCounts(),
      startedBy: actor,
      startedAt: now,
      updatedAt: now,
      leaseUntil: 0,
    };
    const appended = appendAuditAction(deps.db, head, {
      auditId: deps.ids.next(),
      actor,
      action: 'erasure.start',
      target: `user:${userId}`,
      before: null,
      after: { erasureId: job.erasureId },
      at: now,
    });
    const actions = [putErasureAction(deps.db.tableName, job), appended.action];
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : { job, audit: appended.chained };
  });
}

export async function getErasureView(deps: Deps, erasureId: string): Promise<ErasureView> {
  const job = await getErasure(deps.db, erasureId);
  if (!job) throw new NotFoundError(`No erasure ${erasureId}`);
  return viewOf(job);
}

function viewOf(job: ErasureJob): ErasureView {
  const segments = Object.values(job.segments ?? {});
  const counts = job.counts ?? totalCounts(job);
  return {
    erasureId: job.erasureId,
    status: job.status,
    ...(job.userId !== undefined ? { userId: job.userId } : {}),
    phase: job.phase,
    segmentsDone:
      job.status === 'done' || job.phase === 'close'
        ? job.segmentCount
        : segments.filter((s) => s.done).length,
    segmentCount: job.segmentCount,
    counts,
    startedAt: job.startedAt,
    ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}),
  };
}

export interface ErasureRunOptions {
  /** Names this invocation's lease. @default a new id */
  invocationId?: string;
  /** Time left before the invocation is killed (the Lambda context's). @default unlimited */
  remainingMs?: () => number;
  /** Stop cleanly after this many pages, all segments together (tests). @default unlimited */
  maxPages?: number;
  /** @default config.erasurePageSize */
  pageSize?: number;
}

/** `stopped`: early (time, page limit): invoke again to go on; `busy`: another worker holds it. */
export type ErasureOutcome = 'done' | 'held' | 'stopped' | 'busy';

/** Works on the job until it is over or told to stop. */
export async function runErasure(
  deps: Deps,
  erasureId: string,
  options: ErasureRunOptions = {},
): Promise<{ outcome: ErasureOutcome; view?: ErasureView }> {
  const owner = options.invocationId ?? deps.ids.next();
  const lease = () => {
    const now = deps.clock.now();
    return { owner, now, leaseUntil: now + ERASURE_LEASE_MS };
  };
  const job = await claimErasure(deps.db, erasureId, lease());
  if (!job?.userId) {
    const current = await getErasure(deps.db, erasureId);
    if (!current) throw new NotFoundError(`No erasure ${erasureId}`);
    return { outcome: current.status === 'running' ? 'busy' : current.status, view: viewOf(current) };
  }
  const userId = job.userId;
  const budget = createBudget({
    remainingMs: options.remainingMs ?? (() => Number.POSITIVE_INFINITY),
    stopBeforeTimeoutMs: deps.config.sweepStopBeforeTimeoutMs,
    maxBatches: options.maxPages ?? Number.POSITIVE_INFINITY,
  });
  if (job.phase === 'groups') {
    if (isHeld(await listHolds(deps.db), userId)) return finish(deps, job, 'held');
    const groupCounts = zeroErasureCounts();
    for (const groupId of await groupsOfUser(deps, userId)) {
      const { left, handedOver } = await leaveGroupForErasure(deps, groupId, userId);
      groupCounts.groupsLeft += left ? 1 : 0;
      groupCounts.groupsHandedOver += handedOver ? 1 : 0;
      await tombstoneLog(deps, groupId, userId, groupCounts);
    }
    if (!(await finishGroupsPhase(deps.db, erasureId, groupCounts, lease()))) return { outcome: 'busy' };
    job.groupCounts = groupCounts;
    job.phase = 'scan';
  }
  const ctx: ScanContext = {
    deps,
    job,
    userId,
    budget,
    lease,
    pageSize: Math.max(1, options.pageSize ?? deps.config.erasurePageSize),
  };
  if (job.phase === 'scan') {
    const segments = job.segments ?? {};
    const results = await Promise.all(
      Array.from({ length: job.segmentCount }, (_, n) =>
        scanSegment(ctx, n, segments[String(n)] ?? { done: false, counts: zeroErasureCounts() }).then(
          (result) => {
            segments[String(n)] = result.state;
            return result.outcome;
          },
        ),
      ),
    );
    job.segments = segments;
    if (results.includes('held')) return finish(deps, job, 'held');
    if (results.includes('lost')) return { outcome: 'busy' };
    if (!results.every((outcome) => outcome === 'done')) return stop(deps, job, owner);
    if (!(await finishScanPhase(deps.db, erasureId, lease()))) return { outcome: 'busy' };
    job.phase = 'close';
  }
  const closing = await closeWalk(ctx, job.closing ?? { done: false, counts: zeroErasureCounts() });
  job.closing = closing.state;
  if (closing.outcome === 'held') return finish(deps, job, 'held');
  if (closing.outcome === 'lost') return { outcome: 'busy' };
  if (closing.outcome === 'stopped') return stop(deps, job, owner);
  return finish(deps, job, 'done');
}

async function stop(deps: Deps, job: ErasureJob, owner: string) {
  await releaseErasure(deps.db, job.erasureId, owner);
  return { outcome: 'stopped' as const, view: viewOf(job) };
}

function totalCounts(job: ErasureJob): ErasureCounts {
  const states = [...Object.values(job.segments ?? {}), ...(job.closing ? [job.closing] : [])];
  return states.reduce((sum, state) => addErasureCounts(sum, state.counts), { ...job.groupCounts });
}

async function finish(deps: Deps, job: ErasureJob, status: 'done' | 'held') {
  const counts = totalCounts(job);
  const at = deps.clock.now();
  await finishErasure(deps.db, job.erasureId, { status, counts, at });
  const current = await getErasure(deps.db, job.erasureId);
  return { outcome: status, view: current && viewOf(current) };
}

interface ScanContext {
  deps: Deps;
  job: ErasureJob;
  userId: string;
  budget: ReturnType<typeof createBudget>;
  lease: () => { owner: string; now: number; leaseUntil: number };
  pageSize: number;
}

type SegmentOutcome = 'done' | 'held' | 'stopped' | 'lost';

/** One segment of the Scan, page by page, from its checkpoint. */
async function scanSegment(
  ctx: ScanContext,
  segment: number,
  start: SegmentState,
): Promise<{ outcome: SegmentOutcome; state: SegmentState }> {
  const { deps, job, userId } = ctx;
  let state: SegmentState = { ...start, counts: { ...start.counts } };
  const save = (next: SegmentState) => saveSegment(deps.db, job.erasureId, segment, next, ctx.lease());
  // A page that crashed after changing peers' items: they are told now (markers are idempotent).
  if (state.pendingOwners?.length) {
    await resync(deps, state.pendingOwners, state.counts);
    state = { ...state, pendingOwners: [] };
    if (!(await save(state))) return { outcome: 'lost', state };
  }
  while (!state.done) {
    if (!ctx.budget.takeBatch()) return { outcome: 'stopped', state };
    // A hold placed since the last page stops the job before its next destructive step.
    const holds = await listHolds(deps.db);
    if (isHeld(holds, userId)) return { outcome: 'held', state };
    const page = await scanPage(deps.db, segment, job.segmentCount, ctx.pageSize, state.lastKey);
    const counts = zeroErasureCounts();
    counts.itemsScanned = page.items.length;
    // The user's root partition (their conversation items) is left to the closing walk: it points to
    // everything a write behind the Scan can add, so it goes last.
    const items = page.items.filter((item) => item.pk !== keys.userPk(userId));
    const batch = await eraseBatch(ctx, items, holds, counts, (peers) =>
      save({ ...state, pendingOwners: peers }),
    );
    if (batch === 'lost') return { outcome: 'lost', state };
    const next: SegmentState = {
      done: page.lastKey === undefined,
      ...(page.lastKey ? { lastKey: page.lastKey } : {}),
      pendingOwners: [],
      counts: addErasureCounts({ ...state.counts }, counts),
    };
    if (!(await save(next))) return { outcome: 'lost', state };
    state = next;
  }
  return { outcome: 'done', state };
}

/**
 * Erases what `items` hold of the user's (less what holds keep): the peers it changes are saved first
 * (`savePending`, skipped when none), told to resync after. 'lost' if the save found the lease gone;
 * else how many steps it took.
 */
async function eraseBatch(
  ctx: ScanContext,
  items: Record<string, unknown>[],
  holds: readonly Hold[],
  counts: ErasureCounts,
  savePending: (peers: string[]) => Promise<boolean>,
): Promise<number | 'lost'> {
  const { deps, userId } = ctx;
  const steps = await allowedSteps(deps, items, userId, holds, counts);
  const peers = await peersOf(deps, steps, userId);
  if (peers.length > 0 && !(await savePending(peers))) return 'lost';
  await apply(deps, steps, userId, counts);
  await resync(deps, peers, counts);
  return steps.length;
}

/**
 * The closing walk (erasure-walk.ts): what writes behind the Scan left, read by key, erased like a page;
 * walks again until one finds nothing to do, so a write that lands during a walk is met by the next.
 * Checkpointed like a segment (`closing`), so a crash replays at most one walk.
 */
async function closeWalk(
  ctx: ScanContext,
  start: SegmentState,
): Promise<{ outcome: SegmentOutcome; state: SegmentState }> {
  const { deps, job, userId } = ctx;
  let state: SegmentState = { ...start, counts: { ...start.counts } };
  const save = (next: SegmentState) => saveClosing(deps.db, job.erasureId, next, ctx.lease());
  if (state.pendingOwners?.length) {
    await resync(deps, state.pendingOwners, state.counts);
    state = { ...state, pendingOwners: [] };
    if (!(await save(state))) return { outcome: 'lost', state };
  }
  for (;;) {
    if (!ctx.budget.takeBatch()) return { outcome: 'stopped', state };
    const holds = await listHolds(deps.db);
    if (isHeld(holds, userId)) return { outcome: 'held', state };
    // Events told since the job started (by any instance's clock) may name them, behind the Scan.
    const found = await itemsNamingUser(deps.db, userId, {
      eventsSince: job.startedAt - MAX_CLOCK_SKEW_MS,
      eventShards: deps.config.eventShards,
    });
    const counts = zeroErasureCounts();
    counts.itemsScanned = found.items.length;
    // A group they were added to behind the Scan: they leave it again (no-op when not a member).
    for (const groupId of found.groups) {
      const { left, handedOver } = await leaveGroupForErasure(deps, groupId, userId);
      counts.groupsLeft += left ? 1 : 0;
      counts.groupsHandedOver += handedOver ? 1 : 0;
    }
    const root = keys.userPk(userId);
    let taken = await eraseBatch(
      ctx,
      found.items.filter((item) => item.pk !== root),
      holds,
      counts,
      (peers) => save({ ...state, pendingOwners: peers }),
    );
    if (taken === 'lost') return { outcome: 'lost', state };
    // Nothing left behind the pointers: the root partition goes, its conversation items only as read.
    if (taken === 0)
      taken = await deleteRoot(
        deps,
        found.items.filter((item) => item.pk === root),
        counts,
      );
    const next: SegmentState = {
      done: taken === 0,
      pendingOwners: [],
      counts: addErasureCounts({ ...state.counts }, counts),
    };
    if (!(await save(next))) return { outcome: 'lost', state };
    state = next;
    if (state.done) return { outcome: 'done', state };
  }
}

/** The user's root partition (`U#{user}`): conversation items as read (deleteIfUnchanged), the rest. */
async function deleteRoot(deps: Deps, items: Record<string, unknown>[], counts: ErasureCounts) {
  const isConversation = (item: Record<string, unknown>) =>
    String(item.sk).startsWith(keys.conversationSkPrefix);
  for (const item of items.filter(isConversation)) {
    if (await deleteIfUnchanged(deps.db, item)) counts.itemsDeleted++;
  }
  const rest = items.filter((item) => !isConversation(item));
  await deleteItems(
    deps.db,
    rest.map((item) => ({ pk: item.pk as string, sk: item.sk as string })),
  );
  counts.itemsDeleted += rest.length;
  return items.length;
}

/**
 * The user's messages in a group's fan-out log become tombstones before the Scan: a member a fan-out
 * has not reached yet gets the tombstone, wherever the Scan is (holds are read as for a page).
 */
async function tombstoneLog(deps: Deps, groupId: string, userId: string, counts: ErasureCounts) {
  const entries = await queryAll<Record<string, unknown>>(deps.db, {
    TableName: deps.db.tableName,
    KeyConditionExpression: 'pk = :pk',
    ExpressionAttributeValues: { ':pk': keys.groupLogPk(groupId) },
    ConsistentRead: true,
  });
  const steps = await allowedSteps(deps, entries, userId, await listHolds(deps.db), counts);
  await apply(deps, steps, userId, counts);
}

async function scanPage(
  db: Db,
  segment: number,
  totalSegments: number,
  limit: number,
  startKey: Record<string, unknown> | undefined,
) {
  const result = await send<{
    Items?: Record<string, unknown>[];
    LastEvaluatedKey?: Record<string, unknown>;
  }>(
    db,
    new ScanCommand({
      TableName: db.tableName,
      Segment: segment,
      TotalSegments: totalSegments,
      Limit: limit,
      ConsistentRead: true,
      ...(startKey ? { ExclusiveStartKey: startKey } : {}),
    }),
  );
  return { items: result.Items ?? [], lastKey: result.LastEvaluatedKey };
}

/**
 * The page's steps, less those a hold forbids: an item of another user's that a hold covers (that
 * conversation of theirs, or all of theirs), or of a group one of whose members' holds covers it.
 */
async function allowedSteps(
  deps: Deps,
  items: Record<string, unknown>[],
  userId: string,
  holds: readonly Hold[],
  counts: ErasureCounts,
): Promise<ItemStep[]> {
  const steps = items.flatMap((item) => stepsFor(item, userId));
  if (holds.length === 0) return steps;
  const members = new Map<string, string[]>();
  const allowed: ItemStep[] = [];
  for (const step of steps) {
    if (step.kind === 'leaveGroup') {
      allowed.push(step);
      continue;
    }
    let held = step.owner !== undefined && isHeld(holds, step.owner, step.conversation);
    if (!held && 'groupId' in step && step.groupId !== undefined) {
      const groupId = step.groupId;
      if (!members.has(groupId)) members.set(groupId, (await readGroup(deps.db, groupId))?.members ?? []);
      held = (members.get(groupId) ?? []).some((member) =>
        isHeld(holds, member, { chatType: 'group', convId: groupId }),
      );
    }
    if (held) counts.skippedHeld++;
    else allowed.push(step);
  }
  return allowed;
}

/**
 * Who must fetch their list afresh after these steps: every other owner whose items they change, and
 * every member of a group whose shared items (history, log, latest message) they change.
 */
async function peersOf(deps: Deps, steps: readonly ItemStep[], userId: string): Promise<string[]> {
  const peers = new Set<string>();
  const groups = new Set<string>();
  for (const step of steps) {
    if (step.kind === 'leaveGroup') continue;
    if (step.owner !== undefined) peers.add(step.owner);
    if ('groupId' in step && step.groupId !== undefined) groups.add(step.groupId);
  }
  for (const groupId of groups) {
    for (const member of (await readGroup(deps.db, groupId))?.members ?? []) peers.add(member);
  }
  peers.delete(userId);
  return [...peers].sort();
}

async function apply(deps: Deps, steps: readonly ItemStep[], userId: string, counts: ErasureCounts) {
  const deletes = steps.filter((step) => step.kind === 'delete').map((step) => step.key);
  await deleteItems(deps.db, deletes);
  counts.itemsDeleted += deletes.length;
  for (const step of steps) {
    if (step.kind === 'deleteConversation') {
      if (await deleteConversationItem(deps.db, step.key, step.owner, step.pinned)) counts.itemsDeleted++;
    } else if (step.kind === 'tombstoneCopy') {
      if (await tombstoneCopy(deps.db, step.key, userId)) counts.messagesErased++;
    } else if (step.kind === 'tombstoneEmbedded') {
      const done = await tombstoneEmbedded(deps.db, step.key, step.attribute, step.message, userId);
      if (done && step.attribute === 'message') counts.messagesErased++;
      if (done && step.attribute === 'lastMessage') counts.previewsErased++;
    } else if (step.kind === 'leaveGroup') {
      const { left, handedOver } = await leaveGroupForErasure(deps, step.groupId, userId);
      counts.groupsLeft += left ? 1 : 0;
      counts.groupsHandedOver += handedOver ? 1 : 0;
    }
  }
}

async function resync(deps: Deps, peers: readonly string[], counts: ErasureCounts) {
  for (const peer of peers) {
    await putResyncMarker(deps.db, peer, deps.clock.now());
    counts.peersResynced++;
  }
}
