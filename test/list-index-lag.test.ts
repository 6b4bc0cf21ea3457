import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Conversation } from '../functions/core/model.js';
import { keys } from '../functions/store/keys.js';
import { commandGate } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { indexLag } from './support/index-lag.js';

/**
 * Issue 20, item 18: on AWS the list index lags. A first page reads the conversations and the sync head
 * from one Query of the list index, which propagates every item on its own: the head can already show a
 * new epoch (another device's `?since=`) while a conversation still shows its version from before a
 * change committed in an older epoch. The page's token must never be newer than such a change
 * (docs/consistency.md, section 3). The lag is modelled on the real client (test/support/index-lag.ts).
 */
const lag = indexLag();
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ wrapClient: (client) => gate.wrap(lag.wrap(client)) });
});
afterEach(() => {
  lag.clear();
  gate.reset();
});
afterAll(async () => {
  await h.close();
});

const conversationKey = (owner: string, convId: string) =>
  keys.conversation({ owner, chatType: 'single', convId });
const idsIn = (page: { conversations: Conversation[] }) => page.conversations.map((c) => c.convId);

describe('the lag model (test/support/index-lag.ts)', () => {
  it('lags only index reads: a held conversation keeps its old version and place in the list, its history is current', async () => {
    // Prepare
    const me = await h.as('lm1-me');
    await (await h.as('lm1-a')).sendMessage(text('lm1-me', 'a, first'));
    h.clock.advance(1);
    await (await h.as('lm1-b')).sendMessage(text('lm1-me', 'b'));
    h.clock.advance(1);
    await lag.hold(conversationKey('lm1-me', 'lm1-a'));
    // Act
    const latest = await (await h.as('lm1-a')).sendMessage(text('lm1-me', 'a, second'));
    const stale = await me.fetchConversationsFromServer({ limit: 10 });
    const history = await me.fetchHistoryMessages('lm1-a', 'single', 10);
    lag.release();
    const caughtUp = await me.fetchConversationsFromServer({ limit: 10 });
    // Assess
    expect(idsIn(stale)).toEqual(['lm1-b', 'lm1-a']);
    expect(stale.conversations[1]?.lastMessage.body.text).toBe('a, first');
    expect(history.messages[0]?.msgId).toBe(latest.msgId);
    expect(lag.staleAnswers).toBe(1);
    expect(idsIn(caughtUp)).toEqual(['lm1-a', 'lm1-b']);
    expect(caughtUp.conversations[0]?.lastMessage.msgId).toBe(latest.msgId);
  });

  it('pages the stale view in index order, each conversation once, with Limit and the start key', async () => {
    // Prepare: five conversations; the two oldest get new messages the index has not seen yet.
    const me = await h.as('lm2-me');
    const peers = ['lm2-0', 'lm2-1', 'lm2-2', 'lm2-3', 'lm2-4'];
    for (const peer of peers) {
      await (await h.as(peer)).sendMessage(text('lm2-me', 'first'));
      h.clock.advance(1);
    }
    for (const peer of ['lm2-0', 'lm2-1']) {
      await lag.hold(conversationKey('lm2-me', peer));
      await (await h.as(peer)).sendMessage(text('lm2-me', 'second'));
    }
    // Act: a walk one conversation a page.
    const walked: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await me.fetchConversationsFromServer({ limit: 1, cursor });
      walked.push(...idsIn(page));
      cursor = page.cursor ?? undefined;
    } while (cursor);
    // Assess: the order the index had before the two messages.
    expect(walked).toEqual([...peers].reverse());
    expect(lag.staleAnswers).toBeGreaterThan(0);
  });

  it('with lagWrites, a conversation created or deleted within the lag shows as it was until the lag has passed', async () => {
    // Prepare
    const me = await h.as('lm3-me');
    await (await h.as('lm3-old')).sendMessage(text('lm3-me', 'old'));
    lag.lagWrites({ ms: 60_000, clock: h.clock });
    // Act
    await (await h.as('lm3-new')).sendMessage(text('lm3-me', 'new'));
    await me.removeConversationFromServer('lm3-old', 'single', false);
    h.clock.advance(59_999);
    const during = await me.fetchConversationsFromServer({ limit: 10 });
    h.clock.advance(1);
    const after = await me.fetchConversationsFromServer({ limit: 10 });
    // Assess
    expect(idsIn(during)).toEqual(['lm3-old']);
    expect(idsIn(after)).toEqual(['lm3-new']);
  });
});
