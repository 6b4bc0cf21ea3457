import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import { idsOf, sendMany, text, walkHistory } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('sending a single-chat message', () => {
  it('puts the same message in both histories and both lists, and nothing anywhere else', async () => {
    // Prepare
    const alice = await h.as('s-alice');
    const bob = await h.as('s-bob');
    const carol = await h.as('s-carol');
    // Act
    const sent = await alice.sendMessage(text('s-bob', 'hello bob'));
    // Assess
    expect(sent).toMatchObject({
      from: 's-alice',
      to: 's-bob',
      chatType: 'single',
      type: 'text',
      body: { text: 'hello bob' },
    });
    expect(sent.timestamp).toBe(h.clock.now());
    const aliceHistory = await alice.fetchHistoryMessages('s-bob', 'single');
    const bobHistory = await bob.fetchHistoryMessages('s-alice', 'single');
    expect(aliceHistory.messages).toEqual([sent]);
    expect(bobHistory.messages).toEqual([sent]);

    const aliceList = await alice.fetchConversationsFromServer({ limit: 10 });
    const bobList = await bob.fetchConversationsFromServer({ limit: 10 });
    expect(aliceList.conversations).toEqual([
      {
        convId: 's-bob',
        chatType: 'single',
        lastMessage: sent,
        unreadCount: 0,
        updatedAt: sent.timestamp,
        readThrough: sent.msgId,
        clearedThrough: null,
        pinnedAt: null,
        marks: [],
      },
    ]);
    expect(bobList.conversations).toEqual([
      {
        convId: 's-alice',
        chatType: 'single',
        lastMessage: sent,
        unreadCount: 1,
        updatedAt: sent.timestamp,
        readThrough: null,
        clearedThrough: null,
        pinnedAt: null,
        marks: [],
      },
    ]);

    expect((await carol.fetchConversationsFromServer({ limit: 50 })).conversations).toEqual([]);
    // Carol asking for "her conversation with alice" sees her own (empty) copy, never alice's or bob's.
    expect((await carol.fetchHistoryMessages('s-alice', 'single')).messages).toEqual([]);
    expect((await carol.fetchHistoryMessages('s-bob', 'single')).messages).toEqual([]);
  });

  it('counts unread for the recipient and resets the sender’s own count when they reply', async () => {
    const alice = await h.as('u-alice');
    const bob = await h.as('u-bob');
    await sendMany(alice, 'u-bob', 3);
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.unreadCount).toBe(3);
    await bob.sendMessage(text('u-alice', 'read them'));
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.unreadCount).toBe(0);
    expect((await alice.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.unreadCount).toBe(1);
  });
});

describe('idempotent send', () => {
  it('stores a message once per copy when the same clientMsgId is sent twice', async () => {
    const alice = await h.as('i-alice');
    const bob = await h.as('i-bob');
    const first = await alice.sendMessage(text('i-bob', 'once', { clientMsgId: 'c-1' }));
    h.clock.advance(5);
    const retry = await alice.sendMessage(text('i-bob', 'once', { clientMsgId: 'c-1' }));
    expect(retry).toEqual(first);
    expect(idsOf((await alice.fetchHistoryMessages('i-bob', 'single')).messages)).toEqual([first.msgId]);
    expect(idsOf((await bob.fetchHistoryMessages('i-alice', 'single')).messages)).toEqual([first.msgId]);
    expect((await bob.fetchConversationsFromServer({ limit: 5 })).conversations[0]?.unreadCount).toBe(1);
  });

  it('refuses a different message under a clientMsgId already used (409)', async () => {
    const alice = await h.as('i2-alice');
    await alice.sendMessage(text('i2-bob', 'first', { clientMsgId: 'same' }));
    const error = await alice.sendMessage(text('i2-bob', 'second', { clientMsgId: 'same' })).catch((e) => e);
    expect(error).toBeInstanceOf(RoamingApiError);
    expect(error).toMatchObject({ status: 409, code: 'conflict' });
  });
});

describe('history paging', () => {
  const total = 500;
  let sentIds: string[];
  beforeAll(async () => {
    const alice = await h.as('p-alice');
    sentIds = [];
    for (let i = 0; i < total; i++) {
      // Several messages share a millisecond: order must still be total.
      if (i % 3 === 0) h.clock.advance(1);
      sentIds.push((await alice.sendMessage(text('p-bob', `m${i}`))).msgId);
    }
  });

  it('walks up from the newest with no gap or repeat, the last page short and its cursor null', async () => {
    const bob = await h.as('p-bob');
    const pages = await walkHistory(bob, 'p-alice', 'single', 30, 'up');
    expect(pages.flat().map((m) => m.msgId)).toEqual([...sentIds].reverse());
    expect(pages.slice(0, -1).every((p) => p.length === 30)).toBe(true);
    expect(pages.at(-1)?.length).toBe(total % 30);
  });

  it('walks down from the oldest with no gap or repeat', async () => {
    const bob = await h.as('p-bob');
    const pages = await walkHistory(bob, 'p-alice', 'single', 50, 'down');
    expect(pages.flat().map((m) => m.msgId)).toEqual(sentIds);
    // 500 is a multiple of 50: the last full page already says there is no more.
    expect(pages.length).toBe(10);
  });

  it('treats startMsgId as exclusive in both directions', async () => {
    const bob = await h.as('p-bob');
    const middle = sentIds[250] as string;
    const up = await bob.fetchHistoryMessages('p-alice', 'single', 3, middle, { direction: 'up' });
    const down = await bob.fetchHistoryMessages('p-alice', 'single', 3, middle, { direction: 'down' });
    expect(idsOf(up.messages)).toEqual([sentIds[249], sentIds[248], sentIds[247]]);
    expect(idsOf(down.messages)).toEqual([sentIds[251], sentIds[252], sentIds[253]]);
    expect(up.cursor).toBe(sentIds[247]);
  });

  it('defaults to 20 messages, newest first', async () => {
    const bob = await h.as('p-bob');
    const page = await bob.fetchHistoryMessages('p-alice', 'single');
    expect(idsOf(page.messages)).toEqual(sentIds.slice(-20).reverse());
  });
});

describe('history filters', () => {
  it('filters by type, sender and time range', async () => {
    const alice = await h.as('f-alice');
    const bob = await h.as('f-bob');
    await h.as('f-carol');
    const group = await alice.createGroup({ name: 'filters', members: ['f-bob', 'f-carol'] });
    h.clock.advance(1000);
    const t1 = h.clock.now();
    const a1 = await alice.sendMessage({
      to: group.groupId,
      chatType: 'group',
      type: 'image',
      body: { url: 'x' },
    });
    h.clock.advance(1000);
    const b1 = await bob.sendMessage(text(group.groupId, 'b1', { chatType: 'group' }));
    h.clock.advance(1000);
    const a2 = await alice.sendMessage(text(group.groupId, 'a2', { chatType: 'group' }));
    const carol = await h.as('f-carol');
    const byType = await carol.fetchHistoryMessages(group.groupId, 'group', 10, undefined, {
      types: ['text'],
    });
    expect(idsOf(byType.messages)).toEqual([a2.msgId, b1.msgId]);
    const bySender = await carol.fetchHistoryMessages(group.groupId, 'group', 10, undefined, {
      from: ['f-alice'],
    });
    expect(idsOf(bySender.messages)).toEqual([a2.msgId, a1.msgId]);
    const byTime = await carol.fetchHistoryMessages(group.groupId, 'group', 10, undefined, {
      startTime: t1 + 1000,
      endTime: t1 + 1000,
    });
    expect(idsOf(byTime.messages)).toEqual([b1.msgId]);
    const oneTypeOnePage = await carol.fetchHistoryMessages(group.groupId, 'group', 1, undefined, {
      types: ['text'],
    });
    expect(oneTypeOnePage.cursor).toBe(a2.msgId);
  });
});

describe('groups', () => {
  it('gives members every message sent after they joined, and non-members 403 on send and history', async () => {
    const owner = await h.as('g-owner');
    const member = await h.as('g-member');
    const late = await h.as('g-late');
    const outsider = await h.as('g-outsider');
    const group = await owner.createGroup({ name: 'team', members: ['g-member'] });
    const before = await member.sendMessage(text(group.groupId, 'before late joined', { chatType: 'group' }));
    await owner.addGroupMember(group.groupId, 'g-late');
    const after = await owner.sendMessage(text(group.groupId, 'after late joined', { chatType: 'group' }));

    expect(idsOf((await member.fetchHistoryMessages(group.groupId, 'group')).messages)).toEqual([
      after.msgId,
      before.msgId,
    ]);
    expect(idsOf((await owner.fetchHistoryMessages(group.groupId, 'group')).messages)).toEqual([
      after.msgId,
      before.msgId,
    ]);
    expect(idsOf((await late.fetchHistoryMessages(group.groupId, 'group')).messages)).toEqual([after.msgId]);
    expect((await late.fetchConversationsFromServer({ limit: 5 })).conversations[0]).toMatchObject({
      convId: group.groupId,
      chatType: 'group',
      lastMessage: after,
      unreadCount: 1,
    });

    const sendError = await outsider
      .sendMessage(text(group.groupId, 'let me in', { chatType: 'group' }))
      .catch((e) => e);
    expect(sendError).toMatchObject({ status: 403, code: 'forbidden' });
    const readError = await outsider.fetchHistoryMessages(group.groupId, 'group').catch((e) => e);
    expect(readError).toMatchObject({ status: 403, code: 'forbidden' });
    expect((await outsider.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
  });

  it('lets only the owner add members, and a removed member loses the group history', async () => {
    const owner = await h.as('g2-owner');
    const member = await h.as('g2-member');
    const group = await owner.createGroup({ members: ['g2-member'] });
    await owner.sendMessage(text(group.groupId, 'hi', { chatType: 'group' }));
    expect(await member.addGroupMember(group.groupId, 'g2-friend').catch((e) => e)).toMatchObject({
      status: 403,
    });
    await owner.removeGroupMember(group.groupId, 'g2-member');
    expect(await member.fetchHistoryMessages(group.groupId, 'group').catch((e) => e)).toMatchObject({
      status: 403,
    });
    expect((await member.fetchConversationsFromServer({ limit: 5 })).conversations).toEqual([]);
    expect(await owner.removeGroupMember(group.groupId, 'g2-owner').catch((e) => e)).toMatchObject({
      status: 409,
    });
  });

  it('makes group ids itself: a client-chosen id is refused (400), so existing ids cannot be probed', async () => {
    const owner = await h.as('g3-owner');
    const made = await owner.createGroup({ name: 'one' });
    expect(made.groupId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    const chosen = await h.raw('POST', '/v1/groups', {
      token: await h.token('g3-owner'),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ groupId: made.groupId }),
    });
    expect(chosen.status).toBe(400);
    expect(chosen.body.error?.message).toMatch(/groupId/);
    // An unknown group and a group one is not in answer alike.
    const stranger = await h.as('g3-stranger');
    for (const groupId of [made.groupId, '01KT000000000000000000000Z']) {
      expect(
        await stranger.sendMessage(text(groupId, 'x', { chatType: 'group' })).catch((e) => e),
      ).toMatchObject({
        status: 403,
        message: 'You are not a member of this group',
      });
    }
  });
});

describe('the no-paging conversation list', () => {
  it('returns at most 10 conversations, none whose latest message is older than 7 days', async () => {
    const me = await h.as('r-me');
    for (let i = 0; i < 3; i++) await me.sendMessage(text(`r-old-${i}`, 'old'));
    h.clock.advance(7 * DAY_MS + 1);
    for (let i = 0; i < 12; i++) await me.sendMessage(text(`r-new-${i}`, 'new'));
    const page = await me.fetchConversationsFromServer();
    expect(page.conversations).toHaveLength(10);
    expect(page.conversations.map((c) => c.convId)).toEqual(
      Array.from({ length: 10 }, (_, i) => `r-new-${11 - i}`),
    );
    h.clock.advance(7 * DAY_MS - 1);
    // Now only the newest conversations are within 7 days.
    expect(
      (await me.fetchConversationsFromServer()).conversations.every((c) => c.convId.startsWith('r-new')),
    ).toBe(true);
  });
});

describe('message bodies', () => {
  it('stores and returns any valid JSON exactly, even values DynamoDB itself cannot hold', async () => {
    const alice = await h.as('j-alice');
    // 32 levels: the body object, then 31 nested ones (DynamoDB itself stops at 32 in all).
    let deep: Record<string, unknown> = { leaf: true };
    for (let i = 0; i < 30; i++) deep = { inner: deep };
    const body = { huge: 1e300, tiny: 5e-324, precise: 0.1 + 0.2, empty: '', list: [null, [], {}], deep };
    const ext = { 'weird key': 1.7976931348623157e308 };
    const sent = await alice.sendMessage({ to: 'j-bob', chatType: 'single', type: 'custom', body, ext });
    expect(sent.body).toEqual(body);
    const [copy] = (await (await h.as('j-bob')).fetchHistoryMessages('j-alice', 'single')).messages;
    expect(copy).toEqual(sent);
    const [listed] = (await alice.fetchConversationsFromServer({ limit: 1 })).conversations;
    expect(listed?.lastMessage).toEqual(sent);
  });
});
