import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { RateLimitedError } from '../functions/core/errors.js';
import type { RoamingConfig } from '../functions/domain/deps.js';
import { createGroup } from '../functions/domain/groups.js';
import { sendMessage } from '../functions/domain/send.js';
import { text } from '../test/support/fixtures.js';
import { transactionConflicts } from '../test/support/transaction-conflicts.js';
import { runBenchmarks, startBenchStore } from './setup.js';

/**
 * Hot items under DynamoDB's transaction conflicts (test/support/transaction-conflicts.ts: a transaction
 * holds its items for HOLD_MS, as one takes tens of milliseconds on AWS; whatever touches them meanwhile
 * is cancelled). Every send's transaction checks its recipients' sync heads, and every send to a group
 * writes its META, so concurrent sends to one user or one group conflict. Each scenario runs without
 * the inbound limit (inbound-limits.ts) and with it (20 a second, bursts of 40: its defaults), where a
 * refused sender waits the Retry-After it is given and sends again, as an app does. Prints, per
 * scenario: sends per second delivered, transactions cancelled and store retries per send, 429s from
 * the inbound limit per send, and sends that gave up (the store's attempts ran out under conflicts).
 * `npx tsx bench/hot-items.ts`
 */
const HOLD_MS = 15;
const SENDERS = 50;
const SENDS_EACH = 4;
const CAPPED: Partial<RoamingConfig> = {
  inboundPerSecond: Number(process.env.HOT_RATE ?? 20),
  inboundQueueMs: Number(process.env.HOT_QUEUE_MS ?? 2000),
};

export interface HotItemFigure {
  scenario: string;
  sendsPerSecond: number;
  cancelledPerSend: number;
  retriesPerSend: number;
  /** 429s the inbound limit answered, per send (each was sent again after its Retry-After). */
  refusedPerSend: number;
  gaveUp: number;
}

export async function benchHotItems(): Promise<HotItemFigure[]> {
  const figures: HotItemFigure[] = [];
  console.log(`  transactions hold their items ${HOLD_MS} ms; ${SENDERS} senders, ${SENDS_EACH} sends each`);
  const toOne: Setup = async () => ({ send: (sender) => text('star', `from ${sender}`) });
  const toGroupOf =
    (members: number): Setup =>
    async (deps) => {
      const senders = Array.from({ length: SENDERS }, (_, i) => `sender-${i}`);
      const others = Array.from({ length: members - 1 - SENDERS }, (_, i) => `member-${i}`);
      const group = await createGroup(deps, 'owner', { name: 'hot', members: [...senders, ...others] });
      return { send: () => text(group.groupId, 'to everyone', { chatType: 'group' }) };
    };
  const runs = [
    ['', {}],
    [`, inbound limit ${CAPPED.inboundPerSecond}/s`, CAPPED],
  ] as const;
  for (const [label, config] of process.env.HOT_ONLY_CAPPED ? runs.slice(1) : runs) {
    figures.push(await scenario(`one recipient, ${SENDERS} senders${label}`, config, toOne));
    figures.push(
      await scenario(
        `one group of ${SENDERS + 1} (fan-out), ${SENDERS} senders${label}`,
        config,
        toGroupOf(SENDERS + 1),
      ),
    );
    figures.push(
      await scenario(
        `one group of 5,000 (shared), ${SENDERS} senders${label}`,
        { ...config, maxGroupMembers: 5_000 },
        toGroupOf(5_000),
      ),
    );
  }
  return figures;
}

type Setup = (deps: Awaited<ReturnType<typeof startBenchStore>>['deps']) => Promise<{
  send: (sender: string) => ReturnType<typeof text>;
}>;

async function scenario(label: string, config: Partial<RoamingConfig>, setup: Setup): Promise<HotItemFigure> {
  const conflicts = transactionConflicts({ holdMs: HOLD_MS });
  const store = await startBenchStore(config, (client) => conflicts.wrap(client));
  try {
    const { send } = await setup(store.deps);
    // A first send finishes a switch to shared mode that the group's creation began.
    await sendMessage(store.deps, 'sender-0', send('sender-0')).catch(() => undefined);
    // The bench's clock stands still; here the senders' follows real time, so inbound slots come.
    const from = store.clock.now();
    const startedAt = performance.now();
    const deps = { ...store.deps, clock: { now: () => from + Math.floor(performance.now() - startedAt) } };
    conflicts.reset();
    const retriesBefore = store.deps.db.retryCounter.retries;
    let gaveUp = 0;
    let refused = 0;
    const reasons = new Map<string, number>();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: SENDERS }, async (_, i) => {
        const sender = `sender-${i}`;
        for (let n = 0; n < SENDS_EACH; n++) {
          for (;;) {
            try {
              await sendMessage(deps, sender, send(sender));
              break;
            } catch (error) {
              if (error instanceof RateLimitedError && error.limit === 'inbound') {
                refused++;
                await sleep((error.retryAfterSeconds ?? 1) * 1000);
                continue;
              }
              gaveUp++;
              reasons.set(describe(error), (reasons.get(describe(error)) ?? 0) + 1);
              break;
            }
          }
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
      refusedPerSend: refused / sends,
      gaveUp,
    };
    console.log(
      `  ${label.padEnd(58)} ${figure.sendsPerSecond.toFixed(1).padStart(6)} sends/s, ` +
        `${figure.cancelledPerSend.toFixed(2)} cancelled, ${figure.retriesPerSend.toFixed(2)} retries and ` +
        `${figure.refusedPerSend.toFixed(2)} inbound 429s per send, ${gaveUp} of ${sends} gave up` +
        (reasons.size ? ` (${[...reasons].map(([why, n]) => `${n}: ${why}`).join('; ')})` : ''),
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

/** Why a send gave up, in a few words (the error's class and the start of its message). */
function describe(error: unknown): string {
  return error instanceof Error ? `${error.name} ${error.message.slice(0, 40)}` : String(error);
}
