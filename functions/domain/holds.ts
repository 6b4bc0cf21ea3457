import { NotFoundError } from '../core/errors.js';
import {
  type AuditRecord,
  appendAuditAction,
  type ChainedAuditRecord,
  readAuditHead,
} from '../store/audit-store.js';
import {
  deleteHoldAction,
  getHold,
  type HeldConversation,
  type Hold,
  listHolds,
  putHoldAction,
} from '../store/hold-store.js';
import { commit, TRY_AGAIN, withRetries } from './conversation-writes.js';
import type { Deps } from './deps.js';

/**
 * Legal hold administration (docs/compliance.md, "Legal holds"). Setting, replacing and releasing a hold
 * is one transaction with its audit record (before and after), decided on a strongly consistent read of
 * the hold and conditioned on it being as read, so two admins never overwrite each other unseen. A hold
 * binds every physical delete that reads the holds after it answered (docs/consistency.md, section 9).
 */
export interface HoldInput {
  holdId: string;
  userIds: string[];
  reason: string;
  conversations?: HeldConversation[];
}

/** What the audit trail keeps of a hold: what it covers and why (who set it and when are the record's). */
function summary(hold: Hold | undefined) {
  if (!hold) return 'unset';
  const { userIds, reason, conversations } = hold;
  return { userIds, reason, ...(conversations ? { conversations } : {}) };
}

/** Creates or replaces a hold; returns it with its audit record. */
export async function setHold(
  deps: Deps,
  actor: string,
  input: HoldInput,
): Promise<{ hold: Hold; record: ChainedAuditRecord }> {
  return withRetries(deps, 'legal hold', async function attemptSetHold() {
    const [seen, head] = await Promise.all([getHold(deps.db, input.holdId), readAuditHead(deps.db)]);
    const now = deps.clock.now();
    const hold: Hold = {
      holdId: input.holdId,
      userIds: input.userIds,
      reason: input.reason,
      ...(input.conversations ? { conversations: input.conversations } : {}),
      createdAt: seen?.createdAt ?? now,
      // Strictly increasing: the next change's condition must tell this version from the one before.
      updatedAt: seen ? Math.max(now, seen.updatedAt + 1) : now,
      setBy: actor,
    };
    const appended = appendAuditAction(
      deps.db,
      head,
      auditRecord(deps, actor, 'hold.set', input.holdId, seen, hold),
    );
    const write = putHoldAction(deps.db.tableName, hold, seen?.updatedAt);
    const committed = await commit(deps, [write, appended.action]);
    return committed === TRY_AGAIN ? TRY_AGAIN : { hold, record: appended.chained };
  });
}

/** Releases a hold (NotFoundError if there is none): the next sweep purges what it kept. */
export async function releaseHold(
  deps: Deps,
  actor: string,
  holdId: string,
): Promise<{ hold: Hold; record: ChainedAuditRecord }> {
  return withRetries(deps, 'legal hold', async function attemptReleaseHold() {
    const [seen, head] = await Promise.all([getHold(deps.db, holdId), readAuditHead(deps.db)]);
    if (!seen) throw new NotFoundError(`No legal hold ${holdId}`);
    const appended = appendAuditAction(
      deps.db,
      head,
      auditRecord(deps, actor, 'hold.release', holdId, seen, undefined),
    );
    const committed = await commit(deps, [
      deleteHoldAction(deps.db.tableName, holdId, seen.updatedAt),
      appended.action,
    ]);
    return committed === TRY_AGAIN ? TRY_AGAIN : { hold: seen, record: appended.chained };
  });
}

/** Every hold in force, by id. */
export async function listAllHolds(deps: Deps): Promise<Hold[]> {
  const holds = await listHolds(deps.db);
  return holds.sort((a, b) => (a.holdId < b.holdId ? -1 : a.holdId > b.holdId ? 1 : 0));
}

function auditRecord(
  deps: Deps,
  actor: string,
  action: 'hold.set' | 'hold.release',
  holdId: string,
  before: Hold | undefined,
  after: Hold | undefined,
): AuditRecord {
  return {
    auditId: deps.ids.next(),
    actor,
    action,
    target: `hold:${holdId}`,
    before: summary(before),
    after: summary(after),
    at: deps.clock.now(),
  };
}
