import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './support/harness.js';
import { type StoreFaults, storeFaults, useFastRetries } from './support/store-faults.js';

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
  it('a group create throttled after its META was written is finished by its retry (was: 409 for good, a group without members)', async () => {
    const alice = await h.as('rg-alice');
    // Command 0 writes META; from command 1 on (reading the group to join its members) the store throttles.
    faults.failFrom('throttle', 1);
    await expect(
      alice.createGroup({ groupId: 'rg-team', name: 'team', members: ['rg-bob'] }),
    ).rejects.toMatchObject({
      status: 429,
      code: 'throttled',
    });
    faults.clear();
    const group = await alice.createGroup({ groupId: 'rg-team', name: 'team', members: ['rg-bob'] });
    expect(group).toMatchObject({ groupId: 'rg-team', owner: 'rg-alice', members: ['rg-alice', 'rg-bob'] });
    const sent = await (await h.as('rg-bob')).sendMessage({
      to: 'rg-team',
      chatType: 'group',
      type: 'text',
      body: { text: 'we exist' },
    });
    const page = await alice.fetchHistoryMessages('rg-team', 'group', 10);
    expect(page.messages.map((m) => m.msgId)).toEqual([sent.msgId]);
  });

  it('nobody else can claim a group whose creation stopped halfway', async () => {
    faults.failFrom('throttle', 1);
    await expect((await h.as('rg-owner')).createGroup({ groupId: 'rg-half' })).rejects.toMatchObject({
      status: 429,
    });
    faults.clear();
    await expect((await h.as('rg-mallory')).createGroup({ groupId: 'rg-half' })).rejects.toMatchObject({
      status: 409,
      code: 'conflict',
    });
  });
});
