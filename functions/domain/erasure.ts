import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { HeldError, NotFoundError } from '../core/errors.js';
import { appendAuditAction, type ChainedAuditRecord, readAuditHead } from '../store/audit-store.js';
import { type Db, send } from '../store/db.js';
import {
  addErasureCounts,
  claimErasure,
  type ErasureCounts,
  type ErasureJob,
  type ErasureStatus,
  finishErasure,
  finishGroupsPhase,
  getErasure,
  putErasureAction,
  releaseErasure,
  type SegmentState,
  saveSegment,
  zeroErasureCounts,
} from '../store/erasure-store.js';
import {
  deleteConversationItem,
  deleteItems,
  tombstoneCopy,
  tombstoneEmbedded,
} from '../store/erasure-writes.js';
import { readGroup } from '../store/group-store.js';
import { type Hold, isHeld, listHolds } from '../store/hold-store.js';
import { putResyncMarker } from '../store/sync-store.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { groupsOfUser, leaveGroupForErasure } from './erasure-groups.js';
import { type ItemStep, stepsFor } from './erasure-plan.js';
import { createBudget } from './sweep-budget.js';

/**
 * Erasure of one user (docs/compliance.md, "Erasure"): a resumable job. First the user leaves their
 * groups; then a parallel Scan of the whole table (strongly consistent, SEGMENTS segments, pages of
 * config.erasurePageSize items) deletes what is theirs and makes tombstones of what they sent in others' data
 * (erasure-plan.ts says what, item by item). Every page re-reads the holds first: a hold on the user
 * stops the job (`held`); an item a hold covers for its owner is left as it is. Each segment checkpoints
 * after each page; the peers a page changes are saved before it and told to resync after it, so a crash
 * anywhere replays at most one page per segment (every write is idempotent) and owes no peer its marker.
 */

export const ERASURE_SEGMENTS = 4;
/** A worker that stops checkpointing for this long has lost the job: another invocation takes it. */
export const ERASURE_LEASE_MS = 60_000;

export interface ErasureView {
  erasureId: string;
  status: ErasureStatus;
  /** Only while it runs, or when a hold stopped it. */
  userId?: string;
  phase: 'groups' | 'scan';
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
  const counts =
    job.counts ??
    segments.reduce((sum, segment) => addErasureCounts(sum, segment.counts), { ...job.groupCounts });
  return {
    erasureId: job.erasureId,
    status: job.status,
    ...(job.userId !== undefined ? { userId: job.userId } : {}),
    phase: job.phase,
    segmentsDone: job.status === 'done' ? job.segmentCount : segments.filter((s) => s.done).length,
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
    }
    if (!(await finishGroupsPhase(deps.db, erasureId, groupCounts, lease()))) return { outcome: 'busy' };
    job.groupCounts = groupCounts;
    job.phase = 'scan';
  }
  const segments = job.segments ?? {};
  const ctx: ScanContext = {
    deps,
    job,
    userId,
    budget,
    lease,
    pageSize: Math.max(1, options.pageSize ?? deps.config.erasurePageSize),
  };
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
  if (results.every((outcome) => outcome === 'done')) return finish(deps, job, 'done');
  await releaseErasure(deps.db, erasureId, owner);
  return { outcome: 'stopped', view: viewOf(job) };
}

async function finish(deps: Deps, job: ErasureJob, status: 'done' | 'held') {
  const counts = Object.values(job.segments ?? {}).reduce(
    (sum, segment) => addErasureCounts(sum, segment.counts),
    { ...job.groupCounts },
  );
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
    const steps = await allowedSteps(deps, page.items, userId, holds, counts);
    const peers = await peersOf(deps, steps, userId);
    if (peers.length > 0 && !(await save({ ...state, pendingOwners: peers })))
      return { outcome: 'lost', state };
    await apply(deps, steps, userId, counts);
    await resync(deps, peers, counts);
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
