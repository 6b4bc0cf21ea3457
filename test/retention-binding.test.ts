import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { timeOfId } from '../functions/core/ids.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import type { DocumentSender } from '../functions/store/db.js';
import { Device } from './support/device.js';
import { idsOf, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { copiesInTable, HOUR_MS, type SeededPair, seedPairs, sidesOf } from './support/history-seed.js';

/**
 * A policy change binds every physical delete after it has answered (issue 20, item 1), and expiry never
 * goes backwards for a device: what a policy hid stays hidden after it is lengthened (its floor), while
 * the copies themselves are kept.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

interface Command {
  constructor: { name: string };
  input: { RequestItems?: Record<string, { DeleteRequest?: { Key: { pk: string } } }[]> };
}

/**
 * The client, with hooks around each BatchWriteItem: `before` sees the keys it deletes as it is sent,
 * `after` runs once it is answered, before its caller goes on.
 */
function aroundBatchWrites(hooks: { before(pks: string[]): void; after(pks: string[]): Promise<void> }) {
  return (client: DocumentSender): DocumentSender => ({
    send: (async (command: Command) => {
      const isBatchWrite = command.constructor.name === 'BatchWriteCommand';
      const requests = isBatchWrite ? Object.values(command.input.RequestItems ?? {}).flat() : [];
      const pks = requests.flatMap((request) =>
        request.DeleteRequest ? [request.DeleteRequest.Key.pk] : [],
      );
      if (isBatchWrite) hooks.before(pks);
      const result = await (client.send as (c: unknown) => Promise<unknown>)(command);
      if (isBatchWrite) await hooks.after(pks);
      return result;
    }) as DocumentSender['send'],
  });
}

describe('a policy change during a sweep', () => {
  it('binds the rounds after it: a user set to keep forever mid-run loses nothing more', async () => {
    // Prepare: bind-u keeps 1 day; four conversations hold messages 3 to 4 days old (everyone else
    // keeps forever). The hook sets bind-u to keep forever right after the first round's first delete.
    const deletedAfterChange: string[] = [];
    let changing = false;
    let changed = false;
    let h: Harness | undefined;
    const hooks = {
      before(pks: string[]) {
        if (changed) deletedAfterChange.push(...pks);
      },
      async after(pks: string[]) {
        if (changing || !pks.some((pk) => pk.startsWith('U#bind-u#'))) return;
        changing = true;
        const admin = await (h as Harness).as('bind-ops', { admin: true });
        await admin.setUserRetention('bind-u', null);
        changed = true; // the PUT has answered
        (h as Harness).clock.advance(11_000); // past every process's policy cache
      },
    };
    h = await startHarness({ config: { sweepMaxDeletesPerSecond: 0 }, wrapClient: aroundBatchWrites(hooks) });
    harnesses.push(h);
    const now = h.clock.now();
    const pairs = await seedPairs(h.deps, {
      pairs: ['bind-a', 'bind-b', 'bind-c', 'bind-d'].map((peer) => ['bind-u', peer] as const),
      from: now - 4 * DAY_MS,
      to: now - 3 * DAY_MS,
      stepMs: HOUR_MS,
      seed: 20,
    });
    const admin = await h.as('bind-ops', { admin: true });
    await admin.setUserRetention('bind-u', 1);
    // Act: one invocation, one worker (rounds of 2, then 8 conversations).
    await runSweep(h.deps, { workers: 1 });
    // Assess: the change came after some of bind-u's copies went, and no delete of theirs followed it.
    expect(changed).toBe(true);
    expect(deletedAfterChange.filter((pk) => pk.startsWith('U#bind-u#'))).toEqual([]);
    const kept = await Promise.all(
      pairs.map(async (pair: SeededPair) => {
        const [side] = sidesOf(pair);
        return (await copiesInTable(h.documentClient, h.tableName, side)).length;
      }),
    );
    expect(kept.filter((count) => count === 0)).toHaveLength(2); // the first round's two conversations
    expect(kept.filter((count) => count === 25)).toHaveLength(2); // every copy of the other two
  });
});

describe('floors: what a policy hid stays hidden, and is kept', () => {
  it('keeps forever after 1 day: the old messages stay hidden and stored, and no sweep deletes them', async () => {
    // Prepare: fl-ann writes to fl-ben on day 0 and day 3; the app keeps 1 day.
    const h = await startHarness({ config: { sweepMaxDeletesPerSecond: 0 } });
    harnesses.push(h);
    const admin = await h.as('fl-ops', { admin: true });
    const ann = await h.as('fl-ann');
    await admin.setAppRetention(1);
    const day0 = await ann.sendMessage(text('fl-ben', 'day 0'));
    h.clock.advance(3 * DAY_MS);
    const day3 = await ann.sendMessage(text('fl-ben', 'day 3'));
    expect(idsOf((await ann.fetchHistoryMessages('fl-ben', 'single')).messages)).toEqual([day3.msgId]);
    // Act: a hold: keep forever. Then a week passes and the sweep runs.
    await admin.setAppRetention(null);
    const history = await ann.fetchHistoryMessages('fl-ben', 'single');
    h.clock.advance(7 * DAY_MS);
    await runSweep(h.deps);
    // Assess: the view did not change (day 0 stays hidden), but nothing was deleted.
    expect(idsOf(history.messages)).toEqual([day3.msgId]);
    expect(idsOf((await ann.fetchHistoryMessages('fl-ben', 'single')).messages)).toEqual([day3.msgId]);
    const annSide = { owner: 'fl-ann', chatType: 'single', convId: 'fl-ben' } as const;
    expect(await copiesInTable(h.documentClient, h.tableName, annSide)).toEqual([day0.msgId, day3.msgId]);
  });

  it('a hold set on an instance an hour slow keeps expired what one an hour fast told a device', async () => {
    // Prepare: the app keeps 1 day; fl-eve writes to fl-fay; fl-fay's device syncs through an instance
    // an hour fast, 23.5 hours later: its cutoff is half an hour past the message, which it drops.
    const h = await startHarness();
    harnesses.push(h);
    const fast = await h.instance({ clockOffsetMs: HOUR_MS });
    const slow = await h.instance({ clockOffsetMs: -HOUR_MS });
    await (await h.as('fl-ops', { admin: true })).setAppRetention(1);
    const edge = await (await h.as('fl-eve')).sendMessage(text('fl-fay', 'at the edge'));
    const device = new Device(await fast.as('fl-fay'));
    await device.fullFetch();
    h.clock.advance(DAY_MS - HOUR_MS / 2);
    const told = await device.sync();
    expect(told.retentionCutoff).toBeGreaterThanOrEqual(edge.timestamp);
    // Act: a hold (keep forever) set through the slow instance; then the device syncs again.
    await (await slow.as('fl-ops', { admin: true })).setAppRetention(null);
    h.clock.advance(2 * HOUR_MS);
    await device.sync();
    const fresh = new Device(await h.as('fl-fay'));
    await fresh.fullFetch();
    // Assess: the message stays expired (its floor was computed two hours ahead of the slow clock), and
    // the device is as a fresh fetch; the copy itself is kept.
    expect(fresh.view().conversations).toEqual([]);
    expect(device.view()).toEqual(fresh.view());
    const fayside = { owner: 'fl-fay', chatType: 'single', convId: 'fl-eve' } as const;
    expect(await copiesInTable(h.documentClient, h.tableName, fayside)).toEqual([edge.msgId]);
  });

  it('a lengthened user override shows nothing again that the shorter policy had hidden', async () => {
    // Prepare: the app keeps 2 days; fl-cat has messages 5 and 1 days old.
    const h = await startHarness({ config: { sweepMaxDeletesPerSecond: 0 } });
    harnesses.push(h);
    const admin = await h.as('fl-ops', { admin: true });
    const cat = await h.as('fl-cat');
    await admin.setAppRetention(2);
    const old = await cat.sendMessage(text('fl-dan', 'old'));
    h.clock.advance(4 * DAY_MS);
    const recent = await cat.sendMessage(text('fl-dan', 'recent'));
    h.clock.advance(DAY_MS);
    // Act: fl-cat gets 30 days; later her override is cleared again.
    await admin.setUserRetention('fl-cat', 30);
    const longer = await cat.fetchHistoryMessages('fl-dan', 'single');
    const conversations = await cat.fetchConversationsFromServer({ limit: 10 });
    h.clock.advance(HOUR_MS);
    await admin.clearUserRetention('fl-cat');
    const cleared = await cat.fetchHistoryMessages('fl-dan', 'single');
    // Assess: the old message never came back; the recent one stays until the app default expires it.
    expect(idsOf(longer.messages)).toEqual([recent.msgId]);
    expect(conversations.conversations.map((c) => c.lastMessage.msgId)).toEqual([recent.msgId]);
    expect(idsOf(cleared.messages)).toEqual([recent.msgId]);
    expect(timeOfId(old.msgId)).toBeLessThan(timeOfId(recent.msgId));
    // The cleared override is no override: the admin view lists none.
    expect((await admin.getRetention()).users).toEqual([]);
    // With the override cleared, the app default's 2 days let the sweep take `old` (hidden all along).
    h.clock.advance(SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    const catSide = { owner: 'fl-cat', chatType: 'single', convId: 'fl-dan' } as const;
    expect(await copiesInTable(h.documentClient, h.tableName, catSide)).toEqual([recent.msgId]);
  });
});
