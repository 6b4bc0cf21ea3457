import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../functions/core/model.js';
import { seedLargeTexts, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { type CapturingLogger, captureRequestLog, lastStoreUsage } from './support/log-capture.js';

/**
 * Issue 24, item 1: what a read costs cannot be blown up by its parameters or by repeating it. Read
 * units are the ones each request's log line reports (DynamoDB's consumed capacity).
 */
let h: Harness;
let log: CapturingLogger;
beforeAll(async () => {
  log = captureRequestLog();
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('a filtered history page', () => {
  it('over 560 non-matching 12 KB copies reads no more than an unfiltered page, and its cursor walks on', async () => {
    // Prepare: 560 texts of 12 KB; bob filters for locations (there are none).
    await seedLargeTexts(h.deps, h.clock, 'fh-alice', 'fh-bob', 560);
    const bob = await h.token('fh-bob');
    const page = (query: string) =>
      h.raw('GET', `/v1/conversations/single/fh-alice/messages?pageSize=50${query}`, { token: bob });
    // Act: an unfiltered page, a filtered one, and the filtered walk on with its cursor.
    const unfiltered = await page('');
    const unfilteredUnits = lastStoreUsage(log, 'fetchHistory').readUnits;
    const filtered = await page('&types=location');
    const filteredUnits = lastStoreUsage(log, 'fetchHistory').readUnits;
    const walk: number[] = [filteredUnits];
    let cursor = filtered.body.cursor as string | null;
    while (cursor) {
      const next = await page(`&types=location&startMsgId=${cursor}`);
      expect(next.body.messages).toEqual([]);
      walk.push(lastStoreUsage(log, 'fetchHistory').readUnits);
      cursor = next.body.cursor as string | null;
    }
    // Assess
    expect((unfiltered.body.messages as Message[]).length).toBe(50);
    expect(filtered.status).toBe(200);
    expect(filtered.body.messages).toEqual([]);
    expect(filtered.body.cursor).not.toBeNull();
    expect(Math.max(...walk)).toBeLessThanOrEqual(unfilteredUnits);
    // The walk reads every copy once: 560 / 51 pages, none twice.
    expect(walk.length).toBe(Math.ceil(560 / 51));
    console.log(
      `history over 560 12 KB copies, pageSize 50: unfiltered page ${unfilteredUnits} read units; ` +
        `types=location page ${filteredUnits} (the walk to the end: ${walk.length} pages, ` +
        `${walk.reduce((a, b) => a + b, 0)} units, at most ${Math.max(...walk)} a page)`,
    );
  });
});

describe('a replayed group send', () => {
  it('of a send that reached every member answers from its record, without reading the group or its members', async () => {
    // Prepare: a group of 40, one send with a clientMsgId.
    const owner = await h.as('gr-owner');
    const members = Array.from({ length: 39 }, (_, i) => `gr-member${i}`);
    const group = await owner.createGroup({ name: 'replay', members });
    const send = { ...text(group.groupId, 'once', { chatType: 'group' }), clientMsgId: 'gr-1' };
    const first = await owner.sendMessage(send);
    const firstUsage = lastStoreUsage(log, 'sendMessage');
    // Act
    const again = await owner.sendMessage(send);
    const replay = lastStoreUsage(log, 'sendMessage');
    // Assess: the same message; no Query (the group's partition), a few small reads (the record with the
    // sender's side and META, which says the mode; the message's revision record, so that a replay of a
    // recalled or edited message answers it as it is now; the log entry).
    expect(again).toEqual(first);
    expect(replay.byCommand.Query).toBeUndefined();
    expect(replay.requests).toBeLessThanOrEqual(3);
    expect(replay.readUnits).toBeLessThanOrEqual(5);
    console.log(
      `group of 40: the send read ${firstUsage.readUnits} units in ${firstUsage.requests} requests; ` +
        `its replay ${replay.readUnits} units in ${replay.requests} (${JSON.stringify(replay.byCommand)})`,
    );
  });

  it('with the same clientMsgId and a different message is a 409 without reading the group', async () => {
    const owner = await h.as('gc-owner');
    const group = await owner.createGroup({ name: 'conflict', members: ['gc-bob'] });
    await owner.sendMessage({ ...text(group.groupId, 'first', { chatType: 'group' }), clientMsgId: 'gc-1' });
    const other = await owner
      .sendMessage({ ...text(group.groupId, 'second', { chatType: 'group' }), clientMsgId: 'gc-1' })
      .catch((error: { status: number }) => error.status);
    expect(other).toBe(409);
    expect(lastStoreUsage(log, 'sendMessage').byCommand.Query).toBeUndefined();
  });
});
