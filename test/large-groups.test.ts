import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import { runSweep } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import { commandGate } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { partitionItems, viewOf } from './support/group-views.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Large groups (issue "Groups of 5,000 at a flat cost per message"): past `sharedHistoryAbove` members a
 * group switches, one way, to shared mode. Each message is stored once; a member's side is derived from
 * their positions. These tests run the same operations on a group that stays in fan-out mode and one
 * that switches (mid-run), and check that the members see the same in both.
 */

const THRESHOLD = 3;
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: { sharedHistoryAbove: THRESHOLD, maxGroupMembers: 50 },
    wrapClient: (client) => gate.wrap(client),
  });
});
afterAll(async () => {
  await h.close();
});

async function meta(groupId: string) {
  return (await partitionItems(h, keys.groupPk(groupId))).find((item) => item.sk === keys.groupMetaSk);
}

const say = (client: RoamingClient, groupId: string, words: string) =>
  client.sendMessage(text(groupId, words, { chatType: 'group' }));

describe('large groups', () => {
  it('a group past the threshold stores each message once, and its members see it as in fan-out mode', async () => {
    const owner = await h.as('lg1-owner');
    const users = ['lg1-a', 'lg1-b', 'lg1-c', 'lg1-d'];
    const group = await owner.createGroup({ name: 'big', members: users });
    // The creation begins the switch; the first send finishes it before it takes a position.
    expect(await meta(group.groupId)).toMatchObject({ switching: true });
    const message = await say(owner, group.groupId, 'hello everyone');
    expect((await meta(group.groupId))?.shared).toBe(true);
    expect(await partitionItems(h, keys.sharedHistoryPk(group.groupId))).toHaveLength(1);
    for (const user of users) {
      expect(
        await partitionItems(h, keys.historyPk({ owner: user, chatType: 'group', convId: group.groupId })),
      ).toHaveLength(0);
      const view = await viewOf(await h.as(user), group.groupId);
      expect(view).toEqual({
        listed: true,
        unread: 1,
        latest: { text: 'hello everyone' },
        history: ['hello everyone'],
      });
    }
    // The sender's own message is read for them.
    const own = await viewOf(owner, group.groupId);
    expect(own.unread).toBe(0);
    expect(own.history).toEqual(['hello everyone']);
    expect(message.chatType).toBe('group');
  });

  it('the same operations give the same views in a fan-out group and in one that switches midway', async () => {
    const run = async (prefix: string, switches: boolean) => {
      const owner = await h.as(`${prefix}-owner`);
      const alice = await h.as(`${prefix}-alice`);
      const bob = await h.as(`${prefix}-bob`);
      const group = await owner.createGroup({ members: [`${prefix}-alice`, `${prefix}-bob`] });
      const { groupId } = group;
      await say(owner, groupId, 'one');
      await say(alice, groupId, 'two');
      // Past the threshold: the group switches here (the newcomer sees only what follows).
      if (switches) await owner.addGroupMember(groupId, `${prefix}-extra`);
      await say(bob, groupId, 'three');
      await say(owner, groupId, 'four');
      await alice.sendConversationReadAck(groupId, 'group');
      await say(bob, groupId, 'five');
      await say(owner, groupId, 'six');
      // Alice deletes one message from before the switch and one after it, for herself only.
      const before = (await alice.fetchHistoryMessages(groupId, 'group', 50)).messages;
      const byText = new Map(before.map((m) => [m.body?.text as string, m.msgId]));
      const deleted = await alice.removeMessagesFromServerWithMsgIds(groupId, 'group', [
        byText.get('two') as string,
        byText.get('five') as string,
      ]);
      expect(deleted).toBe(2);
      // Bob deletes everything up to "four".
      const bobs = (await bob.fetchHistoryMessages(groupId, 'group', 50)).messages;
      const four = bobs.find((m) => m.body?.text === 'four');
      await bob.removeMessagesFromServerWithTimestamp(groupId, 'group', four?.timestamp as number);
      await say(alice, groupId, 'seven');
      return {
        shared: (await meta(groupId))?.shared === true,
        owner: await viewOf(owner, groupId),
        alice: await viewOf(alice, groupId),
        bob: await viewOf(bob, groupId),
      };
    };
    const fanOut = await run('lg2f', false);
    const switched = await run('lg2s', true);
    expect(fanOut.shared).toBe(false);
    expect(switched.shared).toBe(true);
    expect({ ...switched, shared: undefined }).toEqual({ ...fanOut, shared: undefined });
    expect(switched.alice).toEqual({
      listed: true,
      unread: 0,
      latest: { text: 'seven' },
      history: ['one', 'three', 'four', 'six', 'seven'],
    });
    expect(switched.bob.history).toEqual(['five', 'six', 'seven']);
    expect(switched.bob.unread).toBe(2);
  });

  it('?since= reports a large group that got a message, and an idle one after it reports nothing', async () => {
    const owner = await h.as('lg3-owner');
    const alice = await h.as('lg3-alice');
    const group = await owner.createGroup({ members: ['lg3-alice', 'lg3-b', 'lg3-c'] });
    await say(owner, group.groupId, 'before the token');
    const first = await alice.fetchConversationsFromServer({ limit: 20 });
    expect(first.conversations.map((c) => c.convId)).toEqual([group.groupId]);

    // A first page's token goes back two hours (list index lag): the first sync reports what is there.
    const synced = await alice.syncConversations(first.syncToken as string);
    const idle = await alice.syncConversationsPage(synced.syncToken, 50);
    expect(idle.conversations).toEqual([]);

    await say(owner, group.groupId, 'after the token');
    const changed = await alice.syncConversationsPage(idle.syncToken as string, 50);
    expect(changed.conversations.map((c) => [c.convId, c.unreadCount, c.lastMessage.body?.text])).toEqual([
      [group.groupId, 2, 'after the token'],
    ]);
    const again = await alice.syncConversationsPage(changed.syncToken as string, 50);
    expect(again.conversations).toEqual([]);
    expect(again.removed).toEqual([]);
  });

  it('?since= reports a large group as it is once its new epoch began, not as its first read saw it', async () => {
    const owner = await h.as('lg9-owner');
    const phone = await h.as('lg9-alice');
    const laptop = await h.as('lg9-alice');
    const group = await owner.createGroup({ members: ['lg9-alice', 'lg9-b', 'lg9-c'] });
    await say(owner, group.groupId, 'before the token');
    const first = await phone.fetchConversationsFromServer({ limit: 20 });
    const synced = await phone.syncConversations(first.syncToken as string);
    await say(owner, group.groupId, 'after the token');
    // A change of alice's own (a marker): the since begins a new epoch.
    await (await h.as('lg9-friend')).sendMessage(text('lg9-alice', 'hello'));
    // The phone's since has read the group (it moved); before it begins its new epoch, the laptop
    // deletes the conversation with its messages.
    gate.before(
      (c) =>
        c.constructor.name === 'UpdateCommand' &&
        JSON.stringify(c.input).includes('"pk":"U#lg9-alice","sk":"SYNC"'),
      async () => {
        await laptop.removeConversationFromServer(group.groupId, 'group', true);
      },
    );
    const since = await phone.syncConversationsPage(synced.syncToken, 50);
    expect(since.conversations.map((c) => c.convId)).toEqual(['lg9-friend']);
    expect(since.removed?.map((r) => r.convId)).toEqual([group.groupId]);
    expect(since.removed?.[0]?.clearedThrough).not.toBeNull();
  });

  it('a list merges large groups and other conversations by last arrival, across pages', async () => {
    const owner = await h.as('lg4-owner');
    const alice = await h.as('lg4-alice');
    const big = await owner.createGroup({ members: ['lg4-alice', 'lg4-b', 'lg4-c'] });
    const small = await owner.createGroup({ members: ['lg4-alice'] });
    const friend = await h.as('lg4-friend');
    // A second between arrivals: the list orders by arrival time (ids of one millisecond tie randomly).
    const tick = () => h.clock.advance(1000);
    await friend.sendMessage(text('lg4-alice', 'hi'));
    tick();
    await say(owner, big.groupId, 'big 1');
    tick();
    await say(owner, small.groupId, 'small 1');
    tick();
    await friend.sendMessage(text('lg4-alice', 'hi again'));
    tick();
    await say(owner, big.groupId, 'big 2');

    const expected = [big.groupId, 'lg4-friend', small.groupId];
    const all = await alice.fetchConversationsFromServer({ limit: 10 });
    expect(all.conversations.map((c) => c.convId)).toEqual(expected);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await alice.fetchConversationsFromServer({ limit: 1, cursor });
      seen.push(...page.conversations.map((c) => c.convId));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(expected);
  });

  it('retention past the read position lowers a large group’s unread at read time, and ?since= says so', async () => {
    const owner = await h.as('lg7-owner');
    const alice = await h.as('lg7-alice');
    const ops = await h.as('lg7-ops', { admin: true });
    const group = await owner.createGroup({ members: ['lg7-alice', 'lg7-b', 'lg7-c'] });
    await ops.setUserRetention('lg7-alice', 1);
    await say(owner, group.groupId, 'old 1');
    await say(owner, group.groupId, 'old 2');
    const first = await alice.fetchConversationsFromServer({ limit: 20 });
    const synced = await alice.syncConversations(first.syncToken as string);
    expect(synced.conversations.find((c) => c.convId === group.groupId)?.unreadCount).toBe(2);
    h.clock.advance(2 * DAY_MS);
    await say(owner, group.groupId, 'new');
    const list = await alice.fetchConversationsFromServer({ limit: 20 });
    const entry = list.conversations.find((c) => c.convId === group.groupId);
    expect([entry?.unreadCount, entry?.lastMessage.body?.text]).toEqual([1, 'new']);
    expect(
      (await alice.fetchHistoryMessages(group.groupId, 'group', 10)).messages.map((m) => m.body?.text),
    ).toEqual(['new']);
    const since = await alice.syncConversationsPage(synced.syncToken, 50);
    expect(since.conversations.map((c) => [c.convId, c.unreadCount])).toEqual([[group.groupId, 1]]);
  });

  it('a pinned large group stays in the pinned list when the member item’s own latest has expired', async () => {
    const owner = await h.as('lg8-owner');
    const alice = await h.as('lg8-alice');
    const ops = await h.as('lg8-ops', { admin: true });
    const group = await owner.createGroup({ members: ['lg8-alice', 'lg8-b', 'lg8-c'] });
    await say(owner, group.groupId, 'first');
    // The pin stores alice's side as of now: its latest is "first".
    await alice.pinConversation(group.groupId, 'group', true);
    await ops.setUserRetention('lg8-alice', 1);
    h.clock.advance(2 * DAY_MS);
    await say(owner, group.groupId, 'two days later');
    const pinned = await alice.fetchPinnedConversationsFromServerWithCursor(undefined, 10);
    expect(pinned.conversations.map((c) => [c.convId, c.lastMessage.body?.text])).toEqual([
      [group.groupId, 'two days later'],
    ]);
  });

  it('a fan-out apply that meets a side moved by the switch reads again: no list key is left in the index', async () => {
    const owner = await h.as('lg11-owner');
    const group = await owner.createGroup({ members: ['lg11-a', 'lg11-b'] });
    // The fan-out of "before" to b is held until the switch has moved b's side.
    let moved!: () => void;
    const bMoved = new Promise<void>((resolve) => {
      moved = resolve;
    });
    gate.before(
      (c) =>
        c.constructor.name === 'TransactWriteCommand' &&
        JSON.stringify(c.input).includes('"pk":"U#lg11-b#C#group#'),
      () => bMoved,
    );
    gate.after(
      (c) =>
        c.constructor.name === 'TransactWriteCommand' &&
        JSON.stringify(c.input).includes('"pk":"U#lg11-b","sk":"LARGE"'),
      async () => moved(),
    );
    const before = say(owner, group.groupId, 'before');
    // A join past the threshold; the next send moves every side (b's included), finishes the fan-out, flips.
    await owner.addGroupMember(group.groupId, 'lg11-c');
    await say(await h.as('lg11-a'), group.groupId, 'after');
    await before;
    const { Item } = (await h.documentClient.send(
      new GetCommand({
        TableName: h.tableName,
        Key: keys.conversation({ owner: 'lg11-b', chatType: 'group', convId: group.groupId }),
      }),
    )) as { Item?: Record<string, unknown> };
    expect(Item).toMatchObject({ shared: true });
    expect(Item?.listSk).toBeUndefined();
    const b = await h.as('lg11-b');
    expect((await viewOf(b, group.groupId)).history).toEqual(['before', 'after']);
  });

  it('a join read before a switch began does not commit in fan-out form after the flip', async () => {
    const owner = await h.as('lg12-owner');
    const group = await owner.createGroup({ members: ['lg12-a', 'lg12-b'] });
    // c's join (past the threshold) commits; before it marks the switch, d's join reads the group, and
    // its transaction waits until the switch has flipped.
    let flipped!: () => void;
    const afterFlip = new Promise<void>((resolve) => {
      flipped = resolve;
    });
    let lateJoin: Promise<unknown> | undefined;
    let lateReady!: () => void;
    const lateHeld = new Promise<void>((resolve) => {
      lateReady = resolve;
    });
    gate.before(
      (c) => c.constructor.name === 'UpdateCommand' && JSON.stringify(c.input).includes('SET switching'),
      async () => {
        lateJoin = owner.addGroupMember(group.groupId, 'lg12-d');
        await lateHeld;
      },
    );
    gate.before(
      (c) =>
        c.constructor.name === 'TransactWriteCommand' && JSON.stringify(c.input).includes('"sk":"M#lg12-d"'),
      async () => {
        lateReady();
        await afterFlip;
      },
    );
    gate.after(
      (c) => c.constructor.name === 'UpdateCommand' && JSON.stringify(c.input).includes('REMOVE #switching'),
      async () => flipped(),
    );
    await owner.addGroupMember(group.groupId, 'lg12-c');
    await say(owner, group.groupId, 'after the flip');
    await lateJoin;
    await say(owner, group.groupId, 'to everyone');
    const d = await h.as('lg12-d');
    const { Item } = (await h.documentClient.send(
      new GetCommand({
        TableName: h.tableName,
        Key: keys.conversation({ owner: 'lg12-d', chatType: 'group', convId: group.groupId }),
      }),
    )) as { Item?: Record<string, unknown> };
    expect(Item).toMatchObject({ shared: true });
    expect(await viewOf(d, group.groupId)).toMatchObject({
      listed: true,
      unread: 1,
      history: ['to everyone'],
    });
  });

  it('the recent list counts a large group’s unread from the read position, not from seven days ago', async () => {
    const owner = await h.as('lg13-owner');
    const alice = await h.as('lg13-alice');
    const group = await owner.createGroup({ members: ['lg13-alice', 'lg13-b', 'lg13-c'] });
    await say(owner, group.groupId, 'eight days ago');
    h.clock.advance(8 * DAY_MS);
    await say(owner, group.groupId, 'today');
    const recent = await alice.fetchConversationsFromServer();
    expect(recent.conversations.map((c) => [c.convId, c.unreadCount])).toEqual([[group.groupId, 2]]);
  });

  it('a tombstone is filed for purge: retention past it deletes it physically', async () => {
    const owner = await h.as('lg14-owner');
    const alice = await h.as('lg14-alice');
    const ops = await h.as('lg14-ops', { admin: true });
    const group = await owner.createGroup({ members: ['lg14-alice', 'lg14-b', 'lg14-c'] });
    const sent = await say(owner, group.groupId, 'to hide');
    await say(owner, group.groupId, 'to keep');
    expect(await alice.removeMessagesFromServerWithMsgIds(group.groupId, 'group', [sent.msgId])).toBe(1);
    const own = keys.historyPk({ owner: 'lg14-alice', chatType: 'group', convId: group.groupId });
    expect(await partitionItems(h, own)).toHaveLength(1);
    await ops.setUserRetention('lg14-alice', 1);
    h.clock.advance(2 * DAY_MS);
    await runSweep(h.deps);
    expect(await partitionItems(h, own)).toHaveLength(0);
  });

  it('at the pin cap, a pinned large group that is active is not unpinned as expired', async () => {
    const owner = await h.as('lg15-owner');
    const alice = await h.as('lg15-alice');
    const ops = await h.as('lg15-ops', { admin: true });
    const group = await owner.createGroup({ members: ['lg15-alice', 'lg15-b', 'lg15-c'] });
    await say(owner, group.groupId, 'first');
    // Alice's item stores the latest as of her pin: "first".
    await alice.pinConversation(group.groupId, 'group', true);
    for (let i = 0; i < 49; i++) {
      await (await h.as(`lg15-pal-${i}`)).sendMessage(text('lg15-alice', `pal ${i}`));
      await alice.pinConversation(`lg15-pal-${i}`, 'single', true);
    }
    await ops.setUserRetention('lg15-alice', 1);
    h.clock.advance(2 * DAY_MS);
    // The group is active; the pals' chats have expired. The 51st pin unpins what retention hides.
    await say(owner, group.groupId, 'today');
    await (await h.as('lg15-new')).sendMessage(text('lg15-alice', 'new'));
    await alice.pinConversation('lg15-new', 'single', true);
    const pinned = await alice.fetchPinnedConversationsFromServerWithCursor(undefined, 50);
    expect(pinned.conversations.map((c) => c.convId).sort()).toEqual([group.groupId, 'lg15-new'].sort());
  });

  it('a member who leaves a large group loses it: history refused, the group reported removed', async () => {
    const owner = await h.as('lg5-owner');
    const alice = await h.as('lg5-alice');
    const group = await owner.createGroup({ members: ['lg5-alice', 'lg5-b', 'lg5-c'] });
    await say(owner, group.groupId, 'while a member');
    const first = await alice.fetchConversationsFromServer({ limit: 20 });
    await alice.removeGroupMember(group.groupId, 'lg5-alice');
    await say(owner, group.groupId, 'after leaving');
    const since = await alice.syncConversationsPage(first.syncToken as string, 50);
    expect(since.removed?.map((r) => r.convId)).toEqual([group.groupId]);
    expect(since.conversations).toEqual([]);
    await expect(alice.fetchHistoryMessages(group.groupId, 'group', 10)).rejects.toMatchObject({
      status: 403,
    });
    const list = await alice.fetchConversationsFromServer({ limit: 20 });
    expect(list.conversations).toEqual([]);
  });

  it('sends running while a join switches the group are each seen once, in one order, by every member', async () => {
    const owner = await h.as('lg6-owner');
    const members = ['lg6-a', 'lg6-b'];
    const group = await owner.createGroup({ members });
    const senders = await Promise.all([owner, ...(await Promise.all(members.map((m) => h.as(m))))]);
    const sends = senders.flatMap((client, i) =>
      Array.from({ length: 4 }, (_, n) => say(client, group.groupId, `s${i}-${n}`)),
    );
    const join = owner.addGroupMember(group.groupId, 'lg6-late');
    await Promise.all([...sends, join]);
    // Whichever send met the group switching finished the switch; this one surely does.
    await say(owner, group.groupId, 'after');
    expect((await meta(group.groupId))?.shared).toBe(true);
    const histories = await Promise.all(
      senders.map(async (client) => (await viewOf(client, group.groupId)).history),
    );
    expect(histories[0]).toHaveLength(13);
    expect(new Set(histories[0]).size).toBe(13);
    expect(histories[0]?.at(-1)).toBe('after');
    for (const history of histories) expect(history).toEqual(histories[0]);
  });
});

describe('large groups with the default settings', () => {
  let defaults: Harness;
  beforeAll(async () => {
    defaults = await startHarness();
  });
  afterAll(async () => {
    await defaults.close();
  });

  it('with the defaults (shared past 200, up to 5,000 members) a group of 201 switches at its first send', async () => {
    expect(defaults.deps.config).toMatchObject({ sharedHistoryAbove: 200, maxGroupMembers: 5_000 });
    const owner = await defaults.as('lgd-owner');
    const members = Array.from({ length: 200 }, (_, i) => `lgd-m${i}`);
    const group = await owner.createGroup({ members });
    await owner.sendMessage(text(group.groupId, 'to all 201', { chatType: 'group' }));
    const { Items = [] } = (await defaults.documentClient.send(
      new QueryCommand({
        TableName: defaults.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.sharedHistoryPk(group.groupId) },
      }),
    )) as { Items?: Record<string, unknown>[] };
    expect(Items).toHaveLength(1);
    const last = await defaults.as('lgd-m199');
    const list = await last.fetchConversationsFromServer({ limit: 5 });
    expect(list.conversations.map((c) => [c.convId, c.unreadCount])).toEqual([[group.groupId, 1]]);
  });
});
