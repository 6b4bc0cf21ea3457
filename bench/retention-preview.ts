import { pathToFileURL } from 'node:url';
import { DAY_MS } from '../functions/core/clock.js';
import { previewRetention } from '../functions/domain/retention-preview.js';
import { seedPairs } from '../test/support/history-seed.js';
import { formatCounts, runBenchmarks, startBenchStore } from './setup.js';

/**
 * The retention preview's cost (docs/compliance.md, "Retention preview and undo"): read units as DynamoDB
 * Local reports them (ReturnConsumedCapacity) and requests, for a policy that deletes every one of 1,000
 * and of 100,000 seeded copies, counted exactly and from a sample, and for one that deletes nothing.
 */
export interface PreviewFigure {
  label: string;
  copies: number;
  method: string;
  readUnits: number;
  requests: string;
  ms: number;
}

/** `pairs` conversations each way with `perConversation` messages over the 20 days before now. */
const CASES = [
  { copies: 1_000, pairs: 10, perConversation: 50 },
  { copies: 100_000, pairs: 100, perConversation: 500 },
];

export async function benchRetentionPreview(): Promise<PreviewFigure[]> {
  const figures: PreviewFigure[] = [];
  for (const size of CASES) {
    // The default limit (every conversation counted), then a sample of a tenth of them.
    for (const exactLimit of [1000, size.pairs / 5]) {
      const store = await startBenchStore({ retentionPreviewExactConversations: exactLimit });
      try {
        const now = store.clock.now();
        const stepMs = Math.floor((20 * DAY_MS) / size.perConversation);
        const pairs = Array.from({ length: size.pairs }, (_, i) => [`bp-${i}a`, `bp-${i}b`] as const);
        await seedPairs(store.deps, { pairs, from: now - 20 * DAY_MS, to: now - stepMs, stepMs, seed: 7 });
        const measure = async (label: string, days: number) => {
          store.requests.reset();
          const started = performance.now();
          const preview = await previewRetention(store.deps, { days });
          const figure: PreviewFigure = {
            label,
            copies: preview.copies,
            method:
              preview.method.kind === 'exact'
                ? 'exact'
                : `estimate ±${preview.method.maxError} (${preview.method.sampled} of ${preview.method.of})`,
            readUnits: store.requests.readUnits,
            requests: formatCounts(store.requests.byCommand),
            ms: performance.now() - started,
          };
          console.log(
            `  ${label.padEnd(52)} due ${String(figure.copies).padStart(6)}  ${figure.method.padEnd(26)} ` +
              `RU ${figure.readUnits.toFixed(1).padStart(8)}  requests ${figure.requests}  ${figure.ms.toFixed(0)} ms`,
          );
          figures.push(figure);
        };
        const limit = exactLimit === 1000 ? 'every one counted' : `${exactLimit} sampled`;
        await measure(`${size.copies} copies, ${size.pairs * 2} conversations, ${limit}`, 1);
        if (exactLimit === 1000) await measure(`${size.copies} copies, nothing due`, 30);
      } finally {
        await store.stop();
      }
    }
  }
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchRetentionPreview();
  });
