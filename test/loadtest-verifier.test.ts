import { DeleteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LoadApi } from './load/api.js';
import { Ledger } from './load/ledger.js';
import { OperationStats } from './load/stats.js';
import { verify } from './load/verify.js';
import { createGroups, population, runVirtualUser } from './load/workload.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * `npm run loadtest` ends by holding every copy against its ledger of acknowledged operations. These
 * tests show that check finds what it claims to (a copy lost behind the API's back, a deleted message
 * still visible, a wrong unread count), and that a short run of the real workload passes it.
 */
let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

async function tokens(users: string[]) {
  const map = new Map<string, string>();
  for (const user of users) map.set(user, await h.token(user));
  return (user: string) => map.get(user) as string;
}

/** alice and bob exchange three messages, each recorded in a ledger as the load test records them. */
async function chat(tag: string) {
  const [alice, bob] = [`lv-alice-${tag}`, `lv-bob-${tag}`];
  const ledger = new Ledger();
  const sent = [];
  for (const [from, to] of [
    [alice, bob],
    [bob, alice],
    [alice, bob],
  ] as const) {
    const sentAt = performance.now();
    const message = await (await h.as(from)).sendMessage({
      to,
      chatType: 'single',
      type: 'text',
      body: { text: `${from} ${sent.length}` },
    });
    ledger.acknowledged({
      msgId: message.msgId,
      from,
      to,
      chatType: 'single',
      timestamp: message.timestamp,
      sentAt,
      ackAt: performance.now(),
    });
    sent.push(message);
  }
  const api = new LoadApi(h.baseUrl, new OperationStats());
  return { alice, bob, ledger, sent, api, tokenOf: await tokens([alice, bob]) };
}

describe('the load test verification', () => {
  it('passes an honest history', async () => {
    const { alice, bob, ledger, api, tokenOf } = await chat('honest');
    const verdict = await verify(api, ledger, [alice, bob], tokenOf);
    expect(verdict).toMatchObject({ copiesChecked: 6, lost: [], visibleAfterDelete: [], wrong: [] });
  });

  it('reports a copy that vanished behind the API as lost, by id', async () => {
    const { alice, bob, ledger, sent, api, tokenOf } = await chat('lost');
    const victim = sent[1]?.msgId as string;
    await h.documentClient.send(
      new DeleteCommand({
        TableName: h.tableName,
        Key: { pk: `U#${alice}#C#single#${bob}`, sk: `M#${victim}` },
      }),
    );
    const verdict = await verify(api, ledger, [alice, bob], tokenOf);
    expect(verdict.lost).toEqual([`${victim} (${alice}'s copy of single ${bob})`]);
  });

  it('reports a message its owner deleted that is still visible, and a wrong unread count', async () => {
    const { alice, bob, ledger, sent, api, tokenOf } = await chat('ghost');
    // The ledger says bob deleted the first message; the service never heard of it.
    ledger.conversation(bob, 'single', alice).deletedIds.set(sent[0]?.msgId as string, true);
    await h.documentClient.send(
      new UpdateCommand({
        TableName: h.tableName,
        Key: { pk: `U#${bob}`, sk: `C#single#${alice}` },
        UpdateExpression: 'SET unreadCount = :n',
        ExpressionAttributeValues: { ':n': 7 },
      }),
    );
    const verdict = await verify(api, ledger, [alice, bob], tokenOf);
    expect(verdict.visibleAfterDelete).toEqual([`${sent[0]?.msgId} (${bob}'s copy of single ${alice})`]);
    expect(verdict.wrong).toEqual([
      expect.stringMatching(/unread 7, its history has 1 after the read position/),
    ]);
  });

  it('a short run of the real workload (4 users, 1.5 s) loses nothing and gets nothing wrong', async () => {
    const pop = population('vt', 4);
    const tokenOf = await tokens(pop.users);
    const ledger = new Ledger();
    const stats = new OperationStats();
    const api = new LoadApi(h.baseUrl, stats);
    await createGroups(api, ledger, pop, tokenOf);
    let seed = 7;
    const random = () => {
      seed = (seed * 16807) % 2147483647;
      return seed / 2147483647;
    };
    const deadline = performance.now() + 1500;
    await Promise.all(
      pop.users.map((user) => runVirtualUser({ api, ledger, pop, tokenOf, deadline, random }, user)),
    );
    const verdict = await verify(new LoadApi(h.baseUrl, new OperationStats()), ledger, pop.users, tokenOf);
    console.log(
      `loadtest smoke: ${stats.total} operations, ${ledger.messages.size} messages, ${verdict.copiesChecked} copies checked`,
    );
    expect(ledger.messages.size).toBeGreaterThan(0);
    expect(stats.errorTotal).toBe(0);
    expect({
      lost: verdict.lost,
      visibleAfterDelete: verdict.visibleAfterDelete,
      wrong: verdict.wrong,
    }).toEqual({
      lost: [],
      visibleAfterDelete: [],
      wrong: [],
    });
  });
});
