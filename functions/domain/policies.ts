import type { RetentionDays } from '../core/model.js';
import { type AuditRecord, auditAction, listAuditRecords } from '../store/audit-store.js';
import {
  deletePolicyAction,
  getAllPolicies,
  getPolicyItem,
  type PolicyRecord,
  putPolicyAction,
} from '../store/policy-store.js';
import type { TransactItem } from '../store/transactions.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';

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

/** Reads in this process see the new policy at once; other processes within config.policyCacheMs. */
export async function setAppRetention(deps: Deps, actor: string, days: RetentionDays): Promise<AuditRecord> {
  return changed(
    await changePolicy(deps, actor, undefined, (seen, now) =>
      putPolicyAction(deps.db.tableName, undefined, seen, days, now),
    ),
  );
}

export async function setUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
  days: RetentionDays,
): Promise<AuditRecord> {
  return changed(
    await changePolicy(deps, actor, userId, (seen, now) =>
      putPolicyAction(deps.db.tableName, userId, seen, days, now),
    ),
  );
}

/** Setting a policy always writes (and records) something. */
function changed(record: AuditRecord | undefined): AuditRecord {
  if (!record) throw new Error('a policy change wrote nothing');
  return record;
}

/** The user follows the app default again; undefined if they had no override (nothing changed). */
export async function clearUserRetention(
  deps: Deps,
  actor: string,
  userId: string,
): Promise<AuditRecord | undefined> {
  return changePolicy(
    deps,
    actor,
    userId,
    (seen) => seen && deletePolicyAction(deps.db.tableName, userId, seen),
  );
}

/** Reads the policy, writes the change (conditioned on it being as read) and its audit record together. */
async function changePolicy(
  deps: Deps,
  actor: string,
  userId: string | undefined,
  change: (seen: PolicyRecord | undefined, now: number) => TransactItem | undefined,
): Promise<AuditRecord | undefined> {
  const record = await withRetries(deps, 'retention policy', async function attemptChange() {
    const seen = await getPolicyItem(deps.db, userId);
    const now = deps.clock.now();
    const action = change(seen, now);
    if (!action) return undefined;
    const after = action.Delete ? null : ((action.Put?.Item?.retentionDays ?? null) as RetentionDays);
    const audit: AuditRecord = {
      auditId: deps.ids.next(),
      actor,
      action: action.Delete ? 'retention.clear' : 'retention.set',
      target: userId === undefined ? 'app' : `user:${userId}`,
      before: seen === undefined ? 'unset' : seen.retentionDays,
      after: action.Delete ? 'unset' : after,
      at: now,
    };
    return (await commit(deps, [action, auditAction(deps.db.tableName, audit)])) === TRY_AGAIN
      ? TRY_AGAIN
      : audit;
  });
  deps.retention.invalidate();
  return record;
}

/** Records an admin action that is not a policy change (a sweep started by hand). */
export async function recordAdminAction(
  deps: Deps,
  record: Omit<AuditRecord, 'auditId' | 'at'>,
): Promise<AuditRecord> {
  const audit: AuditRecord = { ...record, auditId: deps.ids.next(), at: deps.clock.now() };
  await commit(deps, [auditAction(deps.db.tableName, audit)]);
  return audit;
}

export async function listAudit(deps: Deps, page: { limit: number; cursor?: string }) {
  const { records, more } = await listAuditRecords(deps.db, { limit: page.limit, before: page.cursor });
  return { records, cursor: more ? (records.at(-1)?.auditId ?? null) : null };
}
