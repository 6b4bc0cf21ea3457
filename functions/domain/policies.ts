import type { RetentionDays } from '../core/model.js';
import { deleteUserPolicy, getAllPolicies, putAppPolicy, putUserPolicy } from '../store/policy-store.js';
import type { Deps } from './deps.js';

/** Retention policy administration: the app default and per-user overrides (null keeps forever). */
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
export async function setAppRetention(deps: Deps, days: RetentionDays): Promise<void> {
  await putAppPolicy(deps.db, days, deps.clock.now());
  deps.retention.invalidate();
}

export async function setUserRetention(deps: Deps, userId: string, days: RetentionDays): Promise<void> {
  await putUserPolicy(deps.db, userId, days, deps.clock.now());
  deps.retention.invalidate();
}

/** The user follows the app default again; false if they had no override. */
export async function clearUserRetention(deps: Deps, userId: string): Promise<boolean> {
  const removed = await deleteUserPolicy(deps.db, userId);
  deps.retention.invalidate();
  return removed;
}
