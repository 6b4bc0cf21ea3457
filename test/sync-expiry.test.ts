import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import { Device } from './support/device.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { deleteExpired } from './support/ttl.js';

/**
 * What `?since=` owes a device when things expire: change markers outlive every token the service
 * honours (issue 20, item 2), with TTL deleting expired items as AWS does.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function harness(): Promise<Harness> {
  const h = await startHarness();
  harnesses.push(h);
  return h;
}

describe('change markers under a valid token', () => {
  it('a change late in a long epoch is reported after TTL deleted the epoch’s first marker', async () => {
    // Prepare: day 0, a message to se-ben (his epoch 0's marker for it is written).
    const h = await harness();
    const ann = await h.as('se-ann');
    const ben = await h.as('se-ben');
    await ann.sendMessage(text('se-ben', 'day 0'));
    // Day 6: a device of se-ben reads its first page (token: epoch 0, issued day 6).
    h.clock.advance(6 * DAY_MS);
    const first = await ben.fetchConversationsFromServer({ limit: 20 });
    // Day 7: another message in the same epoch. Day 9: TTL deletes every marker that has expired.
    h.clock.advance(DAY_MS);
    const day7 = await ann.sendMessage(text('se-ben', 'day 7'));
    h.clock.advance(2 * DAY_MS);
    await deleteExpired(h.documentClient, h.tableName, h.clock.now());
    // Act
    const delta = await ben.syncConversations(first.syncToken as string);
    // Assess: the day-7 change renewed the epoch's marker, so the message is reported.
    expect(delta.conversations.map((c) => [c.convId, c.lastMessage.msgId])).toEqual([['se-ann', day7.msgId]]);
  });
});

/** A device that has replayed `?since=` shows exactly what a fresh fetch shows. */
async function expectConverged(device: Device, h: Harness, owner: string) {
  await device.sync();
  const fresh = new Device(await h.as(owner));
  await fresh.fullFetch();
  expect(device.view()).toEqual(fresh.view());
  return fresh.view();
}

describe('expiry reaches every device through ?since=', () => {
  // 106 conversations walked and synced five times: over the 60 s default on a loaded 2-core machine.
  it('a device replaying ?since= ends as a fresh fetch as messages expire, policies shorten and lengthen, and the sweep runs', {
    timeout: 240_000,
  }, async () => {
    // Prepare: the app keeps 30 days. On day 0, 105 peers each send se-owner one message; one peer,
    // se-keep, sends one on day 0 and one on day 25. A device fetches everything on day 26.
    const h = await harness();
    const admin = await h.as('se-ops', { admin: true });
    await admin.setAppRetention(30);
    for (let i = 0; i < 105; i++) {
      await (await h.as(`se-p${String(i).padStart(3, '0')}`)).sendMessage(text('se-owner', `hello ${i}`));
    }
    const keep = await h.as('se-keep');
    const old = await keep.sendMessage(text('se-owner', 'day 0'));
    h.clock.advance(25 * DAY_MS);
    const kept = await keep.sendMessage(text('se-owner', 'day 25'));
    h.clock.advance(DAY_MS);
    const device = new Device(await h.as('se-owner'));
    await device.fullFetch();
    expect(device.conversations.size).toBe(106);
    // Act 1: day 31. The 105 one-message conversations expired; se-keep's stays, without `old`.
    h.clock.advance(5 * DAY_MS);
    const afterExpiry = await expectConverged(device, h, 'se-owner');
    expect(afterExpiry.conversations.map((c) => c.convId)).toEqual(['se-keep']);
    expect(afterExpiry.cached['single#se-keep']).toEqual([kept.msgId]);
    expect(old.timestamp).toBeLessThan(kept.timestamp);
    // Act 2: the sweep deletes what expired (two hours later: its clock margin), and unlists.
    h.clock.advance(SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    await expectConverged(device, h, 'se-owner');
    // Act 3: shortened to 3 days: se-keep's day-25 message (now 6 days old) expires at once.
    await admin.setAppRetention(3);
    expect((await expectConverged(device, h, 'se-owner')).conversations).toEqual([]);
    // Act 4: lengthened to 60 days: nothing comes back, on either device.
    await admin.setAppRetention(60);
    expect((await expectConverged(device, h, 'se-owner')).conversations).toEqual([]);
  });

  it('a conversation whose newest message was deleted by id expires by its latest visible message', async () => {
    // Prepare: the app keeps 10 days; se-cat writes se-dan on day 0 and day 6; se-dan deletes the day-6
    // message by id. A device of se-dan has synced everything.
    const h = await harness();
    const admin = await h.as('se-ops', { admin: true });
    await admin.setAppRetention(10);
    const cat = await h.as('se-cat');
    const dan = await h.as('se-dan');
    const device = new Device(dan);
    const first = await cat.sendMessage(text('se-dan', 'day 0'));
    await device.fullFetch();
    h.clock.advance(6 * DAY_MS);
    const newest = await cat.sendMessage(text('se-dan', 'day 6'));
    await dan.removeMessagesFromServerWithMsgIds('se-cat', 'single', [newest.msgId]);
    await device.sync();
    expect(device.conversations.get('single#se-cat')?.lastMessage.msgId).toBe(first.msgId);
    // Act: day 8, the "10 of the last 7 days" list; day 11, day 0's message has expired (day 6's id,
    // the conversation's head, has not).
    h.clock.advance(2 * DAY_MS);
    const recent = await dan.fetchConversationsFromServer();
    h.clock.advance(3 * DAY_MS);
    const view = await expectConverged(device, h, 'se-dan');
    // Assess: its latest visible message is 8 days old on day 8: not "of the last 7 days"; on day 11 it
    // has expired, on every device.
    expect(recent.conversations).toEqual([]);
    expect(view.conversations).toEqual([]);
  });
});
