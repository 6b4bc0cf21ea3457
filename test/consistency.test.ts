import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import type { Message } from '../functions/core/model.js';
import { runSweep } from '../functions/domain/sweep.js';
import {
  commandGate,
  InjectedFault,
  recordingInto,
  type SentCommand,
  writes,
} from './support/command-gate.js';
import { idsOf, sendMany, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { copiesInTable } from './support/history-seed.js';

/**
 * One regression test per finding of the consistency review (issue "Consistency under races, retries
 * and clock skew"), each following the finding's steps on the real engine and asserting the promised
 * behaviour. Races are staged by holding one DynamoDB command of the real client (command-gate.ts).
 */

const gate = commandGate();
/** Every command the service sent, for the consistent-read check. */
const sent: SentCommand[] = [];
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    wrapClient: (client) => gate.wrap(recordingInto(sent, client)),
  });
});
afterAll(async () => {
  await h.close();
});

const group = (to: string, words: string) => text(to, words, { chatType: 'group' });
const conversationOf = async (user: string, convId: string) =>
  (await (await h.as(user)).fetchConversationsFromServer({ limit: 50 })).conversations.find(
    (c) => c.convId === convId,
  );
const historyIds = async (user: string, convId: string, chatType: 'single' | 'group' = 'single') =>
  idsOf((await (await h.as(user)).fetchHistoryMessages(convId, chatType, 50)).messages);
const failsWith = async (status: number, call: Promise<unknown>) => {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RoamingApiError);
  expect((error as RoamingApiError).status).toBe(status);
};
const throttling = () =>
  Object.assign(new Error('Rate of requests exceeds the allowed throughput'), {
    name: 'ProvisionedThroughputExceededException',
  });

describe('finding 1: a conversation delete hides exactly what the caller had', () => {
  it('keeps a message that arrives in the same millisecond while the delete runs', async () => {
    const alice = await h.as('f1-alice');
    const bob = await h.as('f1-bob');
    const first = await bob.sendMessage(text('f1-alice', 'before'));
    let arrived: Message | undefined;
    // The clock does not move: the new message shares the millisecond of the one being deleted.
    gate.before(writes('clearedThrough', { pk: 'U#f1-alice' }), async () => {
      arrived = await bob.sendMessage(text('f1-alice', 'during'));
    });
    await alice.removeConversationFromServer('f1-bob', 'single', true);
    expect(arrived).toBeDefined();
    expect((arrived?.msgId ?? '') > first.msgId).toBe(true);
    expect(await historyIds('f1-alice', 'f1-bob')).toEqual([arrived?.msgId]);
    expect((await conversationOf('f1-alice', 'f1-bob'))?.lastMessage.msgId).toBe(arrived?.msgId);
    expect(await historyIds('f1-bob', 'f1-alice')).toEqual([arrived?.msgId, first.msgId]);
  });
});

describe('finding 1b: a conversation delete fixes its target at its first read', () => {
  it('keeping the history: a message that overtakes the delete stays unread and keeps the conversation listed', async () => {
    // Prepare: f1b-alice has one unread message from f1b-bob.
    const alice = await h.as('f1b-alice');
    const bob = await h.as('f1b-bob');
    const first = await bob.sendMessage(text('f1b-alice', 'first'));
    let arrived: Message | undefined;
    // Act: a second message lands between the delete's read and its transaction.
    gate.before(writes('listSk', { pk: 'U#f1b-alice' }), async () => {
      arrived = await bob.sendMessage(text('f1b-alice', 'during'));
    });
    await alice.removeConversationFromServer('f1b-bob', 'single', false);
    const during = await conversationOf('f1b-alice', 'f1b-bob');
    const third = await bob.sendMessage(text('f1b-alice', 'after'));
    // Assess: what the delete saw is read; the overtaking message is unread and lists it; the next is
    // the second unread.
    expect(during).toMatchObject({ lastMessage: arrived, unreadCount: 1, readThrough: first.msgId });
    expect(await conversationOf('f1b-alice', 'f1b-bob')).toMatchObject({
      lastMessage: third,
      unreadCount: 2,
    });
    expect(await historyIds('f1b-alice', 'f1b-bob')).toEqual([third.msgId, arrived?.msgId, first.msgId]);
  });

  it('with the history: a message that overtakes the delete stays, unread, and the conversation keeps its pin', async () => {
    const alice = await h.as('f1c-alice');
    const bob = await h.as('f1c-bob');
    await bob.sendMessage(text('f1c-alice', 'first'));
    await alice.pinConversation('f1c-bob', 'single', true);
    let arrived: Message | undefined;
    gate.before(writes('clearedThrough', { pk: 'U#f1c-alice' }), async () => {
      arrived = await bob.sendMessage(text('f1c-alice', 'during'));
    });
    await alice.removeConversationFromServer('f1c-bob', 'single', true);
    // The arrival is ordered before the delete, which covered only what it had read: pin and list stay.
    expect(await historyIds('f1c-alice', 'f1c-bob')).toEqual([arrived?.msgId]);
    expect(await conversationOf('f1c-alice', 'f1c-bob')).toMatchObject({
      lastMessage: arrived,
      unreadCount: 1,
    });
    expect((await conversationOf('f1c-alice', 'f1c-bob'))?.pinnedAt).not.toBeNull();
  });
});

describe('finding 2: clocks seconds apart cannot make a delete hide a later message', () => {
  it('a timestamp delete on an instance 5 s ahead does not hide a message sent 1 s after it answered', async () => {
    const ahead = await h.instance({ clockOffsetMs: 5_000 });
    const onTime = await h.instance({ clockOffsetMs: 0 });
    const bob = await onTime.as('f2-bob');
    await bob.sendMessage(text('f2-alice', 'old'));
    h.clock.advance(10);
    // "Delete everything up to now", as the fast instance sees now.
    await (await ahead.as('f2-alice')).removeMessagesFromServerWithTimestamp(
      'f2-bob',
      'single',
      ahead.deps.clock.now(),
    );
    h.clock.advance(1_000);
    const later = await bob.sendMessage(text('f2-alice', 'one second later'));
    expect(later.timestamp).toBeLessThan(ahead.deps.clock.now());
    expect(await historyIds('f2-alice', 'f2-bob')).toEqual([later.msgId]);
    expect((await conversationOf('f2-alice', 'f2-bob'))?.lastMessage.msgId).toBe(later.msgId);
  });

  it('"delete everything before now" covers messages a fast instance stamped an hour ahead', async () => {
    // Prepare: an instance an hour ahead accepts m1; m2, on a normal instance, follows at m1 + 1.
    const ahead = await h.instance({ clockOffsetMs: 60 * 60 * 1000 });
    const onTime = await h.instance({ clockOffsetMs: 0 });
    const m1 = await (await ahead.as('f2c-bob')).sendMessage(text('f2c-alice', 'from the fast one'));
    const m2 = await (await onTime.as('f2c-bob')).sendMessage(text('f2c-alice', 'from a normal one'));
    expect(await historyIds('f2c-alice', 'f2c-bob')).toEqual([m2.msgId, m1.msgId]);
    // Act: alice deletes "before now" on a normal instance, and bob then writes again there.
    h.clock.advance(10);
    await (await onTime.as('f2c-alice')).removeMessagesFromServerWithTimestamp(
      'f2c-bob',
      'single',
      h.clock.now(),
    );
    const m3 = await (await onTime.as('f2c-bob')).sendMessage(text('f2c-alice', 'after the delete'));
    // Assess: both were hidden; the later message (still an hour ahead) stays.
    expect(m2.timestamp).toBe(m1.timestamp + 1);
    expect(m3.timestamp).toBeGreaterThan(h.clock.now());
    expect(await historyIds('f2c-alice', 'f2c-bob')).toEqual([m3.msgId]);
    // A past time still goes by timestamps: a delete before an hour ago hides none of them.
    await (await onTime.as('f2c-bob')).removeMessagesFromServerWithTimestamp(
      'f2c-alice',
      'single',
      h.clock.now() - 60 * 60 * 1000,
    );
    expect(await historyIds('f2c-bob', 'f2c-alice')).toEqual([m3.msgId, m2.msgId, m1.msgId]);
  });

  it('orders messages by the conversation, not by the clocks of the instances that accepted them', async () => {
    const ahead = await h.instance({ clockOffsetMs: 5_000 });
    const behind = await h.instance({ clockOffsetMs: -5_000 });
    const first = await (await ahead.as('f2b-alice')).sendMessage(text('f2b-bob', 'from the fast one'));
    const second = await (await behind.as('f2b-bob')).sendMessage(text('f2b-alice', 'from the slow one'));
    expect(second.msgId > first.msgId).toBe(true);
    expect(second.timestamp).toBe(first.timestamp + 1);
    expect(await historyIds('f2b-alice', 'f2b-bob')).toEqual([second.msgId, first.msgId]);
  });
});

describe('finding 3: a retry of an attempt that placed nothing places the message now', () => {
  it('after 61 s and a delete "before now", the retry is visible, latest and unread', async () => {
    const alice = await h.as('f3-alice');
    const bob = await h.as('f3-bob');
    await alice.sendMessage(text('f3-bob', 'earlier'));
    gate.before(writes('lastMessage', { pk: 'U#f3-alice' }), () => {
      throw new InjectedFault('the instance died before its transaction');
    });
    await failsWith(500, alice.sendMessage(text('f3-bob', 'retried', { clientMsgId: 'f3-once' })));
    h.clock.advance(61_000);
    await bob.removeMessagesFromServerWithTimestamp('f3-alice', 'single', h.clock.now());
    h.clock.advance(1);
    const retried = await alice.sendMessage(text('f3-bob', 'retried', { clientMsgId: 'f3-once' }));
    expect(retried.timestamp).toBe(h.clock.now());
    expect(await historyIds('f3-bob', 'f3-alice')).toEqual([retried.msgId]);
    expect(await conversationOf('f3-bob', 'f3-alice')).toMatchObject({
      lastMessage: retried,
      unreadCount: 1,
    });
  });
});

describe('finding 4: a retry finishes an accepted send without undoing deletes or counting twice', () => {
  it('single chat: the answer was lost; the recipient deleted the message; the retry changes nothing', async () => {
    const alice = await h.as('f4-alice');
    const bob = await h.as('f4-bob');
    gate.after(writes('lastMessage', { pk: 'U#f4-alice' }), () => {
      throw new InjectedFault('the answer was lost');
    });
    await failsWith(500, alice.sendMessage(text('f4-bob', 'once', { clientMsgId: 'f4-once' })));
    const [accepted] = (await bob.fetchHistoryMessages('f4-alice', 'single')).messages;
    expect(accepted).toBeDefined();
    await bob.removeMessagesFromServerWithMsgIds('f4-alice', 'single', [accepted?.msgId as string]);
    const retried = await alice.sendMessage(text('f4-bob', 'once', { clientMsgId: 'f4-once' }));
    expect(retried.msgId).toBe(accepted?.msgId);
    expect(await historyIds('f4-bob', 'f4-alice')).toEqual([]);
    expect(await conversationOf('f4-bob', 'f4-alice')).toBeUndefined();
    expect(await historyIds('f4-alice', 'f4-bob')).toEqual([retried.msgId]);
  });

  it('group: a fan-out cut short is finished by the retry; a member’s delete in between stays', async () => {
    const alice = await h.as('f4g-alice');
    const { groupId } = await alice.createGroup({ members: ['f4g-bob', 'f4g-carol'] });
    const member = (user: string) => writes('seq', { pk: `U#${user}`, sk: `C#group#${groupId}` });
    gate.after(member('f4g-bob'), () => {
      throw new InjectedFault('the instance died mid fan-out');
    });
    await failsWith(500, alice.sendMessage({ ...group(groupId, 'hello'), clientMsgId: 'f4g-once' }));
    const bob = await h.as('f4g-bob');
    const [got] = (await bob.fetchHistoryMessages(groupId, 'group')).messages;
    expect(got).toBeDefined();
    await bob.removeMessagesFromServerWithMsgIds(groupId, 'group', [got?.msgId as string]);
    const retried = await alice.sendMessage({ ...group(groupId, 'hello'), clientMsgId: 'f4g-once' });
    expect(retried.msgId).toBe(got?.msgId);
    expect(await historyIds('f4g-bob', groupId, 'group')).toEqual([]);
    expect(await historyIds('f4g-carol', groupId, 'group')).toEqual([retried.msgId]);
    expect((await conversationOf('f4g-carol', groupId))?.unreadCount).toBe(1);
    expect(await conversationOf('f4g-bob', groupId)).toBeUndefined();
  });
});

describe('finding 5: membership and fan-out never disagree', () => {
  it('a member removed while a send fans out never gets it, and keeps nothing of the group', async () => {
    const alice = await h.as('f5-alice');
    const { groupId } = await alice.createGroup({ members: ['f5-bob', 'f5-carol'] });
    gate.before(writes('seq', { pk: 'U#f5-carol', sk: `C#group#${groupId}` }), async () => {
      await alice.removeGroupMember(groupId, 'f5-carol');
    });
    const message = await alice.sendMessage(group(groupId, 'to the members'));
    expect(await historyIds('f5-bob', groupId, 'group')).toEqual([message.msgId]);
    const carol = await h.as('f5-carol');
    expect(await conversationOf('f5-carol', groupId)).toBeUndefined();
    await failsWith(403, carol.fetchHistoryMessages(groupId, 'group'));
    await failsWith(403, carol.removeConversationFromServer(groupId, 'group', true));
    expect(
      await copiesInTable(h.documentClient, h.tableName, {
        owner: 'f5-carol',
        chatType: 'group',
        convId: groupId,
      }),
    ).toEqual([]);
  });

  it('a send that read the members before a removal takes its position with the new member list', async () => {
    const alice = await h.as('f5b-alice');
    const { groupId } = await alice.createGroup({ members: ['f5b-bob', 'f5b-carol'] });
    gate.before(writes('headMsgId', { pk: `G#${groupId}`, sk: 'META' }), async () => {
      await alice.removeGroupMember(groupId, 'f5b-carol');
    });
    const message = await alice.sendMessage(group(groupId, 'after the removal'));
    expect(await historyIds('f5b-bob', groupId, 'group')).toEqual([message.msgId]);
    expect(
      await copiesInTable(h.documentClient, h.tableName, {
        owner: 'f5b-carol',
        chatType: 'group',
        convId: groupId,
      }),
    ).toEqual([]);
    // Rejoining shows what is sent from then on, nothing from before.
    await alice.addGroupMember(groupId, 'f5b-carol');
    const next = await alice.sendMessage(group(groupId, 'welcome back'));
    expect(await historyIds('f5b-carol', groupId, 'group')).toEqual([next.msgId]);
  });
});

describe('finding 6: ?since= never misses a write, however late it lands', () => {
  it('a send that read the sync epoch before another device synced, throttled meanwhile, is in the next delta', async () => {
    const me = await h.as('f6-me');
    const peer = await h.as('f6-peer');
    await peer.sendMessage(text('f6-me', 'first'));
    const token = (await me.fetchConversationsFromServer({ limit: 10 })).syncToken as string;
    let duringSend: Awaited<ReturnType<typeof me.syncConversations>> | undefined;
    gate.before(writes('lastMessage', { pk: 'U#f6-me' }), async () => {
      // The write is throttled and backs off; another device syncs in the meantime.
      duringSend = await me.syncConversations(token);
      throw throttling();
    });
    const late = await peer.sendMessage(text('f6-me', 'late'));
    expect(duringSend).toBeDefined();
    const next = await me.syncConversations(duringSend?.syncToken as string);
    expect(next.conversations.find((c) => c.convId === 'f6-peer')?.lastMessage.msgId).toBe(late.msgId);
  });

  it('a write held for a long time after its read still reaches a device replaying its tokens', async () => {
    const me = await h.as('f6b-me');
    await (await h.as('f6b-peer')).sendMessage(text('f6b-me', 'first'));
    let token = (await me.fetchConversationsFromServer({ limit: 10 })).syncToken as string;
    const seenByDevice = new Map<string, string>();
    gate.before(writes('readThrough', { pk: 'U#f6b-me' }), async () => {
      // Three syncs while the mark-read waits: none of them may be the one that skips it.
      for (let i = 0; i < 3; i++) {
        const delta = await me.syncConversations(token);
        for (const c of delta.conversations) seenByDevice.set(c.convId, c.readThrough ?? '');
        token = delta.syncToken as string;
        h.clock.advance(60_000);
      }
    });
    const read = await me.sendConversationReadAck('f6b-peer', 'single');
    const delta = await me.syncConversations(token);
    for (const c of delta.conversations) seenByDevice.set(c.convId, c.readThrough ?? '');
    expect(seenByDevice.get('f6b-peer')).toBe(read.readThrough);
  });
});

describe('finding 7: latest is always the newest message the owner can see', () => {
  it('deleting a group message whose fan-out is still applying cannot leave latest on a deleted message', async () => {
    const alice = await h.as('f7-alice');
    const { groupId } = await alice.createGroup({ members: ['f7-bob'] });
    const bob = await h.as('f7-bob');
    const before = await alice.sendMessage(group(groupId, 'before'));
    let attempted = false;
    gate.before(writes('seq', { pk: 'U#f7-bob', sk: `C#group#${groupId}` }), async () => {
      // Bob names every id he might have, including the one in flight (he cannot see it yet).
      const inFlight = (
        await copiesInTable(h.documentClient, h.tableName, {
          owner: 'f7-bob',
          chatType: 'group',
          convId: groupId,
        })
      ).filter((id) => id !== before.msgId);
      await bob.removeMessagesFromServerWithMsgIds(groupId, 'group', [before.msgId, ...inFlight]);
      attempted = true;
    });
    const during = await alice.sendMessage(group(groupId, 'during'));
    expect(attempted).toBe(true);
    const history = await historyIds('f7-bob', groupId, 'group');
    expect(history).toEqual([during.msgId]);
    expect((await conversationOf('f7-bob', groupId))?.lastMessage.msgId).toBe(history[0]);
  });

  it('two devices deleting the two newest messages at once leave latest on the newest one left', async () => {
    const sent = await sendMany(await h.as('f7b-bob'), 'f7b-alice', 4);
    const device1 = await h.as('f7b-alice');
    const device2 = await h.as('f7b-alice');
    gate.before(writes('unreadCount', { pk: 'U#f7b-alice' }), async () => {
      await device2.removeMessagesFromServerWithMsgIds('f7b-bob', 'single', [sent[2]?.msgId as string]);
    });
    await device1.removeMessagesFromServerWithMsgIds('f7b-bob', 'single', [sent[3]?.msgId as string]);
    expect(await historyIds('f7b-alice', 'f7b-bob')).toEqual([sent[1]?.msgId, sent[0]?.msgId]);
    expect(await conversationOf('f7b-alice', 'f7b-bob')).toMatchObject({
      lastMessage: sent[1],
      unreadCount: 2,
    });
  });

  it('every read that decides a write is strongly consistent (only the list index cannot be)', async () => {
    const alice = await h.as('f7c-alice');
    const { groupId } = await alice.createGroup({ members: ['f7c-bob'] });
    sent.length = 0;
    const m = await alice.sendMessage(text('f7c-bob', 'one'));
    await alice.sendMessage(text('f7c-bob', 'two', { clientMsgId: 'f7c-1' }));
    await alice.sendMessage(group(groupId, 'three'));
    const bob = await h.as('f7c-bob');
    const token = (await bob.fetchConversationsFromServer({ limit: 5 })).syncToken as string;
    await bob.sendConversationReadAck('f7c-alice', 'single', m.msgId);
    await bob.removeMessagesFromServerWithMsgIds('f7c-alice', 'single', [m.msgId]);
    await bob.removeMessagesFromServerWithTimestamp('f7c-alice', 'single', h.clock.now());
    await bob.removeConversationFromServer(groupId, 'group', true);
    await alice.addGroupMember(groupId, 'f7c-carol');
    await alice.removeGroupMember(groupId, 'f7c-carol');
    await bob.syncConversations(token);
    await bob.fetchHistoryMessages('f7c-alice', 'single');
    const reads = sent.filter((c) =>
      ['GetCommand', 'QueryCommand', 'BatchGetCommand'].includes(c.constructor.name),
    );
    const eventual = reads.filter((c) => {
      if (c.input.IndexName !== undefined) return false;
      if (c.constructor.name !== 'BatchGetCommand') return c.input.ConsistentRead !== true;
      const requests = Object.values(c.input.RequestItems as Record<string, { ConsistentRead?: boolean }>);
      return requests.some((r) => r.ConsistentRead !== true);
    });
    expect(reads.length).toBeGreaterThan(10);
    expect(eventual.map((c) => JSON.stringify(c.input).slice(0, 200))).toEqual([]);
  });
});

describe('finding 8: unread means something', () => {
  it('deletes lower it: 3 messages, delete before now, 1 new message gives 1', async () => {
    await sendMany(await h.as('f8-bob'), 'f8-alice', 3);
    // (Three sends in one frozen millisecond take three consecutive timestamps: let "now" pass them.)
    h.clock.advance(10);
    const alice = await h.as('f8-alice');
    await alice.removeMessagesFromServerWithTimestamp('f8-bob', 'single', h.clock.now());
    h.clock.advance(1);
    await (await h.as('f8-bob')).sendMessage(text('f8-alice', 'new'));
    expect((await conversationOf('f8-alice', 'f8-bob'))?.unreadCount).toBe(1);
    expect(await historyIds('f8-alice', 'f8-bob')).toHaveLength(1);
  });

  it('two group messages whose member updates would land out of order count as two', async () => {
    const alice = await h.as('f8g-alice');
    const { groupId } = await alice.createGroup({ members: ['f8g-bob'] });
    // Alice's other device, served by another instance (one instance runs a user's sends in turn).
    const aliceElsewhere = await (await h.instance({ clockOffsetMs: 0 })).as('f8g-alice');
    let second: Message | undefined;
    gate.before(writes('seq', { pk: 'U#f8g-bob', sk: `C#group#${groupId}` }), async () => {
      second = await aliceElsewhere.sendMessage(group(groupId, 'second, overtaking'));
    });
    const first = await alice.sendMessage(group(groupId, 'first'));
    expect(await conversationOf('f8g-bob', groupId)).toMatchObject({ unreadCount: 2, lastMessage: second });
    expect(await historyIds('f8g-bob', groupId, 'group')).toEqual([second?.msgId, first.msgId]);
  });

  it('a read ack moves the read position forward only, and another device learns it through ?since=', async () => {
    const sent = await sendMany(await h.as('f8r-bob'), 'f8r-alice', 3);
    const device1 = await h.as('f8r-alice');
    const device2 = await h.as('f8r-alice');
    const token = (await device2.fetchConversationsFromServer({ limit: 5 })).syncToken as string;
    expect(await device1.sendConversationReadAck('f8r-bob', 'single', sent[1]?.msgId)).toMatchObject({
      readThrough: sent[1]?.msgId,
      unreadCount: 1,
    });
    // Backwards is a no-op.
    expect(await device1.sendConversationReadAck('f8r-bob', 'single', sent[0]?.msgId)).toMatchObject({
      readThrough: sent[1]?.msgId,
      unreadCount: 1,
    });
    expect(await device1.sendConversationReadAck('f8r-bob', 'single')).toMatchObject({
      readThrough: sent[2]?.msgId,
      unreadCount: 0,
    });
    const delta = await device2.syncConversations(token);
    expect(delta.conversations.find((c) => c.convId === 'f8r-bob')).toMatchObject({
      unreadCount: 0,
      readThrough: sent[2]?.msgId,
    });
  });

  it('deleting unread messages by id lowers it; deleting read ones does not', async () => {
    const sent = await sendMany(await h.as('f8d-bob'), 'f8d-alice', 4);
    const alice = await h.as('f8d-alice');
    await alice.sendConversationReadAck('f8d-bob', 'single', sent[1]?.msgId);
    await alice.removeMessagesFromServerWithMsgIds('f8d-bob', 'single', [
      sent[0]?.msgId as string,
      sent[3]?.msgId as string,
    ]);
    expect((await conversationOf('f8d-alice', 'f8d-bob'))?.unreadCount).toBe(1);
  });

  it('retention lowers it once the expired copies are swept', async () => {
    const admin = await h.as('f8t-ops', { admin: true });
    const bob = await h.as('f8t-bob');
    await bob.sendMessage(text('f8t-alice', 'old'));
    h.clock.advance(2 * DAY_MS);
    await bob.sendMessage(text('f8t-alice', 'new'));
    await admin.setUserRetention('f8t-alice', 1);
    await runSweep(h.deps);
    expect((await conversationOf('f8t-alice', 'f8t-bob'))?.unreadCount).toBe(1);
    await admin.clearUserRetention('f8t-alice');
  });
});

describe('finding 9: bad input is a 400 before any write, never a 500', () => {
  it('refuses duplicate or empty ids, in one key or repeated keys', async () => {
    const [m] = await sendMany(await h.as('f9-bob'), 'f9-alice', 1);
    const token = await h.token('f9-alice');
    const path = '/v1/conversations/single/f9-bob/messages';
    for (const query of [
      `msgIds=${m?.msgId},${m?.msgId}`,
      `msgIds=${m?.msgId}&msgIds=${m?.msgId}`,
      `msgIds=${m?.msgId},`,
      'msgIds=',
      `msgIds=,${m?.msgId}`,
    ]) {
      const response = await h.raw('DELETE', `${path}?${query}`, { token });
      expect(response.status, query).toBe(400);
      expect(response.body.error?.message).toMatch(/msgIds/);
    }
    expect(await historyIds('f9-alice', 'f9-bob')).toEqual([m?.msgId]);
  });

  it('refuses a body nested deeper than 32 levels (about 5,000 deep is ~10 KB)', async () => {
    const token = await h.token('f9-alice');
    const nested = (levels: number) => `${'{"a":'.repeat(levels - 1)}{}${'}'.repeat(levels - 1)}`;
    const send = (body: string) =>
      h.raw('POST', '/v1/messages', {
        token,
        headers: { 'content-type': 'application/json' },
        body: `{"to":"f9-deep","chatType":"single","type":"custom","body":${body}}`,
      });
    const deep = await send(nested(5_000));
    expect(deep.status).toBe(400);
    expect(deep.body.error?.message).toMatch(/32 levels/);
    expect((await send(nested(33))).status).toBe(400);
    expect((await send(nested(32))).status).toBe(201);
  });
});

describe('finding 10: the smaller promises', () => {
  it('a cursor walk never repeats a conversation whose latest message the owner deleted mid-walk', async () => {
    const me = await h.as('f10-me');
    const peers = ['f10-a', 'f10-b', 'f10-c', 'f10-d', 'f10-e'];
    const latest = new Map<string, Message>();
    for (const peer of peers) {
      const [first] = await sendMany(await h.as(peer), 'f10-me', 1);
      h.clock.advance(1);
      latest.set(peer, (await sendMany(await h.as(peer), 'f10-me', 1))[0] as Message);
      expect(first).toBeDefined();
      h.clock.advance(1);
    }
    const seen: string[] = [];
    let page = await me.fetchConversationsFromServer({ limit: 2 });
    seen.push(...page.conversations.map((c) => c.convId));
    // The owner deletes the latest message of a conversation already seen, then of one not yet seen.
    await me.removeMessagesFromServerWithMsgIds('f10-e', 'single', [latest.get('f10-e')?.msgId as string]);
    await me.removeMessagesFromServerWithTimestamp(
      'f10-b',
      'single',
      latest.get('f10-b')?.timestamp as number,
    );
    while (page.cursor) {
      page = await me.fetchConversationsFromServer({ limit: 2, cursor: page.cursor });
      seen.push(...page.conversations.map((c) => c.convId));
    }
    expect(seen.sort()).toEqual(['f10-a', 'f10-c', 'f10-d', 'f10-e']);
  });

  it('?since= reports a conversation emptied by retention under removed, before and after the sweep', async () => {
    const admin = await h.as('f10r-ops', { admin: true });
    const me = await h.as('f10r-me');
    const message = await (await h.as('f10r-peer')).sendMessage(text('f10r-me', 'short-lived'));
    await admin.setUserRetention('f10r-me', 1);
    const token = (await me.fetchConversationsFromServer({ limit: 5 })).syncToken as string;
    h.clock.advance(2 * DAY_MS);
    const expired = await me.syncConversations(token);
    expect(expired.retentionCutoff).toBe(h.clock.now() - DAY_MS);
    expect(message.timestamp).toBeLessThanOrEqual(expired.retentionCutoff as number);
    expect(expired.removed).toContainEqual(
      expect.objectContaining({ convId: 'f10r-peer', chatType: 'single' }),
    );
    await runSweep(h.deps);
    const swept = await me.syncConversations(expired.syncToken as string);
    expect(swept.removed).toContainEqual(
      expect.objectContaining({ convId: 'f10r-peer', chatType: 'single' }),
    );
    expect((await me.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    await admin.clearUserRetention('f10r-me');
  });

  it('keeps a __proto__ key in a body exactly', async () => {
    const token = await h.token('f10p-alice');
    const body = '{"text":"hi","__proto__":{"polluted":true},"n":[1,2.5]}';
    const response = await h.raw('POST', '/v1/messages', {
      token,
      headers: { 'content-type': 'application/json' },
      body: `{"to":"f10p-bob","chatType":"single","type":"text","body":${body}}`,
    });
    expect(response.status).toBe(201);
    const history = await fetch(new URL('/v1/conversations/single/f10p-alice/messages', h.baseUrl), {
      headers: { authorization: `Bearer ${await h.token('f10p-bob')}` },
    });
    const raw = await history.text();
    expect(raw).toContain(`"body":${body}`);
  });

  it('refuses a number it cannot keep exactly (1e400, a 20-digit integer) instead of changing it', async () => {
    const token = await h.token('f10n-alice');
    for (const number of ['1e400', '12345678901234567890', '-1e-400']) {
      const response = await h.raw('POST', '/v1/messages', {
        token,
        headers: { 'content-type': 'application/json' },
        body: `{"to":"f10n-bob","chatType":"single","type":"custom","body":{"n":${number}}}`,
      });
      expect(response.status, number).toBe(400);
      expect(response.body.error?.message).toMatch(/exactly/);
    }
    expect(await historyIds('f10n-bob', 'f10n-alice')).toEqual([]);
  });
});
