import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../functions/core/clock.js';
import type { Deps, PresendHookSettings, RoamingConfig } from '../functions/domain/deps.js';
import { type LocalExports, localExportsOf } from '../functions/exports/local-exports.js';
import { makeHealthHandler } from '../functions/handlers/health.js';
import { HANDLER_FACTORIES, type HttpHandler } from '../functions/handlers/registry.js';
import type { RouteName } from '../functions/routes.js';
import { createDeps } from '../functions/runtime.js';
import type { DocumentSender } from '../functions/store/db.js';
import { countStoreUsage, hasMiddlewareStack } from '../functions/telemetry/store-usage.js';
import type { LocalHandlers } from './http-server.js';
import { LOCAL_CREDENTIALS, type StoreCredentials } from './local-secrets.js';

/**
 * A DynamoDB client for a local endpoint (DynamoDB Local accepts any credentials and region). A dead
 * local store must turn into a 503 within a couple of seconds, not after the SDK's long default
 * waits: connecting to 127.0.0.1 takes microseconds, so a connection that is not up in 600 ms never
 * will be, and 3 attempts (the SDK retries refused and reset connections) take ~2 s at most.
 */
export function localDynamoClient(
  endpoint: string,
  credentials: StoreCredentials = LOCAL_CREDENTIALS,
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'local',
    credentials,
    maxAttempts: 3,
    requestHandler: { connectionTimeout: 600 },
  });
}

export function documentClientOf(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** The same handlers as on Lambda, built once over one set of dependencies. */
export function buildLocalApp(options: {
  client: DocumentSender;
  tableName: string;
  clock?: Clock;
  config?: Partial<RoamingConfig>;
  idempotencyKey?: string;
  /** Where exports are written (npm start: beside its data). @default DEFAULT_EXPORT_DIR */
  exportDir?: string;
  /** The pre-send hook (npm start: from ROAMING_PRESEND_URL). @default none */
  presend?: PresendHookSettings;
}): { deps: Deps; handlers: LocalHandlers; exports: LocalExports } {
  // As on Lambda: each request's log line counts its DynamoDB requests (a test's wrapper may hide the client).
  if (hasMiddlewareStack(options.client)) countStoreUsage(options.client);
  const deps = createDeps(options);
  // Before the handlers: the export routes share this folder and this process's job runner.
  const exports = localExportsOf(deps, options.exportDir);
  const handlers: LocalHandlers = { health: makeHealthHandler(deps) };
  for (const [name, make] of Object.entries(HANDLER_FACTORIES) as [
    RouteName,
    (deps: Deps) => HttpHandler,
  ][]) {
    handlers[name] = make(deps);
  }
  return { deps, handlers, exports };
}
