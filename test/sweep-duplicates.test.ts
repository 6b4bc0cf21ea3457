import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { runSweep } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import { PURGE_INDEX } from '../functions/store/table.js';
import { commandGate, type SentCommand } from './support/command-gate.js';
import { type Harness, startHarness } from './support/harness.js';
import {
  copiesInTable,
  HOUR_MS,
  ringOf,
  START,
  SWEEP_AT,
  seedPairs,
  sidesOf,
} from './support/history-seed.js';

/**
 * Issue 20, item 16: a conversation re-filed further on in the purge index while a pass reads it (an
 * inline purge's settle) is met twice in one pass. It must go in a round once: its keys twice in one
 * BatchWriteItem are refused by DynamoDB.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

const isPurgeIndexQuery = (command: SentCommand) =>
  command.constructor.name === 'QueryCommand' && command.input.IndexName === PURGE_INDEX.indexName;

describe('a conversation met twice in one pass', () => {
  it('is purged once, in one round, when it is re-filed from the end of one index page to the start of the next', async () => {
    // Prepare: 202 conversations with expired copies in one shard: an index page holds 200.
    const gate = commandGate();
    const h = await startHarness({
      config: { purgeShards: 1, sweepMaxDeletesPerSecond: 0 },
      wrapClient: (client) => gate.wrap(client),
    });
    harnesses.push(h);
    const pairs = await seedPairs(h.deps, {
      pairs: ringOf('dup', 101),
      from: START,
      to: START + HOUR_MS,
      stepMs: HOUR_MS,
      seed: 16,
    });
    const admin = await h.as('dup-ops', { admin: true });
    await admin.setAppRetention(30);
    const filed = (await h.documentClient.send(
      new QueryCommand({
        TableName: h.tableName,
        IndexName: PURGE_INDEX.indexName,
        KeyConditionExpression: 'purgeShard = :shard',
        ExpressionAttributeValues: { ':shard': keys.purgeShard(0) },
      }),
    )) as unknown as { Items: { pk: string; sk: string; purgeSk: string }[] };
    expect(filed.Items).toHaveLength(202);
    const lastOfFirstPage = filed.Items[199] as { pk: string; sk: string; purgeSk: string };
    // Once the first page is read, its last conversation moves to just after it: the next page's first.
    gate.after(isPurgeIndexQuery, async () => {
      await h.documentClient.send(
        new UpdateCommand({
          TableName: h.tableName,
          Key: { pk: lastOfFirstPage.pk, sk: lastOfFirstPage.sk },
          UpdateExpression: 'SET purgeSk = :later',
          ExpressionAttributeValues: { ':later': `${lastOfFirstPage.purgeSk}~` },
        }),
      );
    });
    h.clock.set(SWEEP_AT);
    // Act
    const summary = await runSweep(h.deps, { workers: 1 });
    // Assess: the run finished, and every copy went.
    expect(summary.outcome).toBe('finished');
    for (const pair of pairs) {
      for (const side of sidesOf(pair)) {
        expect(await copiesInTable(h.documentClient, h.tableName, side)).toEqual([]);
      }
    }
  });
});
