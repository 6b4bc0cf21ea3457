import { DAY_MS, ManualClock } from '../functions/core/clock.js';
import { type Deps, NO_RATE_LIMITS, type RoamingConfig } from '../functions/domain/deps.js';
import { createDeps } from '../functions/runtime.js';
import { ensureTable } from '../functions/store/create-table.js';
import type { DocumentSender } from '../functions/store/db.js';
import { exitCodeOf, runCommand } from '../local/cli.js';
import {
  type EmbeddedDynamo,
  startEmbeddedDynamo,
  stopAllEmbeddedDynamos,
} from '../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import { countRequests, type RequestCounts } from '../test/support/request-counter.js';

/** A fresh DynamoDB Local, a table and the service's dependencies, with every request counted. */
export interface BenchStore {
  deps: Deps;
  clock: ManualClock;
  requests: RequestCounts;
  /** The DynamoDB Local's endpoint (npm start's event pipeline reads its stream). */
  endpoint: string;
  stop(): Promise<void>;
}

export async function startBenchStore(
  config: Partial<RoamingConfig> = {},
  /** Wraps the document client the service uses (a round-trip counter, say). */
  wrapClient: (client: DocumentSender) => DocumentSender = (client) => client,
  /** The table's stream: only the events benchmark reads it (it costs DynamoDB Local time per write). */
  options: { stream?: boolean } = {},
): Promise<BenchStore> {
  const dynamo: EmbeddedDynamo = await startEmbeddedDynamo();
  const raw = localDynamoClient(dynamo.endpoint);
  const tableName = 'roaming_bench';
  await ensureTable(raw, tableName, { stream: options.stream === true });
  // A second client outside the count: the request counter models transaction units with it.
  const shadow = localDynamoClient(dynamo.endpoint);
  const requests = countRequests(raw, { shadow });
  const clock = new ManualClock(Date.UTC(2026, 0, 1) + 30 * DAY_MS);
  // Rate limits off: the benchmarks send as fast as the store takes it, on a clock that stands still.
  const deps = createDeps({
    client: wrapClient(documentClientOf(raw)),
    tableName,
    clock,
    config: { ...NO_RATE_LIMITS, ...config },
  });
  return {
    deps,
    clock,
    requests,
    endpoint: dynamo.endpoint,
    async stop() {
      raw.destroy();
      shadow.destroy();
      await dynamo.stop();
    },
  };
}

export function formatCounts(byCommand: Record<string, number>): string {
  const total = Object.values(byCommand).reduce((a, b) => a + b, 0);
  const parts = Object.entries(byCommand)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => `${name} ${n}`);
  return `${total} (${parts.join(', ')})`;
}

/**
 * Runs benchmarks as a command: whatever ends it (done, a failure, Ctrl-C), the DynamoDB Local
 * processes they started stop with it.
 */
export function runBenchmarks(run: () => Promise<void>): void {
  runCommand(
    async function benchmarks(lifetime) {
      lifetime.onEnd(stopAllEmbeddedDynamos);
      await run();
      await lifetime.end(0);
    },
    {
      onSignal(signal) {
        console.log('Benchmarks interrupted.');
        return exitCodeOf(signal);
      },
    },
  );
}
