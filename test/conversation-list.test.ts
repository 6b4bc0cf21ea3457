import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import type { Conversation } from '../functions/core/model.js';
import { LIST_TOKEN_LOOKBACK_MS } from '../functions/domain/list-sync-token.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

/** `owner` gets one conversation per peer; peers[i] writes last at step i, so the list order is known. */
async function conversationsWith(owner: string, peers: string[]) {
  for (const peer of peers) {
    await (await h.as(peer)).sendMessage(text(owner, `hi from ${peer}`));
    // Every other conversation shares its millisecond with the previous one: ties must still order.
    if (peers.indexOf(peer) % 2 === 1) h.clock.advance(1);
  }
}

async function walk(client: RoamingClient, limit: number, between?: (pageIndex: number) => Promise<void>) {
  const seen: Conversation[] = [];
  let cursor: string | undefined;
  let syncToken: string | undefined;
  for (let page = 0; ; page++) {
    const result = await client.fetchConversationsFromServer({ limit, cursor });
    if (page === 0) syncToken = result.syncToken;
    seen.push(...result.conversations);
    if (result.cursor === null) return { seen, syncToken: syncToken as string };
    cursor = result.cursor;
    await between?.(page);
  }
}

describe('conversation list', () => {
  it('orders by latest message, newest first, with a total order on ties', async () => {
    const peers = Array.from({ length: 9 }, (_, i) => `o-peer-${i}`);
    await conversationsWith('o-me', peers);
    const me = await h.as('o-me');
    const { seen } = await walk(me, 4);
    expect(seen.map((c) => c.convId)).toEqual([...peers].reverse());
    const ids = seen.map((c) => c.lastMessage.msgId);
    expect(ids).toEqual([...ids].sort().reverse());
  });

  it('gives the same order by page number as by cursor', async () => {
    await conversationsWith(
      'p-me',
      Array.from({ length: 9 }, (_, i) => `p-peer-${i}`),
    );
    const me = await h.as('p-me');
    const byCursor = (await walk(me, 50)).seen.map((c) => c.convId);
    const byPage: string[] = [];
    for (let pageNum = 1; ; pageNum++) {
      const page = await me.fetchConversationsFromServerWithPage(2, pageNum);
      byPage.push(...page.conversations.map((c) => c.convId));
      if (page.conversations.length < 2) break;
    }
    expect(byCursor).toHaveLength(9);
    expect(byPage).toEqual(byCursor);
    expect((await me.fetchConversationsFromServerWithPage(20, 9)).conversations).toEqual([]);
  });

  it('never repeats nor skips a conversation in a walk while others get new messages; since= returns exactly those', async () => {
    // Prepare: 30 conversations. An earlier sync closed the epoch those 30 arrived in (see the next test
    // for a user who never synced), and then more time passed than a first page's token goes back for
    // changes the list index may not show yet (docs/consistency.md, section 3).
    const peers = Array.from({ length: 30 }, (_, i) => `w-peer-${String(i).padStart(2, '0')}`);
    await conversationsWith('w-me', peers);
    const me = await h.as('w-me');
    await me.syncConversations((await me.fetchConversationsFromServer({ limit: 1 })).syncToken as string);
    h.clock.advance(LIST_TOKEN_LOOKBACK_MS);
    const changed = new Set<string>();
    // Act: after each page, two conversations get a new message: one already seen, one not yet seen.
    const { seen, syncToken } = await walk(me, 5, async (pageIndex) => {
      h.clock.advance(10);
      for (const peer of [peers[29 - pageIndex * 5] as string, peers[pageIndex] as string]) {
        await (await h.as(peer)).sendMessage(text('w-me', 'new'));
        changed.add(peer);
      }
    });
    // Assess: no repeats; every conversation that did not change was seen.
    const seenIds = seen.map((c) => c.convId);
    expect(new Set(seenIds).size).toBe(seenIds.length);
    for (const peer of peers) if (!changed.has(peer)) expect(seenIds).toContain(peer);
    // The delta from the first page's token is exactly the changed conversations, with their new latest.
    const delta = await me.syncConversations(syncToken);
    expect(delta.conversations.map((c) => c.convId).sort()).toEqual([...changed].sort());
    expect(delta.conversations.every((c) => c.lastMessage.body?.text === 'new')).toBe(true);
    expect(delta.removed).toEqual([]);
    // Walk plus delta covers every conversation.
    expect(new Set([...seenIds, ...delta.conversations.map((c) => c.convId)]).size).toBe(30);
    // Nothing changed since the delta's own token.
    expect((await me.syncConversations(delta.syncToken as string)).conversations).toEqual([]);
  });

  it('before a user ever synced, the delta may repeat conversations but never misses one', async () => {
    const peers = ['n-1', 'n-2', 'n-3'];
    await conversationsWith('n-me', peers);
    const me = await h.as('n-me');
    const { seen, syncToken } = await walk(me, 2);
    await (await h.as('n-4')).sendMessage(text('n-me', 'after the walk'));
    // All of it is in epoch 0: the delta repeats the walk's conversations, and has the new one.
    const delta = await me.syncConversations(syncToken);
    expect(delta.conversations.map((c) => c.convId).sort()).toEqual(['n-1', 'n-2', 'n-3', 'n-4']);
    expect(seen.map((c) => c.convId)).toEqual(['n-3', 'n-2', 'n-1']);
    // That call closed the epoch: the next delta is exact.
    await (await h.as('n-2')).sendMessage(text('n-me', 'again'));
    expect(
      (await me.syncConversations(delta.syncToken as string)).conversations.map((c) => c.convId),
    ).toEqual(['n-2']);
  });

  it('reports deleted conversations in the delta as removed', async () => {
    const me = await h.as('x-me');
    await (await h.as('x-peer')).sendMessage(text('x-me', 'hi'));
    h.clock.advance(60_000);
    const first = await me.fetchConversationsFromServer({ limit: 10 });
    h.clock.advance(1);
    await me.removeConversationFromServer('x-peer', 'single', false);
    const delta = await me.syncConversations(first.syncToken as string);
    expect(delta.conversations).toEqual([]);
    // Deleted without its messages: no watermark, so a device keeps its cached history.
    expect(delta.removed).toEqual([{ convId: 'x-peer', chatType: 'single', clearedThrough: null }]);
  });

  it('pages the delta when more changed than one page holds', async () => {
    const me = await h.as('y-me');
    const token = (await me.fetchConversationsFromServer({ limit: 1 })).syncToken as string;
    h.clock.advance(60_000);
    await conversationsWith('y-me', ['y-1', 'y-2', 'y-3']);
    const page1 = await me.syncConversationsPage(token, 2);
    expect(page1.conversations.map((c) => c.convId)).toEqual(['y-1', 'y-2']);
    const page2 = await me.syncConversationsPage(page1.cursor as string, 2);
    expect(page2.conversations.map((c) => c.convId)).toEqual(['y-3']);
    expect(page2.cursor).toBeNull();
    // Every page hands out the same next token: where the next sync starts, whichever page ended it.
    expect(page2.syncToken).toBe(page1.syncToken);
  });
});
