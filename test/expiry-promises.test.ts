import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import { keys } from '../functions/store/keys.js';
import { commandGate, InjectedFault, isCommand, type SentCommand, writes } from './support/command-gate.js';
import { idsOf, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { deleteExpired, type StoredItem } from './support/ttl.js';

/**
 * Issue 20, items 14 and 15: nothing expires out from under a promise. Idempotency records and group
 * log entries carry a DynamoDB TTL; on AWS an expired item is deleted lazily, one by one (and until
 * then reads still return it). DynamoDB Local never deletes expired items, so each test moves the
 * clock and deletes what TTL would (support/ttl.ts), in the order it stages.
 */
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ wrapClient: (client) => gate.wrap(client) });
});
afterEach(() => gate.reset());
afterAll(async () => {
  await h.close();
});

const SEVEN_DAYS_AND_AN_HOUR = 7 * DAY_MS + 3_600_000;
const group = (to: string, words: string, clientMsgId?: string) =>
  text(to, words, { chatType: 'group', clientMsgId });
const historyOf = async (client: RoamingClient, groupId: string) =>
  idsOf((await client.fetchHistoryMessages(groupId, 'group', 50)).messages);
const isLogEntry = (groupId: string) => (item: StoredItem) => item.pk === keys.groupLogPk(groupId);
/** TTL deletes, one by one, the expired items `which` picks (the group log entries first). */
const ttlDeletes = (which: (item: StoredItem) => boolean = () => true) =>
  deleteExpired(h.documentClient, h.tableName, h.clock.now(), {
    which,
    first: (a, b) => Number(b.pk.endsWith('#LOG')) - Number(a.pk.endsWith('#LOG')),
  });

async function groupOf(prefix: string) {
  const [bob, carol, dave] = await Promise.all(['bob', 'carol', 'dave'].map((u) => h.as(`${prefix}-${u}`)));
  const made = await (bob as RoamingClient).createGroup({
    name: 'G',
    members: [`${prefix}-carol`, `${prefix}-dave`],
  });
  return {
    bob: bob as RoamingClient,
    carol: carol as RoamingClient,
    dave: dave as RoamingClient,
    groupId: made.groupId,
  };
}

describe('item 14: a send retried after its record and log entry expired', () => {
  it('never answers 201 with a message no member has', async () => {
    // Prepare: bob's send takes its position (META, log entry, record) and the instance dies before
    // the fan-out: bob gets an error.
    const { bob, carol, dave, groupId } = await groupOf('x14a');
    gate.after(writes('headMsgId', { pk: keys.groupPk(groupId) }), () => {
      throw new InjectedFault('the instance died after the allocation');
    });
    await expect(bob.sendMessage(group(groupId, 'lost?', 'x14a-once'))).rejects.toMatchObject({
      status: 500,
    });
    // Seven days and an hour later, TTL deletes the expired log entry first (the record is still readable).
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    await ttlDeletes(isLogEntry(groupId));
    // Carol sends.
    h.clock.advance(1_000);
    const fromCarol = await carol.sendMessage(group(groupId, 'hello'));
    // Act: bob's app retries with the same clientMsgId.
    const retried = await bob.sendMessage(group(groupId, 'lost?', 'x14a-once'));
    // Assess: every member has the message bob was answered with, and all three histories agree.
    const histories = await Promise.all([bob, carol, dave].map((member) => historyOf(member, groupId)));
    for (const history of histories) {
      expect(history).toContain(retried.msgId);
      expect(history).toContain(fromCarol.msgId);
      expect(history).toEqual(histories[0]);
    }
  });

  it('a retry of a single-chat send after its record expired is a new send, not an answer from the record', async () => {
    // Prepare
    const alice = await h.as('x14b-alice');
    const first = await alice.sendMessage(text('x14b-bob', 'hi', { clientMsgId: 'x14b-once' }));
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    // Act: the record has expired but TTL has not deleted it yet.
    const retried = await alice.sendMessage(text('x14b-bob', 'hi', { clientMsgId: 'x14b-once' }));
    // Assess: a new message, delivered; and from now on the retry is answered from the new record.
    expect(retried.msgId).not.toBe(first.msgId);
    expect(
      idsOf((await (await h.as('x14b-bob')).fetchHistoryMessages('x14b-alice', 'single', 10)).messages),
    ).toEqual([retried.msgId, first.msgId]);
    const again = await alice.sendMessage(text('x14b-bob', 'hi', { clientMsgId: 'x14b-once' }));
    expect(again.msgId).toBe(retried.msgId);
  });

  it('a createGroup retry after its record expired makes the group anew, not an answer from the record', async () => {
    // Prepare
    const owner = await h.as('x14c-owner');
    const request = { name: 'G', members: ['x14c-bob'], clientRequestId: 'x14c-create' };
    const first = await owner.createGroup(request);
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    // Act
    const retried = await owner.createGroup(request);
    // Assess
    expect(retried.groupId).not.toBe(first.groupId);
    expect((await owner.createGroup(request)).groupId).toBe(retried.groupId);
  });
});

describe('item 15: a fan-out that reached one member, then nothing for seven days', () => {
  it('members agree for good: the next send brings everyone the message, however late', async () => {
    // Prepare: the fan-out reaches one member, then the instance dies (the others' transactions fail).
    const { bob, carol, dave, groupId } = await groupOf('x15a');
    gate.before(isCommand('TransactWriteCommand'), () => undefined);
    gate.before(isCommand('TransactWriteCommand'), () => undefined);
    for (let i = 0; i < 2; i++) {
      gate.before(isCommand('TransactWriteCommand'), () => {
        throw new InjectedFault('the instance died during the fan-out');
      });
    }
    await expect(bob.sendMessage(group(groupId, 'half-way'))).rejects.toMatchObject({ status: 500 });
    const reached = await Promise.all([bob, carol, dave].map((member) => historyOf(member, groupId)));
    expect(reached.map((history) => history.length).sort()).toEqual([0, 0, 1]);
    // Nobody sends for seven days and an hour; TTL deletes whatever has expired.
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    await ttlDeletes();
    // Act
    const next = await carol.sendMessage(group(groupId, 'a week later'));
    // Assess: all three have both messages, in the same order.
    const histories = await Promise.all([bob, carol, dave].map((member) => historyOf(member, groupId)));
    for (const history of histories) {
      expect(history).toHaveLength(2);
      expect(history[0]).toBe(next.msgId);
      expect(history).toEqual(histories[0]);
    }
  });

  it('a log entry gets its TTL once every member has it, and its expiry then changes nobody’s history', async () => {
    // Prepare: the same interrupted fan-out, finished by the next send.
    const { bob, carol, dave, groupId } = await groupOf('x15b');
    gate.before(isCommand('TransactWriteCommand'), () => undefined);
    gate.before(isCommand('TransactWriteCommand'), () => {
      throw new InjectedFault('the instance died during the fan-out');
    });
    await expect(bob.sendMessage(group(groupId, 'half-way'))).rejects.toMatchObject({ status: 500 });
    h.clock.advance(1_000);
    await carol.sendMessage(group(groupId, 'finishes it'));
    // Act: both entries expire and go; dave sends.
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    const deleted = await ttlDeletes(isLogEntry(groupId));
    const last = await dave.sendMessage(group(groupId, 'later still'));
    // Assess
    expect(deleted).toHaveLength(2);
    const histories = await Promise.all([bob, carol, dave].map((member) => historyOf(member, groupId)));
    for (const history of histories) {
      expect(history).toHaveLength(3);
      expect(history[0]).toBe(last.msgId);
      expect(history).toEqual(histories[0]);
    }
  });

  it('entries whose fan-out finished but whose TTL was never set get it from the next send', async () => {
    // Prepare: twice, every member gets bob's message, then the instance dies before the TTL is set.
    const { bob, carol, dave, groupId } = await groupOf('x15c');
    const settlesLog = (command: SentCommand) =>
      command.constructor.name === 'UpdateCommand' &&
      (command.input.Key as { pk: string }).pk === keys.groupLogPk(groupId);
    for (const words of ['delivered', 'delivered too']) {
      gate.before(settlesLog, () => {
        throw new InjectedFault('the instance died before the settle');
      });
      await expect(bob.sendMessage(group(groupId, words))).rejects.toMatchObject({ status: 500 });
      h.clock.advance(1_000);
    }
    await carol.sendMessage(group(groupId, 'next'));
    // Act: a week and an hour later, TTL deletes what has expired.
    h.clock.advance(SEVEN_DAYS_AND_AN_HOUR);
    const deleted = await ttlDeletes(isLogEntry(groupId));
    // Assess: all three entries had their TTL (the next send walked down to the first); nobody lost anything.
    expect(deleted).toHaveLength(3);
    const last = await dave.sendMessage(group(groupId, 'still fine'));
    for (const member of [bob, carol, dave]) {
      const history = await historyOf(member, groupId);
      expect(history).toHaveLength(4);
      expect(history[0]).toBe(last.msgId);
    }
  });
});
