import { DeleteCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import type { ConversationRef, Message } from '../functions/core/model.js';
import { runSweep } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import { commandGate, InjectedFault, type SentCommand } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { partitionItems } from './support/group-views.js';
import { type Harness, startHarness } from './support/harness.js';
import { snapshotTable } from './support/table-snapshot.js';

/**
 * Recall and edit against the writes that race them, staged by holding one DynamoDB command of the real
 * client (docs/recall-and-edit.md, "Races"): a send's fan-out, a one-way delete, a read ack, another
 * revision, the retention sweep, a crash midway and a send's retry.
 */

const gate = commandGate();
const DAY_MS = 86_400_000;
let h: Harness;
beforeAll(async () => {
  // A week's recall window: the retention race needs the message expired and still recallable.
  h = await startHarness({
    config: { recallWindowSeconds: 7 * 86_400 },
    wrapClient: (client) => gate.wrap(client),
  });
});
afterAll(async () => {
  await h.close();
});
afterEach(() => gate.reset());

/** A transaction that writes (Put or Update) an item of partition `pk`. */
function transactionInto(pk: string) {
  return (command: SentCommand) => {
    if (command.constructor.name !== 'TransactWriteCommand') return false;
    const items = (command.input.TransactItems ?? []) as {
      Put?: { Item: { pk: string } };
      Update?: { Key: { pk: string } };
    }[];
    return items.some((item) => item.Put?.Item.pk === pk || item.Update?.Key.pk === pk);
  };
}

const side = (owner: string, chatType: 'single' | 'group', convId: string): ConversationRef => ({
  owner,
  chatType,
  convId,
});

async function storedWith(needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const [key, item] of await snapshotTable(h.documentClient, h.tableName)) {
    if (item.includes(needle)) found.push(key);
  }
  return found;
}

const secret = (label: string) => `${label}-${Math.random().toString(36).slice(2, 10)}`;

async function history(client: RoamingClient, convId: string, chatType: 'single' | 'group' = 'single') {
  return (await client.fetchHistoryMessages(convId, chatType, 50)).messages;
}

async function unreadOf(client: RoamingClient, convId: string): Promise<number | undefined> {
  const page = await client.fetchConversationsFromServer({ limit: 50 });
  return page.conversations.find((c) => c.convId === convId)?.unreadCount;
}

const say = (client: RoamingClient, groupId: string, words: string, clientMsgId?: string) =>
  client.sendMessage({ ...text(groupId, words, { chatType: 'group' }), clientMsgId });

describe('recall against a group send', () => {
  it('a recall while the send is still fanning out: no member ever gets the old text', async () => {
    const owner = await h.as('rr1-owner');
    const group = await owner.createGroup({ members: ['rr1-a', 'rr1-b', 'rr1-c'] });
    const words = secret('rr1');
    let recalled: Message | undefined;
    // The send's fan-out to rr1-c waits while the sender recalls the message.
    gate.before(transactionInto(keys.historyPk(side('rr1-c', 'group', group.groupId))), async () => {
      const [entry] = await partitionItems(h, keys.groupLogPk(group.groupId));
      const msgId = String((entry?.message as { msgId?: string } | undefined)?.msgId);
      recalled = await owner.recallMessage(group.groupId, 'group', msgId);
    });
    const sent = await say(owner, group.groupId, words);
    expect(recalled?.msgId).toBe(sent.msgId);
    for (const member of ['rr1-owner', 'rr1-a', 'rr1-b', 'rr1-c']) {
      const messages = await history(await h.as(member), group.groupId, 'group');
      expect(messages).toEqual([recalled]);
    }
    expect(await storedWith(words)).toEqual([]);
  });

  it('a send retried after its message was recalled answers the tombstone and finishes the fan-out with it', async () => {
    const owner = await h.as('rr2-owner');
    const group = await owner.createGroup({ members: ['rr2-a', 'rr2-b'] });
    const words = secret('rr2');
    // The first attempt crashes before the fan-out reaches rr2-b.
    gate.before(transactionInto(keys.historyPk(side('rr2-b', 'group', group.groupId))), () => {
      throw new InjectedFault();
    });
    await expect(say(owner, group.groupId, words, 'rr2-send')).rejects.toMatchObject({ status: 500 });
    // Its position and log entry were taken (the members' fan-out may still be running: read the log).
    const [entry] = await partitionItems(h, keys.groupLogPk(group.groupId));
    const msgId = String((entry?.message as { msgId?: string } | undefined)?.msgId);
    const tombstone = await owner.recallMessage(group.groupId, 'group', msgId);
    const retried = await say(owner, group.groupId, words, 'rr2-send');
    expect(retried).toEqual(tombstone);
    for (const member of ['rr2-owner', 'rr2-a', 'rr2-b']) {
      expect(await history(await h.as(member), group.groupId, 'group')).toEqual([tombstone]);
    }
    expect(await storedWith(words)).toEqual([]);
  });

  it('a recall that crashed midway leaves the revision pending; its retry carries it to every member', async () => {
    const owner = await h.as('rr3-owner');
    const group = await owner.createGroup({ members: ['rr3-a', 'rr3-b'] });
    const words = secret('rr3');
    const sent = await say(owner, group.groupId, words);
    gate.before(transactionInto(keys.historyPk(side('rr3-b', 'group', group.groupId))), () => {
      throw new InjectedFault();
    });
    await expect(owner.recallMessage(group.groupId, 'group', sent.msgId)).rejects.toMatchObject({
      status: 500,
    });
    const revisionKey = keys.revision('rr3-owner', 'group', group.groupId, sent.msgId);
    const [revision] = (await partitionItems(h, revisionKey.pk)).filter((item) => item.sk === revisionKey.sk);
    expect(revision?.pending).toBe(true);
    const tombstone = await owner.recallMessage(group.groupId, 'group', sent.msgId);
    for (const member of ['rr3-owner', 'rr3-a', 'rr3-b']) {
      expect(await history(await h.as(member), group.groupId, 'group')).toEqual([tombstone]);
    }
    expect(await storedWith(words)).toEqual([]);
  });
});

describe('a group revision whose writer died midway', () => {
  it.each([
    ['fan-out', 3],
    ['shared', 6],
  ] as const)('%s mode: the next sweep carries it to every member and their devices', async (mode, size) => {
    const prefix = `rr11-${mode}`;
    const owner = await h.as(`${prefix}-owner`);
    const members = Array.from({ length: size - 1 }, (_, i) => `${prefix}-m${i}`);
    const group = await owner.createGroup({ members });
    const words = secret(prefix);
    const sent = await say(owner, group.groupId, words);
    const last = members.at(-1) as string;
    const reader = await h.as(last);
    const token = (await reader.fetchConversationsFromServer({ limit: 5 })).syncToken as string;
    // The recall dies before it reaches the last member's side (and never retries).
    gate.before(transactionInto(keys.conversation(side(last, 'group', group.groupId)).pk), () => {
      throw new InjectedFault();
    });
    await expect(owner.recallMessage(group.groupId, 'group', sent.msgId)).rejects.toMatchObject({
      status: 500,
    });
    expect(await partitionItems(h, keys.pendingRevisionsPk)).toHaveLength(1);
    h.clock.advance(120_000);
    const summary = await runSweep(h.deps);
    expect(summary.revisionsFinished).toBe(1);
    expect(await partitionItems(h, keys.pendingRevisionsPk)).toEqual([]);
    const tombstone = (await history(owner, group.groupId, 'group'))[0] as Message;
    expect(tombstone.recalled?.by).toBe(`${prefix}-owner`);
    for (const member of [`${prefix}-owner`, ...members]) {
      expect(await history(await h.as(member), group.groupId, 'group')).toEqual([tombstone]);
      expect(await unreadOf(await h.as(member), group.groupId)).toBe(0);
    }
    const sync = await reader.syncConversations(token);
    expect(sync.messagesRecalled).toEqual([
      { convId: group.groupId, chatType: 'group', msgIds: [sent.msgId], messages: [tombstone] },
    ]);
    expect(await storedWith(words)).toEqual([]);
  });
});

describe('a pending revision whose record is gone (its sender erased)', () => {
  it('the sweep drops the pending entry and carries nothing', async () => {
    const owner = await h.as('rr12-owner');
    const group = await owner.createGroup({ members: ['rr12-a', 'rr12-b'] });
    const sent = await say(owner, group.groupId, secret('rr12'));
    gate.before(transactionInto(keys.conversation(side('rr12-b', 'group', group.groupId)).pk), () => {
      throw new InjectedFault();
    });
    await expect(owner.recallMessage(group.groupId, 'group', sent.msgId)).rejects.toMatchObject({
      status: 500,
    });
    // What an erasure of the sender does to their partition: the record goes.
    await h.documentClient.send(
      new DeleteCommand({
        TableName: h.tableName,
        Key: keys.revision('rr12-owner', 'group', group.groupId, sent.msgId),
      }),
    );
    h.clock.advance(120_000);
    const summary = await runSweep(h.deps);
    expect(summary.revisionsFinished).toBe(0);
    expect(await partitionItems(h, keys.pendingRevisionsPk)).toEqual([]);
  });
});

describe('recall against a one-way delete, a read ack and a send', () => {
  it('a delete that lands while the recall decides: the deleted copy stays deleted, unread drops once', async () => {
    const alice = await h.as('rr4-alice');
    const bob = await h.as('rr4-bob');
    await alice.sendMessage(text('rr4-bob', 'first'));
    const sent = await alice.sendMessage(text('rr4-bob', secret('rr4')));
    gate.before(transactionInto(keys.revision('rr4-alice', 'single', 'rr4-bob', sent.msgId).pk), async () => {
      await bob.removeMessagesFromServerWithMsgIds('rr4-alice', 'single', [sent.msgId]);
    });
    await alice.recallMessage('rr4-bob', 'single', sent.msgId);
    expect((await history(bob, 'rr4-alice')).map((m) => m.body?.text)).toEqual(['first']);
    expect(await unreadOf(bob, 'rr4-alice')).toBe(1);
  });

  it('a delete of a recalled unread message drops nothing more: its recall already did', async () => {
    const alice = await h.as('rr5-alice');
    const bob = await h.as('rr5-bob');
    await alice.sendMessage(text('rr5-bob', 'first'));
    const sent = await alice.sendMessage(text('rr5-bob', 'second'));
    await alice.sendMessage(text('rr5-bob', 'third'));
    await alice.recallMessage('rr5-bob', 'single', sent.msgId);
    expect(await unreadOf(bob, 'rr5-alice')).toBe(2);
    await bob.removeMessagesFromServerWithMsgIds('rr5-alice', 'single', [sent.msgId]);
    expect(await unreadOf(bob, 'rr5-alice')).toBe(2);
  });

  it('a read ack short of the newest counts unread without the recalled message', async () => {
    const alice = await h.as('rr6-alice');
    const bob = await h.as('rr6-bob');
    const first = await alice.sendMessage(text('rr6-bob', 'first'));
    const sent = await alice.sendMessage(text('rr6-bob', 'second'));
    await alice.sendMessage(text('rr6-bob', 'third'));
    await alice.recallMessage('rr6-bob', 'single', sent.msgId);
    const position = await bob.sendConversationReadAck('rr6-alice', 'single', first.msgId);
    expect(position.unreadCount).toBe(1);
    expect(await unreadOf(bob, 'rr6-alice')).toBe(1);
  });

  it('a read ack that lands while the recall decides: unread ends at zero, not below', async () => {
    const alice = await h.as('rr7-alice');
    const bob = await h.as('rr7-bob');
    const sent = await alice.sendMessage(text('rr7-bob', 'only'));
    gate.before(transactionInto(keys.revision('rr7-alice', 'single', 'rr7-bob', sent.msgId).pk), async () => {
      await bob.sendConversationReadAck('rr7-alice', 'single');
    });
    await alice.recallMessage('rr7-bob', 'single', sent.msgId);
    expect(await unreadOf(bob, 'rr7-alice')).toBe(0);
    await alice.sendMessage(text('rr7-bob', 'next'));
    expect(await unreadOf(bob, 'rr7-alice')).toBe(1);
  });

  it('a message sent while the recall decides stays the latest; the tombstone keeps its place', async () => {
    const alice = await h.as('rr8-alice');
    const bob = await h.as('rr8-bob');
    const sent = await alice.sendMessage(text('rr8-bob', 'oops'));
    let newer: Message | undefined;
    gate.before(transactionInto(keys.revision('rr8-alice', 'single', 'rr8-bob', sent.msgId).pk), async () => {
      newer = await alice.sendMessage(text('rr8-bob', 'newer'));
    });
    const tombstone = await alice.recallMessage('rr8-bob', 'single', sent.msgId);
    const page = await bob.fetchConversationsFromServer({ limit: 5 });
    expect(page.conversations.find((c) => c.convId === 'rr8-alice')?.lastMessage).toEqual(newer);
    expect(await history(bob, 'rr8-alice')).toEqual([newer, tombstone]);
    expect(await unreadOf(bob, 'rr8-alice')).toBe(1);
  });
});

describe('recall and edit against each other and retention', () => {
  it('an edit carried to members while a recall lands: the recall wins on every copy, and neither text stays', async () => {
    const owner = await h.as('rr9-owner');
    const group = await owner.createGroup({ members: ['rr9-a', 'rr9-b'] });
    const words = secret('rr9');
    const edit = secret('rr9-edit');
    const sent = await say(owner, group.groupId, words);
    let tombstone: Message | undefined;
    gate.before(transactionInto(keys.historyPk(side('rr9-b', 'group', group.groupId))), async () => {
      tombstone = await owner.recallMessage(group.groupId, 'group', sent.msgId);
    });
    await owner.modifyMessage(group.groupId, 'group', sent.msgId, { body: { text: edit } });
    for (const member of ['rr9-owner', 'rr9-a', 'rr9-b']) {
      expect(await history(await h.as(member), group.groupId, 'group')).toEqual([tombstone]);
    }
    expect(await storedWith(words)).toEqual([]);
    expect(await storedWith(edit)).toEqual([]);
  });

  it('a sweep that deletes the expired copies while the recall decides: 404, and nothing is written back', async () => {
    const alice = await h.as('rr10-alice');
    const admin = await h.as('rr10-ops', { admin: true });
    const words = secret('rr10');
    const sent = await alice.sendMessage(text('rr10-bob', words));
    await admin.setUserRetention('rr10-alice', 1);
    await admin.setUserRetention('rr10-bob', 1);
    h.clock.advance(2 * DAY_MS);
    gate.before(
      transactionInto(keys.revision('rr10-alice', 'single', 'rr10-bob', sent.msgId).pk),
      async () => {
        await runSweep(h.deps);
      },
    );
    // Its retry reads again and finds no copy left: the message expired.
    await expect(alice.recallMessage('rr10-bob', 'single', sent.msgId)).rejects.toMatchObject({
      status: 404,
    });
    const copies = [...(await snapshotTable(h.documentClient, h.tableName)).keys()].filter((key) =>
      key.endsWith(`|M#${sent.msgId}`),
    );
    expect(copies).toEqual([]);
    expect(await storedWith(words)).toEqual([]);
  });
});
