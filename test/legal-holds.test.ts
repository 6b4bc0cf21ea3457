import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { DAY_MS } from '../functions/core/clock.js';
import type { ChatType } from '../functions/core/model.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../functions/domain/retention.js';
import { runSweep } from '../functions/domain/sweep.js';
import { keys } from '../functions/store/keys.js';
import { messageOfCopy } from '../functions/store/message-store.js';
import { commandGate, type SentCommand } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { partitionItems } from './support/group-views.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Legal holds (issue 21): while a hold covers a user (or one of their conversations), nothing of theirs
 * there is physically deleted, by the retention sweep, by their own one-way deletes or by a large
 * group's shared-history purge; what they see is exactly what they would see without the hold. Each
 * scenario runs twice, on a held user and on an unheld twin, and compares: the views must be equal, the
 * stored copies (a Query of the partition) must differ only by what the hold kept; after the release the
 * first sweep leaves the held user's partitions as the twin's.
 */
const THRESHOLD = 3;
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: { sharedHistoryAbove: THRESHOLD, maxGroupMembers: 50 },
    wrapClient: (client) => gate.wrap(client),
  });
});
afterEach(() => gate.reset());
afterAll(async () => {
  await h.close();
});

const json = { 'content-type': 'application/json' };

async function adminToken() {
  return h.token('hold-ops', { admin: true });
}

async function putHold(holdId: string, body: unknown, token?: string) {
  return h.raw('PUT', `/v1/admin/holds/${holdId}`, {
    token: token ?? (await adminToken()),
    body: JSON.stringify(body),
    headers: json,
  });
}

async function releaseHold(holdId: string) {
  return h.raw('DELETE', `/v1/admin/holds/${holdId}`, { token: await adminToken() });
}

/**
 * The bodies of the copies stored in one owner's side of a conversation (tombstones marked). A member's
 * tombstone of a shared copy keeps no body: it is named by the shared copy's.
 */
async function storedTexts(owner: string, chatType: ChatType, convId: string): Promise<string[]> {
  const items = await partitionItems(h, keys.historyPk({ owner, chatType, convId }));
  const shared =
    chatType === 'group' ? await partitionItems(h, keys.sharedHistoryPk(convId)) : ([] as typeof items);
  const sharedText = new Map(shared.map((item) => [item.sk, messageOfCopy(item).body?.text]));
  return items
    .map((item) => {
      const text = messageOfCopy(item).body?.text ?? sharedText.get(item.sk);
      return `${text}${item.hidden === true ? ' (hidden)' : ''}`;
    })
    .sort();
}

const visible = (texts: string[]) => texts.filter((t) => !t.endsWith(' (hidden)'));

/** What a user sees of one conversation: list entry, unread, latest, whole history (oldest first). */
async function viewOf(client: RoamingClient, convId: string, chatType: ChatType) {
  const list = await client.fetchConversationsFromServer({ limit: 50 });
  const entry = list.conversations.find((c) => c.convId === convId && c.chatType === chatType);
  const history = await client.fetchHistoryMessages(convId, chatType, 50, undefined, { direction: 'down' });
  return {
    listed: entry !== undefined,
    unread: entry?.unreadCount,
    latest: entry?.lastMessage.body?.text,
    history: history.messages.map((m) => m.body?.text),
  };
}

/** A sync delta with the run's prefix taken out of ids, so two runs compare. */
function normalisedDelta(delta: Awaited<ReturnType<RoamingClient['syncConversations']>>, prefix: string) {
  const strip = (id: string) => id.replace(`${prefix}-`, '');
  return {
    conversations: delta.conversations
      .map((c) => [strip(c.convId), c.unreadCount, c.lastMessage.body?.text])
      .sort(),
    removed: delta.removed.map((r) => strip(r.convId)).sort(),
    deleted: delta.messagesDeleted.map((d) => [strip(d.convId), d.msgIds.length]).sort(),
  };
}

describe('legal hold administration', () => {
  it('PUT creates and replaces a hold, GET lists it, DELETE releases it; each change is audited with before and after', async () => {
    const created = await putHold('adm-1', { userIds: ['adm-u1'], reason: 'Case 1' });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({
      holdId: 'adm-1',
      userIds: ['adm-u1'],
      reason: 'Case 1',
      setBy: 'hold-ops',
    });
    const replaced = await putHold('adm-1', {
      userIds: ['adm-u1', 'adm-u2'],
      reason: 'Case 1, widened',
      conversations: [{ chatType: 'single', convId: 'adm-u3' }],
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.updatedAt as number).toBeGreaterThan(created.body.updatedAt as number);
    expect(replaced.body.createdAt).toBe(created.body.createdAt);
    const listed = await h.raw('GET', '/v1/admin/holds', { token: await adminToken() });
    expect(listed.status).toBe(200);
    expect((listed.body.holds as { holdId: string }[]).find((hold) => hold.holdId === 'adm-1')).toEqual(
      replaced.body,
    );
    const released = await releaseHold('adm-1');
    expect(released.status).toBe(200);
    expect(released.body.released).toEqual(replaced.body);
    const again = await releaseHold('adm-1');
    expect(again.status).toBe(404);
    expect(again.body.error?.code).toBe('not_found');
    const after = await h.raw('GET', '/v1/admin/holds', { token: await adminToken() });
    expect((after.body.holds as { holdId: string }[]).some((hold) => hold.holdId === 'adm-1')).toBe(false);

    const audit = await h.raw('GET', '/v1/admin/audit?limit=50', { token: await adminToken() });
    const records = (
      audit.body.records as { action: string; target: string; before: unknown; after: unknown }[]
    )
      .filter((record) => record.target === 'hold:adm-1')
      .reverse();
    expect(records.map((record) => record.action)).toEqual(['hold.set', 'hold.set', 'hold.release']);
    expect(records[0]).toMatchObject({ before: 'unset', after: { userIds: ['adm-u1'], reason: 'Case 1' } });
    expect(records[1]).toMatchObject({
      before: { userIds: ['adm-u1'], reason: 'Case 1' },
      after: {
        userIds: ['adm-u1', 'adm-u2'],
        reason: 'Case 1, widened',
        conversations: [{ chatType: 'single', convId: 'adm-u3' }],
      },
    });
    expect(records[2]).toMatchObject({ before: { reason: 'Case 1, widened' }, after: 'unset' });
  });

  it('bad holds are 400s naming the field; without the admin scope the routes are 403', async () => {
    const cases: [unknown, string][] = [
      [{ userIds: [], reason: 'r' }, 'userIds'],
      [{ userIds: Array.from({ length: 101 }, (_, i) => `u${i}`), reason: 'r' }, 'userIds'],
      [{ userIds: ['a', 'a'], reason: 'r' }, 'userIds'],
      [{ userIds: ['a#b'], reason: 'r' }, 'userIds'],
      [{ userIds: ['a'], reason: '' }, 'reason'],
      [{ userIds: ['a'], reason: 'x'.repeat(501) }, 'reason'],
      [{ userIds: ['a'] }, 'reason'],
      [{ userIds: ['a'], reason: 'r', conversations: [] }, 'conversations'],
      [{ userIds: ['a'], reason: 'r', conversations: [{ chatType: 'room', convId: 'b' }] }, 'conversations'],
      [
        {
          userIds: ['a'],
          reason: 'r',
          conversations: [
            { chatType: 'single', convId: 'b' },
            { chatType: 'single', convId: 'b' },
          ],
        },
        'conversations',
      ],
    ];
    for (const [body, field] of cases) {
      const answer = await putHold('bad-1', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error?.message).toContain(field);
    }
    const badId = await putHold('bad%23id', { userIds: ['a'], reason: 'r' });
    expect(badId.status).toBe(400);
    expect(badId.body.error?.message).toContain('holdId');

    const user = await h.token('not-an-admin');
    expect((await putHold('bad-2', { userIds: ['a'], reason: 'r' }, user)).status).toBe(403);
    expect((await h.raw('GET', '/v1/admin/holds', { token: user })).status).toBe(403);
    expect((await h.raw('DELETE', '/v1/admin/holds/bad-2', { token: user })).status).toBe(403);
    const listed = await h.raw('GET', '/v1/admin/holds', { token: await adminToken() });
    expect((listed.body.holds as { holdId: string }[]).some((hold) => hold.holdId.startsWith('bad'))).toBe(
      false,
    );
  });
});

describe('nothing held is physically deleted', () => {
  /**
   * Alice (`{p}-a`) talks with b and c; retention (her own, 10 days) expires two old messages; she deletes
   * one by id, everything up to m2, and her conversation with c with its messages; then a sweep runs.
   */
  async function singleChatRun(p: string, held: boolean) {
    const [a, b, c] = [`${p}-a`, `${p}-b`, `${p}-c`];
    const [alice, bob, carol] = [await h.as(a), await h.as(b), await h.as(c)];
    const admin = await h.as('hold-ops', { admin: true });
    if (held) expect((await putHold(p, { userIds: [a], reason: 'litigation' })).status).toBe(200);
    await alice.sendMessage(text(b, 'old 1'));
    await bob.sendMessage(text(a, 'old 2'));
    await carol.sendMessage(text(a, 'to c'));
    h.clock.advance(20 * DAY_MS);
    const m: { msgId: string; timestamp: number }[] = [];
    for (let i = 1; i <= 6; i++)
      m.push(await (i % 2 ? bob : alice).sendMessage(text(i % 2 ? a : b, `m${i}`)));
    const token = (await alice.fetchConversationsFromServer({ limit: 50 })).syncToken as string;
    await admin.setUserRetention(a, 10);
    expect(
      await alice.removeMessagesFromServerWithMsgIds(b, 'single', [(m[4] as { msgId: string }).msgId]),
    ).toBe(1);
    await alice.removeMessagesFromServerWithTimestamp(b, 'single', (m[1] as { timestamp: number }).timestamp);
    await alice.removeConversationFromServer(c, 'single', true);
    await bob.sendMessage(text(a, 'm7'));
    h.clock.advance(SWEEP_CLOCK_MARGIN_MS + 1);
    await runSweep(h.deps);
    return {
      views: {
        withB: await viewOf(alice, b, 'single'),
        withC: await viewOf(alice, c, 'single'),
        delta: normalisedDelta(await alice.syncConversations(token), p),
      },
      stored: { withB: await storedTexts(a, 'single', b), withC: await storedTexts(a, 'single', c) },
      bobs: await storedTexts(b, 'single', a),
    };
  }

  it('a single chat: the sweep and every one-way delete keep the copies; the view is as without the hold; after release the sweep purges them', async () => {
    const free = await singleChatRun('hs1f', false);
    const held = await singleChatRun('hs1h', true);
    // The user sees exactly what the unheld twin sees.
    expect(held.views).toEqual(free.views);
    expect(free.views.withB).toEqual({
      listed: true,
      unread: 1,
      latest: 'm7',
      history: ['m3', 'm4', 'm6', 'm7'],
    });
    // Without the hold only what is visible is stored; with it, everything is still there.
    expect(free.stored).toEqual({ withB: ['m3', 'm4', 'm6', 'm7'], withC: [] });
    expect(held.stored).toEqual({
      withB: ['m1', 'm2', 'm3', 'm4', 'm5 (hidden)', 'm6', 'm7', 'old 1', 'old 2'],
      withC: ['to c'],
    });
    // The other side never lost anything in either run.
    expect(held.bobs).toEqual(free.bobs);
    expect(held.bobs).toHaveLength(9);

    // Released: the first sweep purges what the user deleted and what retention expired.
    expect((await releaseHold('hs1h')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts('hs1h-a', 'single', 'hs1h-b')).toEqual(free.stored.withB);
    expect(await storedTexts('hs1h-a', 'single', 'hs1h-c')).toEqual([]);
    const ref = { owner: 'hs1h-a', chatType: 'single', convId: 'hs1h-b' } as const;
    expect(await partitionItems(h, keys.heldDeletesPk(ref))).toEqual([]);
    expect(await viewOf(await h.as('hs1h-a'), 'hs1h-b', 'single')).toEqual(free.views.withB);
  });

  /** A group of owner, a and b (plus c and d past the threshold: shared mode); `a` deletes and leaves. */
  async function groupRun(p: string, shared: boolean, held: boolean) {
    const users = [`${p}-a`, `${p}-b`, ...(shared ? [`${p}-c`, `${p}-d`] : [])];
    const owner = await h.as(`${p}-o`);
    const [a, b] = [await h.as(users[0] as string), await h.as(users[1] as string)];
    const admin = await h.as('hold-ops', { admin: true });
    if (held) expect((await putHold(p, { userIds: [users[0]], reason: 'group case' })).status).toBe(200);
    const { groupId } = await owner.createGroup({ members: users });
    const say = (client: RoamingClient, words: string) =>
      client.sendMessage(text(groupId, words, { chatType: 'group' }));
    await say(owner, 'old');
    h.clock.advance(20 * DAY_MS);
    const m = [];
    for (let i = 1; i <= 5; i++) m.push(await say(i % 2 ? b : owner, `g${i}`));
    await admin.setUserRetention(users[0] as string, 10);
    await a.removeMessagesFromServerWithMsgIds(groupId, 'group', [(m[3] as { msgId: string }).msgId]);
    await a.removeMessagesFromServerWithTimestamp(
      groupId,
      'group',
      (m[0] as { timestamp: number }).timestamp,
    );
    h.clock.advance(SWEEP_CLOCK_MARGIN_MS + 1);
    await runSweep(h.deps);
    const view = await viewOf(a, groupId, 'group');
    const stored = await storedTexts(users[0] as string, 'group', groupId);
    // She leaves: her side is cleared and purged inline (unless held).
    await a.removeGroupMember(groupId, users[0] as string);
    const afterLeaving = await storedTexts(users[0] as string, 'group', groupId);
    return { groupId, view, stored, afterLeaving };
  }

  it('a fan-out group: the member under a hold keeps every copy through deletes, retention and leaving; released, the sweep purges them', async () => {
    const free = await groupRun('hg1f', false, false);
    const held = await groupRun('hg1h', false, true);
    expect(held.view).toEqual(free.view);
    expect(free.view).toEqual({ listed: true, unread: 3, latest: 'g5', history: ['g2', 'g3', 'g5'] });
    expect(free.stored).toEqual(['g2', 'g3', 'g5']);
    expect(held.stored).toEqual(['g1', 'g2', 'g3', 'g4 (hidden)', 'g5', 'old']);
    expect(free.afterLeaving).toEqual([]);
    expect(held.afterLeaving).toEqual(held.stored);
    expect((await releaseHold('hg1h')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts('hg1h-a', 'group', held.groupId)).toEqual([]);
  });

  it('a shared-mode (large) group: the held member keeps their tombstones and own copies; released, the sweep purges them', async () => {
    const free = await groupRun('hg2f', true, false);
    const held = await groupRun('hg2h', true, true);
    expect(held.view).toEqual(free.view);
    expect(free.view.history).toEqual(['g2', 'g3', 'g5']);
    // In shared mode her delete by id is a tombstone in both runs; the hold keeps the rest too.
    expect(visible(held.stored)).toEqual(visible(held.afterLeaving));
    expect(held.afterLeaving).toContain('g4 (hidden)');
    expect(free.afterLeaving).toEqual([]);
    expect((await releaseHold('hg2h')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts('hg2h-a', 'group', held.groupId)).toEqual([]);
  });

  it('a conversation-scoped hold keeps only that conversation', async () => {
    const [a, b, c] = ['hc1-a', 'hc1-b', 'hc1-c'];
    const [alice, bob, carol] = [await h.as(a), await h.as(b), await h.as(c)];
    const hold = await putHold('hc1', {
      userIds: [a],
      reason: 'only the chat with b',
      conversations: [{ chatType: 'single', convId: b }],
    });
    expect(hold.status).toBe(200);
    await bob.sendMessage(text(a, 'from b'));
    await carol.sendMessage(text(a, 'from c'));
    await alice.removeConversationFromServer(b, 'single', true);
    await alice.removeConversationFromServer(c, 'single', true);
    await runSweep(h.deps);
    expect(await storedTexts(a, 'single', b)).toEqual(['from b']);
    expect(await storedTexts(a, 'single', c)).toEqual([]);
    expect((await viewOf(alice, b, 'single')).history).toEqual([]);
    expect((await releaseHold('hc1')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts(a, 'single', b)).toEqual([]);
  });
});

describe('a hold binds what reads it after it answered', () => {
  const isHoldQuery = (command: SentCommand) =>
    command.constructor.name === 'QueryCommand' &&
    (command.input.ExpressionAttributeValues as Record<string, unknown> | undefined)?.[':pk'] ===
      keys.holdsPk;

  it('a hold that answers while a sweep round is about to read the holds keeps that round from deleting', async () => {
    const [a, b] = ['hr1-a', 'hr1-b'];
    const bob = await h.as(b);
    const alice = await h.as(a);
    await bob.sendMessage(text(a, 'kept'));
    await alice.removeConversationFromServer(b, 'single', false);
    // Hidden by her watermark, left to the sweep: inline purges read no holds here (none are due yet).
    await h.as('hold-ops', { admin: true }).then((admin) => admin.setUserRetention(a, 1));
    h.clock.advance(2 * DAY_MS + SWEEP_CLOCK_MARGIN_MS);
    expect(await storedTexts(a, 'single', b)).toEqual(['kept']);
    // The sweep's first read of the holds waits until a hold on her has answered.
    let answered = 0;
    gate.before(isHoldQuery, async () => {
      answered = (await putHold('hr1', { userIds: [a], reason: 'just in time' })).status;
    });
    await runSweep(h.deps);
    expect(answered).toBe(200);
    expect(await storedTexts(a, 'single', b)).toEqual(['kept']);
    expect((await releaseHold('hr1')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts(a, 'single', b)).toEqual([]);
  });

  it("a hold that answers before an inline purge's batch reads the holds keeps that batch", async () => {
    const [a, b] = ['hr2-a', 'hr2-b'];
    const [alice, bob] = [await h.as(a), await h.as(b)];
    await bob.sendMessage(text(a, 'one'));
    await bob.sendMessage(text(a, 'two'));
    let answered = 0;
    gate.before(isHoldQuery, async () => {
      answered = (await putHold('hr2', { userIds: [a], reason: 'mid-delete' })).status;
    });
    const report = await alice.removeConversationFromServer(b, 'single', true);
    expect(answered).toBe(200);
    expect(report).toEqual({ purged: 0, purgePending: true });
    expect(await storedTexts(a, 'single', b)).toEqual(['one', 'two']);
    expect((await viewOf(alice, b, 'single')).history).toEqual([]);
    expect((await releaseHold('hr2')).status).toBe(200);
    await runSweep(h.deps);
    expect(await storedTexts(a, 'single', b)).toEqual([]);
  });
});

describe("large groups' shared histories", () => {
  it('a group with a held member keeps its shared copies past retention; released, the next sweep purges them', async () => {
    // Its own table: the app default (which bounds every shared history) is set here.
    const own = await startHarness({ config: { sharedHistoryAbove: THRESHOLD, maxGroupMembers: 50 } });
    try {
      const token = await own.token('hold-ops', { admin: true });
      const admin = await own.as('hold-ops', { admin: true });
      const groupOf = async (p: string) => {
        const owner = await own.as(`${p}-o`);
        const { groupId } = await owner.createGroup({ members: [`${p}-a`, `${p}-b`, `${p}-c`] });
        await owner.sendMessage(text(groupId, 'old news', { chatType: 'group' }));
        return groupId;
      };
      const heldGroup = await groupOf('sh1');
      const freeGroup = await groupOf('sh2');
      const hold = { userIds: ['sh1-b'], reason: 'member of a held group' };
      const set = await own.raw('PUT', '/v1/admin/holds/sh1', {
        token,
        body: JSON.stringify(hold),
        headers: json,
      });
      expect(set.status).toBe(200);
      await admin.setAppRetention(10);
      own.clock.advance(11 * DAY_MS + SWEEP_CLOCK_MARGIN_MS);
      const shared = async (groupId: string) =>
        (await partitionItems(own, keys.sharedHistoryPk(groupId))).length;
      expect([await shared(heldGroup), await shared(freeGroup)]).toEqual([1, 1]);
      const first = await runSweep(own.deps);
      expect([await shared(heldGroup), await shared(freeGroup)]).toEqual([1, 0]);
      expect(first.sharedHistories.copiesDeleted).toBe(1);
      // The member sees nothing expired either way.
      expect((await viewOf(await own.as('sh1-b'), heldGroup, 'group')).history).toEqual([]);
      expect((await own.raw('DELETE', '/v1/admin/holds/sh1', { token })).status).toBe(200);
      await runSweep(own.deps);
      expect(await shared(heldGroup)).toBe(0);
    } finally {
      await own.close();
    }
  });
});
