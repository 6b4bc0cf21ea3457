import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { deleteExpired } from './support/ttl-model.js';

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
