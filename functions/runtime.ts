import { type Clock, realTimer, systemClock, type Timer } from './core/clock.js';
import { createIdGenerator, type RandomSource } from './core/ids.js';
import { CONFIG_ENV, DEFAULT_CONFIG, type Deps, type RoamingConfig } from './domain/deps.js';
import { createRetentionReader } from './domain/retention.js';
import { createDb, createDocumentClient, type DocumentSender } from './store/db.js';
import { countStoreUsage } from './telemetry/store-usage.js';

/** Builds the dependencies of every handler: the composition root, run once per process. */
export function createDeps(options: {
  client: DocumentSender;
  tableName: string;
  clock?: Clock;
  timer?: Timer;
  /** Seeds ids and retry jitter (simulations); crypto-random ids and Math.random jitter otherwise. */
  random?: RandomSource;
  config?: Partial<RoamingConfig>;
  /** @default a development key (tests, benchmarks); Lambda and `npm start` pass their own */
  idempotencyKey?: string;
}): Deps {
  const clock = options.clock ?? systemClock;
  const config = { ...DEFAULT_CONFIG, ...options.config };
  const db = createDb(options.client, options.tableName);
  return {
    db,
    clock,
    timer: options.timer ?? realTimer,
    ids: createIdGenerator(clock, options.random),
    random: options.random ?? Math.random,
    config,
    retention: createRetentionReader(db, clock, config.policyCacheMs),
    idempotencyKey: options.idempotencyKey ?? DEVELOPMENT_IDEMPOTENCY_KEY,
  };
}

/** For tests and benchmarks only: Lambda must be given ROAMING_IDEMPOTENCY_KEY, `npm start` makes its own. */
export const DEVELOPMENT_IDEMPOTENCY_KEY = 'development-only-idempotency-key';

/** The idempotency key a Lambda needs (a secret of the stack); a function without it stops at cold start. */
export function idempotencyKeyFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const key = env.ROAMING_IDEMPOTENCY_KEY;
  if (!key || key.length < 32)
    throw new Error('ROAMING_IDEMPOTENCY_KEY must be set (at least 32 characters)');
  return key;
}

/** Reads the Lambda environment; fails at cold start, not on the first request, if it is incomplete. */
export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): Deps {
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME must be set');
  const client = createDocumentClient(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {});
  // Each request's log line and metrics tell how many DynamoDB requests it made.
  countStoreUsage(client);
  return createDeps({
    client,
    tableName,
    config: configFromEnv(env),
  });
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
    config[key] = value;
  }
  return config;
}
