import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  type AttributeValue,
  BatchWriteItemCommand,
  CreateTableCommand,
  DescribeContinuousBackupsCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  RestoreTableToPointInTimeCommand,
  ScanCommand,
  TagResourceCommand,
  UpdateContinuousBackupsCommand,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { createTableInput } from '../../functions/store/create-table.js';
import { TABLE_INDEXES, TABLE_KEYS, TTL_ATTRIBUTE } from '../../functions/store/table.js';
import { readStage, STAGES_DIR } from '../stage.js';

/**
 * Where the restore happens. `aws`: DynamoDB's RestoreTableToPointInTime. `simulated`: DynamoDB Local,
 * which has no point-in-time recovery: the target is created from the shared table definition and the
 * source's items are copied as they are now (not as of the restore time). Every other step is the same.
 */
export type DrillMode = 'aws' | 'simulated';

export interface DrillOptions {
  readonly client: DynamoDBClient;
  readonly mode: DrillMode;
  readonly sourceTable: string;
  readonly targetTable: string;
  /** The point in time to restore to; 'latest' is the latest restorable time (about 5 minutes ago on AWS). */
  readonly restoreTime: Date | 'latest';
  /** The stage whose file gets `tableName` (infra/stages/{stage}.json). */
  readonly stage: string;
  /** @default infra/stages */
  readonly stagesDir?: string;
  readonly log: (line: string) => void;
  /** How long to wait for the restored table to become ACTIVE (restores of large tables take hours). */
  readonly maxWaitSeconds?: number;
}

export interface DrillReport {
  readonly sourceItems: number;
  readonly targetItems: number;
  /** Items compared one by one and equal (simulated mode: all of them). */
  readonly itemsCompared: number;
  /** Steps DynamoDB Local could not do (simulated mode), with the error it gave. */
  readonly skipped: readonly string[];
  readonly stageFile: string;
}

const STEPS = 6;

/**
 * The restore drill (docs/runbooks/restore.md): restores the source table to a point in time into a new
 * table, waits until it is ACTIVE, re-applies what a restore does not carry over (TTL, point-in-time
 * recovery, deletion protection, tags), verifies the new table (indexes, TTL, items), and points the stage
 * at it (`tableName` in its stage file), ready for `npx cdk deploy -c stage=...`.
 */
export async function runRestoreDrill(options: DrillOptions): Promise<DrillReport> {
  const { client, log, mode, sourceTable, targetTable } = options;
  const stagesDir = options.stagesDir ?? STAGES_DIR;
  const stage = readStage(options.stage, stagesDir);
  const skipped: string[] = [];
  const step = (n: number, text: string) => log(`[${n}/${STEPS}] ${text}`);
  const simulatedSkip = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
      log(`      ${what}: done`);
    } catch (error) {
      if (mode !== 'simulated') throw error;
      const reason = `${what}: not supported by DynamoDB Local (${errorName(error)})`;
      skipped.push(reason);
      log(`      ${reason}`);
    }
  };

  step(1, `Source ${sourceTable}: checking it and its point-in-time recovery window`);
  const source = (await client.send(new DescribeTableCommand({ TableName: sourceTable }))).Table;
  log(
    `      status ${source?.TableStatus}, indexes ${(source?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).join(', ')}`,
  );
  await simulatedSkip('point-in-time recovery window', async () => {
    const backups = await client.send(new DescribeContinuousBackupsCommand({ TableName: sourceTable }));
    const pitr = backups.ContinuousBackupsDescription?.PointInTimeRecoveryDescription;
    log(
      `      PITR ${pitr?.PointInTimeRecoveryStatus}: restorable from ${pitr?.EarliestRestorableDateTime?.toISOString()} to ${pitr?.LatestRestorableDateTime?.toISOString()}`,
    );
    if (mode === 'aws' && pitr?.PointInTimeRecoveryStatus !== 'ENABLED') {
      throw new Error(`Point-in-time recovery is not enabled on ${sourceTable}`);
    }
  });

  const when =
    options.restoreTime === 'latest' ? 'the latest restorable time' : options.restoreTime.toISOString();
  if (mode === 'aws') {
    step(2, `Restoring ${sourceTable} as of ${when} into ${targetTable}`);
    await client.send(
      new RestoreTableToPointInTimeCommand({
        SourceTableName: sourceTable,
        TargetTableName: targetTable,
        ...(options.restoreTime === 'latest'
          ? { UseLatestRestorableTime: true }
          : { RestoreDateTime: options.restoreTime }),
        BillingModeOverride: 'PAY_PER_REQUEST',
        OnDemandThroughputOverride: {
          MaxReadRequestUnits: stage.throughputCaps.maxReadRequestUnits,
          MaxWriteRequestUnits: stage.throughputCaps.maxWriteRequestUnits,
        },
      }),
    );
    log('      restore started');
  } else {
    step(
      2,
      `SIMULATED restore (DynamoDB Local has no PITR): ${targetTable} from the shared definition, ${sourceTable}'s items copied as they are now, not as of ${when}`,
    );
    await client.send(new CreateTableCommand(createTableInput(targetTable)));
    await waitUntilTableExists({ client, maxWaitTime: 60 }, { TableName: targetTable });
    const copied = await copyItems(client, sourceTable, targetTable);
    log(`      ${copied} items copied`);
  }

  step(3, `Waiting for ${targetTable} to be ACTIVE`);
  await waitUntilTableExists(
    { client, maxWaitTime: options.maxWaitSeconds ?? 4 * 3600, minDelay: 5, maxDelay: 60 },
    { TableName: targetTable },
  );
  const target = (await client.send(new DescribeTableCommand({ TableName: targetTable }))).Table;
  log(`      ${targetTable} is ${target?.TableStatus}`);

  step(
    4,
    'Re-applying what a restore does not carry over: TTL, point-in-time recovery, deletion protection, tags',
  );
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: targetTable,
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    }),
  );
  log(`      TTL on ${TTL_ATTRIBUTE}: done`);
  await simulatedSkip('point-in-time recovery', () =>
    client.send(
      new UpdateContinuousBackupsCommand({
        TableName: targetTable,
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    ),
  );
  await simulatedSkip('deletion protection', () =>
    client.send(new UpdateTableCommand({ TableName: targetTable, DeletionProtectionEnabled: true })),
  );
  await simulatedSkip(`tags (${Object.keys(stage.tags).join(', ')})`, () =>
    client.send(
      new TagResourceCommand({
        ResourceArn: target?.TableArn,
        Tags: Object.entries(stage.tags).map(([Key, Value]) => ({ Key, Value })),
      }),
    ),
  );

  step(5, `Verifying ${targetTable}: keys, indexes, TTL and items`);
  const verified = (await client.send(new DescribeTableCommand({ TableName: targetTable }))).Table;
  const keys = (verified?.KeySchema ?? []).map((key) => key.AttributeName);
  if (!isDeepStrictEqual(keys, [TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey])) {
    throw new Error(
      `${targetTable} has keys ${keys.join(', ')}, not ${TABLE_KEYS.partitionKey}, ${TABLE_KEYS.sortKey}`,
    );
  }
  const indexes = new Map(
    (verified?.GlobalSecondaryIndexes ?? []).map((index) => [index.IndexName, index.IndexStatus]),
  );
  for (const index of TABLE_INDEXES) {
    if (indexes.get(index.indexName) !== 'ACTIVE') {
      throw new Error(
        `${targetTable}: index ${index.indexName} is ${indexes.get(index.indexName) ?? 'missing'}`,
      );
    }
  }
  log(`      keys ${keys.join(', ')}; indexes ${[...indexes.keys()].join(', ')} ACTIVE`);
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: targetTable }));
  const ttlStatus = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (
    ttl.TimeToLiveDescription?.AttributeName !== TTL_ATTRIBUTE ||
    !['ENABLED', 'ENABLING'].includes(String(ttlStatus))
  ) {
    throw new Error(`${targetTable}: TTL is ${ttlStatus} on ${ttl.TimeToLiveDescription?.AttributeName}`);
  }
  log(`      TTL ${ttlStatus} on ${TTL_ATTRIBUTE}`);
  let sourceCount: number;
  let targetCount: number;
  let itemsCompared = 0;
  if (mode === 'simulated') {
    // Nothing wrote to the source meanwhile: the copy must be the source, item for item.
    const sourceItems = await scanAll(client, sourceTable);
    const targetItems = await scanAll(client, targetTable);
    const byKey = new Map(sourceItems.map((item) => [keyOf(item), item]));
    for (const item of targetItems) {
      if (!isDeepStrictEqual(byKey.get(keyOf(item)), item)) throw new Error(`Item ${keyOf(item)} differs`);
      itemsCompared += 1;
    }
    if (targetItems.length !== sourceItems.length) {
      throw new Error(`${targetTable} has ${targetItems.length} items, ${sourceTable} ${sourceItems.length}`);
    }
    sourceCount = sourceItems.length;
    targetCount = targetItems.length;
    log(`      ${itemsCompared} of ${sourceCount} items equal, item by item`);
  } else {
    // The source kept changing after the restore time, and scanning a production table costs: compare
    // DynamoDB's item counts (refreshed about every six hours) and read a first page of the restored table.
    sourceCount = source?.ItemCount ?? 0;
    targetCount = verified?.ItemCount ?? 0;
    const page = await client.send(new ScanCommand({ TableName: targetTable, Limit: 100 }));
    if ((page.Items ?? []).length === 0 && sourceCount > 0) throw new Error(`${targetTable} reads empty`);
    log(
      `      item counts: restored ${targetCount}, source ${sourceCount}; first page read: ${(page.Items ?? []).length} items`,
    );
  }

  step(6, `Pointing stage ${options.stage} at ${targetTable}`);
  const stageFile = join(stagesDir, `${options.stage}.json`);
  const previous = setStageTableName(stageFile, targetTable);
  log(`      ${stageFile}: tableName ${JSON.stringify(previous)} -> ${JSON.stringify(targetTable)}`);
  log(
    `      next: npx cdk diff -c stage=${options.stage}, then npx cdk deploy -c stage=${options.stage} (docs/runbooks/restore.md)`,
  );
  return {
    sourceItems: sourceCount,
    targetItems: targetCount,
    itemsCompared,
    skipped,
    stageFile,
  };
}

/**
 * Sets `tableName` in a stage file and changes nothing else (the line is replaced in place, so the
 * file keeps its formatting and the diff is one line); returns the value it had.
 */
export function setStageTableName(stageFile: string, tableName: string | null): string | null {
  const text = readFileSync(stageFile, 'utf8');
  const previous = (JSON.parse(text) as { tableName?: string | null }).tableName ?? null;
  const line = /"tableName":\s*(null|"[^"]*")/;
  if (!line.test(text)) throw new Error(`${stageFile} has no "tableName" setting`);
  writeFileSync(stageFile, text.replace(line, `"tableName": ${JSON.stringify(tableName)}`));
  return previous;
}

async function copyItems(client: DynamoDBClient, from: string, to: string): Promise<number> {
  const items = await scanAll(client, from);
  for (let i = 0; i < items.length; i += 25) {
    let requests = items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: item } }));
    while (requests.length > 0) {
      const output = await client.send(new BatchWriteItemCommand({ RequestItems: { [to]: requests } }));
      requests = (output.UnprocessedItems?.[to] ?? []) as typeof requests;
    }
  }
  return items.length;
}

async function scanAll(client: DynamoDBClient, tableName: string): Promise<Record<string, AttributeValue>[]> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: start, ConsistentRead: true }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

function keyOf(item: Record<string, AttributeValue>): string {
  return `${item[TABLE_KEYS.partitionKey]?.S} / ${item[TABLE_KEYS.sortKey]?.S}`;
}

function errorName(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message.split('\n')[0]}` : String(error);
}
