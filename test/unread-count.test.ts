import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConversationRef, Message } from '../functions/core/model.js';
import { commit, readForWrite } from '../functions/domain/conversation-writes.js';
import { deleteMessagesBefore, deleteMessagesByIds } from '../functions/domain/deletion.js';
import { markConversationRead } from '../functions/domain/read-position.js';
import {
  applyMessage,
  type ConversationState,
  type ConversationWrite,
  skipPosition,
  type WriteContext,
} from '../functions/store/conversation.js';
import { copyKey, putCopies } from '../functions/store/message-store.js';
import { seedSingleChat } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { conversationItem, singleChatText } from './support/history-seed.js';

/**
 * Issue 20, item 13: a read ack, a delete before a time and a purge's settle count what stays unread
 * from positions (each copy carries its `seq`) less the gap records of positions without a copy, so
 * their work does not grow with the unread count. Each test checks the count against the copies
 * themselves (exactness) and, where it names bounded work, the requests and read units DynamoDB reported.
 */
let h: Harness;
beforeAll(async () => {
  // Inline purges off: the delete's own decision is measured, not the purge after it (capped apart).
  h = await startHarness({ config: { inlinePurgeBatches: 0 } });
});
afterAll(async () => {
  await h.close();
});

const sideOf = (owner: string, convId: string): ConversationRef => ({ owner, chatType: 'single', convId });

/** `count` messages from `from` to `to`, all unread for `to`. */
async function unreadHistory(from: string, to: string, count: number): Promise<Message[]> {
  return seedSingleChat(h.deps, h.clock, from, to, count);
}

async function unreadOf(ref: ConversationRef): Promise<number> {
  return Number((await conversationItem(h.deps, ref))?.unreadCount);
}

/** Runs `operation` and returns the requests and read units it cost. */
async function costOf(operation: () => Promise<unknown>) {
  h.requests.reset();
  await operation();
  return { requests: h.requests.total(), readUnits: h.requests.readUnits };
}

describe('unread counting from positions', () => {
  it('a read ack reads as much with 1,000 copies left unread as with 10', async () => {
    const few = await unreadHistory('uc1-bob', 'uc1-alice', 11);
    const many = await unreadHistory('uc1-carol', 'uc1-alice', 1_001);
    const ackFew = await costOf(() =>
      markConversationRead(h.deps, sideOf('uc1-alice', 'uc1-bob'), few[0]?.msgId),
    );
    const ackMany = await costOf(() =>
      markConversationRead(h.deps, sideOf('uc1-alice', 'uc1-carol'), many[0]?.msgId),
    );
    expect(await unreadOf(sideOf('uc1-alice', 'uc1-bob'))).toBe(10);
    expect(await unreadOf(sideOf('uc1-alice', 'uc1-carol'))).toBe(1_000);
    expect(ackMany.requests).toBe(ackFew.requests);
    // Counting the copies read ~3 units per 12 KB copy; here a few units whatever the count.
    expect(ackMany.readUnits).toBeLessThanOrEqual(ackFew.readUnits * 1.2);
  });

  it('a delete before a time reads as much hiding 1,000 unread copies as hiding 10', async () => {
    const few = await unreadHistory('uc2-bob', 'uc2-alice', 12);
    const many = await unreadHistory('uc2-carol', 'uc2-alice', 1_002);
    const hideFew = await costOf(() =>
      deleteMessagesBefore(h.deps, sideOf('uc2-alice', 'uc2-bob'), few[9]?.timestamp as number),
    );
    const hideMany = await costOf(() =>
      deleteMessagesBefore(h.deps, sideOf('uc2-alice', 'uc2-carol'), many[999]?.timestamp as number),
    );
    expect(await unreadOf(sideOf('uc2-alice', 'uc2-bob'))).toBe(2);
    expect(await unreadOf(sideOf('uc2-alice', 'uc2-carol'))).toBe(2);
    expect(hideMany.requests).toBe(hideFew.requests);
    expect(hideMany.readUnits).toBeLessThanOrEqual(hideFew.readUnits * 1.2);
  });

  it('stays exact when unread copies were deleted by id before the read position moves past them', async () => {
    const sent = await unreadHistory('uc3-bob', 'uc3-alice', 20);
    const alice = sideOf('uc3-alice', 'uc3-bob');
    const id = (i: number) => sent[i]?.msgId as string;
    await deleteMessagesByIds(h.deps, alice, [id(4), id(7), id(14)]);
    expect(await unreadOf(alice)).toBe(17);
    // Read through 3 (index 2): 17 of 20 left, none of the three deleted ones below it.
    expect((await markConversationRead(h.deps, alice, id(2))).unreadCount).toBe(14);
    // Read through index 9: indexes 10..19 are left, less the deleted 14.
    expect((await markConversationRead(h.deps, alice, id(9))).unreadCount).toBe(9);
    // Hide through index 15: 16..19 are left.
    await deleteMessagesBefore(h.deps, alice, sent[15]?.timestamp as number);
    expect(await unreadOf(alice)).toBe(4);
    // The read position on a deleted copy itself: 15..19 without 14.
    await deleteMessagesByIds(h.deps, alice, [id(17)]);
    expect((await markConversationRead(h.deps, alice, id(18))).unreadCount).toBe(1);
  });

  it('stays exact across a position passed over without a copy', async () => {
    const alice = sideOf('uc4-alice', 'uc4-bob');
    const messages = [1, 2, 3, 4].map((i) =>
      singleChatText(h.deps.ids.next(), 'uc4-bob', 'uc4-alice', `m${i}`),
    );
    const [m1, m2, m3, m4] = messages as [Message, Message, Message, Message];
    // Positions: m1 at 1, m2 at 2, 3 passed over (a group log entry skipped), m3 at 4, m4 at 5.
    await putCopies(h.deps.db, [
      { ref: alice, message: m1, seq: 1 },
      { ref: alice, message: m2, seq: 2 },
      { ref: alice, message: m3, seq: 4 },
      { ref: alice, message: m4, seq: 5 },
    ]);
    const steps: ((state: ConversationState, ctx: WriteContext) => ConversationWrite)[] = [
      (state, ctx) => applyMessage(ctx, state, { message: m1, seq: 1, own: false }),
      (state, ctx) => applyMessage(ctx, state, { message: m2, seq: 2, own: false }),
      (state, ctx) => skipPosition(ctx, state, 3),
      (state, ctx) => applyMessage(ctx, state, { message: m3, seq: 4, own: false }),
      (state, ctx) => applyMessage(ctx, state, { message: m4, seq: 5, own: false }),
    ];
    for (const step of steps) {
      const read = await readForWrite(h.deps, [alice]);
      expect(await commit(h.deps, step(read.state(alice), read.context(alice.owner)).actions)).toBe(true);
    }
    expect(await unreadOf(alice)).toBe(4);
    expect((await markConversationRead(h.deps, alice, m1.msgId)).unreadCount).toBe(3);
    expect((await markConversationRead(h.deps, alice, m2.msgId)).unreadCount).toBe(2);
    expect((await markConversationRead(h.deps, alice, m3.msgId)).unreadCount).toBe(1);
  });

  it('counts copies stored before positions were one by one, and exactly', async () => {
    const sent = await unreadHistory('uc5-bob', 'uc5-alice', 8);
    const alice = sideOf('uc5-alice', 'uc5-bob');
    for (const message of sent) {
      await h.documentClient.send(
        new UpdateCommand({
          TableName: h.tableName,
          Key: copyKey(alice, message.msgId),
          UpdateExpression: 'REMOVE seq',
        }),
      );
    }
    await deleteMessagesByIds(h.deps, alice, [sent[5]?.msgId as string]);
    expect((await markConversationRead(h.deps, alice, sent[1]?.msgId)).unreadCount).toBe(5);
  });
});
