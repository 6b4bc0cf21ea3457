import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Message } from '../functions/core/model.js';
import { seedLargeTexts } from './support/fixtures.js';
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
