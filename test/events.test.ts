import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { marshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runSweep } from '../functions/domain/sweep.js';
import { webhookPoster } from '../functions/events/delivery.js';
import type { RoamingEvent } from '../functions/events/event.js';
import { allStoredEvents, type EventItem, queuedEventOfRecord } from '../functions/store/event-store.js';
import { PROJECT_ROOT } from '../infra/paths.js';
import { type EventPipeline, startEventPipeline } from '../local/event-pipeline.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { type ReceiverMood, startWebhookReceiver } from './support/webhook-receiver.js';

const SECRET = 'webhook-test-secret';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ streams: true });
});
afterAll(async () => {
  await h.close();
});

type Receiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

/** npm start's pipeline on the harness's table, with short timeouts and backoff (the shape of AWS's). */
function pipelineTo(receiver: Receiver, extra: { post?: typeof webhookPoster } = {}): Promise<EventPipeline> {
  const poster = (extra.post ?? webhookPoster)({
    url: receiver.url,
    secret: async () => SECRET,
    timeoutMs: 150,
  });
  return startEventPipeline({
    endpoint: inject('dynamoEndpoint'),
    tableName: h.tableName,
    client: h.documentClient,
    post: poster,
    retryDelayMs: (failed) => Math.min(200, 10 * 2 ** failed),
    attempts: 1000,
    pollMs: 20,
  });
}

/** Every event stored in the outbox, oldest first. */
async function storedEvents(): Promise<EventItem[]> {
  const stored = await allStoredEvents(h.deps.db, h.deps.config.eventShards);
  return stored.sort((a, b) => (a.sk < b.sk ? -1 : 1));
}

/** The events of one conversation (its delivery group), in the order the receiver first accepted them. */
function inConversation(events: RoamingEvent[], ids: Set<string>) {
  return events.filter((event) => ids.has(event.id));
}

function sentIdsOf(events: RoamingEvent[]) {
  return events.filter((e) => e.type === 'message.sent').map((e) => (e.data as { msgId: string }).msgId);
}

describe('webhook delivery', () => {
  it('a receiver that refuses and times out for a while still gets every event once per id, in conversation order', async () => {
    // Prepare: the receiver refuses 6 requests, then lets 4 time out, then accepts.
    const moods: ReceiverMood[] = [...Array(6).fill('refuse'), ...Array(4).fill('hang')];
    const receiver = await startWebhookReceiver(SECRET, moods);
    const pipeline = await pipelineTo(receiver);
    const alice = await h.as('ev1-alice');
    const bob = await h.as('ev1-bob');
    const owner = await h.as('ev1-owner');
    const group = await owner.createGroup({ name: 'ev1', members: ['ev1-alice'] });
    // Act: two conversations interleaved, with deletes, a recall and an edit.
    const single: string[] = [];
    const inGroup: string[] = [];
    for (let i = 0; i < 6; i++) {
      single.push((await alice.sendMessage(text('ev1-bob', `single ${i}`))).msgId);
      inGroup.push((await owner.sendMessage(text(group.groupId, `group ${i}`, { chatType: 'group' }))).msgId);
    }
    await bob.removeMessagesFromServerWithMsgIds('ev1-alice', 'single', [single[0] as string]);
    await alice.recallMessage('ev1-bob', 'single', single[5] as string);
    await owner.modifyMessage(group.groupId, 'group', inGroup[5] as string, {
      body: { text: 'group 5, edited' },
    });
    await owner.addGroupMember(group.groupId, 'ev1-bob');
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess: every stored event arrived, signed, under its own id.
    const stored = await storedEvents();
    const distinct = receiver.distinct();
    expect(new Set(distinct.map((e) => e.id))).toEqual(new Set(stored.map((item) => item.eventId)));
    expect(receiver.accepted.every((r) => r.signed && r.headerId === r.event.id)).toBe(true);
    // The same id always carried the same event (as stored, unless a recall redacted it since).
    for (const received of receiver.accepted) {
      const item = stored.find((event) => event.eventId === received.event.id);
      if (!item?.redacted) expect(received.raw).toBe(item?.payload);
    }
    expect(stored.filter((item) => item.redacted).map((item) => item.eventId)).toEqual([
      `message.sent:${single[5]}`,
      `message.sent:${inGroup[5]}`,
    ]);
    expect(receiver.requests).toBeGreaterThan(receiver.accepted.length);
    // Each conversation's events in the order they committed.
    const singleEvents = inConversation(
      distinct,
      new Set(stored.filter((item) => item.group === 'single:ev1-alice:ev1-bob').map((item) => item.eventId)),
    );
    expect(sentIdsOf(singleEvents)).toEqual(single);
    expect(singleEvents.map((e) => e.type)).toEqual([
      ...Array(6).fill('message.sent'),
      'message.deleted',
      'message.recalled',
    ]);
    const groupEvents = inConversation(
      distinct,
      new Set(stored.filter((item) => item.group === `group:${group.groupId}`).map((item) => item.eventId)),
    );
    expect(groupEvents.map((e) => e.type)).toEqual([
      'group.member.added',
      ...Array(6).fill('message.sent'),
      'message.edited',
      'group.member.added',
    ]);
    expect(sentIdsOf(groupEvents)).toEqual(inGroup);
  });

  it('a crash of the delivery process mid-batch loses nothing: the next one delivers the rest', async () => {
    // Prepare
    const receiver = await startWebhookReceiver(SECRET);
    const alice = await h.as('ev2-alice');
    const sent: string[] = [];
    for (let i = 0; i < 25; i++) sent.push((await alice.sendMessage(text('ev2-bob', `m${i}`))).msgId);
    // Act: the first pipeline dies after its 7th delivery, in the middle of a batch of 10.
    let first: EventPipeline | undefined;
    let posted = 0;
    const crashing = (webhook: Parameters<typeof webhookPoster>[0]) => {
      const post = webhookPoster(webhook);
      return async (queued: Parameters<ReturnType<typeof webhookPoster>>[0]) => {
        if (++posted === 7) first?.crash();
        return post(queued);
      };
    };
    first = await pipelineTo(receiver, { post: crashing });
    await waitFor(() => posted >= 7);
    const delivered = receiver.distinct().length;
    const second = await pipelineTo(receiver);
    await second.idle();
    await second.stop();
    await receiver.close();
    // Assess
    expect(delivered).toBeLessThan(sent.length);
    const mine = receiver.distinct().filter((e) => (e.data as { from?: string }).from === 'ev2-alice');
    expect(sentIdsOf(mine)).toEqual(sent);
  });

  it('a retried send yields one message.sent', async () => {
    // Prepare
    const receiver = await startWebhookReceiver(SECRET);
    const pipeline = await pipelineTo(receiver);
    const alice = await h.as('ev3-alice');
    const owner = await h.as('ev3-owner');
    const group = await owner.createGroup({ name: 'ev3', members: ['ev3-alice'] });
    // Act: each send three times with its clientMsgId.
    const single = text('ev3-bob', 'once', { clientMsgId: 'ev3-single' });
    const toGroup = text(group.groupId, 'once', { clientMsgId: 'ev3-group', chatType: 'group' });
    const answers = [];
    for (let i = 0; i < 3; i++)
      answers.push(await alice.sendMessage(single), await alice.sendMessage(toGroup));
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess
    const msgIds = new Set(answers.map((m) => m.msgId));
    expect(msgIds.size).toBe(2);
    const sentEvents = receiver.accepted.filter(
      (r) => r.event.type === 'message.sent' && msgIds.has((r.event.data as { msgId: string }).msgId),
    );
    expect(sentEvents.map((r) => r.event.id).sort()).toEqual(
      [...msgIds].map((id) => `message.sent:${id}`).sort(),
    );
    const storedSent = (await storedEvents()).filter(
      (item) => item.type === 'message.sent' && msgIds.has(JSON.parse(item.payload).data.msgId),
    );
    expect(storedSent).toHaveLength(2);
  });

  it('a recall redacts the stored send event and tells message.recalled without the text', async () => {
    // Prepare
    const receiver = await startWebhookReceiver(SECRET);
    const pipeline = await pipelineTo(receiver);
    const alice = await h.as('ev4-alice');
    const sent = await alice.sendMessage(text('ev4-bob', 'ev4 secret words'));
    const edited = await alice.modifyMessage('ev4-bob', 'single', sent.msgId, {
      body: { text: 'ev4 second words' },
    });
    // Act
    await alice.recallMessage('ev4-bob', 'single', sent.msgId);
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess: nothing stored keeps either text; the redactions were not delivered as events.
    const stored = (await storedEvents()).filter((item) => item.payload.includes(sent.msgId));
    expect(stored.map((item) => item.type).sort()).toEqual([
      'message.edited',
      'message.recalled',
      'message.sent',
    ]);
    expect(
      stored.some((item) => item.payload.includes('ev4 secret') || item.payload.includes('ev4 second')),
    ).toBe(false);
    const types = receiver.accepted.filter((r) => r.raw.includes(sent.msgId)).map((r) => r.event.type);
    expect(types).toEqual(['message.sent', 'message.edited', 'message.recalled']);
    const recalled = receiver.accepted.find((r) => r.event.type === 'message.recalled');
    expect(recalled?.raw).not.toContain('words');
    expect(edited.edited?.count).toBe(1);
  });

  it('one-way deletes, conversation deletes, member changes and a sweep run each tell one event', async () => {
    // Prepare
    const receiver = await startWebhookReceiver(SECRET);
    const pipeline = await pipelineTo(receiver);
    const alice = await h.as('ev5-alice');
    const owner = await h.as('ev5-owner');
    const [a, b] = [
      await alice.sendMessage(text('ev5-bob', 'a')),
      await alice.sendMessage(text('ev5-bob', 'b')),
    ];
    const group = await owner.createGroup({ name: 'ev5', members: ['ev5-alice'] });
    // Act
    await alice.removeMessagesFromServerWithMsgIds('ev5-bob', 'single', [a.msgId]);
    await alice.removeMessagesFromServerWithTimestamp('ev5-bob', 'single', b.timestamp);
    const c = await alice.sendMessage(text('ev5-bob', 'c'));
    await alice.removeConversationFromServer('ev5-bob', 'single', true);
    await owner.removeGroupMember(group.groupId, 'ev5-alice');
    const sweep = await runSweep(h.deps, { trigger: 'local' });
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess
    const mine = receiver
      .distinct()
      .filter((e) => JSON.stringify(e.data).includes('ev5-') || e.id === `retention.swept:${sweep.runId}`);
    expect(mine.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'message.deleted',
        'conversation.deleted',
        'group.member.added',
        'group.member.removed',
        'retention.swept',
      ]),
    );
    const deletes = mine.filter((e) => e.type === 'message.deleted').map((e) => e.data);
    expect(deletes).toEqual([
      { owner: 'ev5-alice', chatType: 'single', convId: 'ev5-bob', scope: 'ids', msgIds: [a.msgId] },
      {
        owner: 'ev5-alice',
        chatType: 'single',
        convId: 'ev5-bob',
        scope: 'before',
        before: b.timestamp,
        through: b.msgId,
      },
    ]);
    expect(mine.find((e) => e.type === 'conversation.deleted')?.data).toEqual({
      owner: 'ev5-alice',
      chatType: 'single',
      convId: 'ev5-bob',
      deleteMessages: true,
      through: c.msgId,
    });
    expect(mine.find((e) => e.type === 'group.member.removed')?.data).toEqual({
      groupId: group.groupId,
      member: 'ev5-alice',
      by: 'ev5-owner',
    });
  });

  it('an admin replay delivers a window again with the same ids, in order', async () => {
    // Prepare
    const receiver = await startWebhookReceiver(SECRET);
    const alice = await h.as('ev6-alice');
    const admin = await h.as('ev6-admin', { admin: true });
    const from = h.clock.now();
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) sent.push((await alice.sendMessage(text('ev6-bob', `r${i}`))).msgId);
    const pipeline = await pipelineTo(receiver);
    await pipeline.idle();
    const before = receiver.accepted.length;
    // Act
    const answer = await h.raw('POST', '/v1/admin/events/replay', {
      token: await h.token('ev6-admin', { admin: true }),
      body: JSON.stringify({ from, to: h.clock.now() + 1000 }),
      headers: { 'content-type': 'application/json' },
    });
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess
    expect(answer.status).toBe(200);
    expect(admin).toBeDefined();
    // At least once: a receiver keeps the first of each id.
    const seen = new Set<string>();
    const again = receiver.accepted
      .slice(before)
      .map((r) => r.event)
      .filter((event) => !seen.has(event.id) && seen.add(event.id));
    expect(sentIdsOf(again.filter((e) => (e.data as { from?: string }).from === 'ev6-alice'))).toEqual(sent);
  });
});

describe('the stream filter', () => {
  it('delivers a new outbox item and a replay, never a redaction, a plain rewrite, a removal or another item', () => {
    const item = (extra: Record<string, unknown>) => ({
      pk: 'EV#1',
      sk: '000#e',
      entity: 'event',
      eventId: 'e',
      type: 'message.sent',
      group: 'g',
      deliveryId: 'e',
      payload: '{"id":"e"}',
      ...extra,
    });
    const record = (eventName: string, image: Record<string, unknown>) => ({
      eventName,
      dynamodb: { NewImage: marshall(image) },
    });
    expect(queuedEventOfRecord(record('INSERT', item({})))?.deliveryId).toBe('e');
    expect(
      queuedEventOfRecord(record('MODIFY', item({ replayId: 'r', deliveryId: 'e#rr' })))?.deliveryId,
    ).toBe('e#rr');
    expect(queuedEventOfRecord(record('INSERT', item({ redacted: true })))).toBeUndefined();
    expect(queuedEventOfRecord(record('MODIFY', item({ redacted: true })))).toBeUndefined();
    expect(queuedEventOfRecord(record('MODIFY', item({})))).toBeUndefined();
    expect(queuedEventOfRecord({ eventName: 'REMOVE', dynamodb: {} })).toBeUndefined();
    expect(queuedEventOfRecord(record('INSERT', { pk: 'U#a', sk: 'SYNC' }))).toBeUndefined();
  });
});

describe("the README's receiver", () => {
  it('verifies a real delivery and refuses it under another secret or with a changed body', async () => {
    // Prepare: the README's snippet as a module of its own.
    const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('**Your backend**')))?.[1];
    expect(snippet).toContain('verifiedEvent');
    const dir = mkdtempSync(join(tmpdir(), 'roaming-readme-'));
    writeFileSync(join(dir, 'receiver.mjs'), snippet as string);
    const { verifiedEvent } = await import(pathToFileURL(join(dir, 'receiver.mjs')).href);
    const receiver = await startWebhookReceiver(SECRET);
    const pipeline = await pipelineTo(receiver);
    const alice = await h.as('ev7-alice');
    const sent = await alice.sendMessage(text('ev7-bob', 'readme'));
    // Act
    await pipeline.idle();
    await pipeline.stop();
    await receiver.close();
    // Assess
    const delivery = receiver.accepted.find((r) => r.event.id === `message.sent:${sent.msgId}`);
    expect(delivery).toBeDefined();
    const { raw, signature } = delivery as { raw: string; signature: string };
    expect(verifiedEvent(raw, signature, SECRET)).toEqual(JSON.parse(raw));
    expect(verifiedEvent(raw, signature, 'another-secret')).toBeUndefined();
    expect(verifiedEvent(raw.replace('readme', 'README'), signature, SECRET)).toBeUndefined();
    expect(verifiedEvent(raw, undefined, SECRET)).toBeUndefined();
  });
});

async function waitFor(condition: () => boolean) {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error('timed out waiting');
}
