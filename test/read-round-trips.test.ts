import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../functions/core/model.js';
import { commandGate, isCommand, type SentCommand } from './support/command-gate.js';
import { idsOf, sendMany, text, walkHistory } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { roundTripCounter } from './support/round-trips.js';

/**
 * Issue 12: a history page and a conversation list page wait for one round trip to the store, not
 * two: the reads they need go out together. The real client is wrapped twice: a gate that can hold one
 * command until another has been sent (so a test proves two requests were in flight at once), and a
 * counter of sequential round trips (a request sent after another's answer is one more). Adding a group
 * member reads the group once, not twice.
 */
const gate = commandGate();
const trips = roundTripCounter();
let h: Harness;
beforeAll(async () => {
  // Inline purges off: a delete leaves its hidden copies in the table (for the watermark cases).
  h = await startHarness({
    config: { inlinePurgeBatches: 0 },
    wrapClient: (client) => trips.wrap(gate.wrap(client)),
  });
});
afterEach(() => gate.reset());
afterAll(async () => {
  await h.close();
});

/** Resolves when a command matching `matches` is sent; the gate lets it through. */
function sentOnce(matches: (command: SentCommand) => boolean): Promise<void> {
  return new Promise((resolve) => gate.before(matches, () => resolve()));
}

/**
 * Holds the next `held` command until `awaited` has been sent too. If the operation only sends
 * `awaited` after `held` answers, it never comes: after a few seconds the hold gives up and fails the
 * operation, naming what was not in flight together (a deadlock guard, not a timing assertion).
 */
function holdUntilSent(held: string, awaited: string): void {
  const arrived = sentOnce(isCommand(awaited));
  gate.before(isCommand(held), async () => {
    const gaveUp = new Promise<never>((_, reject) =>
      setTimeout(
        () =>
          reject(new Error(`${awaited} was not sent while ${held} was in flight: the reads are sequential`)),
        5_000,
      ).unref(),
    );
    await Promise.race([arrived, gaveUp]);
  });
}

/** Measures one operation: the result, its requests by command, and its sequential round trips. */
async function measured<T>(operation: () => Promise<T>) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  trips.reset();
  const result = await operation();
  const byCommand: Record<string, number> = {};
  for (const { command } of trips.sent) byCommand[command] = (byCommand[command] ?? 0) + 1;
  return { result, byCommand, roundTrips: trips.roundTrips };
}

describe('a history page', () => {
  it('sends the conversation read and the page’s Query together: the GetItem waits until the Query is sent', async () => {
    // Prepare
    const alice = await h.as('rt1-alice');
    const sent = await sendMany(alice, 'rt1-bob', 5);
    const bob = await h.as('rt1-bob');
    await bob.fetchHistoryMessages('rt1-alice', 'single', 20); // the policy is known from here on
    holdUntilSent('GetCommand', 'QueryCommand');
    // Act
    const { result, byCommand, roundTrips } = await measured(() =>
      bob.fetchHistoryMessages('rt1-alice', 'single', 20),
    );
    // Assess
    expect(idsOf(result.messages)).toEqual(idsOf(sent).reverse());
    expect(byCommand).toEqual({ GetItem: 1, Query: 1 });
    expect(roundTrips).toBe(1);
  });

  it('in a group too (membership is on the caller’s item), and a non-member still gets 403', async () => {
    // Prepare
    const owner = await h.as('rt2-owner');
    const group = await owner.createGroup({ members: ['rt2-member'] });
    const sent = await sendMany(owner, group.groupId, 3, 'group');
    const member = await h.as('rt2-member');
    const outsider = await h.as('rt2-outsider');
    await member.fetchHistoryMessages(group.groupId, 'group', 20);
    holdUntilSent('GetCommand', 'QueryCommand');
    // Act
    const read = await measured(() => member.fetchHistoryMessages(group.groupId, 'group', 20));
    const refused = await outsider.fetchHistoryMessages(group.groupId, 'group', 20).then(
      () => undefined,
      (error: { status?: number }) => error.status,
    );
    // Assess
    expect(idsOf(read.result.messages)).toEqual(idsOf(sent).reverse());
    // The group's shared history is read along (empty: a small group fans out).
    expect(read.byCommand).toEqual({ GetItem: 1, Query: 2 });
    expect(read.roundTrips).toBe(1);
    expect(refused).toBe(403);
  });

  it('is still one round trip when the process does not know the caller’s retention policy yet', async () => {
    // Prepare: a fresh process's view: no policy cached.
    const alice = await h.as('rt3-alice');
    await sendMany(alice, 'rt3-bob', 2);
    h.deps.retention.invalidate();
    const bob = await h.as('rt3-bob');
    // Act
    const { result, byCommand, roundTrips } = await measured(() =>
      bob.fetchHistoryMessages('rt3-alice', 'single', 20),
    );
    // Assess
    expect(result.messages).toHaveLength(2);
    expect(byCommand).toEqual({ BatchGetItem: 1, GetItem: 1, Query: 1 });
    expect(roundTrips).toBe(1);
  });

  it('reads again only when the watermark cut the page: paging down from below hidden copies not yet purged', async () => {
    // Prepare: 30 messages; bob deletes the first 20 (their copies stay until the sweep purges them).
    const alice = await h.as('rt4-alice');
    const sent = await sendMany(alice, 'rt4-bob', 30);
    const bob = await h.as('rt4-bob');
    await bob.fetchHistoryMessages('rt4-alice', 'single', 1); // the policy is known from here on
    const report = await bob.removeMessagesFromServerWithTimestamp(
      'rt4-alice',
      'single',
      (sent[19] as Message).timestamp,
    );
    expect(report.purgePending).toBe(true);
    // Act
    const fromTheStart = await measured(() =>
      bob.fetchHistoryMessages('rt4-alice', 'single', 5, undefined, { direction: 'down' }),
    );
    const fromTheTop = await measured(() => bob.fetchHistoryMessages('rt4-alice', 'single', 5));
    // Assess: the same pages as ever; only the page that began among hidden copies read twice.
    expect(idsOf(fromTheStart.result.messages)).toEqual(idsOf(sent.slice(20, 25)));
    expect(fromTheStart.byCommand).toEqual({ GetItem: 1, Query: 2 });
    expect(fromTheStart.roundTrips).toBe(2);
    expect(idsOf(fromTheTop.result.messages)).toEqual(idsOf(sent.slice(25)).reverse());
    expect(fromTheTop.roundTrips).toBe(1);
  });

  it('walks the same pages both ways after a delete as before it, whatever the watermark cuts', async () => {
    // Prepare
    const alice = await h.as('rt5-alice');
    const sent = await sendMany(alice, 'rt5-bob', 23);
    const bob = await h.as('rt5-bob');
    await bob.removeMessagesFromServerWithTimestamp('rt5-alice', 'single', (sent[6] as Message).timestamp);
    const visible = idsOf(sent.slice(7));
    // Act
    const down = (await walkHistory(bob, 'rt5-alice', 'single', 4, 'down')).flat();
    const up = (await walkHistory(bob, 'rt5-alice', 'single', 4, 'up')).flat();
    // Assess
    expect(idsOf(down)).toEqual(visible);
    expect(idsOf(up)).toEqual([...visible].reverse());
  });
});

describe('a conversation list page', () => {
  it('is one request with the policy known, and one round trip (the policy lookup alongside) without', async () => {
    // Prepare
    const alice = await h.as('rt6-alice');
    await alice.sendMessage(text('rt6-bob', 'hi'));
    h.clock.advance(1);
    await alice.sendMessage(text('rt6-carol', 'hi'));
    h.deps.retention.invalidate();
    holdUntilSent('BatchGetCommand', 'QueryCommand');
    // Act
    const cold = await measured(() => alice.fetchConversationsFromServer({ limit: 20 }));
    const warm = await measured(() => alice.fetchConversationsFromServer({ limit: 20 }));
    // Assess
    expect(cold.result.conversations.map((c) => c.convId)).toEqual(['rt6-carol', 'rt6-bob']);
    expect(cold.byCommand).toEqual({ BatchGetItem: 1, Query: 1 });
    expect(cold.roundTrips).toBe(1);
    expect(warm.result).toEqual(cold.result);
    expect(warm.byCommand).toEqual({ Query: 1 });
    expect(warm.roundTrips).toBe(1);
  });

  it('leaves out a conversation expired by retention also when the policy was not known when it was read', async () => {
    // Prepare: a 10-day policy; one conversation's only message is 11 days old.
    const alice = await h.as('rt7-alice');
    await alice.sendMessage(text('rt7-old', 'long ago'));
    h.clock.advance(11 * 24 * 3_600_000);
    await alice.sendMessage(text('rt7-new', 'today'));
    const admin = await h.as('rt7-ops', { admin: true });
    await admin.setUserRetention('rt7-alice', 10);
    h.deps.retention.invalidate();
    // Act
    const page = await measured(() => alice.fetchConversationsFromServer({ limit: 20 }));
    // Assess: read again with the policy (one more round trip), never shown.
    expect(page.result.conversations.map((c) => c.convId)).toEqual(['rt7-new']);
    expect(page.roundTrips).toBe(2);
  });
});

describe('adding a group member', () => {
  it('reads the group once: its Query, the newcomer’s items, then the transaction', async () => {
    // Prepare
    const owner = await h.as('rt8-owner');
    const { groupId } = await owner.createGroup({ members: ['rt8-bob'] });
    // Act
    const added = await measured(() => owner.addGroupMember(groupId, 'rt8-carol'));
    // Assess
    expect([...added.result.members].sort()).toEqual(['rt8-bob', 'rt8-carol', 'rt8-owner']);
    expect(added.byCommand).toEqual({ Query: 1, BatchGetItem: 1, TransactWriteItems: 1 });
    expect(added.roundTrips).toBe(3);
  });

  it('loses nobody when the group changed between its read and the transaction (the retry reads again)', async () => {
    // Prepare: another member joins while the first add is between its read and its transaction.
    const owner = await h.as('rt9-owner');
    const { groupId } = await owner.createGroup({ members: ['rt9-bob'] });
    let raced: Promise<unknown> | undefined;
    gate.before(isCommand('BatchGetCommand'), async () => {
      gate.reset();
      raced = owner.addGroupMember(groupId, 'rt9-dave');
      await raced;
    });
    // Act
    const added = await owner.addGroupMember(groupId, 'rt9-carol');
    await raced;
    // Assess: nobody was lost to the stale read.
    expect([...added.members].sort()).toEqual(['rt9-bob', 'rt9-carol', 'rt9-dave', 'rt9-owner']);
    const group = await owner.addGroupMember(groupId, 'rt9-bob');
    expect(group.members).toHaveLength(4);
  });
});
