import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError } from '../client/roaming-client.js';
import { commandGate, type SentCommand } from './support/command-gate.js';
import { idsOf, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { transactionConflicts } from './support/transaction-conflicts.js';

/**
 * Hot items under DynamoDB's transaction conflicts, which DynamoDB Local never shows: the model in
 * test/support/transaction-conflicts.ts cancels a transaction that touches an item another one in flight
 * holds, and refuses a single-item write of such an item (TransactionConflictException).
 */

const gate = commandGate();
const conflicts = transactionConflicts({ holdMs: 15 });
let h: Harness;
beforeAll(async () => {
  // The gate sits inside the model: a transaction it holds keeps its items held.
  h = await startHarness({ wrapClient: (client) => conflicts.wrap(gate.wrap(client)) });
});
afterAll(async () => {
  await h.close();
});

const isTransactionTo = (owner: string) => (c: SentCommand) =>
  c.constructor.name === 'TransactWriteCommand' && JSON.stringify(c.input).includes(`"U#${owner}"`);

describe('transaction conflicts', () => {
  it('a ?since= whose epoch bump meets a send in flight retries, and it or the next one reports the send', async () => {
    const alice = await h.as('tc-alice');
    const bob = await h.as('tc-bob');
    const token = (await alice.fetchConversationsFromServer({ limit: 20 })).syncToken as string;
    await bob.sendMessage(text('tc-alice', 'first'));
    // The second send's transaction holds alice's sync head while her device syncs: the bump is refused
    // (TransactionConflictException) until the transaction is through.
    let sync: Promise<Awaited<ReturnType<typeof alice.syncConversations>>> | undefined;
    gate.before(isTransactionTo('tc-alice'), async () => {
      const refused = conflicts.refusedWrites;
      sync = alice.syncConversations(token);
      while (conflicts.refusedWrites === refused) await new Promise((resolve) => setTimeout(resolve, 2));
    });
    const second = await bob.sendMessage(text('tc-alice', 'second'));
    const first = await (sync as NonNullable<typeof sync>);
    const next = await alice.syncConversations(first.syncToken);
    const reported = [...first.conversations, ...next.conversations].map((c) => c.lastMessage.msgId);
    expect(reported).toContain(second.msgId);
  });

  it('concurrent sends to one recipient each land once or are refused with 429, never a 500', async () => {
    const senders = await Promise.all(Array.from({ length: 12 }, (_, i) => h.as(`tc2-sender-${i}`)));
    const outcomes = await Promise.all(
      senders.map((sender, i) =>
        sender.sendMessage(text('tc2-star', `from ${i}`)).then(
          (message) => ({ message }),
          (error: unknown) => ({ status: error instanceof RoamingApiError ? error.status : 0 }),
        ),
      ),
    );
    const refused = outcomes.filter((o) => 'status' in o);
    expect(refused.every((o) => 'status' in o && o.status === 429)).toBe(true);
    const sent = outcomes.flatMap((o) => ('message' in o ? [o.message.msgId] : []));
    const star = await h.as('tc2-star');
    const landed: string[] = [];
    for (let i = 0; i < senders.length; i++) {
      landed.push(...idsOf((await star.fetchHistoryMessages(`tc2-sender-${i}`, 'single', 10)).messages));
    }
    expect(landed.sort()).toEqual(sent.sort());
  });
});
