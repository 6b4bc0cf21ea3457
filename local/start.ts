import { dirname, join, resolve } from 'node:path';
import './quiet-warnings.js';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ServiceUnavailableError } from '../functions/core/errors.js';
import { webhookFromEnv, webhookPoster } from '../functions/events/delivery.js';
import { secretSourceFromEnv } from '../functions/events/webhook-secret.js';
import { configFromEnv, presendFromEnv } from '../functions/runtime.js';
import { ensureTable } from '../functions/store/create-table.js';
import { isStoreUnreachable } from '../functions/store/db.js';
import { type Lifetime, readConfig, runCommand, StartupError } from './cli.js';
import { type DataDirLock, lockDataDir } from './data-dir-lock.js';
import { type LocalJwtSecret, localJwtSecret, localUserScope, MIN_NETWORK_SECRET_BYTES } from './dev-auth.js';
import {
  describeExit,
  type EmbeddedDynamo,
  startEmbeddedDynamo,
  stopAllEmbeddedDynamos,
} from './embedded-dynamo.js';
import { type EventPipeline, startEventPipeline } from './event-pipeline.js';
import { createLocalApi, type LocalHandlers } from './http-server.js';
import { requireJava } from './java-check.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from './local-app.js';
import { dataDirOf, LOCAL_CREDENTIALS, secretOf, storeCredentialsOf } from './local-secrets.js';
import { removeEndpointFile, startSweepTimer, sweepIntervalMs, writeEndpointFile } from './local-sweep.js';
import { useTerminalLogsOnTerminal } from './local-telemetry.js';

/**
 * `npm start`: the whole service on one machine. Starts DynamoDB Local (data under .data/, or in memory
 * with ROAMING_IN_MEMORY=1; DYNAMODB_ENDPOINT uses an existing endpoint instead), creates the table if
 * missing and serves the Lambda handlers on 127.0.0.1:PORT.
 *
 * Preflight before anything starts: the API port is bound first (so it cannot be taken meanwhile; it
 * answers 503 until ready), then Java is checked, then the data folder is locked. Each failure is one
 * line on stderr and exit code 1. If DynamoDB Local exits on its own, `npm start` says so and exits 1
 * (no restart: a store that died once, e.g. out of memory, would likely die again, and a silent restart
 * hides it); requests meanwhile get 503 with Retry-After. Ctrl-C or SIGTERM stop everything, exit 0.
 */
const COMMAND = 'npm start';

runCommand(startRoaming, {
  onSignal() {
    console.log('Stopping...');
    return 0;
  },
});

type Phase = 'starting' | 'ready' | 'store-gone' | 'stopping';

async function startRoaming(lifetime: Lifetime): Promise<void> {
  const env = process.env;
  const port = portFrom(env.PORT);
  const tableName = env.TABLE_NAME ?? 'roaming';
  const config = readConfig(() => configFromEnv(env));
  const presend = readConfig(() => presendFromEnv(env, secretSourceFromEnv(env)));
  const webhook = readConfig(() => webhookFromEnv(env));
  const sweepEvery = readConfig(() => sweepIntervalMs(env));
  const external = env.DYNAMODB_ENDPOINT;
  const dataDir = external || env.ROAMING_IN_MEMORY === '1' ? undefined : dataDirOf(env);
  // Checked before anything starts: a HOST off loopback needs a secret nobody can guess.
  const host = hostFrom(env);
  // Also without a data folder of the store's (in memory, DYNAMODB_ENDPOINT) the secret is kept in the
  // data folder's place, where `npm run token` finds it.
  const tokens = localJwtSecret(env);
  requireNetworkSecret(host, tokens);

  let phase: Phase = 'starting';
  let lock: DataDirLock | undefined;
  let client: DynamoDBClient | undefined;
  let stopSweeps = () => {};
  let events: EventPipeline | undefined;
  let endpointFileWritten = false;
  // Filled in once the store is ready; until then every request gets 503.
  const handlers: LocalHandlers = {};
  // Export downloads: served once the store is ready (until then, like every route, 503).
  const exportFiles: { fileOf(exportId: string): string | undefined } = { fileOf: () => undefined };
  useTerminalLogsOnTerminal();
  const server = createLocalApi({
    handlers,
    jwtSecret: tokens.secret,
    unavailable: () => unavailableWhile(phase),
    apiDocs: true,
    // Without HOST only this server's own loopback name is answered (DNS rebinding: http-server.ts).
    acceptAnyHost: Boolean(env.HOST?.trim()),
    userScope: localUserScope(env),
    exportFiles,
  });
  lifetime.onEnd(async function stopEverything() {
    phase = 'stopping';
    stopSweeps();
    // Saves how far it delivered: the next start goes on from there.
    await events?.stop().catch(() => undefined);
    await closeServer(server);
    // Also a DynamoDB Local still starting; the data folder is free only once it is gone.
    await stopAllEmbeddedDynamos();
    lock?.release();
    client?.destroy();
    if (endpointFileWritten) removeEndpointFile();
  });

  const actualPort = await listenOrExplain(server, port, host);
  if (!external) requireJava(COMMAND);
  if (dataDir) {
    lock = await lockDataDir(dataDir, COMMAND);
  }
  const endpoint = external ?? (await startStore()).endpoint;
  // Our own access key for the embedded store (its data folder keeps it): see local-secrets.ts.
  const credentials = external ? LOCAL_CREDENTIALS : storeCredentialsOf(dataDir);
  client = localDynamoClient(endpoint, credentials);
  await createTableOrExplain(client, tableName, endpoint, { external: Boolean(external), dataDir });
  const app = buildLocalApp({
    client: documentClientOf(client),
    tableName,
    config,
    idempotencyKey: secretOf(dataDir, 'idempotency-key'),
    exportDir: exportDirOf(env),
    presend,
  });
  Object.assign(handlers, app.handlers);
  exportFiles.fileOf = (exportId) => app.exports.sink.fileOf(exportId);
  // `npm run sweep` finds the store through the data folder's lock, or without one through this file.
  if (!dataDir) {
    writeEndpointFile(endpoint, credentials.accessKeyId);
    endpointFileWritten = true;
  }
  // The timer stands in for the sweep's schedule.
  stopSweeps = startSweepTimer(app.deps, sweepEvery, (line) => console.log(line));
  // What EventBridge Pipes, the FIFO queue and the sender function do on AWS (docs/events.md).
  if (webhook) {
    events = await startEventPipeline({
      endpoint,
      credentials,
      tableName,
      client: documentClientOf(client),
      post: webhookPoster(webhook),
      onDeadLetter: (queued, reason) =>
        console.error(`Event ${queued.event.id} could not be delivered (${reason}): dead letter`),
    });
  }
  phase = 'ready';

  console.log(`Roaming API: http://${host.includes(':') ? `[${host}]` : host}:${actualPort}`);
  console.log(
    `API reference: http://127.0.0.1:${actualPort}/docs (OpenAPI: http://127.0.0.1:${actualPort}/openapi.json)`,
  );
  console.log(
    sweepEvery > 0
      ? `Retention sweep every ${sweepEvery / 1000} s (ROAMING_SWEEP_INTERVAL_MS; 0 turns it off); now: npm run sweep`
      : 'Retention sweep timer off (ROAMING_SWEEP_INTERVAL_MS=0); run one: npm run sweep',
  );
  if (webhook) {
    const { origin, pathname } = new URL(webhook.url);
    console.log(
      `Events delivered to ${origin}${pathname} (ROAMING_WEBHOOK_URL), signed with ROAMING_WEBHOOK_SECRET`,
    );
  }
  if (presend) {
    // Origin and path only: a query string may carry a credential.
    const { origin, pathname } = new URL(presend.url);
    console.log(
      `Pre-send hook: ${origin}${pathname} (policy ${presend.policy}, timeout ${app.deps.config.presendTimeoutMs} ms)`,
    );
  }
  console.log('Get a token:  npm run token -- alice        (admin: npm run token -- ops --admin)');
  console.log(`Tokens are signed with the secret in ${tokens.source}.`);

  async function startStore(): Promise<EmbeddedDynamo> {
    const store = await startEmbeddedDynamo({
      dataDir,
      command: COMMAND,
      onSpawn(pid) {
        // Recorded before it is printed: whoever reads the line finds the pid in the lock too.
        lock?.update({ javaPid: pid });
        console.log(`Starting DynamoDB Local (pid ${pid})...`);
      },
    });
    lock?.update({ endpoint: store.endpoint });
    console.log(
      `DynamoDB Local: ${store.endpoint} (pid ${store.pid}, ${dataDir ? `data in ${dataDir}` : 'in memory'})`,
    );
    if (!store.loopbackOnly) {
      console.log(
        'DynamoDB Local listens on every interface (install a JDK, with javac, to keep it on 127.0.0.1); ' +
          "its data answers only to this folder's own access key.",
      );
    }
    store.exited.then(function storeStoppedOnItsOwn(exit) {
      if (lifetime.ending) return;
      phase = 'store-gone';
      const kept = dataDir ? ` The data in ${dataDir} is kept.` : '';
      console.error(
        `DynamoDB Local (pid ${store.pid}) stopped unexpectedly (${describeExit(exit)}), so Roaming stops too.` +
          `${kept} Start again: ${COMMAND}`,
      );
      void lifetime.end(1);
    });
    return store;
  }
}

function unavailableWhile(phase: Phase): ServiceUnavailableError | undefined {
  if (phase === 'ready') return undefined;
  if (phase === 'starting') {
    return new ServiceUnavailableError('Roaming is starting; retry shortly', { retryAfterSeconds: 2 });
  }
  return new ServiceUnavailableError('The store is unavailable; retry shortly', { retryAfterSeconds: 5 });
}

function portFrom(raw: string | undefined): number {
  if (raw === undefined || raw === '') return 3000;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new StartupError(`PORT must be a port number (0-65535), got "${raw}": e.g. PORT=3001 ${COMMAND}`);
  }
  return port;
}

/** HOST: where the API listens (127.0.0.1 unless set). */
function hostFrom(env: NodeJS.ProcessEnv): string {
  return env.HOST?.trim() || '127.0.0.1';
}

/**
 * Off loopback anyone on the network can call the API, so its tokens' secret must not be guessable:
 * at least 32 bytes (the folder's own secret is; a ROAMING_JWT_SECRET may not be).
 */
function requireNetworkSecret(host: string, tokens: LocalJwtSecret): void {
  const bytes = Buffer.byteLength(tokens.secret);
  if (isLoopback(host) || bytes >= MIN_NETWORK_SECRET_BYTES) return;
  throw new StartupError(
    `HOST=${host} would let the network in with tokens signed with a ${bytes}-byte secret. Set ` +
      `ROAMING_JWT_SECRET to at least ${MIN_NETWORK_SECRET_BYTES} bytes, or unset it (npm start then uses ` +
      'a random one kept in the data folder), or leave HOST out (127.0.0.1).',
  );
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** Binds the API port: this is the port check, and holding it means nothing can take it meanwhile. */
async function listenOrExplain(server: Server, port: number, host: string): Promise<number> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      throw new StartupError(
        `Port ${port} is already in use. Stop what uses it or choose another: PORT=${port + 1} ${COMMAND}`,
      );
    }
    if (code === 'EACCES') {
      throw new StartupError(`Port ${port} needs privileges this user does not have: PORT=3000 ${COMMAND}`);
    }
    throw error;
  }
  return (server.address() as AddressInfo).port;
}

/** The table is the first thing the store is asked for: its failure is the store's, told in one line. */
async function createTableOrExplain(
  client: DynamoDBClient,
  tableName: string,
  endpoint: string,
  store: { external: boolean; dataDir?: string },
): Promise<void> {
  try {
    if (await ensureTable(client, tableName)) console.log(`Created table ${tableName}`);
  } catch (error) {
    const { name, message } = error as Error;
    if (isStoreUnreachable(error)) {
      throw new StartupError(
        `DynamoDB at ${endpoint} does not answer (${message})` +
          (store.external ? '. Start it, or unset DYNAMODB_ENDPOINT to use the embedded DynamoDB Local' : ''),
      );
    }
    throw new StartupError(
      `DynamoDB at ${endpoint} could not open or create the table ${tableName} (${name}: ${message})` +
        (store.dataDir
          ? `. Is ${store.dataDir} a DynamoDB Local data folder? Or use another: ROAMING_DATA_DIR=... ${COMMAND}`
          : ''),
    );
  }
}

/** Stops accepting connections, lets requests in flight finish (2 s at most), then closes the rest. */
async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise((resolve) => server.close(resolve));
  server.closeIdleConnections();
  const force = setTimeout(() => server.closeAllConnections(), 2000);
  await closed;
  clearTimeout(force);
}

/**
 * Where `npm start` writes exports: ROAMING_EXPORT_DIR, else `exports/` beside the DynamoDB data folder
 * (`.data/exports` by default), also when the store is in memory or elsewhere.
 */
function exportDirOf(env: NodeJS.ProcessEnv): string {
  return resolve(env.ROAMING_EXPORT_DIR || join(dirname(dataDirOf(env)), 'exports'));
}
