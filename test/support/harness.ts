import { mkdtempSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { RoamingClient } from '../../client/roaming-client.js';
import { type Clock, DAY_MS, ManualClock } from '../../functions/core/clock.js';
import {
  type Deps,
  NO_RATE_LIMITS,
  type PresendHookSettings,
  type RoamingConfig,
} from '../../functions/domain/deps.js';
import type { LocalExports } from '../../functions/exports/local-exports.js';
import { ensureTable } from '../../functions/store/create-table.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { signDevToken } from '../../local/dev-auth.js';
import { createLocalApi } from '../../local/http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from '../../local/local-app.js';
import { countRequests, type RequestCounts } from './request-counter.js';

/** The HS256 secret the harness's servers verify tokens with (tests forge tokens against it). */
export const TEST_SECRET = 'test-secret';
/** Tests start on a fixed day so times and ids are predictable; the clock moves only when told. */
export const T0 = Date.UTC(2026, 0, 1);

let tableCounter = 0;

/** An HTTP answer as the test saw it; error answers carry `{error: {code, message}}`. */
export interface RawResponse {
  status: number;
  headers: Headers;
  body: { error?: { code: string; message: string }; [key: string]: unknown };
}

/** Another server instance over the same table, with a clock of its own (seconds off, say). */
export interface Instance {
  baseUrl: string;
  deps: Deps;
  as(userId: string, options?: { admin?: boolean }): Promise<RoamingClient>;
  /** This instance's export runner and folder (a folder of the harness's own). */
  exports: LocalExports;
}

export interface Harness {
  baseUrl: string;
  deps: Deps;
  clock: ManualClock;
  tableName: string;
  /** DynamoDB requests made by the service so far, by command; `reset()` to start a new count. */
  requests: RequestCounts;
  /** The raw document client (for checking items directly in the table). */
  documentClient: DocumentSender;
  /** The main instance's export runner (`idle()` waits for exports started so far) and folder. */
  exports: LocalExports;
  as(userId: string, options?: { admin?: boolean }): Promise<RoamingClient>;
  token(userId: string, options?: { admin?: boolean }): Promise<string>;
  /** A second instance whose clock reads the harness clock plus `clockOffsetMs`. */
  instance(options: { clockOffsetMs: number }): Promise<Instance>;
  /** A raw HTTP request, for bad-input tests that the typed client would not send. */
  raw(
    method: string,
    path: string,
    init?: { token?: string; body?: string; headers?: Record<string, string> },
  ): Promise<RawResponse>;
  close(): Promise<void>;
}

/**
 * The service as it runs under `npm start`: the real handlers behind the local API Gateway stand-in,
 * on a fresh table in the DynamoDB Local that globalSetup started. `wrapClient` lets fault-injection
 * tests put a wrapper around the real client.
 */
export async function startHarness(
  options: {
    config?: Partial<RoamingConfig>;
    wrapClient?: (client: DocumentSender) => DocumentSender;
    /** A pre-send hook every instance calls (test/presend-hook.test.ts). */
    presend?: PresendHookSettings;
    /** The table gets its stream, for tests that deliver events (local/event-pipeline.ts). */
    streams?: boolean;
  } = {},
): Promise<Harness> {
  const endpoint = inject('dynamoEndpoint');
  const tableName = `roaming_${process.pid}_${++tableCounter}_${Math.random().toString(36).slice(2, 8)}`;
  const raw = localDynamoClient(endpoint);
  // Only tests that deliver events need the table's stream (create-table.ts says why it is optional).
  await ensureTable(raw, tableName, { stream: options.streams === true });
  const requests = countRequests(raw);
  const documentClient = documentClientOf(raw);
  const clock = new ManualClock(T0 + 30 * DAY_MS);
  const client = options.wrapClient ? options.wrapClient(documentClient) : documentClient;
  // Inline purges stop at their batch cap, not at the wall-clock budget, so request counts are exact.
  // Per-user rate limits are off (the clock stands still in tests); the limit tests turn them on.
  // Retention shortenings take effect at once unless a test asks for a delay (retention-preview.test.ts).
  const config = {
    inlinePurgeBudgetMs: 60_000,
    retentionDelaySeconds: 0,
    ...NO_RATE_LIMITS,
    ...options.config,
  };
  const servers: Server[] = [];
  const exportDir = mkdtempSync(join(tmpdir(), 'roaming-test-exports-'));
  const token = (userId: string, o: { admin?: boolean } = {}) =>
    signDevToken(userId, { admin: o.admin, secret: TEST_SECRET });
  async function serve(instanceClock: Clock): Promise<Instance> {
    const app = buildLocalApp({
      client,
      tableName,
      clock: instanceClock,
      config,
      exportDir,
      presend: options.presend,
    });
    const server = createLocalApi({
      handlers: app.handlers,
      jwtSecret: TEST_SECRET,
      exportFiles: app.exports.sink,
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      baseUrl: url,
      deps: app.deps,
      exports: app.exports,
      as: async (userId, o) => new RoamingClient(url, await token(userId, o)),
    };
  }
  const main = await serve(clock);
  const baseUrl = main.baseUrl;
  requests.reset();

  return {
    baseUrl,
    deps: main.deps,
    clock,
    tableName,
    requests,
    documentClient,
    exports: main.exports,
    token,
    as: main.as,
    instance: ({ clockOffsetMs }) => serve({ now: () => clock.now() + clockOffsetMs }),
    async raw(method, path, init = {}) {
      const response = await fetch(new URL(path, baseUrl), {
        method,
        headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...init.headers },
        body: init.body,
      });
      const text = await response.text();
      let body: RawResponse['body'] = { text };
      try {
        body = JSON.parse(text);
      } catch {
        // Leave non-JSON as text: the test asserts on it.
      }
      return { status: response.status, headers: response.headers, body };
    },
    async close() {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      raw.destroy();
    },
  };
}
