import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DAY_MS, ManualClock } from '../functions/core/clock.js';
import { timeOfId } from '../functions/core/ids.js';
import type { Message } from '../functions/core/model.js';
import { DEFAULT_CONFIG, type Deps } from '../functions/domain/deps.js';
import { setAppRetention } from '../functions/domain/policies.js';
import { runSweep } from '../functions/domain/sweep.js';
import { ROUND_COPIES } from '../functions/domain/sweep-round.js';
import { createDeps } from '../functions/runtime.js';
import { ensureTable } from '../functions/store/create-table.js';
import type { DocumentSender } from '../functions/store/db.js';
import { keys, purgeShardOf } from '../functions/store/keys.js';
import { type EmbeddedDynamo, startEmbeddedDynamo } from '../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import { HOUR_MS, NOW, START, seedPairs, sidesOf, survivorsOf } from '../test/support/history-seed.js';
import { countRequests } from '../test/support/request-counter.js';
import { type CpuSample, cpuSample, cpuSpent } from './cpu.js';
import { runBenchmarks } from './setup.js';

/**
 * The retention sweep on DynamoDB Local: `users` users in pairs, `expiredShare` of them with 60 days of
 * history (one message every 6 hours; a 30-day policy expires half), the rest with one recent message.
 * Prints the sweep's delete rate next to the store's raw BatchWriteItem delete rate measured in the
 * same run, and what the run read: requests by command, items and read capacity (ReturnConsumedCapacity).
 * Run: `npx tsx bench/sweep.ts [users] [expiredShare]`. Figures only; nothing asserts a speed.
 */
export interface SweepFigures {
  users: number;
  expiredUsers: number;
  shards: number;
  workers: number;
  copiesDeleted: number;
  conversations: number;
  seconds: number;
  /** Copies deleted per second by the sweep, uncapped. */
  sweepRate: number;
  /**
   * Raw BatchWriteItem deletes per second of the same copies (twin tables seeded alike, keys known) in
   * the sweep's shape: mean of one before and one after the sweep.
   */
  rawRate: number;
  rawRateBefore: number;
  rawRateAfter: number;
  /** Raw deletes of small items written just before (the floor as first measured), same shape. */
  freshItemsRawRate: number;
  /** One stream of 25 at a time, fresh items. */
  rawSerialRate: number;
  /** sweepRate / rawRate. */
  ratio: number;
  /** sweepRate / freshItemsRawRate. */
  freshItemsRatio: number;
  /** CPU per deleted copy (ms), engine and this process, with the wall time per copy. */
  cpuPerCopy: { sweep: CpuSample; raw: CpuSample; freshItemsRaw: CpuSample };
  reads: Record<string, number>;
  writes: Record<string, number>;
}

export async function benchSweep(users = 10_000, expiredShare = 0.01): Promise<SweepFigures> {
  const store = await startStore();
  try {
    return await measure(store, users, expiredShare);
  } finally {
    await store.stop();
  }
}

interface Store {
  deps: Deps;
  clock: ManualClock;
  client: DocumentSender;
  tableName: string;
  usage: Usage;
  requests: ReturnType<typeof countRequests>;
  rawClient: DynamoDBClient;
  /** The DynamoDB Local process, for its CPU time. */
  enginePid: number;
  stop(): Promise<void>;
}

/** Read and write capacity and items read, summed from every response (ReturnConsumedCapacity: TOTAL). */
interface Usage {
  readUnits: number;
  writeUnits: number;
  itemsRead: number;
  reset(): void;
}

const WORKERS = 4;
const RETENTION_DAYS = 30;

async function measure(store: Store, users: number, expiredShare: number): Promise<SweepFigures> {
  const { deps, clock } = store;
  const expiredPairs = Math.max(1, Math.round((users * expiredShare) / 2));
  const idlePairs = Math.floor(users / 2) - expiredPairs;
  console.log(
    `Sweep benchmark on DynamoDB Local: ${users} users, ${expiredPairs * 2} (${(expiredShare * 100).toFixed(1)}%) ` +
      `with expired messages, ${deps.config.purgeShards} shards, ${WORKERS} workers`,
  );

  let started = performance.now();
  // Twin tables in the same engine, seeded alike: the raw deletes of the very copies the sweep deletes.
  const twins = [await twinTable(store, 'before'), await twinTable(store, 'after')];
  for (const twin of twins) await seedBenchData(twin, idlePairs, expiredPairs);
  await seedBenchData(store, idlePairs, expiredPairs);
  console.log(`  seeded in ${((performance.now() - started) / 1000).toFixed(1)} s (and two twin tables)`);
  await setAppRetention(deps, 'bench', RETENTION_DAYS);
  clock.set(NOW);

  const twinBefore = await deleteExpiredCopies(twins[0] as Twin);
  const rawBefore = await rawDeleteRate(store, (twins[0] as Twin).expired.length);
  store.requests.reset();
  store.usage.reset();
  started = performance.now();
  const cpuBefore = cpuSample(store.enginePid);
  const summary = await runSweep(deps, { workers: WORKERS });
  const sweepSeconds = (performance.now() - started) / 1000;
  const sweepCpu = cpuSpent(cpuBefore, cpuSample(store.enginePid));
  const reads = readRequests(store.requests.byCommand);
  const writes = writeRequests(store.requests.byCommand);
  const usage = { ...store.usage };
  const { counts } = summary;
  const sweepRate = counts.messagesDeleted / sweepSeconds;

  const rawAfter = await rawDeleteRate(store, counts.messagesDeleted);
  const twinAfter = await deleteExpiredCopies(twins[1] as Twin);
  const twin = {
    rate: (twinBefore.rate + twinAfter.rate) / 2,
    perCopy: twinAfter.perCopy,
  };
  const raw = {
    parallel: (rawBefore.parallel + rawAfter.parallel) / 2,
    serial: (rawBefore.serial + rawAfter.serial) / 2,
  };
  const sweepPerCopy = perItem(sweepCpu, summary.counts.messagesDeleted);
  const rawPerCopy = rawAfter.parallelCpu;

  const S = deps.config.purgeShards;
  const C = counts.conversations;
  const E = counts.messagesDeleted;
  // Every expired side holds the same number of expired copies here.
  const perConversation = C > 0 ? E / C : 0;
  // A round reads each of its conversations' due keys and, alongside, the oldest copy left.
  const keyQueries = C * 2 * Math.ceil((perConversation + 1) / ROUND_COPIES);
  // Rounds: one BatchGetItem each (functions/domain/sweep.ts, "Cost of a run").
  const R = reads.BatchGetItem ?? 0;
  const U = counts.users;
  console.log(
    `  run: ${summary.outcome}; ${E} copies deleted in ${counts.batches} batches, ${C} conversations, ` +
      `${counts.users} users, ${counts.retries} retries`,
  );
  console.log('');
  console.log('  delete rate (same DynamoDB Local, same run)');
  console.log(
    `    sweep, ${WORKERS} workers, no cap:          ${sweepRate.toFixed(0)} copies/s (${sweepSeconds.toFixed(1)} s; default cap ${DEFAULT_CONFIG.sweepMaxDeletesPerSecond}/s per invocation)`,
  );
  console.log(
    `    raw BatchWriteItem of the same copies:  ${twin.rate.toFixed(0)} deletes/s (before ${twinBefore.rate.toFixed(0)}, ` +
      `after ${twinAfter.rate.toFixed(0)}; twin tables seeded alike, keys known, ${WORKERS} streams of 2x25: the sweep without its reads)`,
  );
  console.log(
    `    raw BatchWriteItem of fresh items:      ${raw.parallel.toFixed(0)} deletes/s (before ${rawBefore.parallel.toFixed(0)}, ` +
      `after ${rawAfter.parallel.toFixed(0)}; small items written just before, same shape)`,
  );
  console.log(
    `    raw BatchWriteItem, 1 stream of 25:     ${raw.serial.toFixed(0)} deletes/s (fresh items; before ${rawBefore.serial.toFixed(0)}, after ${rawAfter.serial.toFixed(0)})`,
  );
  console.log(
    `    sweep / raw, same copies:               ${(sweepRate / twin.rate).toFixed(2)}× (against fresh items: ${(sweepRate / raw.parallel).toFixed(2)}×)`,
  );
  console.log(
    `    CPU per deleted copy, engine + this process: sweep ${formatCpu(sweepPerCopy)}, same copies raw ${formatCpu(twin.perCopy)}, ` +
      `fresh items raw ${formatCpu(rawPerCopy)} (cores busy: ${coresBusy(sweepPerCopy)}, ${coresBusy(twin.perCopy)}, ${coresBusy(rawPerCopy)} of ${availableParallelism()})`,
  );
  console.log('');
  console.log(`  DynamoDB reads of the run: ${format(reads)}`);
  console.log(`    items read: ${usage.itemsRead}; read capacity: ${usage.readUnits.toFixed(1)} RCU`);
  console.log(
    `    model: S index + Σ 2⌈(e+1)/250⌉ key Queries + R round reads + ≈ W + 5 listings and run items = ` +
      `≈ ${S + keyQueries + R + WORKERS + 5} (S=${S}, W=${WORKERS}, C=${C}, E=${E}, R=${R}); ` +
      `reading every user instead: >= ${users} Queries`,
  );
  console.log(
    `  DynamoDB writes of the run: ${format(writes)}; write capacity: ${usage.writeUnits.toFixed(1)} WCU`,
  );
  console.log(
    `    model: ⌈(E + U)/25⌉ BatchWriteItem + R checkpoints + 2S claims and closes + C settles + ≈ 4 = ` +
      `≈ ${Math.ceil((E + U) / 25) + R + 2 * S + C + 4} requests; ` +
      `units E + U + R + 2S + 5C (a settle: item + 3 indexes) = ≈ ${E + U + R + 2 * S + 5 * C} WCU`,
  );
  return {
    users,
    expiredUsers: expiredPairs * 2,
    shards: S,
    workers: WORKERS,
    copiesDeleted: E,
    conversations: C,
    seconds: sweepSeconds,
    sweepRate,
    rawRate: twin.rate,
    rawRateBefore: twinBefore.rate,
    rawRateAfter: twinAfter.rate,
    freshItemsRawRate: raw.parallel,
    rawSerialRate: raw.serial,
    ratio: sweepRate / twin.rate,
    freshItemsRatio: sweepRate / raw.parallel,
    cpuPerCopy: { sweep: sweepPerCopy, raw: twin.perCopy, freshItemsRaw: rawPerCopy },
    reads,
    writes,
  };
}

/** A table to seed: the benchmark's own, or a twin. */
interface Target {
  deps: Deps;
  client: DocumentSender;
  tableName: string;
}

/** A twin of the benchmark's table in the same engine, and the copies its seeding wrote. */
interface Twin extends Target {
  enginePid: number;
  expired: { pk: string; sk: string }[];
}

async function twinTable(store: Store, name: string): Promise<Twin> {
  const tableName = `roaming_sweep_bench_twin_${name}`;
  await ensureTable(store.rawClient, tableName);
  const deps = createDeps({ client: store.client, tableName, clock: store.clock, config: store.deps.config });
  return { deps, client: store.client, tableName, enginePid: store.enginePid, expired: [] };
}

/**
 * `idlePairs` pairs with one recent message, and `expiredPairs` pairs with 60 days of history (one
 * message every 6 hours; a 30-day policy expires half of it). A twin records the keys of the copies
 * the sweep would delete.
 */
async function seedBenchData(target: Target | Twin, idlePairs: number, expiredPairs: number) {
  await seedIdlePairs(target, idlePairs);
  const pairs = Array.from({ length: expiredPairs }, (_, i) => [`old-${i}-a`, `old-${i}-b`] as const);
  for (let i = 0; i < pairs.length; i += 10) {
    const seeded = await seedPairs(target.deps, {
      pairs: pairs.slice(i, i + 10),
      from: START,
      to: NOW,
      stepMs: 6 * HOUR_MS,
      seed: 11 + i,
    });
    if (!('expired' in target)) continue;
    for (const pair of seeded) {
      const kept = new Set(survivorsOf(pair, NOW - RETENTION_DAYS * DAY_MS));
      for (const ref of sidesOf(pair)) {
        for (const { msgId } of pair.messages) {
          if (!kept.has(msgId)) target.expired.push({ pk: keys.historyPk(ref), sk: keys.messageSk(msgId) });
        }
      }
    }
  }
}

/** Deletes a twin's expired copies as the sweep's deletes go, without its reads: the store's floor. */
async function deleteExpiredCopies(twin: Twin): Promise<{ rate: number; perCopy: CpuSample }> {
  const started = performance.now();
  const before = cpuSample(twin.enginePid);
  await deleteInStreams(twin.client, twin.tableName, twin.expired);
  const spent = cpuSpent(before, cpuSample(twin.enginePid));
  return {
    rate: twin.expired.length / ((performance.now() - started) / 1000),
    perCopy: perItem(spent, twin.expired.length),
  };
}

/** One recent message in each idle pair: copies and conversation items as a send leaves them. */
async function seedIdlePairs(target: Target, count: number): Promise<void> {
  const { deps } = target;
  const items: object[] = [];
  for (let i = 0; i < count; i++) {
    const [a, b] = [`idle-${i}-a`, `idle-${i}-b`];
    const msgId = ulid(NOW - DAY_MS - (i % 1000) * 1000);
    const message: Message = {
      msgId,
      from: a,
      to: b,
      chatType: 'single',
      type: 'text',
      body: { text: 'hi' },
      timestamp: timeOfId(msgId),
    };
    for (const [owner, convId] of [
      [a, b],
      [b, a],
    ] as const) {
      const ref = { owner, chatType: 'single', convId } as const;
      items.push({ pk: keys.historyPk(ref), sk: keys.messageSk(msgId), ...message });
      items.push({
        ...keys.conversation(ref),
        owner,
        convId,
        chatType: 'single',
        lastMsgId: msgId,
        lastMessage: message,
        updatedAt: message.timestamp,
        listSk: keys.listSk(msgId, 'single', convId),
        changeSk: msgId,
        unreadCount: owner === a ? 0 : 1,
        purgeShard: keys.purgeShard(purgeShardOf(owner, deps.config.purgeShards)),
        purgeSk: keys.purgeSk(message.timestamp, ref),
      });
    }
  }
  await writeAll(
    target,
    items.map((Item) => ({ PutRequest: { Item } })),
  );
}

/** Raw BatchWriteItem deletes of as many fresh items as the sweep deleted: the store's own delete rate. */
interface RawRates {
  parallel: number;
  serial: number;
  /** CPU spent by the parallel deletes. */
  parallelCpu: CpuSample;
}

async function rawDeleteRate(store: Store, count: number): Promise<RawRates> {
  const n = Math.max(count, 1000);
  const keysOf = (prefix: string) =>
    Array.from({ length: n }, (_, i) => ({
      pk: `RAW#${prefix}#${i % 100}`,
      sk: `M#${String(i).padStart(8, '0')}`,
    }));
  const rates: RawRates = { parallel: 0, serial: 0, parallelCpu: { wallMs: 0, nodeMs: 0, engineMs: 0 } };
  for (const [mode, streams, batch] of [
    ['parallel', WORKERS, 50],
    ['serial', 1, 25],
  ] as const) {
    const items = keysOf(mode);
    await writeAll(
      store,
      items.map((Item) => ({ PutRequest: { Item: { ...Item, body: 'x'.repeat(120) } } })),
    );
    const started = performance.now();
    const cpuBefore = cpuSample(store.enginePid);
    await deleteInStreams(store.client, store.tableName, items, streams, batch);
    rates[mode] = items.length / ((performance.now() - started) / 1000);
    if (mode === 'parallel') rates.parallelCpu = perItem(cpuSpent(cpuBefore, cpuSample(store.enginePid)), n);
  }
  return rates;
}

/** Deletes by key in the sweep's shape: `streams` streams, each sending `batch` as calls of 25 at once. */
async function deleteInStreams(
  client: DocumentSender,
  tableName: string,
  keysToDelete: readonly { pk: string; sk: string }[],
  streams = WORKERS,
  batch = 50,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: streams }, async () => {
      while (next < keysToDelete.length) {
        const slice = keysToDelete.slice(next, next + batch);
        next += batch;
        const chunks = [slice.slice(0, 25), slice.slice(25)].filter((chunk) => chunk.length > 0);
        await Promise.all(
          chunks.map((chunk) =>
            client.send(
              new BatchWriteCommand({
                RequestItems: { [tableName]: chunk.map((Key) => ({ DeleteRequest: { Key } })) },
              }),
            ),
          ),
        );
      }
    }),
  );
}

/** Seeding writes: 8 BatchWriteItem calls of 25 in flight (unprocessed items are re-sent). */
async function writeAll(store: Target, requests: object[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < requests.length) {
        let chunk = requests.slice(next, next + 25);
        next += 25;
        while (chunk.length > 0) {
          const result = (await store.client.send(
            new BatchWriteCommand({ RequestItems: { [store.tableName]: chunk as never } }),
          )) as { UnprocessedItems?: Record<string, object[]> };
          chunk = result.UnprocessedItems?.[store.tableName] ?? [];
        }
      }
    }),
  );
}

const READS = ['Query', 'GetItem', 'BatchGetItem', 'Scan'];
const readRequests = (all: Record<string, number>) =>
  Object.fromEntries(Object.entries(all).filter(([name]) => READS.includes(name)));
const writeRequests = (all: Record<string, number>) =>
  Object.fromEntries(Object.entries(all).filter(([name]) => !READS.includes(name)));

function format(byCommand: Record<string, number>): string {
  const total = Object.values(byCommand).reduce((a, b) => a + b, 0);
  const parts = Object.entries(byCommand)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${name} ${n}`);
  return `${total} requests (${parts.join(', ')})`;
}

async function startStore(): Promise<Store> {
  const dynamo: EmbeddedDynamo = await startEmbeddedDynamo();
  const raw = localDynamoClient(dynamo.endpoint);
  const tableName = 'roaming_sweep_bench';
  await ensureTable(raw, tableName);
  const requests = countRequests(raw);
  const usage = measureUsage(raw);
  const client = documentClientOf(raw);
  const clock = new ManualClock(START);
  const deps = createDeps({ client, tableName, clock, config: { sweepMaxDeletesPerSecond: 0 } });
  return {
    deps,
    clock,
    client,
    tableName,
    usage,
    requests,
    rawClient: raw,
    enginePid: dynamo.pid,
    async stop() {
      raw.destroy();
      await dynamo.stop();
    },
  };
}

/** Asks every request for its consumed capacity and sums it, with the items reads returned. */
function measureUsage(client: DynamoDBClient): Usage {
  const usage: Usage = {
    readUnits: 0,
    writeUnits: 0,
    itemsRead: 0,
    reset() {
      usage.readUnits = 0;
      usage.writeUnits = 0;
      usage.itemsRead = 0;
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? '').replace(/Command$/, '');
      const input = args.input as Record<string, unknown>;
      input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const output = result.output as {
        ConsumedCapacity?: { CapacityUnits?: number } | { CapacityUnits?: number }[];
        Count?: number;
        Item?: unknown;
        Responses?: Record<string, unknown[]>;
      };
      const consumed = [output.ConsumedCapacity ?? []]
        .flat()
        .reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (READS.includes(name)) {
        usage.readUnits += consumed;
        usage.itemsRead +=
          output.Count ??
          (output.Item ? 1 : 0) +
            Object.values(output.Responses ?? {}).reduce((sum, items) => sum + items.length, 0);
      } else {
        usage.writeUnits += consumed;
      }
      return result;
    },
    { step: 'initialize', name: 'benchCapacity' },
  );
  return usage;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [users, share] = process.argv.slice(2).map(Number);
  runBenchmarks(async () => {
    await benchSweep(users || undefined, share || undefined);
  });
}

function perItem(spent: CpuSample, items: number): CpuSample {
  const n = Math.max(items, 1);
  return {
    wallMs: spent.wallMs / n,
    nodeMs: spent.nodeMs / n,
    engineMs: spent.engineMs === undefined ? undefined : spent.engineMs / n,
  };
}

function formatCpu(perCopy: CpuSample): string {
  const engine = perCopy.engineMs === undefined ? 'n/a' : perCopy.engineMs.toFixed(3);
  return `${engine} + ${perCopy.nodeMs.toFixed(3)} ms`;
}

/** CPU time over wall time: how many cores the engine and this process kept busy together. */
function coresBusy(perCopy: CpuSample): string {
  if (perCopy.engineMs === undefined) return 'n/a';
  return ((perCopy.engineMs + perCopy.nodeMs) / perCopy.wallMs).toFixed(2);
}
