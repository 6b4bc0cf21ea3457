import { ConflictError } from '../core/errors.js';
import type { RetentionDays } from '../core/model.js';
import {
  type AuditRecord,
  appendAuditAction,
  type ChainedAuditRecord,
  type ChainVerification,
  listAuditRecords,
  readAuditHead,
  verifyAuditTrail,
} from '../store/audit-store.js';
import {
  appPolicyCheck,
  deletePolicyAction,
  getAllPolicies,
  getPolicyRecords,
  type PendingPolicy,
  type PolicyRecord,
  putPolicyAction,
  type RetentionPolicies,
} from '../store/policy-store.js';
import type { TransactItem } from '../store/transactions.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import {
  cutoffFor,
  daysFor,
  FLOOR_CLOCK_MARGIN_MS,
  inForceAt,
  keepsLess,
  NO_CUTOFF,
  SWEEP_CLOCK_MARGIN_MS,
  visibleCutoff,
} from './retention.js';
import { previewRetention, type RetentionPreview } from './retention-preview.js';

/**
 * Retention policy administration: the app default and per-user overrides (null keeps forever). Every
 * change is one transaction with its audit record (who, what, before, after): a policy set to "1 day"
 * wipes history at the next sweep, so it must never change without a trace. A change that keeps less
 * than the days in force waits (`delayMs`, config.retentionDelaySeconds by default) as a pending change
 * that an admin can cancel until its `effectiveAt`; lengthening and keep-forever take effect at once.
 */
export interface RetentionView {
  appDays: RetentionDays;
  users: { userId: string; days: RetentionDays }[];
  /** Shortenings waiting for their `effectiveAt` (userId null: the app default), app default first. */
  pending: { userId: string | null; days: number; effectiveAt: number }[];
}

/** The policies in force now on this instance's clock, and the changes still waiting. */
export async function getRetention(deps: Deps): Promise<RetentionView> {
  const policies = inForceAt(await getAllPolicies(deps.db), deps.clock.now());
  const byId = <T extends { userId: string | null }>(a: T, b: T) =>
    (a.userId ?? '') < (b.userId ?? '') ? -1 : (a.userId ?? '') > (b.userId ?? '') ? 1 : 0;
  const users = [...policies.userDays.entries()].map(([userId, days]) => ({ userId, days })).sort(byId);
  const pending = [
    ...(policies.appPending ? [{ userId: null, ...policies.appPending }] : []),
    ...[...policies.userPending.entries()].map(([userId, change]) => ({ userId, ...change })).sort(byId),
  ];
  return { appDays: policies.appDays, users, pending };
}

/**
 * What a change answered: its audit record; for a shortening, when it takes effect (now when it did at
 * once) and whether it waits; for a cancel, what it cancelled.
 */
export interface PolicyChange {
  record: ChainedAuditRecord;
  shortened?: { effectiveAt: number; waits: boolean; preview: RetentionPreview };
  cancelled?: PendingPolicy;
}

/**
 * Reads in this process see the new policy at once; other processes within config.policyCacheMs. What
 * the old policy hides at the change stays hidden (the new item's floor), so a lengthened policy never
 * shows a device again what it was told had expired.
 */
export async function setAppRetention(
  deps: Deps,
  actor: string,
  days: RetentionDays,
  delayMs = defaultDelayMs(deps),
): Promise<PolicyChange> {
  return changed(await changePolicy(deps, actor, undefined, setting(undefined, days, delayMs)));
}

export async function setUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
  days: RetentionDays,
  delayMs = defaultDelayMs(deps),
): Promise<PolicyChange> {
  return changed(await changePolicy(deps, actor, userId, setting(userId, days, delayMs)));
}

const defaultDelayMs = (deps: Deps) => Math.max(0, deps.config.retentionDelaySeconds) * 1000;

/** Setting a policy always writes (and records) something. */
function changed(change: PolicyChange | undefined): PolicyChange {
  if (!change) throw new Error('a policy change wrote nothing');
  return change;
}

/** The user follows the app default again (a pending override goes too); undefined if nothing changed. */
export async function clearUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
): Promise<ChainedAuditRecord | undefined> {
  const change = await changePolicy(deps, actor, userId, (seen, read) => {
    const waiting = waitingOf(seen, read, userId);
    const own = ownDays(seen, read, userId);
    if (own === undefined && !waiting) return undefined;
    return {
      retentionDays: undefined,
      audit: { action: 'retention.clear', before: described(own, waiting), after: 'unset' },
    };
  });
  return change?.record;
}

/**
 * Cancels the pending shortening of the app default (no user) or of a user's override. Refused (409)
 * when none is waiting: none was set, or its `effectiveAt` has come (it is in force: set a longer policy
 * instead). What a fast instance may already have shown under it stays hidden (the new floor, computed
 * with the pending change in force two hours ahead: docs/consistency.md, section 7).
 */
export async function cancelPendingRetention(
  deps: Deps,
  actor: string,
  userId: string | undefined,
): Promise<PolicyChange> {
  const change = await changePolicy(deps, actor, userId, (seen, read) => {
    const waiting = waitingOf(seen, read, userId);
    if (!waiting) {
      const whose = userId === undefined ? 'the app default' : `user ${userId}`;
      throw new ConflictError(
        `No retention change is pending for ${whose} (none was set, or it is in force)`,
      );
    }
    const own = ownDays(seen, read, userId);
    return {
      retentionDays: own,
      cancelled: waiting,
      audit: { action: 'retention.cancel', before: described(own, waiting), after: own ?? 'unset' },
    };
  });
  return changed(change);
}

/** What a set writes: at once, or (keeping less than the days in force, with a delay) as a pending change. */
function setting(userId: string | undefined, days: RetentionDays, delayMs: number): Decide {
  return (seen, read) => {
    const { policies, now } = read;
    const inForce = inForceAt(policies, now);
    const current = userId === undefined ? inForce.appDays : daysFor(inForce, userId);
    const own = ownDays(seen, read, userId);
    const before = described(own, waitingOf(seen, read, userId));
    const shorter = keepsLess(days, current);
    if (days !== null && delayMs > 0 && shorter) {
      // A second shortening replaces a waiting one, with a full delay of its own.
      const pending = { days, effectiveAt: now + delayMs };
      const after = { days: own ?? 'unset', pending };
      const shortened = { effectiveAt: pending.effectiveAt, waits: true, days };
      return {
        retentionDays: own,
        pending,
        shortened,
        audit: { action: 'retention.schedule', before, after },
      };
    }
    const shortened = shorter && days !== null ? { effectiveAt: now, waits: false, days } : undefined;
    return { retentionDays: days, shortened, audit: { action: 'retention.set', before, after: days } };
  };
}

/** The item's own days in force at `now` (a pending change in force included). */
function ownDays(seen: PolicyRecord | undefined, read: Read, userId: string | undefined) {
  const pending = seen?.pending;
  return pending && !waitingOf(seen, read, userId) ? pending.days : seen?.retentionDays;
}

/**
 * The item's pending change still waiting at `now`: not yet at its `effectiveAt`, nor (a user following
 * the app default) keeping more than the default in force (retention.ts, inForceAt).
 */
function waitingOf(seen: PolicyRecord | undefined, { policies, now }: Read, userId: string | undefined) {
  if (!seen?.pending) return undefined;
  const inForce = inForceAt(policies, now);
  const waiting = userId === undefined ? inForce.appPending : inForce.userPending.get(userId);
  return waiting ? seen.pending : undefined;
}

/** An audit value: the days (`unset`: none of its own), with the change waiting if there is one. */
function described(days: RetentionDays | undefined, waiting: PendingPolicy | undefined): unknown {
  const value = days === undefined ? 'unset' : days;
  return waiting ? { days: value, pending: waiting } : value;
}

/** What a change writes to the item, and records; undefined: nothing to change. */
type Decision = {
  retentionDays: RetentionDays | undefined;
  pending?: PendingPolicy;
  shortened?: { effectiveAt: number; waits: boolean; days: number };
  cancelled?: PendingPolicy;
  audit: Pick<AuditRecord, 'action' | 'before' | 'after'>;
};
type Read = { policies: RetentionPolicies; now: number };
type Decide = (seen: PolicyRecord | undefined, read: Read) => Decision | undefined;

/**
 * Reads the policies and the audit trail's head, writes the change (conditioned on the policies being as
 * read) and its audit record (conditioned on the head being as read) together. The changed item's floor
 * is what the user (or, for the app default, its followers) had hidden at this moment on any instance:
 * computed two hours ahead of this one's clock, pending changes due by then included.
 */
async function changePolicy(
  deps: Deps,
  actor: string,
  userId: string | undefined,
  decide: Decide,
): Promise<PolicyChange | undefined> {
  const change = await withRetries(deps, 'retention policy', async function attemptChange() {
    const [read, head] = await Promise.all([getPolicyRecords(deps.db, userId), readAuditHead(deps.db)]);
    const seen = userId === undefined ? read.app : read.user;
    const now = deps.clock.now();
    const { policies } = read;
    const decision = decide(seen, { policies, now });
    if (!decision) return undefined;
    // What any instance may have told the user had expired by now (its clock up to two hours ahead).
    const shownBy = now + FLOOR_CLOCK_MARGIN_MS;
    const floor =
      userId === undefined
        ? Math.max(policies.appFloor, cutoffFor(inForceAt(policies, shownBy).appDays, shownBy))
        : visibleCutoff(policies, userId, shownBy);
    const { retentionDays, pending } = decision;
    const write =
      userId !== undefined && retentionDays === undefined && !pending && floor === NO_CUTOFF
        ? deletePolicyAction(deps.db.tableName, userId, seen as PolicyRecord)
        : putPolicyAction(deps.db.tableName, userId, seen, { retentionDays, floor, now, pending });
    const audit: AuditRecord = {
      auditId: deps.ids.next(),
      actor,
      ...decision.audit,
      target: userId === undefined ? 'app' : `user:${userId}`,
      at: now,
    };
    const appended = appendAuditAction(deps.db, head, audit);
    // A user's floor is computed from the app default as read: it must not change in between.
    const actions: TransactItem[] = [write, appended.action];
    if (userId !== undefined) actions.push(appPolicyCheck(deps.db.tableName, read.app));
    // A shortening's preview is read before it is written: a preview that fails changes nothing.
    const shortened = decision.shortened && (await withPreview(deps, userId, decision.shortened));
    if ((await commit(deps, actions)) === TRY_AGAIN) return TRY_AGAIN;
    const { cancelled } = decision;
    return {
      record: appended.chained,
      ...(shortened ? { shortened } : {}),
      ...(cancelled ? { cancelled } : {}),
    };
  });
  deps.retention.invalidate();
  return change;
}

/**
 * What a shortening will delete: a sweep's preview at the moment it binds the sweep (its effectiveAt
 * plus the sweep's clock margin; now when it takes effect at once), over the data as it is now.
 */
async function withPreview(
  deps: Deps,
  userId: string | undefined,
  { effectiveAt, waits, days }: { effectiveAt: number; waits: boolean; days: number },
): Promise<NonNullable<PolicyChange['shortened']>> {
  const asOf = waits ? effectiveAt + SWEEP_CLOCK_MARGIN_MS : effectiveAt;
  return { effectiveAt, waits, preview: await previewRetention(deps, { days, userId, asOf }) };
}

/** Records an admin action that is not a policy change (a sweep started by hand). */
export async function recordAdminAction(
  deps: Deps,
  record: Omit<AuditRecord, 'auditId' | 'at'>,
): Promise<ChainedAuditRecord> {
  const audit: AuditRecord = { ...record, auditId: deps.ids.next(), at: deps.clock.now() };
  return withRetries(deps, 'audit trail', async function attemptAppend() {
    // Another admin's record took the number after the head as read: chain after theirs.
    const appended = appendAuditAction(deps.db, await readAuditHead(deps.db), audit);
    return (await commit(deps, [appended.action])) === TRY_AGAIN ? TRY_AGAIN : appended.chained;
  });
}

/**
 * A page of the trail, newest first; the cursor is the number of the page's oldest record. With
 * `verify`, the whole trail is also read and its chain checked (a gap or an edit is reported).
 */
export async function listAudit(
  deps: Deps,
  page: { limit: number; cursor?: string; verify?: boolean },
): Promise<{ records: ChainedAuditRecord[]; cursor: string | null; verification?: ChainVerification }> {
  const before = page.cursor === undefined ? undefined : Number(page.cursor);
  const [{ records, more }, verification] = await Promise.all([
    listAuditRecords(deps.db, { limit: page.limit, before }),
    page.verify ? verifyAuditTrail(deps.db) : undefined,
  ]);
  const cursor = more ? String(records.at(-1)?.seq ?? '') || null : null;
  return { records, cursor, ...(verification ? { verification } : {}) };
}
