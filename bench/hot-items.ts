import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createGroup } from '../functions/domain/groups.js';
import { sendMessage } from '../functions/domain/send.js';
import { text } from '../test/support/fixtures.js';
import { transactionConflicts } from '../test/support/transaction-conflicts.js';
import { runBenchmarks, startBenchStore } from './setup.js';

/**
 * Hot items under DynamoDB's transaction conflicts (test/support/transaction-conflicts.ts: a transaction
 * holds its items for HOLD_MS, as one takes tens of milliseconds on AWS; whatever touches them meanwhile
 * is cancelled). Every send's transaction checks its recipients' sync heads, so concurrent sends to one
 * user conflict even when they write different conversations. Prints, per scenario, sends per second,
 * transactions cancelled and retries per send, and sends that gave up (the store's 8 attempts ran out).
 * `npx tsx bench/hot-items.ts`
 */
const HOLD_MS = 15;
const SENDERS = 50;
const SENDS_EACH = 4;

export interface HotItemFigure {
  scenario: string;
  sendsPerSecond: number;
  cancelledPerSend: number;
  retriesPerSend: number;
  gaveUp: number;
}

export async function benchHotItems(): Promise<HotItemFigure[]> {
  const figures: HotItemFigure[] = [];
  console.log(`  transactions hold their items ${HOLD_MS} ms; ${SENDERS} senders, ${SENDS_EACH} sends each`);
  figures.push(
    await scenario(`one recipient, ${SENDERS} concurrent senders`, async () => ({
      send: (sender) => text('star', `from ${sender}`),
    })),
  );
  figures.push(
    await scenario(`one group of ${SENDERS + 1}, ${SENDERS} concurrent senders`, async (deps) => {
      const members = Array.from({ length: SENDERS }, (_, i) => `sender-${i}`);
      const group = await createGroup(deps, 'owner', { name: 'hot', members });
      return { send: () => text(group.groupId, 'to everyone', { chatType: 'group' }) };
    }),
  );
  return figures;
}

type Setup = (deps: Awaited<ReturnType<typeof startBenchStore>>['deps']) => Promise<{
  send: (sender: string) => ReturnType<typeof text>;
}>;

async function scenario(label: string, setup: Setup): Promise<HotItemFigure> {
  const conflicts = transactionConflicts({ holdMs: HOLD_MS });
  const store = await startBenchStore({}, (client) => conflicts.wrap(client));
  try {
    const { send } = await setup(store.deps);
    conflicts.reset();
    const retriesBefore = store.deps.db.retryCounter.retries;
    let gaveUp = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SENDERS }, async (_, i) => {
        const sender = `sender-${i}`;
        for (let n = 0; n < SENDS_EACH; n++) {
          await sendMessage(store.deps, sender, send(sender)).catch(() => {
            gaveUp++;
          });
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    const sends = SENDERS * SENDS_EACH;
    const figure: HotItemFigure = {
      scenario: label,
      sendsPerSecond: (sends - gaveUp) / seconds,
      cancelledPerSend: conflicts.cancelled / sends,
      retriesPerSend: (store.deps.db.retryCounter.retries - retriesBefore) / sends,
      gaveUp,
    };
    console.log(
      `  ${label.padEnd(48)} ${figure.sendsPerSecond.toFixed(1).padStart(6)} sends/s, ` +
        `${figure.cancelledPerSend.toFixed(2)} cancelled and ${figure.retriesPerSend.toFixed(2)} retries per send, ` +
        `${gaveUp} of ${sends} gave up`,
    );
    return figure;
  } finally {
    await store.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchHotItems();
  });
