import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RoamingConfig } from '../functions/domain/deps.js';
import { configFromEnv } from '../functions/runtime.js';
import { ensureTable } from '../functions/store/create-table.js';
import { type Lifetime, readConfig } from './cli.js';
import { isAlive, LOCK_FILE_NAME, lockDataDir, readLock } from './data-dir-lock.js';
import { describeExit, startEmbeddedDynamo, stopAllEmbeddedDynamos } from './embedded-dynamo.js';
import { requireJava } from './java-check.js';
import { documentClientOf, localDynamoClient } from './local-app.js';
import { LOCAL_CREDENTIALS, type StoreCredentials, storeCredentialsOf } from './local-secrets.js';
import { answers, runningEndpoint } from './local-sweep.js';

/**
 * The DynamoDB endpoint a local command works on: DYNAMODB_ENDPOINT if set, else the one a running
 * `npm start` uses (found through its data folder's lock, or its endpoint file), else DynamoDB Local
 * started here on the same data folder (locked like `npm start` does), stopped when the command ends.
 * If that store dies meanwhile, the command says so and exits 1.
 */
export interface StoreUser {
  /** The command as the user typed it (`npm run sweep`). */
  command: string;
  /** What stops with a dead store, for its line: "the sweep". */
  what: string;
  /** What to do then: "Run it again to resume". */
  again: string;
}

/** A store to work on, with the access key its data answers to (local-secrets.ts). */
export interface OpenedStore {
  endpoint: string;
  credentials: StoreCredentials;
}

export async function openStore(
  env: NodeJS.ProcessEnv,
  lifetime: Lifetime,
  user: StoreUser,
): Promise<OpenedStore> {
  const { command } = user;
  if (env.DYNAMODB_ENDPOINT) {
    console.log(`DynamoDB: ${env.DYNAMODB_ENDPOINT} (DYNAMODB_ENDPOINT)`);
    return { endpoint: env.DYNAMODB_ENDPOINT, credentials: LOCAL_CREDENTIALS };
  }
  const dataDir = resolve(env.ROAMING_DATA_DIR ?? '.data/dynamodb');
  const owner = readLock(join(dataDir, LOCK_FILE_NAME));
  if (owner?.endpoint && isAlive(owner.pid) && (await answers(owner.endpoint))) {
    console.log(`DynamoDB: ${owner.endpoint} (the running ${owner.command}, pid ${owner.pid})`);
    return { endpoint: owner.endpoint, credentials: storeCredentialsOf(dataDir) };
  }
  const running = await runningEndpoint();
  if (running) {
    console.log(`DynamoDB: ${running.endpoint} (the running npm start)`);
    return {
      endpoint: running.endpoint,
      credentials: { accessKeyId: running.accessKeyId, secretAccessKey: 'local' },
    };
  }
  requireJava(command);
  // Said before anything starts: a user whose npm start uses another folder learns it here.
  console.log(
    `No npm start is running on ${dataDir}${env.ROAMING_DATA_DIR ? '' : ' (the default; ROAMING_DATA_DIR picks another)'}: ` +
      `${command} opens that folder with a DynamoDB Local of its own. To work on a running npm start, ` +
      'give it the same ROAMING_DATA_DIR.',
  );
  const lock = await lockDataDir(dataDir, command);
  lifetime.onEnd(() => lock.release());
  // Registered after the lock, so it runs first: the folder is free only once the store is gone.
  lifetime.onEnd(stopAllEmbeddedDynamos);
  const store = await startEmbeddedDynamo({
    dataDir,
    command,
    onSpawn: (pid) => lock.update({ javaPid: pid }),
  });
  lock.update({ endpoint: store.endpoint });
  console.log(`DynamoDB Local: ${store.endpoint} (pid ${store.pid}, data in ${dataDir})`);
  store.exited.then(function storeStoppedOnItsOwn(exit) {
    if (lifetime.ending) return;
    console.error(
      `DynamoDB Local (pid ${store.pid}) stopped unexpectedly (${describeExit(exit)}), so ${user.what} stops. ` +
        `${user.again}: ${command}`,
    );
    void lifetime.end(1);
  });
  return { endpoint: store.endpoint, credentials: storeCredentialsOf(dataDir) };
}

/** What a local tool (`npm run seed`, `npm run sweep`) works with: the table, ready, and its config. */
export interface OpenedTable {
  tableName: string;
  /** The service's configuration from the environment (a bad value stops the tool before it starts). */
  config: Partial<RoamingConfig>;
  client: DynamoDBClient;
  documentClient: DynamoDBDocumentClient;
}

/** The environment's config, the store (openStore) and the table (created if missing), for a local tool. */
export async function openTable(
  env: NodeJS.ProcessEnv,
  lifetime: Lifetime,
  user: StoreUser,
): Promise<OpenedTable> {
  const tableName = env.TABLE_NAME ?? 'roaming';
  const config = readConfig(() => configFromEnv(env));
  const { endpoint, credentials } = await openStore(env, lifetime, user);
  const client = localDynamoClient(endpoint, credentials);
  await ensureTable(client, tableName);
  return { tableName, config, client, documentClient: documentClientOf(client) };
}
