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
import { runSweep, type SweepSummary } from '../functions/domain/sweep.js';
import { DELETE_STREAMS_PER_WORKER, ROUND_COPIES } from '../functions/domain/sweep-round.js';
import { createDeps } from '../functions/runtime.js';
import { applyMessage, stateOf } from '../functions/store/conversation.js';
import { itemOf } from '../functions/store/conversation-item.js';
import { ensureTable } from '../functions/store/create-table.js';
import type { Db, DocumentSender } from '../functions/store/db.js';
import { keys } from '../functions/store/keys.js';
import { copyItem } from '../functions/store/message-store.js';
import { createWritePipe } from '../functions/store/write-pipe.js';
import { type EmbeddedDynamo, startEmbeddedDynamo } from '../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import {
  HOUR_MS,
  NOW,
  START,
  SWEEP_AT,
  seedPairs,
  sidesOf,
  survivorsOf,
} from '../test/support/history-seed.js';
import { countRequests } from '../test/support/request-counter.js';
import { type CpuSample, cpuSample, cpuSpent, perItem, sumCpu } from './cpu.js';
import { runBenchmarks } from './setup.js';
import { formatSpread, type Spread, spreadOf } from './stats.js';

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
  /** Copies deleted per second by the sweep, uncapped: the median over the rounds. */
  sweepRate: number;
  /**
   * Raw BatchWriteItem deletes per second of the same copies (twin tables seeded alike, keys known) in
   * the sweep's shape: the median over the rounds.
   */
  rawRate: number;
  /** Each round: the raw deletes of a twin, then the sweep of its table. */
  rounds: { sweepRate: number; rawRate: number; ratio: number; seconds: number }[];
  /** Raw deletes of small items written just before (the floor as first measured), same shape. */
  freshItemsRawRate: number;
  /** One stream of 25 at a time, fresh items. */
  rawSerialRate: number;
  /** Median over the rounds of each sweep's rate over the raw rate measured right before it. */
  ratio: number;
  ratioSpread: Spread;
  /** sweepRate / freshItemsRawRate. */
  freshItemsRatio: number;
  /** CPU per deleted copy (ms), engine (by thread kind too) and this process, with the wall time per copy. */
  cpuPerCopy: { sweep: CpuSample; raw: CpuSample; freshItemsRaw: CpuSample };
  /** Share of the wall time the engine's one SQLite thread was busy: its limit is 1. */
  sqliteBusy: { sweep: number | undefined; raw: number | undefined };
  /** The engine's JIT compiler CPU (ms) in each warm-up sweep, then in each round's sweep and raw deletes. */
  jitMs: {
    warmUps: (number | undefined)[];
    sweeps: (number | undefined)[];
    raw: (number | undefined)[];
  };
  /** Copies per second of each warm-up sweep (a fresh engine's first sweep is the slow one). */
  warmUpRates: number[];
  /** What the measured sweep read and wrote, from ReturnConsumedCapacity. */
  usage: { itemsRead: number; readUnits: number; writeUnits: number };
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
/** Rounds of raw deletes then a sweep, each on tables of its own: the ratio is their median. */
const ROUNDS = 5;
/** BatchWriteItem calls the sweep's invocation keeps in flight: the raw floors use as many. */
const SWEEP_STREAMS = WORKERS * DELETE_STREAMS_PER_WORKER;
const RETENTION_DAYS = 30;

async function measure(store: Store, users: number, expiredShare: number): Promise<SweepFigures> {
  const { deps, clock } = store;
  const expiredPairs = Math.max(1, Math.round((users * expiredShare) / 2));
  const idlePairs = Math.floor(users / 2) - expiredPairs;
  console.log(
    `Sweep benchmark on DynamoDB Local: ${users} users, ${expiredPairs * 2} (${(expiredShare * 100).toFixed(1)}%) ` +
      `with expired messages, ${deps.config.purgeShards} shards, ${WORKERS} workers`,
  );

  const started = performance.now();
  // Per round, a sweep table and its twin, seeded alike: the twin's raw deletes are of the very copies
  // the sweep deletes. Round 1 sweeps the store's own table, whose requests are counted.
  const rounds: { table: Target; twin: Twin }[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const twin = await twinTable(store, `raw_${round}`);
    const table = round === 1 ? store : await twinTable(store, `sweep_${round}`);
    for (const target of [twin, table]) await seedBenchData(target, idlePairs, expiredPairs);
    rounds.push({ table, twin });
  }
  // Seeded before any of them runs: writes after a warm-up sweep would undo some of what it warmed.
  const warmUpTables: Target[] = [];
  for (let i = 1; i <= WARM_UPS; i++) {
    const table = await twinTable(store, `warm_up_${i}`);
    await seedBenchData(table, 0, expiredPairs);
    warmUpTables.push(table);
  }
  console.log(
    `  seeded ${ROUNDS} sweep tables, their twins and ${WARM_UPS} warm-up tables in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  clock.set(SWEEP_AT); // the sweep deletes two hours behind the cutoff: at SWEEP_AT, exactly what expired at NOW
  const warmUp = await warmUpEngine(store, warmUpTables);

  const rawBefore = await rawDeleteRate(store, (rounds[0] as { twin: Twin }).twin.expired.length);
  const measured: RoundFigures[] = [];
  let first:
    | { summary: SweepSummary; reads: Record<string, number>; writes: Record<string, number>; usage: Usage }
    | undefined;
  for (const [i, { table, twin }] of rounds.entries()) {
    const raw = await deleteExpiredCopies(twin);
    await setAppRetention(table.deps, 'bench', RETENTION_DAYS);
    store.requests.reset();
    store.usage.reset();
    const before = cpuSample(store.enginePid);
    const summary = await runSweep(table.deps, { workers: WORKERS });
    const spent = cpuSpent(before, cpuSample(store.enginePid));
    if (i === 0) {
      const { byCommand } = store.requests;
      first = {
        summary,
        reads: readRequests(byCommand),
        writes: writeRequests(byCommand),
        usage: { ...store.usage },
      };
    }
    const copies = summary.counts.messagesDeleted;
    const sweepRate = copies / (spent.wallMs / 1000);
    measured.push({
      sweepRate,
      rawRate: raw.rate,
      ratio: sweepRate / raw.rate,
      seconds: spent.wallMs / 1000,
      copies,
      sweepCpu: spent,
      rawCpu: raw.spent,
      rawCopies: twin.expired.length,
    });
  }
  const rawAfter = await rawDeleteRate(store, (rounds[0] as { twin: Twin }).twin.expired.length);
  const { summary, reads, writes, usage } = first as NonNullable<typeof first>;
  const { counts } = summary;
  const ratio = spreadOf(measured.map((round) => round.ratio));
  const sweepRate = spreadOf(measured.map((round) => round.sweepRate)).median;
  const rawRate = spreadOf(measured.map((round) => round.rawRate)).median;
  const raw = {
    parallel: (rawBefore.parallel + rawAfter.parallel) / 2,
    serial: (rawBefore.serial + rawAfter.serial) / 2,
  };
  // CPU over every round: the sweeps' against the raw deletes'.
  const sweepPerCopy = perItem(
    sumCpu(measured.map((round) => round.sweepCpu)),
    measured.reduce((sum, round) => sum + round.copies, 0),
  );
  const twinPerCopy = perItem(
    sumCpu(measured.map((round) => round.rawCpu)),
    measured.reduce((sum, round) => sum + round.rawCopies, 0),
  );
  const rawPerCopy = rawAfter.parallelCpu;

  const S = deps.config.purgeShards;
  const C = counts.conversations;
  const E = counts.messagesDeleted;
  // Every expired side holds the same number of expired copies here.
  const perConversation = C > 0 ? E / C : 0;
  // A round reads each of its conversations' due keys and, alongside, the oldest copy left.
  const keyQueries = C * 2 * Math.ceil((perConversation + 1) / ROUND_COPIES);
  // Rounds: two BatchGetItem each, its items and its owners' policies (docs/storage.md, "Cost of a run").
  const R = (reads.BatchGetItem ?? 0) / 2;
  console.log(
    `  run: ${summary.outcome}; ${E} copies deleted in ${counts.batches} batches, ${C} conversations, ` +
      `${counts.users} users, ${counts.retries} retries`,
  );
  console.log('');
  console.log('  delete rate (same DynamoDB Local, same run)');
  console.log(
    `    sweep, ${WORKERS} workers, no cap:          ${sweepRate.toFixed(0)} copies/s, median of ${ROUNDS} rounds ` +
      `(${measured.map((round) => round.sweepRate.toFixed(0)).join(', ')}; default cap ${DEFAULT_CONFIG.sweepMaxDeletesPerSecond}/s per invocation)`,
  );
  console.log(
    `    raw BatchWriteItem of the same copies:  ${rawRate.toFixed(0)} deletes/s, median (${measured.map((round) => round.rawRate.toFixed(0)).join(', ')}; ` +
      `twin tables seeded alike, keys known, ${SWEEP_STREAMS} calls of 25 in flight as the sweep's write pipe: the sweep without its reads)`,
  );
  console.log(
    `    raw BatchWriteItem of fresh items:      ${raw.parallel.toFixed(0)} deletes/s (before ${rawBefore.parallel.toFixed(0)}, ` +
      `after ${rawAfter.parallel.toFixed(0)}; small items written just before, same shape)`,
  );
  console.log(
    `    raw BatchWriteItem, 1 stream of 25:     ${raw.serial.toFixed(0)} deletes/s (fresh items; before ${rawBefore.serial.toFixed(0)}, after ${rawAfter.serial.toFixed(0)})`,
  );
  console.log(
    `    sweep / raw, same copies:               ${formatSpread(ratio, 2, '×')}, each round's sweep against the raw deletes ` +
      `right before it: ${measured.map((round) => `${round.ratio.toFixed(2)}×`).join(', ')} (against fresh items: ${(sweepRate / raw.parallel).toFixed(2)}×)`,
  );
  const sqliteBusy = { sweep: sqliteBusyShare(sweepPerCopy), raw: sqliteBusyShare(twinPerCopy) };
  const jitMs = {
    warmUps: warmUp.jitMs,
    sweeps: measured.map((round) => round.sweepCpu.engineThreads?.jitMs),
    raw: measured.map((round) => round.rawCpu.engineThreads?.jitMs),
  };
  console.log(
    `    engine threads: its one SQLite thread busy ${formatShare(sqliteBusy.sweep)} of the sweeps' time, ` +
      `${formatShare(sqliteBusy.raw)} of the raw deletes'; JIT compiler ${jitMs.sweeps.map(formatMs).join(', ')} during the sweeps, ` +
      `${jitMs.raw.map(formatMs).join(', ')} during the raw deletes (warm-up sweeps before: ${jitMs.warmUps.map(formatMs).join(', ')}; ` +
      `${warmUp.rates.map((rate) => rate.toFixed(0)).join(', ')} copies/s)`,
  );
  console.log(
    `    CPU per deleted copy, engine + this process: sweep ${formatCpu(sweepPerCopy)}, same copies raw ${formatCpu(twinPerCopy)}, ` +
      `fresh items raw ${formatCpu(rawPerCopy)} (cores busy: ${coresBusy(sweepPerCopy)}, ${coresBusy(twinPerCopy)}, ${coresBusy(rawPerCopy)} of ${availableParallelism()})`,
  );
  console.log('');
  console.log(`  DynamoDB reads of the first round's sweep: ${format(reads)}`);
  console.log(`    items read: ${usage.itemsRead}; read capacity: ${usage.readUnits.toFixed(1)} RCU`);
  console.log(
    `    model: S index + Σ 2⌈(e+1)/250⌉ key Queries + 2R round reads (items, then policies) + S + W + 1 listings + ≈ 2 run items = ` +
      `≈ ${2 * S + keyQueries + 2 * R + WORKERS + 3} (S=${S}, W=${WORKERS}, C=${C}, E=${E}, R=${R}); ` +
      `reading every user instead: >= ${users} Queries`,
  );
  console.log(
    `  DynamoDB writes of the first round's sweep: ${format(writes)}; write capacity: ${usage.writeUnits.toFixed(1)} WCU`,
  );
  console.log(
    `    model: ⌈E/25⌉ BatchWriteItem + R checkpoints + 2S claims and closes + C settles + ≈ 4 = ` +
      `≈ ${Math.ceil(E / 25) + R + 2 * S + C + 4} requests; ` +
      `units E + R + 2S + 5C (a settle: item + 3 indexes) = ≈ ${E + R + 2 * S + 5 * C} WCU`,
  );
  return {
    users,
    expiredUsers: expiredPairs * 2,
    shards: S,
    workers: WORKERS,
    copiesDeleted: E,
    conversations: C,
    sweepRate,
    rawRate,
    rounds: measured.map(({ sweepRate, rawRate, ratio, seconds }) => ({
      sweepRate,
      rawRate,
      ratio,
      seconds,
    })),
    freshItemsRawRate: raw.parallel,
    rawSerialRate: raw.serial,
    ratio: ratio.median,
    ratioSpread: ratio,
    freshItemsRatio: sweepRate / raw.parallel,
    cpuPerCopy: { sweep: sweepPerCopy, raw: twinPerCopy, freshItemsRaw: rawPerCopy },
    sqliteBusy,
    jitMs,
    warmUpRates: warmUp.rates,
    usage: { itemsRead: usage.itemsRead, readUnits: usage.readUnits, writeUnits: usage.writeUnits },
    reads,
    writes,
  };
}

interface RoundFigures {
  sweepRate: number;
  rawRate: number;
  ratio: number;
  seconds: number;
  copies: number;
  sweepCpu: CpuSample;
  rawCpu: CpuSample;
  rawCopies: number;
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

/**
 * DynamoDB Local is a JVM: the first times it serves a kind of request, its JIT compiler spends CPU on the
 * same two cores as everything else. On a fresh engine that was 1.5 s during the sweep, more than half of
 * its gap to the raw deletes, which paid almost nothing: seeding had warmed their write path. The
 * compiler goes on as each kind of request passes its thresholds, so warming takes request counts at
 * the measured density: eight sweeps of tables of their own, seeded as the measured ones (without the
 * idle users, whom a sweep never reads). With nine where eight were sparse (a message every 2 days),
 * the compiler still woke up for 0.3–1.3 s in one or two of the five measured sweeps; with eight dense
 * ones, at most 0.12 s. All are seeded before the first runs. The compiler's CPU is printed for each,
 * and for each measured phase; AWS's DynamoDB has no such phase.
 */
async function warmUpEngine(
  store: Store,
  tables: readonly Target[],
): Promise<{ jitMs: (number | undefined)[]; rates: number[] }> {
  const jitMs: (number | undefined)[] = [];
  const rates: number[] = [];
  for (const table of tables) {
    await setAppRetention(table.deps, 'bench', RETENTION_DAYS);
    const before = cpuSample(store.enginePid);
    const summary = await runSweep(table.deps, { workers: WORKERS });
    const spent = cpuSpent(before, cpuSample(store.enginePid));
    jitMs.push(spent.engineThreads?.jitMs);
    rates.push(summary.counts.messagesDeleted / (spent.wallMs / 1000));
  }
  return { jitMs, rates };
}

const WARM_UPS = 8;

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
async function deleteExpiredCopies(twin: Twin): Promise<{ rate: number; spent: CpuSample }> {
  const started = performance.now();
  const before = cpuSample(twin.enginePid);
  await deleteThroughPipe(twin.deps.db, twin.expired, SWEEP_STREAMS);
  const spent = cpuSpent(before, cpuSample(twin.enginePid));
  return {
    rate: twin.expired.length / ((performance.now() - started) / 1000),
    spent,
  };
}

/**
 * One recent message in each idle pair: copies and conversation items as a send leaves them, built by
 * the same code (the aggregate's event, the item's declaration), written in batches rather than a
 * transaction per message. (No change marker is written: the bench never syncs.)
 */
async function seedIdlePairs(target: Target, count: number): Promise<void> {
  const { deps } = target;
  const { tableName } = deps.db;
  const { purgeShards } = deps.config;
  const items: Record<string, unknown>[] = [];
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
      const sync = { owner, exists: false, epoch: 0, pinCount: 0 };
      const context = { tableName, sync, now: NOW, purgeShards };
      const sent = applyMessage(context, stateOf(ref, undefined), { message, seq: 1, own: owner === a });
      items.push(copyItem(ref, message, 1), itemOf(sent.next, purgeShards));
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
  const rates: RawRates = {
    parallel: 0,
    serial: 0,
    parallelCpu: { wallMs: 0, nodeMs: 0, engineMs: 0, engineThreads: undefined },
  };
  for (const [mode, streams] of [
    ['parallel', SWEEP_STREAMS],
    ['serial', 1],
  ] as const) {
    const items = keysOf(mode);
    await writeAll(
      store,
      items.map((Item) => ({ PutRequest: { Item: { ...Item, body: 'x'.repeat(120) } } })),
    );
    const started = performance.now();
    const cpuBefore = cpuSample(store.enginePid);
    await deleteThroughPipe(store.deps.db, items, streams);
    rates[mode] = items.length / ((performance.now() - started) / 1000);
    if (mode === 'parallel') rates.parallelCpu = perItem(cpuSpent(cpuBefore, cpuSample(store.enginePid)), n);
  }
  return rates;
}

/** Deletes by key in the sweep's shape: `streams` streams, each sending `batch` as calls of 25 at once. */
/**
 * Deletes by key through a write pipe as the sweep's deletes go (store/write-pipe.ts): `streams`
 * BatchWriteItem calls of 25 in flight while any are queued, unprocessed items re-sent. The sweep's
 * own shape, without its reads.
 */
async function deleteThroughPipe(
  db: Db,
  keysToDelete: readonly { pk: string; sk: string }[],
  streams: number,
): Promise<void> {
  await createWritePipe(streams).write(
    db,
    keysToDelete.map((Key) => ({ DeleteRequest: { Key } })),
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

function sqliteBusyShare(spent: CpuSample): number | undefined {
  const sqliteMs = spent.engineThreads?.sqliteMs;
  return sqliteMs === undefined ? undefined : sqliteMs / spent.wallMs;
}

const formatShare = (share: number | undefined) =>
  share === undefined ? 'n/a' : `${(share * 100).toFixed(0)}%`;
const formatMs = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

function formatCpu(perCopy: CpuSample): string {
  const engine = perCopy.engineMs === undefined ? 'n/a' : perCopy.engineMs.toFixed(3);
  return `${engine} + ${perCopy.nodeMs.toFixed(3)} ms`;
}

/** CPU time over wall time: how many cores the engine and this process kept busy together. */
function coresBusy(perCopy: CpuSample): string {
  if (perCopy.engineMs === undefined) return 'n/a';
  return ((perCopy.engineMs + perCopy.nodeMs) / perCopy.wallMs).toFixed(2);
}
