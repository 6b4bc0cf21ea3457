import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import type { Message } from '../functions/core/model.js';
import { runSweep } from '../functions/domain/sweep.js';
import { auditTableNameOf, TABLE_INDEXES } from '../functions/store/table.js';
import { commandGate, isCommand } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { snapshotTable } from './support/table-snapshot.js';

const gate = commandGate();
const THRESHOLD = 4;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: { sharedHistoryAbove: THRESHOLD, maxGroupMembers: 50 },
    wrapClient: (client) => gate.wrap(client),
  });
});
afterAll(async () => {
  await h.close();
});

/**
 * Every stored item that contains `needle`: the table and the audit trail (every attribute, as stored),
 * and every index's projection of the table (read by a Scan of the index itself).
 */
async function itemsContaining(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const table of [h.tableName, auditTableNameOf(h.tableName)]) {
    for (const [key, item] of await snapshotTable(h.documentClient, table)) {
      if (item.includes(needle)) found.push(`${table === h.tableName ? '' : 'audit:'}${key}`);
    }
  }
  for (const index of TABLE_INDEXES) {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = (await h.documentClient.send(
        new ScanCommand({ TableName: h.tableName, IndexName: index.indexName, ExclusiveStartKey: startKey }),
      )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
      for (const item of page.Items ?? []) {
        if (JSON.stringify(item).includes(needle))
          found.push(`${index.indexName}:${String(item.pk)}|${String(item.sk)}`);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
  }
  return found;
}

/** A word no other test sends: the recalled text, looked for byte for byte. */
function secret(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2, 10)}`;
}

async function history(client: RoamingClient, convId: string, chatType: 'single' | 'group' = 'single') {
  return (await client.fetchHistoryMessages(convId, chatType, 50)).messages;
}

async function listed(client: RoamingClient, convId: string) {
  const page = await client.fetchConversationsFromServer({ limit: 50 });
  return page.conversations.find((c) => c.convId === convId);
}

async function firstToken(client: RoamingClient): Promise<string> {
  return (await client.fetchConversationsFromServer({ limit: 50 })).syncToken as string;
}

const say = (client: RoamingClient, groupId: string, words: string) =>
  client.sendMessage(text(groupId, words, { chatType: 'group' }));

describe('recall in a single chat', () => {
  it('turns both copies into tombstones, drops the unread count, shows the tombstone as latest, and leaves no byte of the body', async () => {
    const alice = await h.as('rc1-alice');
    const bob = await h.as('rc1-bob');
    const words = secret('rc1');
    await alice.sendMessage(text('rc1-bob', 'before'));
    const tokenBob = await firstToken(bob);
    const sent = await alice.sendMessage({
      ...text('rc1-bob', words),
      clientMsgId: 'rc1-c1',
      ext: { tag: words },
    });
    expect((await listed(bob, 'rc1-alice'))?.unreadCount).toBe(2);
    // The scan finds the text where it is: copies, previews, the list index's projection of them.
    const before = await itemsContaining(words);
    expect(before.filter((key) => key.startsWith('byLatest:'))).toHaveLength(2);

    const tombstone = await alice.recallMessage('rc1-bob', 'single', sent.msgId);

    expect(tombstone).toEqual({
      msgId: sent.msgId,
      from: 'rc1-alice',
      to: 'rc1-bob',
      chatType: 'single',
      type: 'text',
      timestamp: sent.timestamp,
      recalled: { by: 'rc1-alice', at: expect.any(Number) },
    });
    for (const [client, peer] of [
      [alice, 'rc1-bob'],
      [bob, 'rc1-alice'],
    ] as const) {
      const messages = await history(client, peer);
      expect(messages.map((m) => m.body?.text ?? null)).toEqual([null, 'before']);
      expect(messages[0]).toEqual(tombstone);
      expect((await listed(client, peer))?.lastMessage).toEqual(tombstone);
    }
    expect((await listed(bob, 'rc1-alice'))?.unreadCount).toBe(1);
    const sync = await bob.syncConversations(tokenBob);
    expect(sync.messagesRecalled).toEqual([
      { convId: 'rc1-alice', chatType: 'single', msgIds: [sent.msgId], messages: [tombstone] },
    ]);
    expect(JSON.stringify(sync)).not.toContain(words);
    expect(await itemsContaining(words)).toEqual([]);
  });

  it('is idempotent: a second recall answers the same tombstone and changes nothing', async () => {
    const alice = await h.as('rc2-alice');
    const sent = await alice.sendMessage(text('rc2-bob', secret('rc2')));
    const first = await alice.recallMessage('rc2-bob', 'single', sent.msgId);
    const before = await snapshotTable(h.documentClient, h.tableName);
    const again = await alice.recallMessage('rc2-bob', 'single', sent.msgId);
    const after = await snapshotTable(h.documentClient, h.tableName);
    expect(again).toEqual(first);
    const changed = [...after].filter(([key, item]) => before.get(key) !== item && !key.startsWith('B#'));
    expect(changed).toEqual([]);
  });

  it('answers 409 past the recall window, 403 to the recipient, 404 for an unknown id', async () => {
    const alice = await h.as('rc3-alice');
    const bob = await h.as('rc3-bob');
    const sent = await alice.sendMessage(text('rc3-bob', 'too late'));
    await expect(bob.recallMessage('rc3-alice', 'single', sent.msgId)).rejects.toMatchObject({ status: 403 });
    h.clock.advance(121_000);
    await expect(alice.recallMessage('rc3-bob', 'single', sent.msgId)).rejects.toMatchObject({
      status: 409,
      code: 'conflict',
    });
    await expect(
      alice.recallMessage('rc3-bob', 'single', '01KDX8S4G0R8Q1Z6V3B2N9M7TA'),
    ).rejects.toMatchObject({ status: 404 });
    expect((await history(bob, 'rc3-alice'))[0]?.body).toEqual({ text: 'too late' });
  });

  it('leaves a copy its owner deleted deleted: the one-way delete wins', async () => {
    const alice = await h.as('rc4-alice');
    const bob = await h.as('rc4-bob');
    const words = secret('rc4');
    await alice.sendMessage(text('rc4-bob', 'stays'));
    const sent = await alice.sendMessage(text('rc4-bob', words));
    await bob.removeMessagesFromServerWithMsgIds('rc4-alice', 'single', [sent.msgId]);
    await alice.recallMessage('rc4-bob', 'single', sent.msgId);
    expect((await history(bob, 'rc4-alice')).map((m) => m.body?.text)).toEqual(['stays']);
    expect((await history(alice, 'rc4-bob'))[0]?.recalled?.by).toBe('rc4-alice');
    expect(await itemsContaining(words)).toEqual([]);
  });
});

describe('edit in a single chat', () => {
  it('reaches both sides and every device, counts edits, and keeps ext unless given', async () => {
    const alice = await h.as('ed1-alice');
    const bob = await h.as('ed1-bob');
    const old = secret('ed1-old');
    const sent = await alice.sendMessage({ ...text('ed1-bob', old), ext: { keep: 1 } });
    const tokenBob = await firstToken(bob);
    const first = await alice.modifyMessage('ed1-bob', 'single', sent.msgId, {
      body: { text: 'fixed once' },
    });
    const second = await alice.modifyMessage('ed1-bob', 'single', sent.msgId, {
      body: { text: 'fixed twice' },
    });
    expect(first.edited?.count).toBe(1);
    expect(second).toMatchObject({ body: { text: 'fixed twice' }, ext: { keep: 1 }, edited: { count: 2 } });
    for (const [client, peer] of [
      [alice, 'ed1-bob'],
      [bob, 'ed1-alice'],
    ] as const) {
      expect((await history(client, peer))[0]).toEqual(second);
      expect((await listed(client, peer))?.lastMessage).toEqual(second);
    }
    expect((await listed(bob, 'ed1-alice'))?.unreadCount).toBe(1);
    const sync = await bob.syncConversations(tokenBob);
    expect(sync.messagesEdited).toEqual([{ convId: 'ed1-alice', chatType: 'single', messages: [second] }]);
    expect(await itemsContaining(old)).toEqual([]);
  });

  it('refuses an edit by the recipient (403), of a recalled message (409), past the edit limit (409), of an image (400)', async () => {
    const alice = await h.as('ed2-alice');
    const bob = await h.as('ed2-bob');
    const sent = await alice.sendMessage(text('ed2-bob', 'one'));
    await expect(
      bob.modifyMessage('ed2-alice', 'single', sent.msgId, { body: { text: 'x' } }),
    ).rejects.toMatchObject({
      status: 403,
    });
    for (let i = 1; i <= 10; i++) {
      await alice.modifyMessage('ed2-bob', 'single', sent.msgId, { body: { text: `edit ${i}` } });
    }
    await expect(
      alice.modifyMessage('ed2-bob', 'single', sent.msgId, { body: { text: 'edit 11' } }),
    ).rejects.toMatchObject({ status: 409 });
    const image = await alice.sendMessage({
      to: 'ed2-bob',
      chatType: 'single',
      type: 'image',
      body: { url: 'u' },
    });
    await expect(
      alice.modifyMessage('ed2-bob', 'single', image.msgId, { body: { url: 'v' } }),
    ).rejects.toMatchObject({ status: 400 });
    await alice.recallMessage('ed2-bob', 'single', sent.msgId);
    await expect(
      alice.modifyMessage('ed2-bob', 'single', sent.msgId, { body: { text: 'after' } }),
    ).rejects.toMatchObject({ status: 409 });
  });

  it('refuses the later-committing of two concurrent edits with 409, and every copy shows the other', async () => {
    const alice = await h.as('ed3-alice');
    const bob = await h.as('ed3-bob');
    const sent = await alice.sendMessage(text('ed3-bob', 'original'));
    let second: Message | undefined;
    // The first edit has read the record and decided; the second device's edit lands before it commits.
    gate.before(isCommand('TransactWriteCommand'), async () => {
      second = await alice.modifyMessage('ed3-bob', 'single', sent.msgId, {
        body: { text: 'second device' },
      });
    });
    await expect(
      alice.modifyMessage('ed3-bob', 'single', sent.msgId, { body: { text: 'first device' } }),
    ).rejects.toMatchObject({ status: 409, code: 'conflict' });
    expect(second).toMatchObject({ body: { text: 'second device' }, edited: { count: 1 } });
    expect((await history(bob, 'ed3-alice'))[0]).toEqual(second);
    expect((await history(alice, 'ed3-bob'))[0]).toEqual(second);
  });
});

describe('recall and edit in groups', () => {
  it.each([
    ['fan-out', 3],
    ['shared', THRESHOLD + 2],
  ] as const)(
    '%s mode: every member sees the tombstone, unread drops, and no byte of the body is stored',
    async (mode, size) => {
      const prefix = `rg-${mode}`;
      const owner = await h.as(`${prefix}-owner`);
      const members = Array.from({ length: size - 1 }, (_, i) => `${prefix}-m${i}`);
      const group = await owner.createGroup({ members });
      const words = secret(prefix);
      await say(owner, group.groupId, 'hello');
      const reader = await h.as(members[0] as string);
      const token = await firstToken(reader);
      const sent = await say(owner, group.groupId, words);

      const tombstone = await owner.recallMessage(group.groupId, 'group', sent.msgId);

      expect(tombstone.recalled?.by).toBe(`${prefix}-owner`);
      for (const member of [`${prefix}-owner`, ...members]) {
        const client = await h.as(member);
        const messages = await history(client, group.groupId, 'group');
        expect(messages.map((m) => m.body?.text ?? null)).toEqual([null, 'hello']);
        const entry = await listed(client, group.groupId);
        expect(entry?.lastMessage).toEqual(tombstone);
        expect(entry?.unreadCount).toBe(member === `${prefix}-owner` ? 0 : 1);
      }
      const sync = await reader.syncConversations(token);
      expect(sync.messagesRecalled).toEqual([
        { convId: group.groupId, chatType: 'group', msgIds: [sent.msgId], messages: [tombstone] },
      ]);
      expect(await itemsContaining(words)).toEqual([]);
    },
  );

  it.each([
    ['fan-out', 3],
    ['shared', THRESHOLD + 2],
  ] as const)('%s mode: an edit reaches every member, and the old text is gone', async (mode, size) => {
    const prefix = `eg-${mode}`;
    const owner = await h.as(`${prefix}-owner`);
    const members = Array.from({ length: size - 1 }, (_, i) => `${prefix}-m${i}`);
    const group = await owner.createGroup({ members });
    const old = secret(prefix);
    const sent = await say(owner, group.groupId, old);
    const edited = await owner.modifyMessage(group.groupId, 'group', sent.msgId, {
      body: { text: 'corrected' },
    });
    for (const member of [`${prefix}-owner`, ...members]) {
      const client = await h.as(member);
      expect((await history(client, group.groupId, 'group'))[0]).toEqual(edited);
      expect((await listed(client, group.groupId))?.lastMessage).toEqual(edited);
    }
    expect(await itemsContaining(old)).toEqual([]);
  });

  it('the group owner recalls a member’s message past the window, and the audit trail records it without its text', async () => {
    const owner = await h.as('rg3-owner');
    const member = await h.as('rg3-m');
    const group = await owner.createGroup({ members: ['rg3-m', 'rg3-n'] });
    const words = secret('rg3');
    const sent = await say(member, group.groupId, words);
    h.clock.advance(3_600_000);
    await expect(member.recallMessage(group.groupId, 'group', sent.msgId)).rejects.toMatchObject({
      status: 409,
    });
    const tombstone = await owner.recallMessage(group.groupId, 'group', sent.msgId);
    expect(tombstone.recalled?.by).toBe('rg3-owner');
    const audit = await h.raw('GET', '/v1/admin/audit?limit=5', {
      token: await h.token('ops', { admin: true }),
    });
    expect(audit.status).toBe(200);
    expect((audit.body.records as unknown[])[0]).toMatchObject({
      action: 'message.recall',
      actor: 'rg3-owner',
      target: `message:group/${group.groupId}/${sent.msgId}`,
    });
    expect(await itemsContaining(words)).toEqual([]);
  });
});

describe('recall and edit under a legal hold', () => {
  async function hold(holdId: string, userIds: string[]) {
    const token = await h.token('rh-ops', { admin: true });
    const set = await h.raw('PUT', `/v1/admin/holds/${holdId}`, {
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds, reason: 'case' }),
    });
    expect(set.status).toBe(200);
    return async () => {
      expect((await h.raw('DELETE', `/v1/admin/holds/${holdId}`, { token })).status).toBe(200);
    };
  }

  it.each([
    ['single chat', 'single'],
    ['shared-mode group', 'group'],
  ] as const)(
    '%s: the held user keeps what they had, hidden from every answer; released, the sweep purges it',
    async (_label, chatType) => {
      const prefix = `rh-${chatType}`;
      const sender = await h.as(`${prefix}-sender`);
      const words = secret(prefix);
      let convId = `${prefix}-held`;
      if (chatType === 'group') {
        const members = [`${prefix}-held`, ...Array.from({ length: THRESHOLD }, (_, i) => `${prefix}-m${i}`)];
        convId = (await sender.createGroup({ members })).groupId;
      }
      const sent = await sender.sendMessage({ ...text(convId, words, { chatType }) });
      const release = await hold(`${prefix}-case`, [`${prefix}-held`]);
      const tombstone = await sender.recallMessage(convId, chatType, sent.msgId);
      const held = await h.as(`${prefix}-held`);
      const heldConv = chatType === 'single' ? `${prefix}-sender` : convId;
      expect(await history(held, heldConv, chatType)).toEqual([tombstone]);
      // The one place the text is kept: the held user's held version (never read by the API).
      const kept = await itemsContaining(words);
      expect(kept).toHaveLength(1);
      expect(kept[0]).toMatch(new RegExp(`^U#${prefix}-held#HD#${chatType}#`));
      await release();
      await runSweep(h.deps);
      expect(await itemsContaining(words)).toEqual([]);
      expect(await history(held, heldConv, chatType)).toEqual([tombstone]);
    },
  );
});
