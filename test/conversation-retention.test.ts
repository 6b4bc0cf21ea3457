import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import type { ChatType, Message } from '../functions/core/model.js';
import {
  FLOOR_CLOCK_MARGIN_MS,
  MAX_CLOCK_SKEW_MS,
  SWEEP_CLOCK_MARGIN_MS,
} from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import { Device } from './support/device.js';
import { text } from './support/fixtures.js';
import { partitionItems } from './support/group-views.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Per-conversation retention (issue 21): PUT /v1/conversations/{chatType}/{convId}/retention {days|null}
 * gives the caller's side its own policy; the most specific policy wins (conversation, user, app), for
 * reads, lists and every device through `?since=`.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function harness(options?: Parameters<typeof startHarness>[0]): Promise<Harness> {
  const h = await startHarness(options);
  harnesses.push(h);
  return h;
}

/** Every conversation id of the full list, walked a page of one at a time (so later pages are read too). */
async function listedIds(client: RoamingClient): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.fetchConversationsFromServer({ limit: 1, cursor });
    ids.push(...page.conversations.map((c) => c.convId));
    cursor = page.cursor ?? undefined;
  } while (cursor);
  return ids;
}

/** The ids of the whole visible history, oldest first. */
async function historyIds(client: RoamingClient, convId: string, chatType: ChatType = 'single') {
  const ids: string[] = [];
  let startMsgId: string | undefined;
  for (;;) {
    const page = await client.fetchHistoryMessages(convId, chatType, 50, startMsgId, { direction: 'down' });
    ids.push(...page.messages.map((m) => m.msgId));
    if (page.cursor === null) return ids;
    startMsgId = page.cursor;
  }
}

const ids = (...messages: Message[]) => messages.map((m) => m.msgId);

/** The message ids physically stored in one side's history partition (a Query of the table itself). */
async function storedIds(h: Harness, owner: string, convId: string, chatType: ChatType = 'single') {
  const { Items } = await h.documentClient.send(
    new QueryCommand({
      TableName: h.tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :m)',
      ExpressionAttributeValues: { ':pk': keys.historyPk({ owner, chatType, convId }), ':m': 'M#' },
      ConsistentRead: true,
    }),
  );
  return (Items ?? []).map((item) => keys.msgIdOfSk(item.sk as string)).sort();
}

/** A device that has replayed `?since=` shows exactly what a fresh fetch shows. */
async function expectConverged(device: Device, h: Harness, owner: string) {
  await device.sync();
  const fresh = new Device(await h.as(owner));
  await fresh.fullFetch();
  expect(device.view()).toEqual(fresh.view());
  return fresh.view();
}

describe('the contract', () => {
  it('sets, changes and clears a conversation’s own retention, shown on the conversation object', async () => {
    // Prepare: cr-bob writes cr-amy.
    const h = await harness();
    const amy = await h.as('cr-amy');
    await (await h.as('cr-bob')).sendMessage(text('cr-amy', 'hi'));
    // Act
    const set = await amy.setConversationRetention('cr-bob', 'single', 7);
    const changed = await amy.setConversationRetention('cr-bob', 'single', 30);
    const listedWhileSet = (await amy.fetchConversationsFromServer({ limit: 10 })).conversations[0];
    const cleared = await amy.setConversationRetention('cr-bob', 'single', null);
    const listedAfter = (await amy.fetchConversationsFromServer({ limit: 10 })).conversations[0];
    // Assess
    expect(set.retentionDays).toBe(7);
    expect(changed.retentionDays).toBe(30);
    expect(listedWhileSet?.retentionDays).toBe(30);
    expect(cleared.retentionDays).toBeUndefined();
    expect(listedAfter?.retentionDays).toBeUndefined();
    expect(listedAfter?.convId).toBe('cr-bob');
  });

  it('answers 404 for a conversation the caller does not have, and 400 naming `days` for bad input', async () => {
    // Prepare
    const h = await harness();
    await (await h.as('cr-bob')).sendMessage(text('cr-amy', 'hi'));
    const token = await h.token('cr-amy');
    const put = (convId: string, body: string) =>
      h.raw('PUT', `/v1/conversations/single/${convId}/retention`, {
        token,
        body,
        headers: { 'content-type': 'application/json' },
      });
    // Act
    const missing = await put('cr-nobody', '{"days":7}');
    const bad = await Promise.all(
      ['{"days":0}', '{"days":1.5}', '{"days":36501}', '{"days":"7"}', '{}'].map((b) => put('cr-bob', b)),
    );
    // Assess
    expect(missing.status).toBe(404);
    expect(missing.body.error?.code).toBe('not_found');
    for (const answer of bad) {
      expect(answer.status).toBe(400);
      expect(answer.body.error?.message).toContain('days');
    }
  });

  it('a retry of the same policy changes nothing another device has to learn', async () => {
    // Prepare: cr-amy's conversation with cr-bob has its own 7 days; a device syncs after it.
    const h = await harness();
    const amy = await h.as('cr-amy');
    await (await h.as('cr-bob')).sendMessage(text('cr-amy', 'hi'));
    const first = await amy.setConversationRetention('cr-bob', 'single', 7);
    const device = new Device(amy);
    await device.fullFetch();
    // A first page's token reaches back two hours (list-sync-token.ts): a sync takes in the first set.
    await device.sync();
    // Act: the same request again (a retry).
    const again = await amy.setConversationRetention('cr-bob', 'single', 7);
    const delta = await device.sync();
    // Assess
    expect(again).toEqual(first);
    expect(delta.conversations).toEqual([]);
  });
});

describe('the most specific policy wins', () => {
  it('a conversation’s own policy, shorter or longer than the user’s and the app’s, bounds its history and the list', async () => {
    // Prepare: the app keeps 30 days, cr-own's override 10. Four peers write cr-own on day 0 and day 5;
    // on day 5 cr-own gives cr-p1 3 days, cr-p2 20 and cr-p3 60 (cr-p0 follows cr-own's policy).
    const h = await harness();
    const admin = await h.as('cr-ops', { admin: true });
    await admin.setAppRetention(30);
    await admin.setUserRetention('cr-own', 10);
    const own = await h.as('cr-own');
    const peers = await Promise.all([0, 1, 2, 3].map((i) => h.as(`cr-p${i}`)));
    const day0 = await Promise.all(peers.map((p) => p.sendMessage(text('cr-own', 'day 0'))));
    h.clock.advance(5 * DAY_MS);
    const day5 = await Promise.all(peers.map((p) => p.sendMessage(text('cr-own', 'day 5'))));
    await own.setConversationRetention('cr-p1', 'single', 3);
    await own.setConversationRetention('cr-p2', 'single', 20);
    await own.setConversationRetention('cr-p3', 'single', 60);
    const history = async () =>
      Object.fromEntries(
        await Promise.all([0, 1, 2, 3].map(async (i) => [i, await historyIds(own, `cr-p${i}`)])),
      );
    // Act 1: day 12 (cr-own's 10 days reach back to day 2).
    h.clock.advance(7 * DAY_MS);
    const listDay12 = await listedIds(own);
    const historyDay12 = await history();
    // Act 2: day 26 (the user's cutoff is day 16; cr-p2's 20 days reach day 6).
    h.clock.advance(14 * DAY_MS);
    const listDay26 = await listedIds(own);
    const historyDay26 = await history();
    // Act 3: the override cleared (the app's 30 days), day 36: cr-p3's 60 days still keep day 0.
    await admin.clearUserRetention('cr-own');
    h.clock.advance(10 * DAY_MS);
    const listDay36 = await listedIds(own);
    const historyDay36 = await history();
    const recentDay36 = await own.fetchConversationsFromServer();
    // Assess
    const [p0, , p2, p3] = [0, 1, 2, 3].map((i) => ids(day0[i] as Message, day5[i] as Message));
    expect(listDay12.sort()).toEqual(['cr-p0', 'cr-p2', 'cr-p3']);
    expect(historyDay12).toEqual({ 0: p0?.slice(1), 1: [], 2: p2, 3: p3 });
    expect(listDay26).toEqual(['cr-p3']);
    expect(historyDay26).toEqual({ 0: [], 1: [], 2: [], 3: p3 });
    expect(listDay36).toEqual(['cr-p3']);
    expect(historyDay36).toEqual({ 0: [], 1: [], 2: [], 3: p3 });
    // Its latest is 31 days old: not "of the last 7 days".
    expect(recentDay36.conversations).toEqual([]);
  });

  it('a mark’s list and the pinned list show a conversation kept by its own longer policy, and hide one expired by a shorter', async () => {
    // Prepare: cr-own keeps 10 days; cr-long (own 60 days) and cr-short (own 2 days) are marked 4 and pinned.
    const h = await harness();
    const admin = await h.as('cr-ops', { admin: true });
    await admin.setUserRetention('cr-own', 10);
    const own = await h.as('cr-own');
    for (const peer of ['cr-long', 'cr-short']) {
      await (await h.as(peer)).sendMessage(text('cr-own', 'hello'));
      await own.addRemoteAndLocalConversationsMark([{ convId: peer, chatType: 'single' }], 4);
      await own.pinConversation(peer, 'single', true);
    }
    await own.setConversationRetention('cr-long', 'single', 60);
    await own.setConversationRetention('cr-short', 'single', 2);
    // Act: day 12.
    h.clock.advance(12 * DAY_MS);
    const marked = await own.fetchConversationsByOptions({ mark: 4, pageSize: 10 });
    const pinned = await own.fetchPinnedConversationsFromServerWithCursor(undefined, 10);
    // Assess
    expect(marked.conversations.map((c) => c.convId)).toEqual(['cr-long']);
    expect(pinned.conversations.map((c) => c.convId)).toEqual(['cr-long']);
  });
});

describe('floors', () => {
  it('what a shorter own policy hid stays hidden after it is lengthened or cleared', async () => {
    // Prepare: nobody's policy expires anything; cr-bob writes cr-amy on day 0, day 5 and day 6.
    const h = await harness();
    const amy = await h.as('cr-amy');
    const bob = await h.as('cr-bob');
    await bob.sendMessage(text('cr-amy', 'day 0'));
    h.clock.advance(5 * DAY_MS);
    const day5 = await bob.sendMessage(text('cr-amy', 'day 5'));
    h.clock.advance(DAY_MS);
    const day6 = await bob.sendMessage(text('cr-amy', 'day 6'));
    await amy.setConversationRetention('cr-bob', 'single', 3);
    // Act: day 7, lengthened to 30 days; then cleared (amy follows no policy at all).
    h.clock.advance(DAY_MS);
    const hiddenBy3 = await historyIds(amy, 'cr-bob');
    const lengthened = await amy.setConversationRetention('cr-bob', 'single', 30);
    const afterLengthening = await historyIds(amy, 'cr-bob');
    const cleared = await amy.setConversationRetention('cr-bob', 'single', null);
    const afterClearing = await historyIds(amy, 'cr-bob');
    // Assess: the floor is the 3 days' cutoff two hours ahead (any instance may have been that fast).
    expect(hiddenBy3).toEqual(ids(day5, day6));
    expect(lengthened.retentionFloor).toBe(h.clock.now() - 3 * DAY_MS + FLOOR_CLOCK_MARGIN_MS);
    expect(afterLengthening).toEqual(ids(day5, day6));
    expect(cleared.retentionDays).toBeUndefined();
    expect(cleared.retentionFloor).toBe(lengthened.retentionFloor);
    expect(afterClearing).toEqual(ids(day5, day6));
  });
});

describe('devices learn it through ?since=', () => {
  it('a device replaying ?since= equals a fresh fetch as own policies are set shorter and longer, changed, cleared and time passes', {
    timeout: 120_000,
  }, async () => {
    // Prepare: cr-dev keeps 10 days. Peers write on day 0 and day 4; a device fetches on day 4.
    const h = await harness();
    const admin = await h.as('cr-ops', { admin: true });
    await admin.setUserRetention('cr-dev', 10);
    const owner = await h.as('cr-dev');
    const peers = await Promise.all(['cr-s', 'cr-l', 'cr-x'].map((p) => h.as(p)));
    for (const p of peers) await p.sendMessage(text('cr-dev', 'day 0'));
    h.clock.advance(4 * DAY_MS);
    for (const p of peers) await p.sendMessage(text('cr-dev', 'day 4'));
    const device = new Device(owner);
    await device.fullFetch();
    // Act and assess, step by step. Another device of cr-dev sets cr-s shorter (3 days), cr-l longer (40).
    await owner.setConversationRetention('cr-s', 'single', 3);
    await owner.setConversationRetention('cr-l', 'single', 40);
    h.clock.advance(DAY_MS);
    const day5 = await expectConverged(device, h, 'cr-dev');
    expect(day5.cached['single#cr-s']).toHaveLength(1);
    expect(device.conversations.get('single#cr-l')?.retentionDays).toBe(40);
    // Day 12: cr-dev's own 10 days expired day 0 in cr-x; cr-s expired whole; cr-l keeps both.
    h.clock.advance(7 * DAY_MS);
    const day12 = await expectConverged(device, h, 'cr-dev');
    expect(day12.conversations.map((c) => c.convId).sort()).toEqual(['cr-l', 'cr-x']);
    expect(day12.cached['single#cr-l']).toHaveLength(2);
    // cr-x gets its own 5 days (shorter than the user's), and cr-l is changed to 6 (its day 4 expires).
    await owner.setConversationRetention('cr-x', 'single', 5);
    await owner.setConversationRetention('cr-l', 'single', 6);
    const changed = await expectConverged(device, h, 'cr-dev');
    expect(changed.conversations).toEqual([]);
    // New messages, then cr-l cleared (back to 10 days; its floor keeps day 4 hidden) and time passes.
    await peers[1]?.sendMessage(text('cr-dev', 'day 12'));
    await peers[2]?.sendMessage(text('cr-dev', 'day 12'));
    await owner.setConversationRetention('cr-l', 'single', null);
    await expectConverged(device, h, 'cr-dev');
    h.clock.advance(3 * DAY_MS);
    await expectConverged(device, h, 'cr-dev');
    h.clock.advance(3 * DAY_MS);
    const day18 = await expectConverged(device, h, 'cr-dev');
    // cr-x's 5 days expired its day-12 message; cr-l's (the user's 10 days now) keeps it.
    expect(day18.conversations.map((c) => c.convId)).toEqual(['cr-l']);
  });

  it('a device told by an instance an hour fast keeps equal to a fresh fetch when the policy is lengthened', async () => {
    // Prepare: cr-fast's conversation with cr-peer has its own 3 days; messages on day 0 and day 2.
    const h = await harness();
    const fast = await h.instance({ clockOffsetMs: MAX_CLOCK_SKEW_MS });
    const owner = await h.as('cr-fast');
    const peer = await h.as('cr-peer');
    await owner.sendMessage(text('cr-peer', 'opening'));
    await owner.setConversationRetention('cr-peer', 'single', 3);
    const day0 = await peer.sendMessage(text('cr-fast', 'day 0'));
    h.clock.advance(2 * DAY_MS);
    await peer.sendMessage(text('cr-fast', 'day 2'));
    const device = new Device(await fast.as('cr-fast'));
    await device.fullFetch();
    // Act: 3 days after day 0 less half an hour: the fast instance's since already expires day 0.
    h.clock.advance(DAY_MS - MAX_CLOCK_SKEW_MS / 2);
    await device.sync();
    const droppedByFast = !device.cachedIds({ convId: 'cr-peer', chatType: 'single' }).includes(day0.msgId);
    // The policy is lengthened on the on-time instance; the device syncs there from now on.
    await owner.setConversationRetention('cr-peer', 'single', 30);
    const onTime = new Device(owner);
    onTime.token = device.token;
    onTime.conversations = device.conversations;
    onTime.cache = device.cache;
    onTime.policies = device.policies;
    // Assess: the floor keeps day 0 expired for a fresh fetch too.
    expect(droppedByFast).toBe(true);
    await expectConverged(onTime, h, 'cr-fast');
  });
});

describe('the sweep', () => {
  it('purges a shorter own policy’s expired copies and never a longer one’s, on the owner’s side only', async () => {
    // Prepare: the app keeps 30 days, cr-sw's override 10. cr-short, cr-long and cr-plain write cr-sw on
    // day 0 and day 5; on day 5 cr-sw gives cr-short 3 days and cr-long 60. cr-long's first message (a
    // minute before day 0) cr-sw deleted (a one-way delete: filed as due now, met by the sweep's first pass).
    const h = await harness();
    const admin = await h.as('cr-ops', { admin: true });
    await admin.setAppRetention(30);
    await admin.setUserRetention('cr-sw', 10);
    const owner = await h.as('cr-sw');
    const peers = ['cr-short', 'cr-long', 'cr-plain'];
    const deleted = await (await h.as('cr-long')).sendMessage(text('cr-sw', 'deleted'));
    await owner.removeMessagesFromServerWithTimestamp('cr-long', 'single', deleted.timestamp);
    h.clock.advance(60_000);
    const sent: Record<string, Message[]> = {};
    for (const peer of peers) sent[peer] = [await (await h.as(peer)).sendMessage(text('cr-sw', 'day 0'))];
    h.clock.advance(5 * DAY_MS);
    for (const peer of peers) sent[peer]?.push(await (await h.as(peer)).sendMessage(text('cr-sw', 'day 5')));
    await owner.setConversationRetention('cr-short', 'single', 3);
    await owner.setConversationRetention('cr-long', 'single', 60);
    const stored = async () =>
      Object.fromEntries(await Promise.all(peers.map(async (p) => [p, await storedIds(h, 'cr-sw', p)])));
    // Act 1: day 12, a sweep (its clock margin past).
    h.clock.advance(7 * DAY_MS + SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    const day12 = await stored();
    const peersKept = await Promise.all(peers.map((p) => storedIds(h, p, 'cr-sw')));
    const listDay12 = await listedIds(owner);
    // Act 2: day 40: the user's 10 days and the app's 30 are long past day 5; cr-long's 60 days are not.
    h.clock.advance(28 * DAY_MS);
    await runSweep(h.deps);
    const day40 = await stored();
    // Assess
    const [short, long, plain] = peers.map((p) => ids(...(sent[p] as Message[])));
    expect(day12).toEqual({ 'cr-short': [], 'cr-long': long, 'cr-plain': plain?.slice(1) });
    expect(peersKept).toEqual([short, [deleted.msgId, ...(long ?? [])], plain]);
    expect(listDay12.sort()).toEqual(['cr-long', 'cr-plain']);
    expect(day40).toEqual({ 'cr-short': [], 'cr-long': long, 'cr-plain': [] });
    expect(await historyIds(owner, 'cr-long')).toEqual(long);
  });

  it('purges a conversation whose own policy is shorter even when its owner keeps forever', async () => {
    // Prepare: no policy at all; cr-dis gives cr-pal 2 days; cr-pal writes on day 0 and day 3.
    const h = await harness();
    const owner = await h.as('cr-dis');
    const pal = await h.as('cr-pal');
    await pal.sendMessage(text('cr-dis', 'day 0'));
    await owner.setConversationRetention('cr-pal', 'single', 2);
    h.clock.advance(3 * DAY_MS);
    const day3 = await pal.sendMessage(text('cr-dis', 'day 3'));
    // Act: day 4, a sweep (its clock margin past).
    h.clock.advance(DAY_MS + SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    // Assess: day 0 is gone from the store; day 3 (one day old) stays.
    expect(await storedIds(h, 'cr-dis', 'cr-pal')).toEqual(ids(day3));
    expect(await historyIds(owner, 'cr-pal')).toEqual(ids(day3));
  });

  it('purges a shorter own policy’s expired copies in the first sweep after a hold on its owner is released', async () => {
    // Prepare: cr-hpal writes cr-held on day 0 (unread); cr-held gives cr-hpal 1 day; a hold covers cr-held.
    const h = await harness();
    const owner = await h.as('cr-held');
    const day0 = await (await h.as('cr-hpal')).sendMessage(text('cr-held', 'day 0'));
    await owner.setConversationRetention('cr-hpal', 'single', 1);
    const json = { 'content-type': 'application/json' };
    const token = await h.token('cr-ops', { admin: true });
    const hold = { userIds: ['cr-held'], reason: 'case cr' };
    const set = await h.raw('PUT', '/v1/admin/holds/cr-h1', {
      token,
      headers: json,
      body: JSON.stringify(hold),
    });
    // A sweep while held keeps the copy, and settles only what the owner sees (unread, the list).
    h.clock.advance(DAY_MS + SWEEP_CLOCK_MARGIN_MS + 60_000);
    await runSweep(h.deps);
    const whileHeld = await storedIds(h, 'cr-held', 'cr-hpal');
    // Act: the hold is released; one sweep.
    const released = await h.raw('DELETE', '/v1/admin/holds/cr-h1', { token });
    await runSweep(h.deps);
    // Assess: that sweep deletes the copy its own day expired (it stayed filed where it was).
    expect([set.status, released.status]).toEqual([200, 200]);
    expect(whileHeld).toEqual(ids(day0));
    expect(await storedIds(h, 'cr-held', 'cr-hpal')).toEqual([]);
  });

  it('a conversation its held deletes filed due now stays due now when its owner sets its own retention', async () => {
    // Prepare: cr-hdp writes cr-hd twice; a hold covers cr-hd, who deletes the first (kept as a tombstone).
    const h = await harness();
    const owner = await h.as('cr-hd');
    const pal = await h.as('cr-hdp');
    const first = await pal.sendMessage(text('cr-hd', 'first'));
    const second = await pal.sendMessage(text('cr-hd', 'second'));
    const json = { 'content-type': 'application/json' };
    const token = await h.token('cr-ops', { admin: true });
    const hold = JSON.stringify({ userIds: ['cr-hd'], reason: 'case hd' });
    expect((await h.raw('PUT', '/v1/admin/holds/cr-hd1', { token, headers: json, body: hold })).status).toBe(
      200,
    );
    await owner.removeMessagesFromServerWithMsgIds('cr-hdp', 'single', [first.msgId]);
    const ref = { owner: 'cr-hd', chatType: 'single' as const, convId: 'cr-hdp' };
    const kept = await storedIds(h, 'cr-hd', 'cr-hdp');
    // Act: a 30-day policy of its own (refiles the conversation), the hold's release, one sweep.
    await owner.setConversationRetention('cr-hdp', 'single', 30);
    expect((await h.raw('DELETE', '/v1/admin/holds/cr-hd1', { token })).status).toBe(200);
    await runSweep(h.deps);
    // Assess: the tombstone and its record are gone; the second message stays.
    expect(kept).toEqual(ids(first, second).sort());
    expect(await storedIds(h, 'cr-hd', 'cr-hdp')).toEqual(ids(second));
    expect(await partitionItems(h, keys.heldDeletesPk(ref))).toEqual([]);
  });

  it('a conversation with its own retention whose held tombstones an inline purge settles stays due now', async () => {
    // Prepare: cr-hq writes cr-hs three times; cr-hs gives the chat 30 days of its own; a hold covers
    // cr-hs, who deletes the second message by id (kept as a tombstone, filed due now).
    const h = await harness();
    const owner = await h.as('cr-hs');
    const pal = await h.as('cr-hq');
    const first = await pal.sendMessage(text('cr-hs', 'first'));
    const second = await pal.sendMessage(text('cr-hs', 'second'));
    const third = await pal.sendMessage(text('cr-hs', 'third'));
    await owner.setConversationRetention('cr-hq', 'single', 30);
    const json = { 'content-type': 'application/json' };
    const token = await h.token('cr-ops', { admin: true });
    const hold = JSON.stringify({ userIds: ['cr-hs'], reason: 'case hs' });
    expect((await h.raw('PUT', '/v1/admin/holds/cr-hs1', { token, headers: json, body: hold })).status).toBe(
      200,
    );
    await owner.removeMessagesFromServerWithMsgIds('cr-hq', 'single', [second.msgId]);
    const ref = { owner: 'cr-hs', chatType: 'single' as const, convId: 'cr-hq' };
    // Act: the hold's release; a delete before the first message (its inline purge settles the
    // conversation, which still has the tombstone's record: it must stay due now); one sweep.
    expect((await h.raw('DELETE', '/v1/admin/holds/cr-hs1', { token })).status).toBe(200);
    await owner.removeMessagesFromServerWithTimestamp('cr-hq', 'single', first.timestamp);
    await runSweep(h.deps);
    // Assess: the tombstone and its record are gone; the third message stays.
    expect(await storedIds(h, 'cr-hs', 'cr-hq')).toEqual(ids(third));
    expect(await partitionItems(h, keys.heldDeletesPk(ref))).toEqual([]);
  });

  it('keeps a conversation with a longer own policy when its owner’s pending admin shortening reaches its effectiveAt', async () => {
    // Prepare: cr-kept writes cr-pend twice a minute apart, cr-other once; cr-pend gives cr-kept 1000 days.
    // An admin shortens cr-pend to 1 day, pending for 60 seconds. Then cr-pend clears cr-kept through its
    // first message (a one-way delete with no inline purge: filed due now, so the sweep meets it).
    const h = await harness({ config: { inlinePurgeBatches: 0 } });
    const owner = await h.as('cr-pend');
    const kept = await h.as('cr-kept');
    const cleared = await kept.sendMessage(text('cr-pend', 'cleared'));
    h.clock.advance(60_000);
    const day0 = await kept.sendMessage(text('cr-pend', 'day 0'));
    await (await h.as('cr-other')).sendMessage(text('cr-pend', 'day 0'));
    await owner.setConversationRetention('cr-kept', 'single', 1000);
    const token = await h.token('cr-ops', { admin: true });
    const put = await h.raw('PUT', '/v1/admin/retention/users/cr-pend', {
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ days: 1, delaySeconds: 60 }),
    });
    const before = await storedIds(h, 'cr-pend', 'cr-kept');
    await owner.removeMessagesFromServerWithTimestamp('cr-kept', 'single', cleared.timestamp);
    // Act: day 2, past effectiveAt and past the 1-day cutoff plus the sweep's margin; a sweep.
    h.clock.advance(2 * DAY_MS + SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    // Assess: the shortening took cr-other's copy and the sweep purged what cr-pend cleared; the copy the
    // conversation's own 1000 days keep is still stored and visible.
    expect(put.status).toBe(202);
    expect(before).toEqual(ids(cleared, day0).sort());
    expect(await storedIds(h, 'cr-pend', 'cr-other')).toEqual([]);
    expect(await storedIds(h, 'cr-pend', 'cr-kept')).toEqual(ids(day0));
    expect(await historyIds(owner, 'cr-kept')).toEqual(ids(day0));
  });
});

describe('large groups in shared mode', () => {
  it('the sweep keeps the shared copies a member’s own longer policy can see, and purges them after', async () => {
    // Prepare: a group past the threshold (its first send switches it: one shared copy a message). The
    // app keeps 7 days; member cr-gb gives their side 30 days before the group switched.
    const h = await startHarness({ config: { sharedHistoryAbove: 3, maxGroupMembers: 50 } });
    harnesses.push(h);
    const admin = await h.as('cr-ops', { admin: true });
    await admin.setAppRetention(7);
    const owner = await h.as('cr-go');
    const { groupId } = await owner.createGroup({ name: 'g', members: ['cr-ga', 'cr-gb', 'cr-gc', 'cr-gd'] });
    const keeper = await h.as('cr-gb');
    const opening = await owner.sendMessage(text(groupId, 'day 0', { chatType: 'group' }));
    await keeper.setConversationRetention(groupId, 'group', 30);
    h.clock.advance(10 * DAY_MS);
    const later = await owner.sendMessage(text(groupId, 'day 10', { chatType: 'group' }));
    const shared = async () => (await partitionItems(h, keys.sharedHistoryPk(groupId))).map((i) => i.sk);
    const sharedBefore = await shared();
    // Act 1: day 12, a sweep: day 0 is past everyone's 7 days but within cr-gb's 30.
    h.clock.advance(2 * DAY_MS + SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    const sharedDay12 = await shared();
    const keeperSees = await historyIds(keeper, groupId, 'group');
    const otherSees = await historyIds(await h.as('cr-ga'), groupId, 'group');
    // Act 2: day 31: past cr-gb's 30 days too.
    h.clock.advance(19 * DAY_MS);
    await runSweep(h.deps);
    const sharedDay31 = await shared();
    // Assess
    expect(sharedBefore).toEqual([keys.messageSk(opening.msgId), keys.messageSk(later.msgId)]);
    expect(sharedDay12).toEqual(sharedBefore);
    expect(keeperSees).toEqual(ids(opening, later));
    expect(otherSees).toEqual(ids(later));
    expect(sharedDay31).toEqual([keys.messageSk(later.msgId)]);
  });
});
