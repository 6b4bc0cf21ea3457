import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { highestIdAt } from '../functions/core/ids.js';
import type { ConversationRef } from '../functions/core/model.js';
import { purgeThrough, settleConversationPurge } from '../functions/domain/purge.js';
import { sendMessage } from '../functions/domain/send.js';
import { commandGate, writes } from './support/command-gate.js';
import { idsOf, seedSingleChat, sendMany, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { copiesInTable } from './support/history-seed.js';

const gate = commandGate();

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ wrapClient: (client) => gate.wrap(client) });
});
afterAll(async () => {
  await h.close();
});

describe('delete by message ids', () => {
  it('removes the caller’s copies only, and the list shows the newest message left', async () => {
    // Prepare
    const alice = await h.as('d1-alice');
    const bob = await h.as('d1-bob');
    const sent = await sendMany(alice, 'd1-bob', 10);
    const doomed = [sent[2], sent[5], sent[9]].map((m) => m?.msgId as string);
    // Act
    await alice.removeMessagesFromServerWithMsgIds('d1-bob', 'single', doomed);
    // Assess
    const aliceLeft = idsOf((await alice.fetchHistoryMessages('d1-bob', 'single', 50)).messages);
    expect(aliceLeft).toHaveLength(7);
    expect(aliceLeft.some((id) => doomed.includes(id))).toBe(false);
    expect((await bob.fetchHistoryMessages('d1-alice', 'single', 50)).messages).toHaveLength(10);
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage.msgId).toBe(
      sent[8]?.msgId,
    );
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage.msgId).toBe(
      sent[9]?.msgId,
    );
    expect(
      await copiesInTable(h.documentClient, h.tableName, {
        owner: 'd1-alice',
        chatType: 'single',
        convId: 'd1-bob',
      }),
    ).toHaveLength(7);
  });

  it('answers deleted = how many it deleted: 2 real ids and 1 unknown give 2, the same again 0', async () => {
    // Prepare
    const alice = await h.as('d9-alice');
    const sent = await sendMany(alice, 'd9-bob', 3);
    const [first, second] = sent.map((m) => m.msgId);
    const unknown = '01KDX8S4G0R8Q1Z6V3B2N9M7TA';
    const ids = [first, second, unknown] as string[];
    // Act
    const deleted = await alice.removeMessagesFromServerWithMsgIds('d9-bob', 'single', ids);
    const again = await alice.removeMessagesFromServerWithMsgIds('d9-bob', 'single', ids);
    // Assess
    expect([deleted, again]).toEqual([2, 0]);
    expect(idsOf((await alice.fetchHistoryMessages('d9-bob', 'single')).messages)).toEqual([sent[2]?.msgId]);
  });

  it('ignores ids the caller does not have, without saying so', async () => {
    const alice = await h.as('d2-alice');
    const carol = await h.as('d2-carol');
    const [message] = await sendMany(alice, 'd2-bob', 1);
    // Carol names alice's message in "her" conversation with bob: success, and nothing changes.
    await carol.removeMessagesFromServerWithMsgIds('d2-bob', 'single', [message?.msgId as string]);
    expect((await (await h.as('d2-bob')).fetchHistoryMessages('d2-alice', 'single')).messages).toHaveLength(
      1,
    );
    expect((await alice.fetchHistoryMessages('d2-bob', 'single')).messages).toHaveLength(1);
  });

  it('takes the conversation off the list when every message is gone, leaving the other side as it was', async () => {
    const alice = await h.as('d3-alice');
    const bob = await h.as('d3-bob');
    const sent = await sendMany(alice, 'd3-bob', 4);
    await bob.removeMessagesFromServerWithMsgIds('d3-alice', 'single', idsOf(sent));
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage.msgId).toBe(
      sent[3]?.msgId,
    );
    expect((await alice.fetchHistoryMessages('d3-bob', 'single')).messages).toHaveLength(4);
  });
});

describe('delete at or before a timestamp', () => {
  it('is inclusive: a message at exactly the timestamp goes, one a millisecond later stays', async () => {
    const alice = await h.as('t1-alice');
    const first = await alice.sendMessage(text('t1-bob', 'first'));
    h.clock.advance(1);
    const second = await alice.sendMessage(text('t1-bob', 'second'));
    await alice.removeMessagesFromServerWithTimestamp('t1-bob', 'single', first.timestamp);
    expect(idsOf((await alice.fetchHistoryMessages('t1-bob', 'single')).messages)).toEqual([second.msgId]);

    const bob = await h.as('t1-bob');
    await bob.removeMessagesFromServerWithTimestamp('t1-alice', 'single', second.timestamp - 1);
    expect(idsOf((await bob.fetchHistoryMessages('t1-alice', 'single')).messages)).toEqual([second.msgId]);
    await bob.removeMessagesFromServerWithTimestamp('t1-alice', 'single', second.timestamp);
    expect((await bob.fetchHistoryMessages('t1-alice', 'single')).messages).toEqual([]);
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    // Alice's copy is untouched by bob's deletes.
    expect(idsOf((await alice.fetchHistoryMessages('t1-bob', 'single')).messages)).toEqual([second.msgId]);
  });

  it('hides 5,000 messages at once with a constant number of requests, then the purge really deletes them', async () => {
    // Prepare
    const seeded = await seedSingleChat(h.deps, h.clock, 't2-alice', 't2-bob', 5000);
    const bob = await h.as('t2-bob');
    const keep = seeded.slice(4000);
    const cut = seeded[3999]?.timestamp as number;
    const aliceSide: ConversationRef = { owner: 't2-alice', chatType: 'single', convId: 't2-bob' };
    h.requests.reset();
    // Act
    const report = await (await h.as('t2-alice')).removeMessagesFromServerWithTimestamp(
      't2-bob',
      'single',
      cut,
    );
    // Assess: the API call did a bounded amount of work and left the rest to the sweep.
    const requestsOfDelete = h.requests.total();
    expect(report.purgePending).toBe(true);
    expect(report.purged).toBe(h.deps.config.inlinePurgeBatches * 50);
    // Read the conversation, find the newest copy at or before the cut, one transaction; then the batches
    // (each: the legal holds and the keys read together, two BatchWriteItem calls).
    expect(requestsOfDelete).toBeLessThanOrEqual(3 + h.deps.config.inlinePurgeBatches * 4);
    // Nothing at or before the cut is visible, although most copies are still in the table.
    const alice = await h.as('t2-alice');
    const oldestVisible = await alice.fetchHistoryMessages('t2-bob', 'single', 50, undefined, {
      direction: 'down',
    });
    expect(oldestVisible.messages[0]?.msgId).toBe(keep[0]?.msgId);
    expect(await copiesInTable(h.documentClient, h.tableName, aliceSide)).toHaveLength(5000 - report.purged);
    // The purge the sweep runs finishes the job: the copies are really gone, bob's are all there.
    const rest = await purgeThrough(h.deps, aliceSide, highestIdAt(cut), () => true);
    await settleConversationPurge(h.deps, aliceSide);
    expect(rest.finished).toBe(true);
    expect((await copiesInTable(h.documentClient, h.tableName, aliceSide)).sort()).toEqual(
      idsOf(keep).sort(),
    );
    expect(
      await copiesInTable(h.documentClient, h.tableName, {
        owner: 't2-bob',
        chatType: 'single',
        convId: 't2-alice',
      }),
    ).toHaveLength(5000);
    expect(
      (await bob.fetchHistoryMessages('t2-alice', 'single', 50, undefined, { direction: 'down' })).messages[0]
        ?.msgId,
    ).toBe(seeded[0]?.msgId);
  });

  it('never hides a message that arrives while the delete is running', async () => {
    const alice = await h.as('t3-alice');
    const old = await alice.sendMessage(text('t3-bob', 'old'));
    h.clock.advance(10);
    let arrived: { msgId: string } | undefined;
    // The message lands between the delete's read and its write (the watermark transaction).
    gate.before(writes('clearedThrough', { pk: 'U#t3-alice' }), async () => {
      h.clock.advance(1);
      arrived = await sendMessage(h.deps, 't3-bob', text('t3-alice', 'arrives mid-delete'));
    });
    await alice.removeMessagesFromServerWithTimestamp('t3-bob', 'single', old.timestamp);
    expect(arrived).toBeDefined();
    expect(idsOf((await alice.fetchHistoryMessages('t3-bob', 'single')).messages)).toEqual([arrived?.msgId]);
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage.msgId).toBe(
      arrived?.msgId,
    );
  });
});

describe('delete a conversation', () => {
  it('without its messages: it leaves the list, the history stays, a new message brings it back', async () => {
    const alice = await h.as('c1-alice');
    const bob = await h.as('c1-bob');
    const sent = await sendMany(bob, 'c1-alice', 3);
    await alice.removeConversationFromServer('c1-bob', 'single', false);
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    expect(idsOf((await alice.fetchHistoryMessages('c1-bob', 'single')).messages)).toEqual(
      idsOf(sent).reverse(),
    );
    h.clock.advance(1);
    const later = await bob.sendMessage(text('c1-alice', 'still there?'));
    const [revived] = (await alice.fetchConversationsFromServer({ limit: 5 })).conversations;
    expect(revived).toMatchObject({ convId: 'c1-bob', lastMessage: later, unreadCount: 1 });
    expect((await alice.fetchHistoryMessages('c1-bob', 'single')).messages).toHaveLength(4);
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage).toEqual(
      later,
    );
  });

  it('with its messages: history goes too (for the caller only); a new message revives it with only itself', async () => {
    const alice = await h.as('c2-alice');
    const bob = await h.as('c2-bob');
    const sent = await sendMany(bob, 'c2-alice', 5);
    const report = await alice.removeConversationFromServer('c2-bob', 'single', true);
    expect(report).toEqual({ purged: 5, purgePending: false });
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    expect((await alice.fetchHistoryMessages('c2-bob', 'single')).messages).toEqual([]);
    expect(
      await copiesInTable(h.documentClient, h.tableName, {
        owner: 'c2-alice',
        chatType: 'single',
        convId: 'c2-bob',
      }),
    ).toEqual([]);
    expect(idsOf((await bob.fetchHistoryMessages('c2-alice', 'single')).messages)).toEqual(
      idsOf(sent).reverse(),
    );
    h.clock.advance(1);
    const later = await bob.sendMessage(text('c2-alice', 'new start'));
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.lastMessage).toEqual(
      later,
    );
    expect(idsOf((await alice.fetchHistoryMessages('c2-bob', 'single')).messages)).toEqual([later.msgId]);
  });

  it('is a no-op for a conversation the caller never had', async () => {
    const alice = await h.as('c3-alice');
    expect(await alice.removeConversationFromServer('c3-nobody', 'single', true)).toEqual({
      purged: 0,
      purgePending: false,
    });
  });
});

describe('deletes with bad input', () => {
  it('answers a clear 4xx and changes nothing', async () => {
    const alice = await h.as('b-alice');
    const sent = await sendMany(alice, 'b-bob', 2);
    const token = await h.token('b-alice');
    const base = '/v1/conversations/single/b-bob';
    const someId = sent[0]?.msgId as string;
    const cases: [string, string, number, RegExp][] = [
      ['DELETE', `${base}/messages?msgIds=`, 400, /msgIds/],
      ['DELETE', `${base}/messages?msgIds=${Array(51).fill(someId).join(',')}`, 400, /at most 50/],
      ['DELETE', `${base}/messages?msgIds=not-an-id`, 400, /message id/],
      ['DELETE', `${base}/messages?before=-5`, 400, /before/],
      ['DELETE', `${base}/messages?before=yesterday`, 400, /whole number/],
      ['DELETE', `${base}/messages?before=99999999999999999999`, 400, /before/],
      ['DELETE', `${base}/messages`, 400, /exactly one/],
      ['DELETE', `${base}/messages?msgIds=${someId}&before=1`, 400, /exactly one/],
      ['DELETE', '/v1/conversations/channel/b-bob/messages?before=1', 400, /chatType/],
      ['DELETE', `${base}?deleteMessages=maybe`, 400, /deleteMessages/],
    ];
    for (const [method, path, status, message] of cases) {
      const response = await h.raw(method, path, { token });
      expect({ path, status: response.status }).toEqual({ path, status });
      expect(response.body.error?.message).toMatch(message);
    }
    expect((await alice.fetchHistoryMessages('b-bob', 'single')).messages).toHaveLength(2);
  });

  it('refuses deletes in a group the caller is not a member of (403), touching nothing', async () => {
    const owner = await h.as('b2-owner');
    const group = await owner.createGroup({ members: ['b2-member'] });
    await owner.sendMessage(text(group.groupId, 'keep me', { chatType: 'group' }));
    const outsider = await h.as('b2-outsider');
    expect(
      await outsider
        .removeMessagesFromServerWithTimestamp(group.groupId, 'group', h.clock.now())
        .catch((e) => e),
    ).toMatchObject({
      status: 403,
    });
    expect(
      await outsider.removeConversationFromServer(group.groupId, 'group', true).catch((e) => e),
    ).toMatchObject({ status: 403 });
    expect(
      (await (await h.as('b2-member')).fetchHistoryMessages(group.groupId, 'group')).messages,
    ).toHaveLength(1);
  });
});
