import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * The inbound limit (issue "Groups of 5,000…", hot items): sends to one user or one group from all
 * senders together are capped (here 2 a second, 3 at once, on the test clock, which stands still unless a
 * test moves it). Past it the send is refused with 429 naming the limit, before anything is written.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { inboundPerSecond: 2, inboundBurst: 3 } });
});
afterAll(async () => {
  await h.close();
});

describe('the inbound limit of a user and of a group', () => {
  it('refuses the send past the cap to one user, whoever sends it, and writes nothing of it', async () => {
    const senders = await Promise.all(['in1-a', 'in1-b', 'in1-c', 'in1-d'].map((u) => h.as(u)));
    for (const sender of senders.slice(0, 3)) await sender.sendMessage(text('in1-star', 'hi'));
    const refused = await senders[3]?.sendMessage(text('in1-star', 'one too many')).catch((error) => error);
    expect(refused).toMatchObject({
      status: 429,
      code: 'rate_limited',
      limit: 'inbound',
      retryAfterSeconds: 1,
    });
    // Another recipient is not affected; nothing of the refused send was written.
    await expect(senders[3]?.sendMessage(text('in1-other', 'hi'))).resolves.toMatchObject({
      to: 'in1-other',
    });
    const star = await h.as('in1-star');
    const list = await star.fetchConversationsFromServer({ limit: 10 });
    expect(list.conversations.map((c) => c.convId).sort()).toEqual(['in1-a', 'in1-b', 'in1-c']);
    // Half a second refills one.
    h.clock.advance(500);
    await expect(senders[3]?.sendMessage(text('in1-star', 'now'))).resolves.toMatchObject({ to: 'in1-star' });
  });

  it('caps the messages one group receives from all its members together', async () => {
    const owner = await h.as('in2-owner');
    const group = await owner.createGroup({ members: ['in2-a', 'in2-b'] });
    const a = await h.as('in2-a');
    const b = await h.as('in2-b');
    await owner.sendMessage(text(group.groupId, '1', { chatType: 'group' }));
    await a.sendMessage(text(group.groupId, '2', { chatType: 'group' }));
    await b.sendMessage(text(group.groupId, '3', { chatType: 'group' }));
    const refused = await a
      .sendMessage(text(group.groupId, '4', { chatType: 'group' }))
      .catch((error) => error);
    expect(refused).toMatchObject({ status: 429, limit: 'inbound' });
    const history = await owner.fetchHistoryMessages(group.groupId, 'group', 10);
    expect(history.messages.map((m) => m.body.text)).toEqual(['3', '2', '1']);
  });
});
