import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import type { RetentionDays } from '../functions/core/model.js';
import { deleteMessagesBefore } from '../functions/domain/deletion.js';
import { cutoffFor } from '../functions/domain/retention.js';
import { runSweep, type SweepRunView } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import type { SweepCounts } from '../functions/store/sweep-store.js';
import { type Harness, startHarness } from './support/harness.js';
import {
  conversationItem,
  copiesInTable,
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

/** No delete-rate cap in tests (the cap is pinned in sweep-budget.test.ts; speed is the bench's job). */
const CONFIG = { sweepMaxDeletesPerSecond: 0 };

const harnesses: Harness[] = [];
async function harness(config: Record<string, number> = {}): Promise<Harness> {
  const h = await startHarness({ config: { ...CONFIG, ...config } });
  harnesses.push(h);
  return h;
}
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** What a sweep at NOW must do to seeded pairs under these policies. */
function expectedWork(pairs: SeededPair[], daysOf: (owner: string) => RetentionDays): SweepCounts {
  const counts: SweepCounts = { users: 0, conversations: 0, messagesDeleted: 0, batches: 0, retries: 0 };
  const users = new Set<string>();
  for (const pair of pairs) {
    for (const side of sidesOf(pair)) {
      const expired = pair.messages.length - survivorsOf(pair, cutoffFor(daysOf(side.owner), NOW)).length;
      if (expired === 0) continue;
      users.add(side.owner);
      counts.conversations++;
      counts.messagesDeleted += expired;
      counts.batches += Math.ceil(expired / 50);
    }
  }
  counts.users = users.size;
  return counts;
}

describe('a retention sweep run', () => {
  it('deletes exactly the copies at or before each owner’s cutoff, honouring overrides both ways', async () => {
    // Prepare: 16 users in a ring, a message every 8 hours for 60 days in each of the 16 conversations.
    const h = await harness();
    const pairs = await seedPairs(h.deps, {
      pairs: ringOf('r', 16),
      from: START,
      to: NOW,
      stepMs: 8 * HOUR_MS,
      seed: 1,
    });
    // A user with a shorter override whose history is younger than the default's cutoff: the index
    // range of the default does not reach it, the per-user pass does.
    pairs.push(
      ...(await seedPairs(h.deps, {
        pairs: [['short', 'short-peer']],
        from: NOW - 25 * DAY_MS,
        to: NOW,
        stepMs: 8 * HOUR_MS,
        seed: 8,
      })),
    );
    const admin = await h.as('ops', { admin: true });
    await admin.setAppRetention(30);
    await admin.setUserRetention('r00', 10); // shorter than the default
    await admin.setUserRetention('r01', 45); // longer
    await admin.setUserRetention('r02', null); // keep forever
    await admin.setUserRetention('short', 10);
    const days: Record<string, RetentionDays> = { r00: 10, r01: 45, r02: null, short: 10 };
    const daysOf = (owner: string) => (owner in days ? (days[owner] as RetentionDays) : 30);
    h.clock.set(SWEEP_AT);
    // Act
    const summary = await runSweep(h.deps);
    // Assess: every side holds exactly the copies after its owner's cutoff.
    for (const pair of pairs) {
      for (const side of sidesOf(pair)) {
        const cutoff = cutoffFor(daysOf(side.owner), NOW);
        expect(
          await copiesInTable(h.documentClient, h.tableName, side),
          `${side.owner}'s copy of ${side.convId}`,
        ).toEqual(survivorsOf(pair, cutoff));
      }
    }
    // The boundary: a message exactly at the 30-day cutoff went, the next one (8 h later) stayed.
    const [r03, r04] = sidesOf(pairs[3] as SeededPair);
    const atCutoff = pairs[3]?.messages.find((m) => m.timestamp === NOW - 30 * DAY_MS);
    expect(atCutoff).toBeDefined();
    expect(await copiesInTable(h.documentClient, h.tableName, r03)).not.toContain(atCutoff?.msgId);
    expect((await copiesInTable(h.documentClient, h.tableName, r04))[0]).toBe(
      pairs[3]?.messages.find((m) => m.timestamp === NOW - 30 * DAY_MS + 8 * HOUR_MS)?.msgId,
    );
    // Conversations keep their latest and listing, and are re-filed under their oldest remaining copy.
    for (const pair of pairs) {
      for (const side of sidesOf(pair)) {
        const item = await conversationItem(h.deps, side);
        const oldest = survivorsOf(pair, cutoffFor(daysOf(side.owner), NOW))[0] as string;
        expect((item?.lastMessage as { msgId?: string } | undefined)?.msgId).toBe(
          pair.messages.at(-1)?.msgId,
        );
        expect(item?.listSk).toBeDefined();
        expect(item?.purgeSk).toBe(
          keys.purgeSk(pair.messages.find((m) => m.msgId === oldest)?.timestamp ?? -1, side),
        );
      }
    }
    const expected = expectedWork(pairs, daysOf);
    expect(expected.users).toBe(16); // everyone but the keep-forever user and short's peer
    const [short] = sidesOf(pairs[16] as SeededPair);
    expect(await copiesInTable(h.documentClient, h.tableName, short)).toHaveLength(30); // the last 10 days (the one at the cutoff went)
    expect(summary).toMatchObject({
      outcome: 'finished',
      closedRun: true,
      counts: expected,
      runCounts: expected,
    });
    const { runs } = await admin.listSweeps<SweepRunView>();
    expect(runs[0]).toMatchObject({
      runId: summary.runId,
      status: 'finished',
      shardsDone: 16,
      counts: expected,
    });
  });

  it('deletes nothing under "keep forever", but finishes the purges one-way deletes left pending', async () => {
    // Prepare: no retention; kp00 deletes everything before day 20 of one conversation, purging nothing inline.
    const h = await harness({ inlinePurgeBatches: 0 });
    const pairs = await seedPairs(h.deps, {
      pairs: ringOf('kp', 6),
      from: START,
      to: NOW,
      stepMs: 12 * HOUR_MS,
      seed: 2,
    });
    const admin = await h.as('ops', { admin: true });
    await admin.setAppRetention(null);
    // ...and one user with a 30-day override under the keep-forever default.
    const [limited] = (await seedPairs(h.deps, {
      pairs: [['kp-limited', 'kp-peer']],
      from: START,
      to: NOW,
      stepMs: DAY_MS,
      seed: 9,
    })) as [SeededPair];
    await admin.setUserRetention('kp-limited', 30);
    h.clock.set(SWEEP_AT);
    const [deleter, peer] = sidesOf(pairs[0] as SeededPair);
    const before = START + 20 * DAY_MS;
    const report = await deleteMessagesBefore(h.deps, deleter, before);
    expect(report).toEqual({ purged: 0, purgePending: true });
    // Act
    const summary = await runSweep(h.deps);
    // Assess
    const messages = (pairs[0] as SeededPair).messages;
    expect(await copiesInTable(h.documentClient, h.tableName, deleter)).toEqual(
      survivorsOf(pairs[0] as SeededPair, before),
    );
    expect(await copiesInTable(h.documentClient, h.tableName, peer)).toEqual(messages.map((m) => m.msgId));
    for (const pair of pairs.slice(1)) {
      for (const side of sidesOf(pair)) {
        expect(await copiesInTable(h.documentClient, h.tableName, side)).toEqual(
          pair.messages.map((m) => m.msgId),
        );
      }
    }
    const [limitedSide, limitedPeer] = sidesOf(limited);
    expect(await copiesInTable(h.documentClient, h.tableName, limitedSide)).toEqual(
      survivorsOf(limited, NOW - 30 * DAY_MS),
    );
    expect(await copiesInTable(h.documentClient, h.tableName, limitedPeer)).toHaveLength(61);
    const deleted = messages.filter((m) => m.timestamp <= before).length;
    expect(summary.runCounts).toEqual({
      users: 2,
      conversations: 2,
      messagesDeleted: deleted + 31,
      batches: 2,
      retries: 0,
    });
    expect((await conversationItem(h.deps, deleter))?.purgeSk).toBe(
      keys.purgeSk(messages.find((m) => m.timestamp > before)?.timestamp ?? -1, deleter),
    );
  });

  it('takes a conversation with no copy left off both lists for good', async () => {
    // Prepare: one conversation whose every message is older than 30 days.
    const h = await harness();
    const [pair] = await seedPairs(h.deps, {
      pairs: [['gone-a', 'gone-b']],
      from: START,
      to: START + 10 * DAY_MS,
      stepMs: DAY_MS,
      seed: 3,
    });
    const admin = await h.as('ops', { admin: true });
    await admin.setAppRetention(30);
    h.clock.set(SWEEP_AT);
    const alice = await h.as('gone-a');
    expect((await alice.fetchConversationsFromServer({ limit: 10 })).conversations).toEqual([]);
    // Act
    await runSweep(h.deps);
    // Assess: no copies, not listed, out of the purge index; keeping forever afterwards shows nothing.
    for (const side of sidesOf(pair as SeededPair)) {
      expect(await copiesInTable(h.documentClient, h.tableName, side)).toEqual([]);
      const item = await conversationItem(h.deps, side);
      expect(item).toMatchObject({ owner: side.owner });
      expect(item?.listSk).toBeUndefined();
      expect(item?.lastMessage).toBeUndefined();
      expect(item?.purgeSk).toBeUndefined();
    }
    await admin.setAppRetention(null);
    expect((await alice.fetchConversationsFromServer({ limit: 10 })).conversations).toEqual([]);
  });

  it('finds its work through the purge index: its reads do not grow with users who have nothing due', async () => {
    // Prepare: the same two expiring conversations, next to 10 or 60 users whose messages are all recent.
    async function readsOfRun(idleUsers: number): Promise<Record<string, number>> {
      const h = await harness();
      await seedPairs(h.deps, { pairs: [['due-a', 'due-b']], from: START, to: NOW, stepMs: DAY_MS, seed: 4 });
      await seedPairs(h.deps, {
        pairs: ringOf('idle', idleUsers),
        from: NOW - 5 * DAY_MS,
        to: NOW,
        stepMs: DAY_MS,
        seed: 5,
      });
      await (await h.as('ops', { admin: true })).setAppRetention(30);
      h.clock.set(SWEEP_AT);
      h.requests.reset();
      // Act
      const summary = await runSweep(h.deps, { workers: 1 });
      expect(summary.runCounts.conversations).toBe(2); // both sides of due-a / due-b
      return { ...h.requests.byCommand };
    }
    const few = await readsOfRun(10);
    const many = await readsOfRun(60);
    // Assess: identical requests, no Scan.
    expect(many).toEqual(few);
    expect(few.Scan).toBeUndefined();
  });
});

describe('the sweep admin routes', () => {
  it('POST /v1/admin/sweeps starts a run in the background; GET lists it with its progress and counts', async () => {
    // Prepare
    const h = await harness();
    const pairs = await seedPairs(h.deps, {
      pairs: ringOf('http', 4),
      from: START,
      to: NOW,
      stepMs: DAY_MS,
      seed: 6,
    });
    const admin = await h.as('ops', { admin: true });
    await admin.setAppRetention(30);
    h.clock.set(SWEEP_AT);
    // Act
    const started = await admin.startSweep<{ runId: string; status: string; joined: boolean }>();
    let run: SweepRunView | undefined;
    for (let i = 0; i < 200 && run?.status !== 'finished'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      run = (await admin.listSweeps<SweepRunView>()).runs.find((r) => r.runId === started.runId);
    }
    // Assess
    expect(started).toMatchObject({ status: 'running', joined: false });
    const expected = expectedWork(pairs, () => 30);
    expect(run).toMatchObject({
      status: 'finished',
      trigger: 'admin',
      shardsDone: 16,
      shardCount: 16,
      counts: expected,
    });
    expect(run?.now).toBe(SWEEP_AT);
  });

  it('refuses callers without the admin scope (403)', async () => {
    const h = await harness();
    const token = await h.token('not-admin');
    for (const [method, path] of [
      ['GET', '/v1/admin/sweeps'],
      ['POST', '/v1/admin/sweeps'],
    ] as const) {
      const response = await h.raw(method, path, { token });
      expect(response.status, `${method} ${path}`).toBe(403);
      expect(response.body.error?.code).toBe('forbidden');
    }
  });
});
