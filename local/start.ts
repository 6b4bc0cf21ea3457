import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { configFromEnv } from '../functions/runtime.js';
import { ensureTable } from '../functions/store/create-table.js';
import { DEV_JWT_SECRET, jwtSecret } from './dev-auth.js';
import { type EmbeddedDynamo, startEmbeddedDynamo } from './embedded-dynamo.js';
import { createLocalApi } from './http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from './local-app.js';
import { removeEndpointFile, startSweepTimer, sweepIntervalMs, writeEndpointFile } from './local-sweep.js';

/**
 * `npm start`: the whole service on one machine. Starts DynamoDB Local (data under .data/, or in memory
 * with ROAMING_IN_MEMORY=1; DYNAMODB_ENDPOINT uses an existing endpoint instead), creates the table if
 * missing and serves the Lambda handlers on 127.0.0.1:PORT. Ctrl-C stops everything it started.
 */
async function main(): Promise<void> {
  const env = process.env;
  const port = Number(env.PORT ?? 3000);
  const tableName = env.TABLE_NAME ?? 'roaming';
  let embedded: EmbeddedDynamo | undefined;
  let endpoint = env.DYNAMODB_ENDPOINT;
  if (!endpoint) {
    const dataDir =
      env.ROAMING_IN_MEMORY === '1' ? undefined : resolve(env.ROAMING_DATA_DIR ?? '.data/dynamodb');
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    embedded = await startEmbeddedDynamo({ dataDir });
    endpoint = embedded.endpoint;
    console.log(`DynamoDB Local: ${endpoint} (${dataDir ? `data in ${dataDir}` : 'in memory'})`);
  }
  const client = localDynamoClient(endpoint);
  if (await ensureTable(client, tableName)) console.log(`Created table ${tableName}`);
  const app = buildLocalApp({ client: documentClientOf(client), tableName, config: configFromEnv(env) });
  // `npm run sweep` finds the store through this file; the timer stands in for the sweep's schedule.
  writeEndpointFile(endpoint);
  process.on('exit', () => removeEndpointFile());
  const sweepEvery = sweepIntervalMs(env);
  const stopSweeps = startSweepTimer(app.deps, sweepEvery, (line) => console.log(line));
  const server = createLocalApi({ handlers: app.handlers, jwtSecret: jwtSecret(env) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

  console.log(`Roaming API: http://127.0.0.1:${port}`);
  console.log(
    sweepEvery > 0
      ? `Retention sweep every ${sweepEvery / 1000} s (ROAMING_SWEEP_INTERVAL_MS; 0 turns it off); now: npm run sweep`
      : 'Retention sweep timer off (ROAMING_SWEEP_INTERVAL_MS=0); run one: npm run sweep',
  );
  console.log('Get a token:  npm run token -- alice        (admin: npm run token -- ops --admin)');
  if (jwtSecret(env) === DEV_JWT_SECRET)
    console.log('Tokens are signed with the development secret (set ROAMING_JWT_SECRET to change it).');

  let stopping = false;
  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    console.log('Stopping...');
    stopSweeps();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await embedded?.stop();
    process.exit(0);
  }
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
