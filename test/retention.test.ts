import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import { idsOf, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { copiesInTable } from './support/history-seed.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { sweepMaxDeletesPerSecond: 0 } });
});
afterAll(async () => {
  await h.close();
});

describe('the retention policy routes', () => {
  it('set and read the app default and per-user overrides (null keeps forever)', async () => {
    // Prepare
    const admin = await h.as('p-ops', { admin: true });
    // Act
    await admin.setAppRetention(30);
    await admin.setUserRetention('p-zed', 400);
    await admin.setUserRetention('p-amy', null);
    await admin.setUserRetention('p-bob', 7);
    const removed = await h.raw('DELETE', '/v1/admin/retention/users/p-bob', {
      token: await h.token('p-ops', { admin: true }),
    });
    const removedAgain = await h.raw('DELETE', '/v1/admin/retention/users/p-bob', {
      token: await h.token('p-ops', { admin: true }),
    });
    // Assess
    expect(await admin.getRetention()).toEqual({
      appDays: 30,
      users: [
        { userId: 'p-amy', days: null },
        { userId: 'p-zed', days: 400 },
      ],
      pending: [],
    });
    expect([removed.status, removed.body]).toEqual([200, { userId: 'p-bob', removed: true }]);
    expect([removedAgain.status, removedAgain.body]).toEqual([200, { userId: 'p-bob', removed: false }]);
    await admin.setAppRetention(null);
    await admin.clearUserRetention('p-zed');
    await admin.clearUserRetention('p-amy');
    expect(await admin.getRetention()).toEqual({ appDays: null, users: [], pending: [] });
  });

  it('refuses anything but a whole number of days from 1 to 36500, or null (400)', async () => {
    const token = await h.token('p-ops', { admin: true });
    const headers = { 'content-type': 'application/json' };
    for (const body of [
      '{"days":0}',
      '{"days":36501}',
      '{"days":1.5}',
      '{"days":"30"}',
      '{}',
      '{"days":-1}',
    ]) {
      const response = await h.raw('PUT', '/v1/admin/retention', { token, body, headers });
      expect(response.status, body).toBe(400);
      expect(response.body.error?.message, body).toMatch(/^body\.days: must be a whole number of days/);
    }
    const badUser = await h.raw('PUT', '/v1/admin/retention/users/a%23b', {
      token,
      body: '{"days":5}',
      headers,
    });
    expect(badUser.status).toBe(400);
  });

  it('are refused without the roaming/admin scope (403) and without a token (401)', async () => {
    const token = await h.token('p-user');
    const body = '{"days":1}';
    const headers = { 'content-type': 'application/json' };
    for (const [method, path] of [
      ['GET', '/v1/admin/retention'],
      ['PUT', '/v1/admin/retention'],
      ['PUT', '/v1/admin/retention/users/p-user'],
      ['DELETE', '/v1/admin/retention/users/p-user'],
    ] as const) {
      const forbidden = await h.raw(method, path, {
        token,
        body: method === 'PUT' ? body : undefined,
        headers,
      });
      expect(forbidden.status, `${method} ${path}`).toBe(403);
      expect(forbidden.body.error?.code).toBe('forbidden');
      expect((await h.raw(method, path)).status, `${method} ${path} without a token`).toBe(401);
    }
  });
});

describe('read-time expiry', () => {
  it('hides a message from the moment it is older than the caller’s retention, before any sweep', async () => {
    // Prepare: x-ann and x-ben talk on day 0 and day 20; x-ann and x-cat only on day 0. Ben keeps 45 days.
    const admin = await h.as('x-ops', { admin: true });
    const ann = await h.as('x-ann');
    const ben = await h.as('x-ben');
    const cat = await h.as('x-cat');
    const day0 = h.clock.now();
    const old = await ann.sendMessage(text('x-ben', 'day 0'));
    const oldToCat = await ann.sendMessage(text('x-cat', 'day 0, to cat'));
    h.clock.advance(20 * DAY_MS);
    const recent = await ben.sendMessage(text('x-ann', 'day 20'));
    await admin.setAppRetention(30);
    await admin.setUserRetention('x-ben', 45);
    // Act: one millisecond before day 0 + 30 days, and at it ("at or before the cutoff" is expired).
    h.clock.set(day0 + 30 * DAY_MS - 1);
    const annBefore = await ann.fetchHistoryMessages('x-ben', 'single');
    const annListBefore = await ann.fetchConversationsFromServer({ limit: 10 });
    h.clock.set(day0 + 30 * DAY_MS);
    const annHistory = await ann.fetchHistoryMessages('x-ben', 'single');
    const annHistoryDown = await ann.fetchHistoryMessages('x-ben', 'single', 10, undefined, {
      direction: 'down',
    });
    const annList = await ann.fetchConversationsFromServer({ limit: 10 });
    const catList = await cat.fetchConversationsFromServer({ limit: 10 });
    const catHistory = await cat.fetchHistoryMessages('x-ann', 'single');
    const benHistory = await ben.fetchHistoryMessages('x-ann', 'single');
    // Assess
    expect(idsOf(annBefore.messages)).toEqual([recent.msgId, old.msgId]);
    expect(annListBefore.conversations.map((c) => c.convId).sort()).toEqual(['x-ben', 'x-cat']);
    expect(idsOf(annHistory.messages)).toEqual([recent.msgId]);
    expect(idsOf(annHistoryDown.messages)).toEqual([recent.msgId]);
    // The conversation with nothing visible left the list; the other shows its latest visible message.
    expect(annList.conversations.map((c) => [c.convId, c.lastMessage.msgId])).toEqual([
      ['x-ben', recent.msgId],
    ]);
    expect(catList.conversations).toEqual([]);
    expect(catHistory.messages).toEqual([]);
    // Ben keeps 45 days: he still sees both; the expired copies are still physically stored.
    expect(idsOf(benHistory.messages)).toEqual([recent.msgId, old.msgId]);
    const annSide = { owner: 'x-ann', chatType: 'single', convId: 'x-ben' } as const;
    expect(await copiesInTable(h.documentClient, h.tableName, annSide)).toEqual([old.msgId, recent.msgId]);
    expect(oldToCat.timestamp).toBe(day0);

    // A sweep at the cutoff deletes nothing yet (it keeps two hours of clock margin)...
    await runSweep(h.deps);
    expect(await copiesInTable(h.documentClient, h.tableName, annSide)).toEqual([old.msgId, recent.msgId]);
    // ...and after the margin removes exactly what was already invisible.
    h.clock.advance(SWEEP_CLOCK_MARGIN_MS);
    await runSweep(h.deps);
    expect(await copiesInTable(h.documentClient, h.tableName, annSide)).toEqual([recent.msgId]);
    expect(idsOf((await ann.fetchHistoryMessages('x-ben', 'single')).messages)).toEqual([recent.msgId]);
    expect(idsOf((await ben.fetchHistoryMessages('x-ann', 'single')).messages)).toEqual([
      recent.msgId,
      old.msgId,
    ]);
  });
});
