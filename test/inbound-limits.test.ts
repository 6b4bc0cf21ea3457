import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * The inbound limit (issue "Groups of 5,000…", hot items): sends to one user or one group, from all
 * senders together, take slots 1/inboundPerSecond apart and wait for theirs, so their transactions do not
 * overlap; a send whose slot is further out than inboundQueueMs is refused with 429 naming the limit,
 * before anything is written. Here: 2 a second (slots 500 ms apart), a wait of at most 1 s. The test
 * clock stands still unless a test moves it (bucket time with it); the waits are real.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { inboundPerSecond: 2, inboundQueueMs: 1_000 } });
});
afterAll(async () => {
  await h.close();
});

describe('the inbound limit of a user and of a group', () => {
  it('spaces sends to one user, whoever sends them, and refuses one past the queue without writing it', async () => {
    const senders = await Promise.all(['in1-a', 'in1-b', 'in1-c', 'in1-d'].map((u) => h.as(u)));
    const started = performance.now();
    // Three at once: slots at 0, 500 and 1,000 ms.
    await Promise.all(senders.slice(0, 3).map((sender) => sender.sendMessage(text('in1-star', 'hi'))));
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
    const refused = await senders[3]?.sendMessage(text('in1-star', 'one too many')).catch((error) => error);
    expect(refused).toMatchObject({
      status: 429,
      code: 'rate_limited',
      limit: 'inbound',
      retryAfterSeconds: 1,
    });
    // Another recipient has slots of its own; nothing of the refused send was written.
    await expect(senders[3]?.sendMessage(text('in1-other', 'hi'))).resolves.toMatchObject({
      to: 'in1-other',
    });
    const star = await h.as('in1-star');
    const list = await star.fetchConversationsFromServer({ limit: 10 });
    expect(list.conversations.map((c) => c.convId).sort()).toEqual(['in1-a', 'in1-b', 'in1-c']);
    // Once the slots have passed, the next send goes at once.
    h.clock.advance(2_000);
    await expect(senders[3]?.sendMessage(text('in1-star', 'now'))).resolves.toMatchObject({ to: 'in1-star' });
  });

  it('spaces the messages one group receives from all its members together', async () => {
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
    expect(history.messages.map((m) => m.body?.text)).toEqual(['3', '2', '1']);
  });

  it('answers the retry of an accepted send even when the limit is full, and a non-member takes no slot', async () => {
    const owner = await h.as('in3-owner');
    const group = await owner.createGroup({ members: ['in3-a'] });
    const outsider = await h.as('in3-outsider');
    const a = await h.as('in3-a');
    const first = await owner.sendMessage({
      ...text(group.groupId, 'first', { chatType: 'group' }),
      clientMsgId: 'in3-1',
    });
    // Non-members are refused (403) and give their slot back.
    for (let i = 0; i < 2; i++) {
      const refused = await outsider
        .sendMessage(text(group.groupId, 'let me in', { chatType: 'group' }))
        .catch((e) => e);
      expect(refused).toMatchObject({ status: 403 });
    }
    // The slots at 500 and 1,000 ms are still there for members; then the limit is full.
    await a.sendMessage(text(group.groupId, 'second', { chatType: 'group' }));
    await a.sendMessage(text(group.groupId, 'third', { chatType: 'group' }));
    const full = await a.sendMessage(text(group.groupId, 'fourth', { chatType: 'group' })).catch((e) => e);
    expect(full).toMatchObject({ status: 429, limit: 'inbound' });
    // The retry of the first send is answered from its record.
    const retried = await owner.sendMessage({
      ...text(group.groupId, 'first', { chatType: 'group' }),
      clientMsgId: 'in3-1',
    });
    expect(retried).toEqual(first);
  });
});
