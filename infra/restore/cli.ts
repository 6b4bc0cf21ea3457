import '../../local/quiet-warnings.js';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Lifetime, runCommand, StartupError } from '../../local/cli.js';
import { localDynamoClient } from '../../local/local-app.js';
import { openStore } from '../../local/open-store.js';
import { readStage } from '../stage.js';
import { runRestoreDrill } from './drill.js';

/**
 * `npm run restore-drill -- --stage STAGE --source TABLE [--target TABLE] [--time ISO|latest] [--local]`
 * (docs/runbooks/restore.md). On AWS (the stage's region, your credentials): restores TABLE to the point
 * in time into a new table and points the stage at it. With --local, against DynamoDB Local (the running
 * `npm start`'s, or DYNAMODB_ENDPOINT, or one started here on the data folder), where the restore itself
 * is simulated: DynamoDB Local has no point-in-time recovery.
 */
const COMMAND = 'npm run restore-drill';

runCommand(drill, {
  onSignal() {
    console.log('\nRestore drill interrupted: a restore already started goes on in DynamoDB.');
    return 130;
  },
});

async function drill(lifetime: Lifetime): Promise<void> {
  const { values } = parseArgs({
    options: {
      stage: { type: 'string' },
      source: { type: 'string' },
      target: { type: 'string' },
      time: { type: 'string', default: 'latest' },
      local: { type: 'boolean', default: false },
    },
  });
  if (!values.stage || !values.source)
    throw new StartupError(
      `Usage: ${COMMAND} -- --stage STAGE --source TABLE [--target TABLE] [--time ISO|latest] [--local]`,
    );
  const stage = readStage(values.stage);
  const restoreTime = values.time === 'latest' ? 'latest' : new Date(values.time ?? '');
  if (restoreTime !== 'latest' && Number.isNaN(restoreTime.getTime())) {
    throw new StartupError(`--time must be an ISO date-time or "latest", got ${values.time}`);
  }
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
  const target = values.target ?? `${values.source}-restored-${stamp}`;
  let client: DynamoDBClient;
  if (values.local) {
    const store = await openStore(process.env, lifetime, {
      command: COMMAND,
      what: 'the restore drill',
      again: 'Run it again with another --target',
    });
    client = localDynamoClient(store.endpoint, store.credentials);
  } else {
    client = new DynamoDBClient({ region: stage.region });
  }
  console.log(
    `Restore drill: stage ${values.stage}, ${values.local ? 'DynamoDB Local (restore SIMULATED)' : `AWS ${stage.region}`}`,
  );
  const report = await runRestoreDrill({
    client,
    mode: values.local ? 'simulated' : 'aws',
    sourceTable: values.source,
    targetTable: target,
    restoreTime,
    stage: values.stage,
    log: (line) => console.log(line),
  });
  console.log(
    `Done: ${report.targetItems} items in ${target}${report.skipped.length ? `; not done on DynamoDB Local: ${report.skipped.length} step(s)` : ''}.`,
  );
  await lifetime.end(0);
}
