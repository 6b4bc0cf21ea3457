import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { type StoreFaults, storeFaults, useFastRetries } from './support/store-faults.js';
import { snapshotTable } from './support/table-snapshot.js';

/** What the overload tests (test/overload.test.ts) found, replayed for good. */
let h: Harness;
let faults: StoreFaults;
beforeAll(async () => {
  faults = storeFaults();
  h = await startHarness({ wrapClient: faults.wrap });
  useFastRetries(h.deps.db);
});
afterAll(async () => {
  await h.close();
});

describe('overload findings', () => {
  it('a throttled group create leaves no group without members; the retry makes it whole (was: META written, members not)', async () => {
    const alice = await h.as('rg-alice');
    const groupsBefore = await groupMetaIds();
    // Command 0 reads the members' conversations; from command 1 on (the creating transaction) it throttles.
    faults.failFrom('throttle', 1);
    await expect(alice.createGroup({ name: 'team', members: ['rg-bob'] })).rejects.toMatchObject({
      status: 429,
      code: 'throttled',
    });
    faults.clear();
    expect(await groupMetaIds()).toEqual(groupsBefore);
    expect((await alice.fetchConversationsFromServer({ limit: 50 })).conversations).toEqual([]);
    // The client's retry makes the group, whole.
    const group = await alice.createGroup({ name: 'team', members: ['rg-bob'] });
    expect(group).toMatchObject({ owner: 'rg-alice', members: ['rg-alice', 'rg-bob'] });
    const sent = await (await h.as('rg-bob')).sendMessage({
      to: group.groupId,
      chatType: 'group',
      type: 'text',
      body: { text: 'we exist' },
    });
    const page = await alice.fetchHistoryMessages(group.groupId, 'group', 10);
    expect(page.messages.map((m) => m.msgId)).toEqual([sent.msgId]);
  });
});

/** The ids of every group in the table (from their META items). */
async function groupMetaIds(): Promise<string[]> {
  const snapshot = await snapshotTable(h.documentClient, h.tableName);
  return [...snapshot.keys()].filter((key) => key.endsWith('|META') && key.startsWith('G#')).sort();
}
