import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Sends are charged by the copies they write (issue "Groups of 5,000…": charge by copies): the
 * `sendCopies` limit spends one unit per copy per started KB of content, so no account can ask more than
 * a bounded share of the table's writes. Here the limit is small (10 a second, 30 at once), on the test
 * clock, which stands still unless a test moves it.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: { sendCopiesPerSecond: 10, sendCopiesBurst: 30, sharedHistoryAbove: 30, maxGroupMembers: 100 },
  });
});
afterAll(async () => {
  await h.close();
});

const toGroup = (groupId: string, words: string) => text(groupId, words, { chatType: 'group' });
const twelveKb = (to: string) =>
  ({ to, chatType: 'single', type: 'custom', body: { blob: 'y'.repeat(12_000) } }) as const;

describe('charging sends by the copies they write', () => {
  it('a fan-out send spends a unit per member; one the bucket cannot pay is refused with 429 naming sendCopies', async () => {
    const owner = await h.as('sc1-owner');
    const group = await owner.createGroup({ members: Array.from({ length: 19 }, (_, i) => `sc1-m${i}`) });
    await owner.sendMessage(toGroup(group.groupId, 'twenty copies'));
    const refused = await owner.sendMessage(toGroup(group.groupId, 'twenty more')).catch((error) => error);
    expect(refused).toMatchObject({ status: 429, limit: 'sendCopies' });
    expect(refused.retryAfterSeconds).toBe(1);
    // A second refills 10 units: 20 again.
    h.clock.advance(1_000);
    await expect(owner.sendMessage(toGroup(group.groupId, 'twenty more'))).resolves.toMatchObject({
      chatType: 'group',
    });
  });

  it('a 12 KB message costs a unit per started KB for each of its copies', async () => {
    const alice = await h.as('sc2-alice');
    // 2 copies × 12 KB = 24 of 30.
    await alice.sendMessage(twelveKb('sc2-bob'));
    await alice.sendMessage(text('sc2-bob', 'small: 2 units'));
    await alice.sendMessage(text('sc2-bob', 'small: 2 units'));
    const refused = await alice.sendMessage(twelveKb('sc2-bob')).catch((error) => error);
    expect(refused).toMatchObject({ status: 429, limit: 'sendCopies' });
    // What is left (2) still pays for a small message.
    await expect(alice.sendMessage(text('sc2-bob', 'small'))).resolves.toMatchObject({ chatType: 'single' });
  });

  it('a shared-mode send spends one unit, whatever the size of the group', async () => {
    const owner = await h.as('sc3-owner');
    const group = await owner.createGroup({ members: Array.from({ length: 39 }, (_, i) => `sc3-m${i}`) });
    // Forty members in fan-out would cost 40 units a send (more than the bucket holds); shared: 1.
    for (let i = 0; i < 30; i++) await owner.sendMessage(toGroup(group.groupId, `message ${i}`));
    const refused = await owner.sendMessage(toGroup(group.groupId, 'the 31st')).catch((error) => error);
    expect(refused).toMatchObject({ status: 429, limit: 'sendCopies' });
  });
});
