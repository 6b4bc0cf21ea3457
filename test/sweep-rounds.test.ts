import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { readConversationsOnly } from '../functions/domain/conversation-writes.js';
import { fetchHistory } from '../functions/domain/history.js';
import { sendMessage } from '../functions/domain/send.js';
import { runSweep } from '../functions/domain/sweep.js';
import { ROUND_COPIES } from '../functions/domain/sweep-round.js';
import { conversationKey, settlePurge } from '../functions/store/conversation.js';
import type { DocumentCommand, DocumentSender } from '../functions/store/db.js';
import { keys } from '../functions/store/keys.js';
import type { SweepCounts } from '../functions/store/sweep-store.js';
import { commandGate, writes } from './support/command-gate.js';
import { type Harness, startHarness } from './support/harness.js';
import {
  conversationItem,
  copiesInTable,
  dataOf,
  HOUR_MS,
  NOW,
  ringOf,
  type SeededPair,
  START,
  SWEEP_AT,
  seedPairs,
  sidesOf,
  survivorsOf,
} from './support/history-seed.js';
import { expectCountedAtLeastOnce } from './support/sweep-counts.js';

/**
 * The sweep works in rounds (functions/domain/sweep-round.ts): a conversation with more due copies
 * than a round takes goes on in the next ones. Here every
 * conversation has about three rounds' worth of expired copies (one message an hour for 60 days, a
 * 30-day policy), and the sweep is cut at many points, by a crash and by a clean stop; each run must
 * end as the clean run ends. Its counts are at least once: a clean stop adds up the clean run's copies and
 * batches exactly, a crash's replay may count some again.
 */
const CONFIG = { sweepMaxDeletesPerSecond: 0 };
const PAIRS = ringOf('r', 3);

const harnesses: Harness[] = [];
async function seeded(
  wrapClient?: (client: DocumentSender) => DocumentSender,
): Promise<{ h: Harness; pairs: SeededPair[] }> {
  const h = await startHarness({ config: CONFIG, wrapClient });
  harnesses.push(h);
  // One pair at a time: a pair's copies go out in 40 BatchWriteItem calls at once already.
  const pairs: SeededPair[] = [];
  for (const [i, pair] of PAIRS.entries()) {
    pairs.push(
      ...(await seedPairs(h.deps, { pairs: [pair], from: START, to: NOW, stepMs: HOUR_MS, seed: 23 + i })),
    );
  }
  const admin = await h.as('ops', { admin: true });
  await admin.setAppRetention(30);
  await admin.setUserRetention('r00', 10);
  h.clock.set(SWEEP_AT);
  return { h, pairs };
}

let clean: { data: string[]; counts: SweepCounts };
beforeAll(async () => {
  const { h } = await seeded();
  const summary = await runSweep(h.deps);
  expect(summary.outcome).toBe('finished');
  clean = { data: await dataOf(h.documentClient, h.tableName), counts: summary.runCounts };
});
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** Fails every request from the `n`th BatchWriteItem on, as if the process died there. */
function diesAtBatchWrite(n: number) {
  const state = { armed: false, batchWrites: 0, dead: false };
  const wrap = (real: DocumentSender): DocumentSender => ({
    send: ((command: DocumentCommand) => {
      if (state.armed && command instanceof BatchWriteCommand && ++state.batchWrites === n) state.dead = true;
      return state.dead ? Promise.reject(new Error('the process died')) : real.send(command as never);
    }) as DocumentSender['send'],
  });
  return { state, wrap };
}

describe('a sweep of conversations longer than a round', () => {
  it('deletes exactly what is due, over several rounds per conversation', async () => {
    // Prepare
    const { h, pairs } = await seeded();
    // Act
    const summary = await runSweep(h.deps);
    // Assess
    expect(summary.outcome).toBe('finished');
    for (const pair of pairs) {
      for (const ref of sidesOf(pair)) {
        const days = ref.owner === 'r00' ? 10 : 30;
        const copies = await copiesInTable(h.documentClient, h.tableName, ref);
        expect(copies).toEqual(survivorsOf(pair, NOW - days * DAY_MS));
      }
    }
    const deleted = pairs.flatMap((pair) =>
      sidesOf(pair).map(
        (ref) =>
          pair.messages.length - survivorsOf(pair, NOW - (ref.owner === 'r00' ? 10 : 30) * DAY_MS).length,
      ),
    );
    expect(Math.min(...deleted)).toBeGreaterThan(2 * ROUND_COPIES); // every conversation spans 3+ rounds
    expect(summary.runCounts).toMatchObject({
      messagesDeleted: deleted.reduce((a, b) => a + b, 0),
      conversations: 6,
      users: 3,
    });
  });

  it.each([1, 4, 9, 17, 30])(
    'killed at its BatchWriteItem number %i, resumes once the lease lapses and ends as the clean run',
    async (n) => {
      // Prepare
      const death = diesAtBatchWrite(n);
      const { h } = await seeded(death.wrap);
      death.state.armed = true;
      // Act
      const crash = await runSweep(h.deps).catch((error: unknown) => error);
      death.state.dead = false;
      death.state.armed = false;
      h.clock.advance(h.deps.config.sweepLeaseMs + 1);
      const resumed = await runSweep(h.deps);
      // Assess
      expect(crash).toBeInstanceOf(Error);
      expect(resumed).toMatchObject({ outcome: 'finished', closedRun: true });
      expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
      expectCountedAtLeastOnce(resumed.runCounts, clean.counts, { invocations: 2 });
    },
  );

  it.each([1, 3, 7, 12])(
    'stopped after %i batches, finishes on the next run with the clean run’s copies and batches',
    async (maxBatches) => {
      // Prepare
      const { h } = await seeded();
      // Act
      const first = await runSweep(h.deps, { maxBatches });
      const second = await runSweep(h.deps);
      // Assess
      expect(first.outcome).toBe('stopped');
      expect(first.counts.batches).toBe(maxBatches);
      expect(second).toMatchObject({ runId: first.runId, outcome: 'finished', closedRun: true });
      expect(await dataOf(h.documentClient, h.tableName)).toEqual(clean.data);
      // A user or conversation purged in both runs is counted by each.
      expectCountedAtLeastOnce(second.runCounts, clean.counts, {
        invocations: 2,
        exact: ['messagesDeleted', 'batches'],
      });
      expect(first.counts.messagesDeleted + second.counts.messagesDeleted).toBe(clean.counts.messagesDeleted);
    },
  );
});

describe('a sweep round that meets a write', () => {
  it('keeps a message sent between the round’s read and its settle: it is the latest, unread, and the conversation is filed under its oldest copy left', async () => {
    // Prepare: the settle of r01's conversation with r00 (the write that re-files it in the purge index, decided
    // on the round's read) waits until r00 has sent r01 a message: that read is then stale. (r01 keeps the
    // app's 30 days, so no second pass over its conversations would mend a lost settle.)
    const gate = commandGate();
    const { h, pairs } = await seeded((client) => gate.wrap(client));
    const pair = pairs[0] as SeededPair;
    const [, side] = sidesOf(pair);
    const ref = side as NonNullable<typeof side>;
    expect(ref).toMatchObject({ owner: 'r01', convId: 'r00' });
    const unreadBefore = Number((await conversationItem(h.deps, ref))?.unreadCount ?? 0);
    let sentDuringRound: { msgId: string } | undefined;
    gate.before(writes('purgeSk', conversationKey(ref)), async () => {
      sentDuringRound = await sendMessage(h.deps, ref.convId, {
        to: ref.owner,
        chatType: 'single',
        type: 'text',
        body: { text: 'sent while the round is deleted' },
      });
    });
    // Act
    const summary = await runSweep(h.deps, { workers: 1 });
    // Assess
    expect(summary.outcome).toBe('finished');
    const sent = sentDuringRound as { msgId: string };
    expect(sent).toBeDefined();
    const survivors = survivorsOf(pair, NOW - 30 * DAY_MS);
    expect(await copiesInTable(h.documentClient, h.tableName, ref)).toEqual([...survivors, sent.msgId]);
    const item = await conversationItem(h.deps, ref);
    expect(item).toMatchObject({ lastMessage: { msgId: sent.msgId }, unreadCount: unreadBefore + 1 });
    const oldestLeft = pair.messages.find((m) => m.msgId === survivors[0]);
    expect(item?.purgeSk).toBe(keys.purgeSk(oldestLeft?.timestamp as number, ref));
    const page = await fetchHistory(h.deps, ref, { pageSize: 1, direction: 'up' });
    expect(page.messages.map((m) => m.msgId)).toEqual([sent.msgId]);
  });
});

describe('round sizes', () => {
  it("an invocation's first round takes 2 conversations, so its deletes start sooner; the rounds after take 8; none reads a sync head", async () => {
    // Prepare: 12 conversations due in one shard, one worker; every request recorded in order.
    const sent: { command: string; conversations: number; syncHeads: number }[] = [];
    let conversationKeys = new Set<string>();
    const h = await startHarness({
      config: { ...CONFIG, purgeShards: 1 },
      wrapClient: (real) => ({
        send: ((command: DocumentCommand) => {
          const name = command.constructor.name.replace(/Command$/, ''); // lib-dynamodb's: BatchGet, BatchWrite
          const requested = (command.input as { RequestItems?: Record<string, { Keys?: unknown[] }> })
            .RequestItems;
          const readKeys = Object.values(requested ?? {}).flatMap((table) => table.Keys ?? []);
          const conversations = readKeys.filter((key) => {
            const { pk, sk } = key as { pk: string; sk: string };
            return conversationKeys.has(`${pk}|${sk}`);
          }).length;
          const syncHeads = readKeys.filter((key) => (key as { sk: string }).sk === 'SYNC').length;
          sent.push({ command: name, conversations, syncHeads });
          return real.send(command as never);
        }) as DocumentSender['send'],
      }),
    });
    harnesses.push(h);
    const pairs = await seedPairs(h.deps, {
      pairs: ringOf('f', 6),
      from: START,
      to: NOW,
      stepMs: 24 * HOUR_MS,
      seed: 5,
    });
    const sides = pairs.flatMap(sidesOf);
    conversationKeys = new Set(
      sides.map((ref) => `${keys.conversation(ref).pk}|${keys.conversation(ref).sk}`),
    );
    const admin = await h.as('ops', { admin: true });
    await admin.setAppRetention(30);
    h.clock.set(SWEEP_AT);
    sent.length = 0;
    // Act
    const summary = await runSweep(h.deps, { workers: 1 });
    // Assess: every side purged; the round reads hold 2 conversations, then 8, then the 2 left.
    expect(summary.outcome).toBe('finished');
    expect(summary.runCounts.conversations).toBe(sides.length);
    const roundReads = sent.filter((request) => request.command === 'BatchGet' && request.conversations > 0);
    expect(roundReads.map((read) => read.conversations)).toEqual([2, 8, 2]);
    // The quick settle writes nothing an owner sees: the round reads no sync heads.
    expect(roundReads.map((read) => read.syncHeads)).toEqual([0, 0, 0]);
    // The first deletes go out before any read of the second round.
    const firstDelete = sent.findIndex((request) => request.command === 'BatchWrite');
    const secondRoundRead = sent.indexOf(roundReads[1] as (typeof sent)[number]);
    expect(firstDelete).toBeGreaterThan(-1);
    expect(firstDelete).toBeLessThan(secondRoundRead);
  }, 60_000);
});

describe('a read of conversation items alone (the sweep round)', () => {
  it('refuses a write that would stamp a change from the sync head it did not read', async () => {
    const h = await startHarness({ config: CONFIG });
    harnesses.push(h);
    const [pair] = await seedPairs(h.deps, {
      pairs: [['g00', 'g01']],
      from: NOW - 2 * DAY_MS,
      to: NOW,
      stepMs: DAY_MS,
      seed: 3,
    });
    const ref = sidesOf(pair as SeededPair)[0];
    const read = await readConversationsOnly(h.deps, [ref]);
    const state = read.state(ref);
    expect(state.exists).toBe(true);
    // Only the purge filing changes: no stamp, so no head needed.
    expect(
      settlePurge(read.context(ref.owner), state, { oldestRemaining: NOW, emptied: false }),
    ).toBeDefined();
    // Emptied: the conversation leaves the list, a change the owner's devices must sync.
    expect(() => settlePurge(read.context(ref.owner), state, { emptied: true })).toThrow(
      /sync head of g00 was not read/,
    );
  });
});
