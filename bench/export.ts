import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DAY_MS } from '../functions/core/clock.js';
import type { ConversationRef } from '../functions/core/model.js';
import { runExport, startExport } from '../functions/domain/export-job.js';
import { folderSink } from '../functions/exports/folder-sink.js';
import { keys } from '../functions/store/keys.js';
import { seedPairs } from '../test/support/history-seed.js';
import { runBenchmarks, startBenchStore } from './setup.js';
import { formatSpread, type Spread, spreadOf } from './stats.js';

/**
 * Export throughput (copies written a second) against a raw paginated Query of the same copies on the
 * same engine: one user with CONVERSATIONS single chats of COPIES_EACH copies, exported whole (job item,
 * steps, parts in a folder, the join), then the same copies read with strongly consistent Queries of
 * 1 MB pages and nothing else. Figures only. The export reads a few pages ahead while it writes
 * (functions/domain/export-pages.ts, READ_AHEAD) and reads the next step while it records a part; the
 * raw read is one Query after the other, as a client paging through would.
 */
const CONVERSATIONS = 20;
const COPIES_EACH = 1_000;
/** Rounds, alternating which read goes first (this machine's load and caches favour neither). */
const ROUNDS = 7;
/**
 * Uncounted rounds first (both reads, as a round does them): a fresh process's and engine's first export
 * and first Queries run cold (JIT), which would charge whichever read went first.
 */
const WARM_UPS = 2;

export interface ExportFigures {
  copies: number;
  rounds: { exportRate: number; rawRate: number; ratio: number }[];
  ratioSpread: Spread;
  exportRate: number;
  rawRate: number;
  /** Requests of one export: by command. */
  exportRequests: Record<string, number>;
}

export async function benchExport(): Promise<ExportFigures> {
  const store = await startBenchStore();
  const { deps, clock, requests } = store;
  const dir = mkdtempSync(join(tmpdir(), 'roaming-bench-export-'));
  try {
    const now = clock.now();
    const pairs = Array.from(
      { length: CONVERSATIONS },
      (_, i) => ['exporter', `peer${String(i).padStart(2, '0')}`] as const,
    );
    const stepMs = Math.floor((10 * DAY_MS) / COPIES_EACH);
    await seedPairs(deps, {
      pairs,
      from: now - 10 * DAY_MS,
      to: now - 10 * DAY_MS + (COPIES_EACH - 1) * stepMs,
      stepMs,
      seed: 7,
    });
    const refs: ConversationRef[] = pairs.map(([owner, convId]) => ({ owner, chatType: 'single', convId }));
    const rounds: ExportFigures['rounds'] = [];
    let copies = 0;
    let exportRequests: Record<string, number> = {};
    for (let round = -WARM_UPS; round < ROUNDS; round++) {
      const sink = folderSink(join(dir, String(round)));
      const exportOnce = async () => {
        requests.reset();
        const started = performance.now();
        const { job } = await startExport(deps, 'bench', { userId: 'exporter', includeHidden: false });
        const outcome = await runExport(deps, sink, job.exportId, { invocationId: `bench-${round}` });
        if (outcome !== 'done') throw new Error(`export ended ${outcome}`);
        exportRequests = { ...requests.byCommand };
        return performance.now() - started;
      };
      let read = 0;
      const rawOnce = async () => {
        const started = performance.now();
        read = 0;
        for (const ref of refs) read += await queryAll(deps, ref);
        return performance.now() - started;
      };
      const rawFirst = round % 2 === 1;
      const rawMs = rawFirst ? await rawOnce() : 0;
      const exportMs = await exportOnce();
      const rawMsAfter = rawFirst ? rawMs : await rawOnce();
      if (round < 0) {
        console.log(
          `  warm-up: export ${exportMs.toFixed(0)} ms, raw Query ${rawMsAfter.toFixed(0)} ms (not counted)`,
        );
        continue;
      }
      copies = read;
      const exportRate = read / (exportMs / 1000);
      const rawRate = read / ((rawFirst ? rawMs : rawMsAfter) / 1000);
      rounds.push({ exportRate, rawRate, ratio: exportRate / rawRate });
      console.log(
        `  round ${round + 1}: export ${exportRate.toFixed(0)} copies/s (${exportMs.toFixed(0)} ms), ` +
          `raw Query ${rawRate.toFixed(0)} copies/s: ${(exportRate / rawRate).toFixed(2)}×${rawFirst ? ' (raw first)' : ''}`,
      );
    }
    const ratioSpread = spreadOf(rounds.map((r) => r.ratio));
    const median = (values: number[]) =>
      [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
    const figures = {
      copies,
      rounds,
      ratioSpread,
      exportRate: median(rounds.map((r) => r.exportRate)),
      rawRate: median(rounds.map((r) => r.rawRate)),
      exportRequests,
    };
    console.log(
      `  export / raw Query: ${formatSpread(ratioSpread)}× (${copies} copies in ${CONVERSATIONS} conversations); ` +
        `one export's requests: ${Object.entries(exportRequests)
          .map(([c, n]) => `${c} ${n}`)
          .join(', ')}`,
    );
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await store.stop();
  }
}

/** The raw read: every copy of one conversation, oldest first, 1 MB pages, strongly consistent. */
async function queryAll(deps: Awaited<ReturnType<typeof startBenchStore>>['deps'], ref: ConversationRef) {
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = (await deps.db.client.send(
      new QueryCommand({
        TableName: deps.db.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.historyPk(ref) },
        ConsistentRead: true,
        ExclusiveStartKey: start,
      }),
    )) as { Items?: unknown[]; LastEvaluatedKey?: Record<string, unknown> };
    count += page.Items?.length ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchmarks(async () => {
    await benchExport();
  });
}
