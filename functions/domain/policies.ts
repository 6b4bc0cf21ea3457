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
  type PolicyRecord,
  putPolicyAction,
} from '../store/policy-store.js';
import type { TransactItem } from '../store/transactions.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';
import { cutoffFor, FLOOR_CLOCK_MARGIN_MS, NO_CUTOFF, visibleCutoff } from './retention.js';

/**
 * Retention policy administration: the app default and per-user overrides (null keeps forever). Every
 * change is one transaction with its audit record (who, what, before, after): a policy set to "1 day"
 * wipes history at the next sweep, so it must never change without a trace.
 */
export interface RetentionView {
  appDays: RetentionDays;
  users: { userId: string; days: RetentionDays }[];
}

export async function getRetention(deps: Deps): Promise<RetentionView> {
  const policies = await getAllPolicies(deps.db);
  const users = [...policies.userDays.entries()]
    .map(([userId, days]) => ({ userId, days }))
    .sort((a, b) => (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0));
  return { appDays: policies.appDays, users };
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
): Promise<ChainedAuditRecord> {
  return changed(await changePolicy(deps, actor, undefined, () => ({ retentionDays: days })));
}

export async function setUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
  days: RetentionDays,
): Promise<ChainedAuditRecord> {
  return changed(await changePolicy(deps, actor, userId, () => ({ retentionDays: days })));
}

/** Setting a policy always writes (and records) something. */
function changed(record: ChainedAuditRecord | undefined): ChainedAuditRecord {
  if (!record) throw new Error('a policy change wrote nothing');
  return record;
}

/** The user follows the app default again; undefined if they had no override (nothing changed). */
export async function clearUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
): Promise<ChainedAuditRecord | undefined> {
  return changePolicy(deps, actor, userId, (seen) =>
    seen?.retentionDays === undefined ? undefined : { retentionDays: undefined },
  );
}

/**
 * Reads the policies and the audit trail's head, writes the change (conditioned on the policies being as
 * read) and its audit record (conditioned on the head being as read) together. The changed item's floor
 * is what the user (or, for the app default, its followers) had hidden at this moment on any instance:
 * computed two hours ahead of this one's clock.
 */
async function changePolicy(
  deps: Deps,
  actor: string,
  userId: string | undefined,
  decide: (seen: PolicyRecord | undefined) => { retentionDays: RetentionDays | undefined } | undefined,
): Promise<ChainedAuditRecord | undefined> {
  const record = await withRetries(deps, 'retention policy', async function attemptChange() {
    const [read, head] = await Promise.all([getPolicyRecords(deps.db, userId), readAuditHead(deps.db)]);
    const seen = userId === undefined ? read.app : read.user;
    const change = decide(seen);
    if (!change) return undefined;
    const now = deps.clock.now();
    const { policies } = read;
    // What any instance may have told the user had expired by now (its clock up to two hours ahead).
    const shownBy = now + FLOOR_CLOCK_MARGIN_MS;
    const floor =
      userId === undefined
        ? Math.max(policies.appFloor, cutoffFor(policies.appDays, shownBy))
        : visibleCutoff(policies, userId, shownBy);
    const { retentionDays } = change;
    const write =
      userId !== undefined && retentionDays === undefined && floor === NO_CUTOFF
        ? deletePolicyAction(deps.db.tableName, userId, seen as PolicyRecord)
        : putPolicyAction(deps.db.tableName, userId, seen, { retentionDays, floor, now });
    const audit: AuditRecord = {
      auditId: deps.ids.next(),
      actor,
      action: retentionDays === undefined ? 'retention.clear' : 'retention.set',
      target: userId === undefined ? 'app' : `user:${userId}`,
      before: seen?.retentionDays === undefined ? 'unset' : seen.retentionDays,
      after: retentionDays === undefined ? 'unset' : retentionDays,
      at: now,
    };
    const appended = appendAuditAction(deps.db, head, audit);
    // A user's floor is computed from the app default as read: it must not change in between.
    const actions: TransactItem[] = [write, appended.action];
    if (userId !== undefined) actions.push(appPolicyCheck(deps.db.tableName, read.app));
    return (await commit(deps, actions)) === TRY_AGAIN ? TRY_AGAIN : appended.chained;
  });
  deps.retention.invalidate();
  return record;
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
