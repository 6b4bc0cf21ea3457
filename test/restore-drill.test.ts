import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { appSettings } from '../infra/context.js';
import { type DrillReport, runRestoreDrill } from '../infra/restore/drill.js';
import { STAGES_DIR } from '../infra/stage.js';
import { localDynamoClient } from '../local/local-app.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * The restore drill (infra/restore/drill.ts) against DynamoDB Local, on a table the service wrote through
 * its API. DynamoDB Local has no point-in-time recovery, so the restore step is the simulated one (a copy
 * of the items into a table created from the shared definition); every other step runs as on AWS.
 */
describe('the restore drill on DynamoDB Local', () => {
  let h: Harness;
  let stagesDir: string;
  let lines: string[];
  let report: DrillReport;
  let targetTable: string;

  beforeAll(async () => {
    h = await startHarness();
    const alice = await h.as('rd-alice');
    const bob = await h.as('rd-bob');
    await alice.sendMessage(text('rd-bob', 'before the incident'));
    await bob.sendMessage(text('rd-alice', 'a reply', { clientMsgId: 'rd-1' }));
    await alice.sendMessage(text('rd-carol', 'another conversation'));
    stagesDir = mkdtempSync(join(tmpdir(), 'roaming-drill-'));
    copyFileSync(join(STAGES_DIR, 'dev.json'), join(stagesDir, 'dev.json'));
    targetTable = `${h.tableName}-restored`;
    lines = [];
    report = await runRestoreDrill({
      client: localDynamoClient(inject('dynamoEndpoint')),
      mode: 'simulated',
      sourceTable: h.tableName,
      targetTable,
      restoreTime: 'latest',
      stage: 'dev',
      stagesDir,
      log: (line) => lines.push(line),
    });
  });

  afterAll(async () => {
    await h?.close();
    if (stagesDir) rmSync(stagesDir, { recursive: true, force: true });
  });

  it('runs the six steps in order and says the restore was simulated', () => {
    expect(lines.filter((line) => /^\[\d\/6\]/.test(line)).map((line) => line.slice(0, 5))).toEqual([
      '[1/6]',
      '[2/6]',
      '[3/6]',
      '[4/6]',
      '[5/6]',
      '[6/6]',
    ]);
    expect(lines.find((line) => line.startsWith('[2/6]'))).toMatch(/SIMULATED restore/);
  });

  it('restores every item, equal item by item', () => {
    expect(report.sourceItems).toBeGreaterThan(5);
    expect(report.targetItems).toBe(report.sourceItems);
    expect(report.itemsCompared).toBe(report.sourceItems);
  });

  it('leaves the restored table with the keys, indexes and TTL of the shared definition', async () => {
    const client = localDynamoClient(inject('dynamoEndpoint'));
    const table = (await client.send(new DescribeTableCommand({ TableName: targetTable }))).Table;
    expect(table?.TableStatus).toBe('ACTIVE');
    expect((table?.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName).sort()).toEqual([
      'byLatest',
      'byPinned',
      'byPurge',
    ]);
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: targetTable }));
    expect(ttl.TimeToLiveDescription?.AttributeName).toBe('expiresAt');
  });

  it('names each step DynamoDB Local could not do, and nothing else', () => {
    for (const skipped of report.skipped) {
      expect(skipped).toMatch(
        /^(point-in-time recovery window|point-in-time recovery|deletion protection|tags \(.*\)): not supported by DynamoDB Local/,
      );
    }
  });

  it('points the stage at the restored table: its file says so and the app synthesizes with it', () => {
    const before = readFileSync(join(STAGES_DIR, 'dev.json'), 'utf8');
    const after = readFileSync(join(stagesDir, 'dev.json'), 'utf8');
    expect((JSON.parse(after) as { tableName: string }).tableName).toBe(targetTable);
    // One line changed, the rest of the file as committed.
    const changed = after.split('\n').filter((line, i) => line !== before.split('\n')[i]);
    expect(changed).toEqual([`  "tableName": "${targetTable}",`]);
    expect(report.stageFile).toBe(join(stagesDir, 'dev.json'));
    const settings = appSettings(() => undefined, {}, stagesDir);
    expect(settings.props.tableName).toBe(targetTable);
  });
});
