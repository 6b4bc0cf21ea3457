import { mapLimited } from '../core/concurrency.js';
import { highestIdAt, timeOfId } from '../core/ids.js';
import type { RetentionDays } from '../core/model.js';
import { countCopiesThrough, oldestCopyAfter } from '../store/copy-counts.js';
import { keys } from '../store/keys.js';
import { getAllPolicies } from '../store/policy-store.js';
import { type PurgeCandidate, queryDueInShard, queryUserCandidates } from '../store/purge-index.js';
import type { Deps } from './deps.js';
import { cutoffFor, inForceAt, NO_CUTOFF, SWEEP_CLOCK_MARGIN_MS } from './retention.js';

/**
 * What a retention policy of `days` would physically delete, read from the purge index (never a scan of
 * the table): the conversations filed at or before the cutoff are exactly those with a copy to delete
 * (each is filed under its oldest copy's time; due-now filings are counted one by one), and each one's
 * copies are counted with a Select COUNT of its key range. Past `retentionPreviewExactConversations`
 * dated conversations, a uniform sample of that many is counted and the copies are estimated, with a
 * 95% error bound. The cutoff is the sweep's own (`asOf` less its clock margin), so the preview is what a
 * sweep run at `asOf` deletes under that policy. Cost model: docs/compliance.md.
 */

export type PreviewMethod =
  | { kind: 'exact' }
  | {
      kind: 'estimate';
      basis: 'uniform-sample';
      /** Conversations counted one by one, of `of` with copies due. */
      sampled: number;
      of: number;
      /** `copies` is within ± maxError of the true count at this confidence. */
      confidence: 0.95;
      maxError: number;
      /** A hard lower bound: every conversation filed at or before the cutoff has at least one copy due. */
      copiesAtLeast: number;
    };

export interface RetentionPreview {
  days: RetentionDays;
  /** The user previewed, or null for the app default (users with an override of their own are left out). */
  userId: string | null;
  /** The sweep time previewed (ms): a sweep run then, with this policy in force, deletes what is counted. */
  asOf: number;
  /** Copies at or before this time (ms) go; -1: none (keep forever). */
  cutoff: number;
  copies: number;
  conversations: number;
  users: number;
  /** The time (ms) of the oldest copy the policy keeps among those it governs; null if none is left. */
  oldestKept: number | null;
  method: PreviewMethod;
}

/** Conversations counted at once. */
const PARALLEL = 8;
/** Index entries read per Query page (the projected items are small). */
const INDEX_PAGE = 1000;
/** 1.96 standard errors: a two-sided 95% interval. */
const Z_95 = 1.96;

type Counted = { candidate: PurgeCandidate; copies: number; oldestKept?: number };

export async function previewRetention(
  deps: Deps,
  request: { days: RetentionDays; userId?: string; asOf?: number },
): Promise<RetentionPreview> {
  const asOf = request.asOf ?? deps.clock.now();
  const cutoff = cutoffFor(request.days, asOf - SWEEP_CLOCK_MARGIN_MS);
  const { due, firstKept } =
    request.userId === undefined
      ? await appCandidates(deps, cutoff, asOf)
      : await userCandidates(deps, request.userId, cutoff);
  // Filed due now (a one-way delete's purge): its oldest copy is not in the key, so it is counted.
  const dueNow = due.filter((candidate) => keys.dueAtOfPurgeSk(candidate.purgeSk) === 0);
  const dated = due.filter((candidate) => keys.dueAtOfPurgeSk(candidate.purgeSk) > 0);
  const limit = Math.max(1, Math.floor(deps.config.retentionPreviewExactConversations));
  const sample = dated.length <= limit ? dated : sampleOf(dated, limit, deps.random);
  const through = cutoff === NO_CUTOFF ? undefined : highestIdAt(cutoff);
  const count = async (candidate: PurgeCandidate): Promise<Counted> => {
    const ref = { owner: candidate.owner, chatType: candidate.chatType, convId: candidate.convId };
    const [copies, oldest] = await Promise.all([
      through === undefined ? 0 : countCopiesThrough(deps.db, ref, through),
      oldestCopyAfter(deps.db, ref, through),
    ]);
    return { candidate, copies, oldestKept: oldest === undefined ? undefined : timeOfId(oldest) };
  };
  const [countedNow, countedSample] = await Promise.all([
    mapLimited(dueNow, PARALLEL, count),
    mapLimited(sample, PARALLEL, count),
  ]);
  const kept = [...countedNow, ...countedSample].flatMap((c) =>
    c.oldestKept === undefined ? [] : [c.oldestKept],
  );
  if (firstKept !== undefined) kept.push(firstKept);
  const oldestKept = kept.length === 0 ? null : Math.min(...kept);
  const withCopies = (counted: Counted[]) => counted.filter((c) => c.copies > 0);
  const nowCopies = sum(countedNow.map((c) => c.copies));
  const base = { days: request.days, userId: request.userId ?? null, asOf, cutoff, oldestKept };
  if (sample.length === dated.length) {
    const affected = [...withCopies(countedNow), ...withCopies(countedSample)];
    return {
      ...base,
      copies: nowCopies + sum(countedSample.map((c) => c.copies)),
      conversations: affected.length,
      users: new Set(affected.map((c) => c.candidate.owner)).size,
      method: { kind: 'exact' },
    };
  }
  // Every dated conversation has a copy due (it is filed under its oldest): those counts are exact.
  const affected = [...withCopies(countedNow).map((c) => c.candidate), ...dated];
  const { estimate, maxError } = estimateTotal(
    countedSample.map((c) => c.copies),
    dated.length,
  );
  const copiesAtLeast = nowCopies + sum(countedSample.map((c) => c.copies)) + (dated.length - sample.length);
  return {
    ...base,
    copies: Math.max(copiesAtLeast, nowCopies + estimate),
    conversations: affected.length,
    users: new Set(affected.map((c) => c.owner)).size,
    method: {
      kind: 'estimate',
      basis: 'uniform-sample',
      sampled: sample.length,
      of: dated.length,
      confidence: 0.95,
      maxError,
      copiesAtLeast,
    },
  };
}

/**
 * The app default's candidates: every shard's index range due by the cutoff, less the conversations of
 * users whose own override is in force at the sweep's time; and the oldest filing above it, per shard.
 */
async function appCandidates(deps: Deps, cutoff: number, asOf: number) {
  const policies = inForceAt(await getAllPolicies(deps.db), asOf - SWEEP_CLOCK_MARGIN_MS);
  const follows = (candidate: PurgeCandidate) => !policies.userDays.has(candidate.owner);
  const upTo = keys.purgeSkUpperBound(Math.max(cutoff, 0));
  const shards = [...Array(deps.config.purgeShards).keys()];
  const perShard = await mapLimited(shards, PARALLEL, async function readShard(shard) {
    const due: PurgeCandidate[] = [];
    for await (const candidate of indexRange(deps, shard, '0', upTo))
      if (follows(candidate)) due.push(candidate);
    let firstKept: number | undefined;
    for await (const candidate of indexRange(deps, shard, upTo, '~', 25)) {
      if (!follows(candidate)) continue;
      firstKept = keys.dueAtOfPurgeSk(candidate.purgeSk);
      break;
    }
    return { due, firstKept };
  });
  const kept = perShard.flatMap((shard) => (shard.firstKept === undefined ? [] : [shard.firstKept]));
  return {
    due: perShard.flatMap((shard) => shard.due),
    firstKept: kept.length === 0 ? undefined : Math.min(...kept),
  };
}

/** One user's candidates, from their own partition (the index is not by user). */
async function userCandidates(deps: Deps, userId: string, cutoff: number) {
  const due: PurgeCandidate[] = [];
  let firstKept: number | undefined;
  let page = await queryUserCandidates(deps.db, userId);
  for (;;) {
    for (const candidate of page.items) {
      const dueAt = keys.dueAtOfPurgeSk(candidate.purgeSk);
      if (dueAt <= Math.max(cutoff, 0)) due.push(candidate);
      else firstKept = Math.min(firstKept ?? dueAt, dueAt);
    }
    if (!page.nextKey) break;
    page = await queryUserCandidates(deps.db, userId, page.nextKey);
  }
  return { due, firstKept };
}

async function* indexRange(deps: Deps, shard: number, from: string, upTo: string, limit = INDEX_PAGE) {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await queryDueInShard(deps.db, shard, { from, upTo, limit, startKey });
    yield* page.items;
    startKey = page.nextKey;
  } while (startKey);
}

/** `size` of `items`, drawn uniformly without replacement (a partial Fisher-Yates shuffle). */
function sampleOf<T>(items: readonly T[], size: number, random: () => number): T[] {
  const pool = [...items];
  for (let i = 0; i < size; i++) {
    const j = i + Math.floor(random() * (pool.length - i));
    [pool[i], pool[j]] = [pool[j] as T, pool[i] as T];
  }
  return pool.slice(0, size);
}

/**
 * The total over `population` units from a uniform sample's values: the sample mean scaled up, and the
 * 95% bound of its error (standard error with the finite population correction).
 */
function estimateTotal(values: readonly number[], population: number) {
  const n = values.length;
  const mean = sum(values) / n;
  const variance = n > 1 ? sum(values.map((v) => (v - mean) ** 2)) / (n - 1) : 0;
  const correction = population > 1 ? (population - n) / (population - 1) : 0;
  const standardError = population * Math.sqrt((variance / n) * correction);
  return { estimate: Math.round(mean * population), maxError: Math.ceil(Z_95 * standardError) };
}

const sum = (values: readonly number[]) => values.reduce((total, v) => total + v, 0);
