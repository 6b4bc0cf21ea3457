import type { Clock, Timer } from '../core/clock.js';
import type { IdGenerator, RandomSource } from '../core/ids.js';
import type { SecretSource } from '../events/webhook-secret.js';
import type { Db } from '../store/db.js';
import type { RetentionReader } from './retention.js';

/** Tunables of the service; every field has a default in DEFAULT_CONFIG. */
export interface RoamingConfig {
  /** Shards of the purge index; the sweep leases them. @default 16 */
  purgeShards: number;
  /** Members a group may have (past `sharedHistoryAbove` it is in shared mode). @default 5000 */
  maxGroupMembers: number;
  /**
   * A group with more members than this switches, one way, to shared mode: each message stored once,
   * members' sides derived from their positions (docs/large-groups.md). @default 200
   */
  sharedHistoryAbove: number;
  /** How long a clientMsgId is remembered. @default 7 */
  idempotencyDays: number;
  /** 50-message batches a delete purges inline before leaving the rest to the sweep. @default 4 */
  inlinePurgeBatches: number;
  /** Time a delete may spend purging inline. @default 250 */
  inlinePurgeBudgetMs: number;
  /** How long a process trusts the retention policy it read. @default 10000 */
  policyCacheMs: number;
  /**
   * How long a retention change that keeps less than today waits before it takes effect, unless the
   * request names its own `delaySeconds`: it can be cancelled until then. @default 86400
   */
  retentionDelaySeconds: number;
  /**
   * Conversations a retention preview counts one by one; past this it counts a uniform sample of them
   * and estimates the copies, with a stated error bound. @default 1000
   */
  retentionPreviewExactConversations: number;
  /** Purge shards one sweep invocation works on at the same time, each under its own lease. @default 4 */
  sweepWorkers: number;
  /**
   * Cap on the message copies one sweep invocation deletes per second (a token bucket), so a sweep
   * leaves write capacity to live traffic; 0 removes the cap. @default 1000
   */
  sweepMaxDeletesPerSecond: number;
  /**
   * How long a sweep's lease on a shard lasts without a checkpoint: a crashed holder's shard is free
   * again after it. @default 60000
   */
  sweepLeaseMs: number;
  /** A sweep invocation checkpoints and stops once less than this is left of its time limit. @default 20000 */
  sweepStopBeforeTimeoutMs: number;
  /** Messages one user may send per second, on average (a token bucket); 0: no limit. @default 10 */
  sendsPerSecond: number;
  /** Messages one user may send in a burst (the bucket's size). @default 20 */
  sendBurst: number;
  /**
   * Message copies one user's sends may write per second, on average: a send costs one unit per copy it
   * writes per started KB of content (a single chat 2, a fan-out group send one per member, a shared-mode
   * group send 1), so no account can ask more than a bounded share of the table's writes; 0: no limit.
   * @default 400
   */
  sendCopiesPerSecond: number;
  /** Copy units one user may spend in a burst: one 12 KB send to 200 members. @default 2400 */
  sendCopiesBurst: number;
  /**
   * Messages one user or one group may receive per second from all senders together: sends to one are
   * spaced that far apart, so their transactions do not cancel each other on AWS (inbound-limits.ts);
   * 0: no limit. @default 20
   */
  inboundPerSecond: number;
  /** Longest a send waits for its inbound slot; one further out is refused (429). @default 2000 */
  inboundQueueMs: number;
  /** Groups one user may create per day; 0: no limit. @default 20 */
  groupsPerDay: number;
  /** Members one user may add per minute, creating groups included; 0: no limit. @default 200 */
  memberAddsPerMinute: number;
  /**
   * Each user's request budget, in read units (4 KB read strongly consistent): what they may spend at
   * once (request-budget.ts). @default 3000
   */
  requestBudget: number;
  /** Read units a request budget refills per second; 0: no request budget. @default 50 */
  requestBudgetPerSecond: number;
  /** Read units every request costs at least, charged before its work. @default 5 */
  requestBaseUnits: number;
  /**
   * Items per page of an erasure's table scan, in each of its segments: holds are read again before
   * each page, and progress is saved after it. @default 100
   */
  erasurePageSize: number;
  /**
   * How long after sending a sender may recall a message (a group's owner may at any time); at most
   * seven days (MAX_RECALL_WINDOW_SECONDS). @default 120
   */
  recallWindowSeconds: number;
  /** Edits one message may have. @default 10 */
  maxEdits: number;
  /**
   * Partitions of the event outbox: a conversation's events all go to one (docs/events.md). Changing it
   * moves conversations between partitions, so their order is kept only from then on. @default 16
   */
  eventShards: number;
  /** How long events stay stored for replays (POST /v1/admin/events/replay). @default 7 */
  eventRetentionDays: number;
  /**
   * How long a send waits for the pre-send hook's answer (docs/presend-hook.md); past it the hook's
   * policy applies. 1 to 10000. @default 500
   */
  presendTimeoutMs: number;
}

/** The longest recall window a deployment may set: seven days. */
export const MAX_RECALL_WINDOW_SECONDS = 7 * 24 * 60 * 60;

/** The per-user limits turned off: tests on a clock that stands still, benchmarks, the seeding tool. */
export const NO_RATE_LIMITS = {
  sendsPerSecond: 0,
  sendCopiesPerSecond: 0,
  inboundPerSecond: 0,
  groupsPerDay: 0,
  memberAddsPerMinute: 0,
  requestBudgetPerSecond: 0,
} as const satisfies Partial<RoamingConfig>;

export const DEFAULT_CONFIG: RoamingConfig = {
  purgeShards: 16,
  maxGroupMembers: 5_000,
  sharedHistoryAbove: 200,
  idempotencyDays: 7,
  inlinePurgeBatches: 4,
  inlinePurgeBudgetMs: 250,
  policyCacheMs: 10_000,
  retentionDelaySeconds: 86_400,
  retentionPreviewExactConversations: 1000,
  sweepWorkers: 4,
  sweepMaxDeletesPerSecond: 1000,
  sweepLeaseMs: 60_000,
  sweepStopBeforeTimeoutMs: 20_000,
  sendsPerSecond: 10,
  sendBurst: 20,
  sendCopiesPerSecond: 400,
  sendCopiesBurst: 2400,
  inboundPerSecond: 20,
  inboundQueueMs: 2000,
  groupsPerDay: 20,
  memberAddsPerMinute: 200,
  requestBudget: 3000,
  requestBudgetPerSecond: 50,
  requestBaseUnits: 5,
  erasurePageSize: 100,
  recallWindowSeconds: 120,
  maxEdits: 10,
  eventShards: 16,
  eventRetentionDays: 7,
  presendTimeoutMs: 500,
};

/** The environment variable that overrides each setting (Lambda environment, npm start). */
export const CONFIG_ENV: Record<keyof RoamingConfig, string> = {
  purgeShards: 'ROAMING_PURGE_SHARDS',
  maxGroupMembers: 'ROAMING_MAX_GROUP_MEMBERS',
  sharedHistoryAbove: 'ROAMING_SHARED_HISTORY_ABOVE',
  idempotencyDays: 'ROAMING_IDEMPOTENCY_DAYS',
  inlinePurgeBatches: 'ROAMING_INLINE_PURGE_BATCHES',
  inlinePurgeBudgetMs: 'ROAMING_INLINE_PURGE_BUDGET_MS',
  policyCacheMs: 'ROAMING_POLICY_CACHE_MS',
  retentionDelaySeconds: 'ROAMING_RETENTION_DELAY_SECONDS',
  retentionPreviewExactConversations: 'ROAMING_RETENTION_PREVIEW_EXACT_CONVERSATIONS',
  sweepWorkers: 'ROAMING_SWEEP_WORKERS',
  sweepMaxDeletesPerSecond: 'ROAMING_SWEEP_MAX_DELETES_PER_SECOND',
  sweepLeaseMs: 'ROAMING_SWEEP_LEASE_MS',
  sweepStopBeforeTimeoutMs: 'ROAMING_SWEEP_STOP_BEFORE_TIMEOUT_MS',
  sendsPerSecond: 'ROAMING_SENDS_PER_SECOND',
  sendBurst: 'ROAMING_SEND_BURST',
  sendCopiesPerSecond: 'ROAMING_SEND_COPIES_PER_SECOND',
  sendCopiesBurst: 'ROAMING_SEND_COPIES_BURST',
  inboundPerSecond: 'ROAMING_INBOUND_PER_SECOND',
  inboundQueueMs: 'ROAMING_INBOUND_QUEUE_MS',
  groupsPerDay: 'ROAMING_GROUPS_PER_DAY',
  memberAddsPerMinute: 'ROAMING_MEMBER_ADDS_PER_MINUTE',
  requestBudget: 'ROAMING_REQUEST_BUDGET',
  requestBudgetPerSecond: 'ROAMING_REQUEST_BUDGET_PER_SECOND',
  requestBaseUnits: 'ROAMING_REQUEST_BASE_UNITS',
  erasurePageSize: 'ROAMING_ERASURE_PAGE_SIZE',
  recallWindowSeconds: 'ROAMING_RECALL_WINDOW_SECONDS',
  maxEdits: 'ROAMING_MAX_EDITS',
  eventShards: 'ROAMING_EVENT_SHARDS',
  eventRetentionDays: 'ROAMING_EVENT_RETENTION_DAYS',
  presendTimeoutMs: 'ROAMING_PRESEND_TIMEOUT_MS',
};

/** The longest pre-send hook timeout a deployment may set: a send waits that long at most for it. */
export const MAX_PRESEND_TIMEOUT_MS = 10_000;

/**
 * What happens to a send when the pre-send hook does not answer usefully (timeout, error, nonsense):
 * `open` accepts the message as sent, `closed` refuses it (503 `hook_unavailable`).
 */
export const PRESEND_POLICIES = ['open', 'closed'] as const;
export type PresendPolicy = (typeof PRESEND_POLICIES)[number];

/** The app's pre-send hook (ROAMING_PRESEND_URL): called, signed, before a message is accepted. */
export interface PresendHookSettings {
  url: string;
  policy: PresendPolicy;
  /** The webhook secret: the hook's calls are signed with it, as webhook deliveries are. */
  secret: SecretSource;
}

/** What every domain operation receives: built once per process (the composition root). */
export interface Deps {
  db: Db;
  /** The instance's wall clock: message timestamps start from it, cutoffs and record times use it. */
  clock: Clock;
  /** Monotonic time and sleeping: budgets and retry backoff. */
  timer: Timer;
  ids: IdGenerator;
  /** Jitter for retries (and the random tail of ids): seeded in simulations so runs replay. */
  random: RandomSource;
  config: RoamingConfig;
  retention: RetentionReader;
  /**
   * The deployment's secret for idempotency records: they keep an HMAC of the request under it, so
   * nothing about a message can be confirmed from a record (a plain hash of a short message could be).
   * Undefined in a Lambda function that keeps no such records (it is not given the key): asking for a
   * record's hash there fails (idempotency-store.ts), never falls back to a key anyone knows.
   */
  idempotencyKey: string | undefined;
  /** The pre-send hook, when the deployment has one (docs/presend-hook.md); only the send function reads it. */
  presend?: PresendHookSettings;
}
