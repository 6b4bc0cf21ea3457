/**
 * What a function may ask of DynamoDB, as data: the route table (routes.ts) declares it per function and
 * the CDK stack turns it into that function's IAM policy (infra/constructs/store-grants.ts), so the two
 * cannot drift; test/route-access.test.ts holds every request a session makes to it, and every grant to
 * a request the session made.
 *
 * The table's items are grouped by what their partition key starts with (keys.ts): IAM's
 * `dynamodb:LeadingKeys` condition limits each grant to those partitions. Ids never contain '#', so a
 * prefix cannot be forged. The functions serve every caller with one role, so a grant cannot name the
 * caller's own partitions (docs/aws.md, "Least privilege", says why).
 */
export const PARTITIONS = {
  /** A user's items: conversations, sync head, copies, change markers, marks, gaps, retry records, rate limits. */
  user: 'U#*',
  /** A group's items: META, members, the fan-out log, the shared history (shared mode). */
  group: 'G#*',
  /** The registry of groups in shared mode: a group's switch adds it, the sweep lists them. */
  sharedGroups: 'SHARED_GROUPS',
  /** Group recalls and edits not yet carried to every member: a revision adds one, the sweep finishes them. */
  pendingRevisions: 'PENDING_REVISIONS',
  /** Retention policies: the app default and per-user overrides. */
  policy: 'POLICY',
  /** Legal holds (hold-store.ts): few items, listed whole by every reader. */
  holds: 'HOLD',
  /** Erasure jobs (erasure-store.ts): progress of each. */
  erasures: 'ERASURE',
  /** Sweep runs and the pointer to the active one. */
  sweepRuns: 'SWEEPS',
  /** A sweep run's shards. */
  sweepShards: 'SWEEP#*',
  /** Export jobs: each one's position, parts and lease (export-store.ts). */
  exports: 'EXPORT',
  /** The event outbox (event-store.ts): every change puts its event in its own transaction. */
  events: 'EV#*',
  /** The key GET /health reads (never written). */
  health: 'HEALTH',
  /** Each user's request budgets: every route charges its caller's (withRequestBudget). */
  budget: 'B#*',
} as const;

export type Partition = keyof typeof PARTITIONS;

/** The DynamoDB actions on items (a transaction's parts are authorized as their own actions). */
export type ItemAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

export const READ_ACTIONS: readonly ItemAction[] = ['GetItem', 'BatchGetItem', 'Query'];

/** The table's indexes and the partitions their Queries read (their partition key's values). */
export const INDEX_PARTITIONS = {
  byLatest: PARTITIONS.user,
  byPinned: PARTITIONS.user,
  /** The purge index is sharded: `P#{n}`. */
  byPurge: 'P#*',
} as const;

export type IndexName = keyof typeof INDEX_PARTITIONS;

/** The audit trail's table: appending reads the head (Query) and puts the next record; reading queries. */
export const AUDIT_ACTIONS = {
  append: ['Query', 'PutItem'],
  read: ['Query'],
} as const satisfies Record<string, readonly ItemAction[]>;

export interface StoreAccess {
  /** Actions on the table's items, by partition. */
  table: Partial<Record<Partition, readonly ItemAction[]>>;
  /** Indexes the function queries. */
  indexes?: readonly IndexName[];
  /** The audit trail: never updated or deleted by anyone. */
  audit?: keyof typeof AUDIT_ACTIONS;
  /**
   * Scan of the whole table (the erasure worker only): IAM's LeadingKeys cannot limit a Scan, so this
   * reads every partition.
   */
  scan?: true;
}

/**
 * A route's access with its caller's request budget: every route charges it before its work
 * (functions/domain/request-budget.ts), one UpdateItem in the budget partition, and does nothing else
 * there. It is a read route's only write.
 */
export function withRequestBudget(access: StoreAccess): StoreAccess {
  return { ...access, table: { ...access.table, budget: ['UpdateItem'] } };
}

/** True when the function writes nothing anywhere but its caller's request budget. */
export function isReadOnly(access: StoreAccess): boolean {
  const { budget: _budget, ...data } = access.table;
  const actions = [
    ...Object.values(data).flat(),
    ...(access.audit ? AUDIT_ACTIONS[access.audit] : []),
  ] as ItemAction[];
  return actions.every((action) => READ_ACTIONS.includes(action));
}

/** IAM's StringLike: `*` matches any characters (none included), everything else itself. */
export function matchesPattern(pattern: string, value: string): boolean {
  const source = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${source}$`, 's').test(value);
}
