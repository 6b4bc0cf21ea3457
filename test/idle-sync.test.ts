import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { commandGate, recordingInto, type SentCommand, WRITE_COMMANDS } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * A `?since=` that finds nothing changed answers without a write (issue "Groups of 5,000…": idle sync
 * writes nothing). Before, every call began a sync epoch: a device polling every 30 s cost a write per
 * poll, and each bump cancelled the writes to that user in flight.
 */

const gate = commandGate();
const sent: SentCommand[] = [];
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    wrapClient: (client) => gate.wrap(recordingInto(sent, client)),
  });
});
afterAll(async () => {
  await h.close();
});

const writesOf = (commands: SentCommand[]) => commands.filter((c) => WRITE_COMMANDS.has(c.constructor.name));
const convIds = (page: { conversations: { convId: string }[] }) => page.conversations.map((c) => c.convId);

describe('idle sync', () => {
  it('a ?since= that finds nothing changed sends no write and one read, and a later change still comes', async () => {
    const alice = await h.as('idle-alice');
    await (await h.as('idle-bob')).sendMessage(text('idle-alice', 'hello'));
    const first = await alice.fetchConversationsFromServer({ limit: 20 });
    const synced = await alice.syncConversations(first.syncToken as string);

    sent.length = 0;
    const idle = await alice.syncConversationsPage(synced.syncToken, 50);
    expect(idle.conversations).toEqual([]);
    expect(idle.removed).toEqual([]);
    expect(writesOf(sent)).toEqual([]);
    // The change partition's probe; the policy lookup is cached or one GetItem.
    expect(sent.filter((c) => c.constructor.name === 'QueryCommand')).toHaveLength(1);

    await (await h.as('idle-carol')).sendMessage(text('idle-alice', 'later'));
    const next = await alice.syncConversations(idle.syncToken as string);
    expect(convIds(next)).toEqual(['idle-carol']);
  });

  it('a send in flight while an idle ?since= answers is reported by the next ?since= from its token', async () => {
    const alice = await h.as('idle2-alice');
    const bob = await h.as('idle2-bob');
    await bob.sendMessage(text('idle2-alice', 'first'));
    const first = await alice.fetchConversationsFromServer({ limit: 20 });
    const synced = await alice.syncConversations(first.syncToken as string);

    // The send has read alice's sync head; its transaction waits while alice's device syncs.
    let idleToken: string | undefined;
    gate.before(
      (c) =>
        c.constructor.name === 'TransactWriteCommand' && JSON.stringify(c.input).includes('U#idle2-alice'),
      async () => {
        const idle = await alice.syncConversationsPage(synced.syncToken, 50);
        expect(idle.conversations).toEqual([]);
        idleToken = idle.syncToken as string;
      },
    );
    await bob.sendMessage(text('idle2-alice', 'in flight'));
    const next = await alice.syncConversations(idleToken as string);
    expect(convIds(next)).toEqual(['idle2-bob']);
    expect(next.conversations[0]?.lastMessage.body).toMatchObject({ text: 'in flight' });
  });

  it('renews the token it answers with, so a device that polls idle for weeks keeps syncing', async () => {
    const alice = await h.as('idle3-alice');
    await (await h.as('idle3-bob')).sendMessage(text('idle3-alice', 'hello'));
    let token = (await alice.fetchConversationsFromServer({ limit: 20 })).syncToken as string;
    token = (await alice.syncConversations(token)).syncToken;
    // Every 6 days an idle poll: 30 days in all, past the 7 days a token lasts.
    for (let day = 6; day <= 30; day += 6) {
      h.clock.advance(6 * DAY_MS);
      const idle = await alice.syncConversationsPage(token, 50);
      expect(idle.conversations).toEqual([]);
      token = idle.syncToken as string;
    }
    await (await h.as('idle3-carol')).sendMessage(text('idle3-alice', 'a month later'));
    expect(convIds(await alice.syncConversations(token))).toEqual(['idle3-carol']);
  });
});
