import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { ProvisionedThroughputExceededException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runSweep, type SweepRunView } from '../functions/domain/sweep.js';
import { makeSweepHandler } from '../functions/handlers/sweep-schedule.js';
import type { DocumentCommand, DocumentSender } from '../functions/store/db.js';
import { listShards } from '../functions/store/sweep-shard-store.js';
import type { SweepCounts } from '../functions/store/sweep-store.js';
import { lambdaContext } from '../local/http-server.js';
import { type Harness, startHarness } from './support/harness.js';
import { dataOf, HOUR_MS, NOW, ringOf, START, SWEEP_AT, seedPairs } from './support/history-seed.js';
import { expectCountedAtLeastOnce } from './support/sweep-counts.js';

/**
 * Sweeps that are interrupted, crash, run twice at once or get throttled must end exactly where a
 * clean run ends. Every scenario seeds the same data (same seed) into a fresh table and compares the
 * table with the one a clean run left. Counts are at least once (test/support/sweep-counts.ts).
 */
const CONFIG = { sweepMaxDeletesPerSecond: 0 };
const SEED = { pairs: ringOf('f', 8), from: START, to: NOW, stepMs: 12 * HOUR_MS, seed: 7 };

async function seeded(wrapClient?: (client: DocumentSender) => DocumentSender): Promise<Harness> {
  const h = await startHarness({ config: CONFIG, wrapClient });
  harnesses.push(h);
  await seedPairs(h.deps, SEED);
  const admin = await h.as('ops', { admin: true });
  await admin.setAppRetention(30);
  await admin.setUserRetention('f00', 10);
  await admin.setUserRetention('f01', null);
  h.clock.set(SWEEP_AT);
  return h;
}

const harnesses: Harness[] = [];
let clean: { data: string[]; counts: SweepCounts };
beforeAll(async () => {
  const h = await seeded();
  const summary = await runSweep(h.deps);
  expect(summary.outcome).toBe('finished');
  clean = { data: await dataOf(h.documentClient, h.tableName), counts: summary.runCounts };
  expect(clean.counts.messagesDeleted).toBeGreaterThan(500);
});
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** Passes commands to the real client; `fault` may answer instead (or throw). */
function faulty(fault: (command: DocumentCommand, real: DocumentSender) => Promise<unknown> | undefined) {
  return (real: DocumentSender): DocumentSender => ({
    send: ((command: DocumentCommand) =>
      fault(command, real) ?? real.send(command as never)) as DocumentSender['send'],
  });
}

const isBatchWrite = (command: DocumentCommand) => command instanceof BatchWriteCommand;

describe('a sweep stopped midway', () => {
  it('after N batches resumes on the next run and ends as a clean run, with counts that add up', async () => {
    // Prepare
    const h = await seeded();
    // Act
    const first = await runSweep(h.deps, { maxBatches: 7 });
    const shardsAfterStop = await listShards(h.deps.db, first.runId as string);
    const second = await runSweep(h.deps);
    // Assess
    expect(first).toMatchObject({ outcome: 'stopped', closedRun: false });
    expect(first.counts.batches).toBe(7);
    expect(shardsAfterStop.every((shard) => shard.done || shard.leaseUntil === 0)).toBe(true); // leases released
    expect(second).toMatchObject({ runId: first.runId, joined: true, outcome: 'finished', closedRun: true });
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
    // A user or conversation purged in both runs is counted by each.
    expectCountedAtLeastOnce(second.runCounts, clean.counts, {
      invocations: 2,
      exact: ['messagesDeleted', 'batches'],
    });
    expect(first.counts.messagesDeleted + second.counts.messagesDeleted).toBe(clean.counts.messagesDeleted);
  });

  it('by a crash (the store fails mid-batch) resumes from its checkpoint once the lease lapses', async () => {
    // Prepare: the sweep's 12th BatchWriteItem and every request after it fail, as if the process died there.
    let armed = false;
    let batchWrites = 0;
    let dead = false;
    const h = await seeded(
      faulty((command) => {
        if (armed && isBatchWrite(command) && ++batchWrites === 12) dead = true;
        return dead ? Promise.reject(new Error('the process died')) : undefined;
      }),
    );
    armed = true;
    // Act
    const crash = await runSweep(h.deps).catch((error: unknown) => error);
    dead = false;
    const tooSoon = await runSweep(h.deps);
    h.clock.advance(h.deps.config.sweepLeaseMs + 1);
    const resumed = await runSweep(h.deps);
    // Assess
    expect(crash).toBeInstanceOf(Error);
    expect(tooSoon.outcome).toBe('busy'); // the crashed shards are still leased
    expect(resumed).toMatchObject({ runId: tooSoon.runId, outcome: 'finished', closedRun: true });
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
    // The replay counts again what the crashed rounds left; a shard is worked by two invocations at most.
    expectCountedAtLeastOnce(resumed.runCounts, clean.counts, { invocations: 2 });
  });

  it('by a crash right after a conversation was settled, before the next checkpoint, counts it once', async () => {
    // Prepare: the process dies as soon as the first purge has been settled (re-filed in the index).
    let armed = false;
    let settled = false;
    const h = await seeded(
      faulty((command, real) => {
        if (settled) return Promise.reject(new Error('the process died'));
        if (!armed || !isSettleWrite(command)) return undefined;
        return real.send(command as never).then((output) => {
          settled = true;
          return output;
        });
      }),
    );
    armed = true;
    // Act: one worker, so the crash always falls in that window.
    const crash = await runSweep(h.deps, { workers: 1 }).catch((error: unknown) => error);
    settled = false;
    armed = false;
    h.clock.advance(h.deps.config.sweepLeaseMs + 1);
    const resumed = await runSweep(h.deps, { workers: 1 });
    // Assess
    expect(crash).toBeInstanceOf(Error);
    expect(resumed).toMatchObject({ outcome: 'finished', closedRun: true });
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
    // The settled conversation is not counted again (its round was counted before its deletes), nor
    // its copies; a user whose conversations the crash split is counted by both invocations.
    expectCountedAtLeastOnce(resumed.runCounts, clean.counts, {
      invocations: 2,
      exact: ['conversations', 'messagesDeleted', 'batches'],
    });
  });

  it('when the Lambda’s remaining time runs short, stops cleanly; the next invocation finishes', async () => {
    // Prepare: the time left drops below the margin once the sweep sent 10 BatchWriteItem calls.
    let batchWrites = 0;
    let armed = false;
    const h = await seeded(
      faulty((command) => {
        if (armed && isBatchWrite(command)) batchWrites++;
        return undefined;
      }),
    );
    armed = true;
    const published: unknown[] = [];
    const metrics = new Metrics({ namespace: 'RoamingTest', serviceName: 'sweep-test' });
    metrics.publishStoredMetrics = () => {
      published.push(metrics.serializeMetrics());
      metrics.clearMetrics();
      return metrics;
    };
    const handler = makeSweepHandler(h.deps, { logger: new Logger({ logLevel: 'SILENT' }), metrics });
    const shortOfTime: Context = {
      ...lambdaContext('sweep'),
      getRemainingTimeInMillis: () => (batchWrites >= 10 ? 5_000 : 240_000),
    };
    // Act
    const first = await handler({}, shortOfTime);
    const second = await handler({}, lambdaContext('sweep', 300_000));
    // Assess
    expect(first.outcome).toBe('stopped');
    expect(first.counts.messagesDeleted).toBeGreaterThan(0);
    expect(first.counts.messagesDeleted).toBeLessThan(clean.counts.messagesDeleted);
    expect(second).toMatchObject({ runId: first.runId, outcome: 'finished' });
    expectCountedAtLeastOnce(second.runCounts, clean.counts, {
      invocations: 2,
      exact: ['messagesDeleted', 'batches'],
    });
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
    expect(JSON.stringify(published[1])).toContain('"MessagesDeleted":');
    expect(published[1]).toMatchObject({ MessagesDeleted: second.counts.messagesDeleted, RunsFinished: 1 });
  });
});

describe('two sweeps started together', () => {
  it('share one run: every shard is worked by one of them, each copy deleted once, the run closed once', async () => {
    // Prepare: record every delete request sent.
    const deletes = new Map<string, number>();
    const h = await seeded(
      faulty((command) => {
        if (!isBatchWrite(command)) return undefined;
        const requests = Object.values(
          (
            command.input as {
              RequestItems: Record<string, { DeleteRequest?: { Key: { pk: string; sk: string } } }[]>;
            }
          ).RequestItems,
        ).flat();
        for (const { DeleteRequest } of requests) {
          if (DeleteRequest) {
            const key = `${DeleteRequest.Key.pk} ${DeleteRequest.Key.sk}`;
            deletes.set(key, (deletes.get(key) ?? 0) + 1);
          }
        }
        return undefined;
      }),
    );
    // Act
    const [a, b] = await Promise.all([
      runSweep(h.deps, { invocationId: 'sweep-a' }),
      runSweep(h.deps, { invocationId: 'sweep-b' }),
    ]);
    // Assess
    expect(a.runId).toBe(b.runId);
    expect([a.joined, b.joined].sort()).toEqual([false, true]);
    expect([a.closedRun, b.closedRun].filter(Boolean)).toHaveLength(1);
    expect(a.shardsCompleted.filter((shard) => b.shardsCompleted.includes(shard))).toEqual([]);
    expect([...a.shardsCompleted, ...b.shardsCompleted].sort((x, y) => x - y)).toEqual([...Array(16).keys()]);
    expect(Math.max(...deletes.values())).toBe(1);
    expect(deletes.size).toBe(clean.counts.messagesDeleted);
    const closer = a.closedRun ? a : b;
    const other = a.closedRun ? b : a;
    expect(closer).toMatchObject({ outcome: 'finished', runCounts: clean.counts });
    expect(['finished', 'busy']).toContain(other.outcome); // 'busy' if it ran out of shards before the last was done
    const { runs } = await (await h.as('ops', { admin: true })).listSweeps<SweepRunView>();
    expect(runs[0]).toMatchObject({ runId: a.runId, status: 'finished', counts: clean.counts });
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
  });
});

describe('a throttled sweep', () => {
  it('retries throttling and UnprocessedItems with backoff, loses nothing and counts the retries', async () => {
    // Prepare: every third request is throttled once; every third BatchWriteItem processes only half.
    let requests = 0;
    let batchWrites = 0;
    let injected = 0;
    let injectedInBatchWrites = 0;
    const throttledOnce = new WeakSet<object>();
    let faultsOn = false;
    const h = await seeded(
      faulty((command, real) => {
        if (!faultsOn) return undefined;
        if (++requests % 3 === 0 && !throttledOnce.has(command)) {
          throttledOnce.add(command);
          injected++;
          if (isBatchWrite(command)) injectedInBatchWrites++;
          return Promise.reject(
            new ProvisionedThroughputExceededException({ message: 'slow down', $metadata: {} }),
          );
        }
        if (isBatchWrite(command) && ++batchWrites % 3 === 0) {
          const input = command.input as { RequestItems: Record<string, unknown[]> };
          const [table, items] = Object.entries(input.RequestItems)[0] as [string, unknown[]];
          if (items.length < 2) return undefined;
          const half = Math.ceil(items.length / 2);
          injected++;
          injectedInBatchWrites++;
          return real
            .send(new BatchWriteCommand({ RequestItems: { [table]: items.slice(0, half) as never } }))
            .then(() => ({ UnprocessedItems: { [table]: items.slice(half) } }));
        }
        return undefined;
      }),
    );
    faultsOn = true;
    // Act
    const summary = await runSweep(h.deps);
    // Assess
    expect(summary.outcome).toBe('finished');
    expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
    const { retries, ...work } = summary.runCounts;
    const { retries: _none, ...cleanWork } = clean.counts;
    expect(work).toEqual(cleanWork);
    expect(injectedInBatchWrites).toBeGreaterThan(10);
    expect(retries).toBeGreaterThanOrEqual(injectedInBatchWrites);
    expect(retries).toBeLessThanOrEqual(injected);
    expect(summary.counts.retries).toBe(retries);
  });
});

/** The write that settles a purged conversation (re-files it in the purge index; conditioned on rev). */
function isSettleWrite(command: unknown): boolean {
  const updates =
    command instanceof UpdateCommand
      ? [command.input]
      : command instanceof TransactWriteCommand
        ? (command.input.TransactItems ?? []).flatMap((item) => (item.Update ? [item.Update] : []))
        : [];
  return updates.some(
    (update) =>
      String(update.UpdateExpression).includes('#purgeSk') &&
      String(update.ConditionExpression).includes('#rev'),
  );
}
