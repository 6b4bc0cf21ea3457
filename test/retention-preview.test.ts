import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import { Device } from './support/device.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import {
  copiesInTable,
  HOUR_MS,
  ringOf,
  type SeededPair,
  seedPairs,
  sidesOf,
} from './support/history-seed.js';

/**
 * Retention preview and undo (docs/compliance.md): GET /v1/admin/retention/preview, shortenings that wait
 * (202, effectiveAt) and their cancel, through HTTP on DynamoDB Local. App-wide previews count the whole
 * table, so each test has a table of its own.
 */

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** A harness whose shortenings wait a day unless a request says otherwise (the production default). */
async function harness(config: Parameters<typeof startHarness>[0] = {}) {
  const h = await startHarness({
    ...config,
    config: { sweepMaxDeletesPerSecond: 0, retentionDelaySeconds: 86_400, ...config.config },
  });
  harnesses.push(h);
  return h;
}

/** An admin's requests; bodies are read as the answers the test expects (it asserts on them). */
async function admin(h: Harness) {
  const token = await h.token('rp-ops', { admin: true });
  const headers = { 'content-type': 'application/json' };
  return async (method: string, path: string, body?: unknown) => {
    const init = { token, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    // biome-ignore lint/suspicious/noExplicitAny: the test asserts on the body's fields
    return (await h.raw(method, path, init)) as { status: number; body: any };
  };
}

/** Six users in a ring, a message every 6 hours in each pair's conversation over the last 20 days. */
async function seedRing(h: Harness, prefix: string, seed = 1) {
  const now = h.clock.now();
  return seedPairs(h.deps, {
    pairs: ringOf(prefix, 6),
    from: now - 20 * DAY_MS,
    to: now,
    stepMs: 6 * HOUR_MS,
    seed,
  });
}

/** Every copy in the seeded conversations, by owner, as (owner, id) rows: a scan of what the test wrote. */
async function copiesOf(h: Harness, pairs: readonly SeededPair[]) {
  const rows: { owner: string; msgId: string; time: number }[] = [];
  for (const pair of pairs) {
    for (const ref of sidesOf(pair)) {
      const byId = new Map(pair.messages.map((m) => [m.msgId, m.timestamp]));
      for (const msgId of await copiesInTable(h.documentClient, h.tableName, ref)) {
        rows.push({ owner: ref.owner, msgId, time: byId.get(msgId) as number });
      }
    }
  }
  return rows;
}

describe('GET /v1/admin/retention/preview and a delayed shortening', () => {
  // Two sweeps over 720 copies and a scan: about 20 s alone, more on a loaded 2-core machine.
  it('a preview matches what the delayed policy then deletes, and the sweep deletes nothing before it binds', {
    timeout: 180_000,
  }, async () => {
    // Prepare: six users, 20 days of history each way; rp-a02 keeps forever by an override of their own.
    const h = await harness();
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-a');
    expect((await call('PUT', '/v1/admin/retention/users/rp-a02', { days: null })).status).toBe(200);
    const before = await copiesOf(h, pairs);
    // Act: shorten the app default from forever to 5 days.
    const put = await call('PUT', '/v1/admin/retention', { days: 5 });
    // Assess: it waits a day; its preview is of a sweep at the moment it binds the sweep.
    expect(put.status).toBe(202);
    const { effectiveAt, preview } = put.body;
    expect(effectiveAt).toBe(h.clock.now() + DAY_MS);
    expect(preview.asOf).toBe(effectiveAt + SWEEP_CLOCK_MARGIN_MS);
    expect(preview.cutoff).toBe(effectiveAt - 5 * DAY_MS);
    const due = before.filter((row) => row.owner !== 'rp-a02' && row.time <= preview.cutoff);
    const kept = before.filter((row) => row.owner !== 'rp-a02' && row.time > preview.cutoff);
    expect(preview).toMatchObject({
      days: 5,
      userId: null,
      copies: due.length,
      users: 5,
      conversations: 10,
      oldestKept: Math.min(...kept.map((row) => row.time)),
      method: { kind: 'exact' },
    });
    // A sweep one ms before the change binds it (effectiveAt plus its clock margin) deletes nothing.
    h.clock.set(effectiveAt + SWEEP_CLOCK_MARGIN_MS - 1);
    expect((await runSweep(h.deps)).runCounts.messagesDeleted).toBe(0);
    expect(await copiesOf(h, pairs)).toHaveLength(before.length);
    // The preview asked then, for a sweep then, says the same.
    h.clock.set(effectiveAt + SWEEP_CLOCK_MARGIN_MS);
    const asked = await call('GET', '/v1/admin/retention/preview?days=5');
    expect(asked.status).toBe(200);
    expect(asked.body).toEqual(preview);
    const swept = await runSweep(h.deps);
    // The sweep deleted exactly the previewed copies, conversations and users: a scan agrees.
    expect(swept.runCounts).toMatchObject({ messagesDeleted: preview.copies, conversations: 10, users: 5 });
    const after = await copiesOf(h, pairs);
    const gone = new Set(before.map((row) => `${row.owner}/${row.msgId}`));
    for (const row of after) gone.delete(`${row.owner}/${row.msgId}`);
    expect([...gone].sort()).toEqual(due.map((row) => `${row.owner}/${row.msgId}`).sort());
  });

  it('a cancelled change deletes nothing, is gone from GET, and the trail records it with before and after', async () => {
    // Prepare
    const h = await harness();
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-c');
    const before = await copiesOf(h, pairs);
    expect((await call('PUT', '/v1/admin/retention', { days: 30 })).status).toBe(202);
    h.clock.advance(DAY_MS + 1); // in force: 30 days keeps all 20 days of history
    const put = await call('PUT', '/v1/admin/retention', { days: 2 });
    expect(put.status).toBe(202);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({
      appDays: 30,
      users: [],
      pending: [{ userId: null, days: 2, effectiveAt: put.body.effectiveAt }],
    });
    // Act
    h.clock.advance(DAY_MS - 1);
    const cancel = await call('DELETE', '/v1/admin/retention/pending');
    h.clock.set(put.body.effectiveAt + SWEEP_CLOCK_MARGIN_MS + DAY_MS);
    const swept = await runSweep(h.deps);
    // Assess
    expect([cancel.status, cancel.body]).toEqual([
      200,
      { userId: null, cancelled: { days: 2, effectiveAt: put.body.effectiveAt } },
    ]);
    expect(swept.runCounts.messagesDeleted).toBe(0);
    expect(await copiesOf(h, pairs)).toHaveLength(before.length);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({ appDays: 30, users: [], pending: [] });
    const trail = (await call('GET', '/v1/admin/audit?limit=3')).body.records;
    expect(
      trail.map((r: { action: string; before: unknown; after: unknown }) => [r.action, r.before, r.after]),
    ).toEqual([
      ['retention.cancel', { days: 30, pending: { days: 2, effectiveAt: put.body.effectiveAt } }, 30],
      ['retention.schedule', 30, { days: 30, pending: { days: 2, effectiveAt: put.body.effectiveAt } }],
      [
        'retention.schedule',
        'unset',
        { days: 'unset', pending: { days: 30, effectiveAt: expect.any(Number) } },
      ],
    ]);
  });

  it('reads use the policy in force until effectiveAt, and the shorter one from then on', async () => {
    // Prepare: the app keeps 30 days; rp-r-ann wrote rp-r-bob 10 days ago and today.
    const h = await harness();
    const call = await admin(h);
    expect((await call('PUT', '/v1/admin/retention', { days: 30, delaySeconds: 0 })).status).toBe(202);
    const ann = await h.as('rp-r-ann');
    const old = await ann.sendMessage(text('rp-r-bob', 'ten days ago'));
    h.clock.advance(10 * DAY_MS);
    const recent = await ann.sendMessage(text('rp-r-bob', 'today'));
    const bob = await h.as('rp-r-bob');
    const seen = async () =>
      (await bob.fetchHistoryMessages('rp-r-ann', 'single', 10)).messages.map((m) => m.msgId);
    // Act: shortened to 5 days, in an hour.
    const put = await call('PUT', '/v1/admin/retention', { days: 5, delaySeconds: 3600 });
    // Assess
    expect([put.status, put.body.effectiveAt]).toEqual([202, h.clock.now() + HOUR_MS]);
    expect((await seen()).sort()).toEqual([old.msgId, recent.msgId].sort());
    h.clock.set(put.body.effectiveAt - 1);
    expect((await seen()).sort()).toEqual([old.msgId, recent.msgId].sort());
    expect((await call('GET', '/v1/admin/retention')).body.appDays).toBe(30);
    h.clock.set(put.body.effectiveAt);
    expect(await seen()).toEqual([recent.msgId]);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({ appDays: 5, users: [], pending: [] });
    // In force: nothing is pending any more.
    const late = await call('DELETE', '/v1/admin/retention/pending');
    expect([late.status, late.body.error?.code]).toEqual([409, 'conflict']);
  });

  it('lengthening and keep-forever take effect at once (200), and clear a pending shortening', async () => {
    const h = await harness();
    const call = await admin(h);
    const first = await call('PUT', '/v1/admin/retention/users/rp-l-amy', { days: 10 });
    expect(first.status).toBe(202); // from the app default (forever) to 10 days: it waits
    h.clock.advance(DAY_MS);
    expect((await call('PUT', '/v1/admin/retention/users/rp-l-amy', { days: 5 })).status).toBe(202);
    // Act
    const longer = await call('PUT', '/v1/admin/retention/users/rp-l-amy', { days: 20 });
    const same = await call('PUT', '/v1/admin/retention/users/rp-l-amy', { days: 20 });
    const forever = await call('PUT', '/v1/admin/retention', { days: null });
    // Assess
    expect([longer.status, longer.body]).toEqual([200, { userId: 'rp-l-amy', days: 20 }]);
    expect([same.status, forever.status, forever.body]).toEqual([200, 200, { appDays: null }]);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({
      appDays: null,
      users: [{ userId: 'rp-l-amy', days: 20 }],
      pending: [],
    });
  });

  it('delaySeconds 0 applies a shortening at once (202, effectiveAt now) and the sweep then deletes its preview', async () => {
    const h = await harness();
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-z');
    // Act
    const put = await call('PUT', '/v1/admin/retention', { days: 7, delaySeconds: 0 });
    // Assess
    expect([put.status, put.body.effectiveAt, put.body.preview.asOf]).toEqual([
      202,
      h.clock.now(),
      h.clock.now(),
    ]);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({ appDays: 7, users: [], pending: [] });
    const due = (await copiesOf(h, pairs)).filter((row) => row.time <= put.body.preview.cutoff);
    expect(put.body.preview.copies).toBe(due.length);
    expect((await runSweep(h.deps)).runCounts.messagesDeleted).toBe(due.length);
  });

  it('an override scheduled before the default was shortened at once keeps its days through the sweep window', async () => {
    // Prepare: the app keeps 3 days; rp-k03's override of 2 waits an hour, then the default drops to 1 at once.
    const h = await harness();
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-k');
    expect((await call('PUT', '/v1/admin/retention', { days: 3, delaySeconds: 0 })).status).toBe(202);
    const override = await call('PUT', '/v1/admin/retention/users/rp-k03', { days: 2, delaySeconds: 3600 });
    h.clock.advance(90 * 60_000); // in force for 30 minutes: within the sweep's two-hour margin
    expect((await call('PUT', '/v1/admin/retention', { days: 1, delaySeconds: 0 })).status).toBe(202);
    // Act
    await runSweep(h.deps);
    // Assess: rp-k03 loses only what 2 days expire at the window's start, the others what 1 day does.
    const windowStart = h.clock.now() - SWEEP_CLOCK_MARGIN_MS;
    expect(override.status).toBe(202);
    const rows = await copiesOf(h, pairs);
    const oldestOf = (owner: string) => Math.min(...rows.filter((r) => r.owner === owner).map((r) => r.time));
    expect(oldestOf('rp-k03')).toBeGreaterThan(windowStart - 2 * DAY_MS);
    expect(oldestOf('rp-k03')).toBeLessThanOrEqual(windowStart - DAY_MS);
    expect(oldestOf('rp-k01')).toBeGreaterThan(windowStart - DAY_MS);
  });

  it('an override scheduled before the default is shortened at once below it is in force from then on: reads, GET, cancel', async () => {
    // Prepare: the app keeps 3 days; rp-o03's override of 2 waits a day; then the default drops to 1 at once.
    const h = await harness();
    const call = await admin(h);
    await seedRing(h, 'rp-o');
    expect((await call('PUT', '/v1/admin/retention', { days: 3, delaySeconds: 0 })).status).toBe(202);
    const override = await call('PUT', '/v1/admin/retention/users/rp-o03', { days: 2 });
    const reader = await h.as('rp-o03');
    const oldestShown = async () => {
      const page = await reader.fetchHistoryMessages('rp-o04', 'single', 50);
      return Math.min(...page.messages.map((m) => m.timestamp));
    };
    // Act
    const shortened = await call('PUT', '/v1/admin/retention', { days: 1, delaySeconds: 0 });
    const shownAtOnce = await oldestShown();
    const view = (await call('GET', '/v1/admin/retention')).body;
    const cancel = await call('DELETE', '/v1/admin/retention/pending?userId=rp-o03');
    h.clock.set(override.body.effectiveAt + HOUR_MS);
    const shownAfter = await oldestShown();
    // Assess: rp-o03 keeps 2 days from the default's drop on (never 1, then 2 again at effectiveAt).
    const now = h.clock.now();
    expect([override.status, shortened.status, cancel.status]).toEqual([202, 202, 409]);
    expect(view).toEqual({ appDays: 1, users: [{ userId: 'rp-o03', days: 2 }], pending: [] });
    expect(shownAtOnce).toBeLessThanOrEqual(override.body.effectiveAt - DAY_MS - DAY_MS - HOUR_MS);
    expect(shownAtOnce).toBeGreaterThan(override.body.effectiveAt - DAY_MS - 2 * DAY_MS);
    expect(shownAfter).toBeGreaterThan(now - 2 * DAY_MS);
    expect(shownAfter).toBeGreaterThanOrEqual(shownAtOnce);
  });

  it('a second shortening replaces the pending one and starts its delay again', async () => {
    const h = await harness();
    const call = await admin(h);
    const first = await call('PUT', '/v1/admin/retention', { days: 10, delaySeconds: 7200 });
    h.clock.advance(HOUR_MS);
    const second = await call('PUT', '/v1/admin/retention', { days: 3, delaySeconds: 7200 });
    expect([first.status, second.status]).toEqual([202, 202]);
    expect(second.body.effectiveAt).toBe(first.body.effectiveAt + HOUR_MS);
    expect((await call('GET', '/v1/admin/retention')).body.pending).toEqual([
      { userId: null, days: 3, effectiveAt: second.body.effectiveAt },
    ]);
  });

  it("a user's preview counts only their copies, and their pending override waits and cancels", async () => {
    const h = await harness();
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-u');
    const rows = (await copiesOf(h, pairs)).filter((row) => row.owner === 'rp-u03');
    // Act
    const asked = await call('GET', '/v1/admin/retention/preview?days=4&userId=rp-u03');
    const put = await call('PUT', '/v1/admin/retention/users/rp-u03', { days: 4 });
    const cancel = await call('DELETE', '/v1/admin/retention/pending?userId=rp-u03');
    const again = await call('DELETE', '/v1/admin/retention/pending?userId=rp-u03');
    // Assess
    const cutoff = h.clock.now() - SWEEP_CLOCK_MARGIN_MS - 4 * DAY_MS;
    expect(asked.body).toMatchObject({
      userId: 'rp-u03',
      cutoff,
      copies: rows.filter((row) => row.time <= cutoff).length,
      conversations: 2,
      users: 1,
      oldestKept: Math.min(...rows.filter((row) => row.time > cutoff).map((row) => row.time)),
      method: { kind: 'exact' },
    });
    expect([put.status, put.body.userId, put.body.preview.userId]).toEqual([202, 'rp-u03', 'rp-u03']);
    expect([cancel.status, again.status]).toEqual([200, 409]);
    expect((await call('GET', '/v1/admin/retention')).body).toEqual({
      appDays: null,
      users: [],
      pending: [],
    });
  });

  it('past its exact limit a preview estimates the copies from a uniform sample, exact for equal conversations', async () => {
    // Prepare: 12 conversations with the same history each; the preview counts 4 of them one by one.
    const h = await harness({ config: { retentionPreviewExactConversations: 4 } });
    const call = await admin(h);
    const pairs = await seedRing(h, 'rp-e');
    const cutoff = h.clock.now() - SWEEP_CLOCK_MARGIN_MS - 3 * DAY_MS;
    const due = (await copiesOf(h, pairs)).filter((row) => row.time <= cutoff);
    // Act
    const asked = await call('GET', '/v1/admin/retention/preview?days=3');
    // Assess
    expect(asked.body).toMatchObject({
      copies: due.length,
      conversations: 12,
      users: 6,
      method: {
        kind: 'estimate',
        basis: 'uniform-sample',
        sampled: 4,
        of: 12,
        confidence: 0.95,
        maxError: 0,
      },
    });
    expect(asked.body.method.copiesAtLeast).toBeLessThanOrEqual(due.length);
  });

  it('a cancel keeps hidden what an instance an hour fast already told a device had expired', async () => {
    // Prepare: the app keeps 30 days; rp-k-ann wrote rp-k-bob 10 days ago and today.
    const h = await harness();
    const call = await admin(h);
    await call('PUT', '/v1/admin/retention', { days: 30, delaySeconds: 0 });
    const ann = await h.as('rp-k-ann');
    await ann.sendMessage(text('rp-k-bob', 'ten days ago'));
    h.clock.advance(10 * DAY_MS);
    await ann.sendMessage(text('rp-k-bob', 'today'));
    const fast = await h.instance({ clockOffsetMs: HOUR_MS });
    const onFast = new Device(await fast.as('rp-k-bob'));
    await onFast.fullFetch();
    // Shortened to 5 days in half an hour: the fast instance has it in force already.
    expect((await call('PUT', '/v1/admin/retention', { days: 5, delaySeconds: 1800 })).status).toBe(202);
    const synced = await onFast.sync();
    expect(synced.retentionCutoff).toBe(h.clock.now() + HOUR_MS - 5 * DAY_MS);
    expect(onFast.cache.get('single#rp-k-ann')?.size).toBe(1);
    // Act: cancelled on an instance with the right time, before effectiveAt.
    expect((await call('DELETE', '/v1/admin/retention/pending')).status).toBe(200);
    // Assess: the device, syncing on that instance, equals a fresh fetch there.
    const device = Object.assign(new Device(await h.as('rp-k-bob')), {
      conversations: onFast.conversations,
      cache: onFast.cache,
      token: onFast.token,
    });
    await device.sync();
    const fresh = new Device(await h.as('rp-k-bob'));
    await fresh.fullFetch();
    expect(device.view()).toEqual(fresh.view());
    expect(fresh.cache.get('single#rp-k-ann')?.size).toBe(1);
  });

  it('refuses bad input with 400 naming the problem, a cancel with nothing pending with 409', async () => {
    const h = await harness();
    const call = await admin(h);
    for (const query of ['', '?days=0', '?days=36501', '?days=abc', '?days=1.5', '?days=5&userId=a%23b']) {
      const answer = await call('GET', `/v1/admin/retention/preview${query}`);
      expect([answer.status, answer.body.error?.code], query).toEqual([400, 'bad_request']);
      expect(answer.body.error?.message, query).toMatch(/^query\.(days|userId)/);
    }
    for (const delaySeconds of [-1, 1.5, '60', 2_592_001]) {
      const answer = await call('PUT', '/v1/admin/retention', { days: 5, delaySeconds });
      expect(answer.status, String(delaySeconds)).toBe(400);
      expect(answer.body.error?.message).toMatch(/^body\.delaySeconds: must be a whole number of seconds/);
    }
    const none = await call('DELETE', '/v1/admin/retention/pending');
    expect([none.status, none.body.error?.message]).toEqual([
      409,
      'No retention change is pending for the app default (none was set, or it is in force)',
    ]);
    expect((await call('DELETE', '/v1/admin/retention/pending?userId=a%23b')).status).toBe(400);
  });

  it('are refused without the roaming/admin scope (403) and without a token (401)', async () => {
    const h = await harness();
    const token = await h.token('rp-user');
    for (const [method, path] of [
      ['GET', '/v1/admin/retention/preview?days=5'],
      ['DELETE', '/v1/admin/retention/pending'],
    ] as const) {
      expect((await h.raw(method, path, { token })).status, path).toBe(403);
      expect((await h.raw(method, path)).status, path).toBe(401);
    }
  });
});
