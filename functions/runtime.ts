import { type Clock, realTimer, systemClock, type Timer } from './core/clock.js';
import { createIdGenerator, type RandomSource } from './core/ids.js';
import {
  CONFIG_ENV,
  DEFAULT_CONFIG,
  type Deps,
  MAX_PRESEND_TIMEOUT_MS,
  MAX_RECALL_WINDOW_SECONDS,
  PRESEND_POLICIES,
  type PresendHookSettings,
  type PresendPolicy,
  type RoamingConfig,
} from './domain/deps.js';
import { createRetentionReader } from './domain/retention.js';
import type { SecretSource } from './events/webhook-secret.js';
import { type RouteName, routeNamed } from './routes.js';
import { createDb, createDocumentClient, DEFAULT_RETRY, type DocumentSender } from './store/db.js';
import { auditTableNameOf } from './store/table.js';
import { countStoreUsage } from './telemetry/store-usage.js';

export interface DepsOptions {
  client: DocumentSender;
  tableName: string;
  clock?: Clock;
  timer?: Timer;
  /** Seeds ids and retry jitter (simulations); crypto-random ids and Math.random jitter otherwise. */
  random?: RandomSource;
  config?: Partial<RoamingConfig>;
  /** @default a development key (tests, benchmarks); Lambda and `npm start` pass their own */
  idempotencyKey?: string;
  /** The audit trail's table. @default auditTableNameOf(tableName) (what ensureTable creates) */
  auditTableName?: string;
  /** The pre-send hook (docs/presend-hook.md). @default none: messages are accepted without asking */
  presend?: PresendHookSettings;
}

/**
 * Builds the dependencies of every handler for tests, benchmarks and local tools: the development
 * idempotency key unless given one. Lambda never comes here (depsFromEnv composes without it), so no
 * bundle carries that key (test/infra/bundling.test.ts checks).
 */
export function createDeps(options: DepsOptions): Deps {
  return composeDeps({
    ...options,
    idempotencyKey: options.idempotencyKey ?? DEVELOPMENT_IDEMPOTENCY_KEY,
    auditTableName: options.auditTableName ?? auditTableNameOf(options.tableName),
  });
}

/** The composition root, run once per process. */
function composeDeps(
  options: Omit<DepsOptions, 'idempotencyKey'> & { idempotencyKey: string | undefined },
): Deps {
  const clock = options.clock ?? systemClock;
  const config = { ...DEFAULT_CONFIG, ...options.config };
  const db = createDb(options.client, options.tableName, DEFAULT_RETRY, options.auditTableName);
  return {
    db,
    clock,
    timer: options.timer ?? realTimer,
    ids: createIdGenerator(clock, options.random),
    random: options.random ?? Math.random,
    config,
    retention: createRetentionReader(db, clock, config.policyCacheMs),
    idempotencyKey: options.idempotencyKey,
    ...(options.presend ? { presend: options.presend } : {}),
  };
}

/** For tests and benchmarks only: Lambda must be given ROAMING_IDEMPOTENCY_KEY, `npm start` makes its own. */
export const DEVELOPMENT_IDEMPOTENCY_KEY = 'development-only-idempotency-key';

/**
 * The idempotency key of a Lambda function (a secret of the stack, ROAMING_IDEMPOTENCY_KEY): required
 * where the function keeps retry records (it stops at cold start without it), else whatever it was given
 * (normally nothing). Never a default: a function without the key cannot hash a record at all.
 */
export function idempotencyKeyFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  required = true,
): string | undefined {
  const key = env.ROAMING_IDEMPOTENCY_KEY;
  if (!key && !required) return undefined;
  if (!key || key.length < 32)
    throw new Error('ROAMING_IDEMPOTENCY_KEY must be set (at least 32 characters)');
  return key;
}

/** What a Lambda entry needs beyond the table: `keepsRetryRecords` from its route (functions/routes.ts). */
export interface FunctionNeeds {
  /** It writes idempotency records: it must be given the stack's key, and refuses to start without it. */
  keepsRetryRecords?: boolean;
  /**
   * It calls the pre-send hook when ROAMING_PRESEND_URL is set (the send function): how it reads the
   * webhook secret, passed in by its entry so that only its bundle carries the Secrets Manager client.
   */
  webhookSecretOf?: (env: NodeJS.ProcessEnv) => SecretSource | undefined;
}

/** What the function of a route needs, from the route table (the stack gives it the same). */
export function needsOf(route: RouteName): FunctionNeeds {
  return { keepsRetryRecords: routeNamed(route).keepsRetryRecords === true };
}

/** Reads the Lambda environment; fails at cold start, not on the first request, if it is incomplete. */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env, needs: FunctionNeeds = {}): Deps {
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME must be set');
  const idempotencyKey = idempotencyKeyFromEnv(env, needs.keepsRetryRecords === true);
  const client = createDocumentClient(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {});
  // Each request's log line and metrics tell how many DynamoDB requests it made.
  countStoreUsage(client);
  // Only the admin functions are given the audit table (and may use it: infra grants).
  const auditTableName = env.AUDIT_TABLE_NAME || undefined;
  const presend = needs.webhookSecretOf ? presendFromEnv(env, needs.webhookSecretOf(env)) : undefined;
  return composeDeps({
    client,
    tableName,
    config: configFromEnv(env),
    idempotencyKey,
    auditTableName,
    presend,
  });
}

/**
 * The pre-send hook from the environment (Lambda, npm start): ROAMING_PRESEND_URL, ROAMING_PRESEND_POLICY
 * (`open` unless set) and the webhook secret's source; undefined without a URL. Anything incomplete or
 * misspelt stops the start, so a deployment never runs believing it has a hook it does not have. Errors
 * never repeat the URL: it may carry a credential.
 */
export function presendFromEnv(
  env: NodeJS.ProcessEnv,
  secret: SecretSource | undefined,
): PresendHookSettings | undefined {
  const rawPolicy = env.ROAMING_PRESEND_POLICY?.trim() || 'open';
  if (!(PRESEND_POLICIES as readonly string[]).includes(rawPolicy))
    throw new Error(`ROAMING_PRESEND_POLICY must be "open" or "closed", got "${rawPolicy}"`);
  const url = env.ROAMING_PRESEND_URL?.trim();
  if (!url) return undefined;
  if (!URL.canParse(url) || !['http:', 'https:'].includes(new URL(url).protocol))
    throw new Error('ROAMING_PRESEND_URL must be an http(s) URL');
  if (!secret)
    throw new Error(
      'ROAMING_PRESEND_URL is set but no webhook secret is (ROAMING_WEBHOOK_SECRET or ROAMING_WEBHOOK_SECRET_ARN): the hook is called signed',
    );
  return { url, policy: rawPolicy as PresendPolicy, secret };
}

/** Numeric overrides of DEFAULT_CONFIG from the environment; a value that is not a number stops the start. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<RoamingConfig> {
  const config: Partial<RoamingConfig> = {};
  for (const [key, name] of Object.entries(CONFIG_ENV) as [keyof RoamingConfig, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0)
      throw new Error(`${name} must be a non-negative number, got "${raw}"`);
    if (key === 'presendTimeoutMs' && (value < 1 || value > MAX_PRESEND_TIMEOUT_MS))
      throw new Error(`${name} must be from 1 to ${MAX_PRESEND_TIMEOUT_MS} (ms), got "${raw}"`);
    if (key === 'recallWindowSeconds' && value > MAX_RECALL_WINDOW_SECONDS)
      throw new Error(`${name} may be at most ${MAX_RECALL_WINDOW_SECONDS} (seven days), got "${raw}"`);
    if (key === 'eventShards' && (!Number.isInteger(value) || value < 1))
      throw new Error(`${name} must be a whole number of at least 1, got "${raw}"`);
    config[key] = value;
  }
  return config;
}
