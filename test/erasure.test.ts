import { PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import type { Message } from '../functions/core/model.js';
import { ERASURE_LEASE_MS, runErasure } from '../functions/domain/erasure.js';
import { runSweep } from '../functions/domain/sweep.js';
import { makeErasureWorker } from '../functions/handlers/erasure-worker.js';
import { keys } from '../functions/store/keys.js';
import { auditTableNameOf } from '../functions/store/table.js';
import { commandGate, type SentCommand } from './support/command-gate.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Erasure (issue 21): POST /v1/admin/erasures {userId} runs a resumable job that deletes everything
 * stored about the user and makes tombstones of what they sent in others' data. After it, a scan of
 * the table (every item, and the audit table) finds their id only in audit records and none of the
 * bodies they sent; others' histories still page contiguously; their devices are told to resync.
 */

const THRESHOLD = 3;
const gate = commandGate();
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    // Small pages: a job takes many, so holds and crashes can land between them.
    config: { sharedHistoryAbove: THRESHOLD, maxGroupMembers: 50, erasurePageSize: 7 },
    wrapClient: (client) => gate.wrap(client),
  });
});
afterAll(async () => {
  await h.close();
});

type Item = Record<string, unknown>;

async function scanAll(tableName: string): Promise<Item[]> {
  const items: Item[] = [];
  let startKey: Item | undefined;
  do {
    const page = (await h.documentClient.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, ConsistentRead: true }),
    )) as { Items?: Item[]; LastEvaluatedKey?: Item };
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** Every item (of the table, or the audit table) whose stored form contains `needle`. */
async function itemsContaining(needle: string) {
  const show = (item: Item) =>
    JSON.stringify(item, (_key, value) =>
      value instanceof Set
        ? [...value].map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v))
        : value,
    );
  const table = (await scanAll(h.tableName)).filter((item) => show(item).includes(needle));
  const audit = (await scanAll(auditTableNameOf(h.tableName))).filter((item) => show(item).includes(needle));
  return { table, audit };
}

async function admin() {
  return h.token('ops', { admin: true });
}

async function startErasure(userId: string) {
  return h.raw('POST', '/v1/admin/erasures', {
    token: await admin(),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
}

async function erasureView(erasureId: string) {
  return h.raw('GET', `/v1/admin/erasures/${erasureId}`, { token: await admin() });
}

/** Waits for the in-process job to stop running (it runs in the background of the POST). */
async function settled(erasureId: string) {
  for (let i = 0; i < 500; i++) {
    const view = await erasureView(erasureId);
    if (view.body.status !== 'running') return view.body;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return (await erasureView(erasureId)).body;
}

const secretOf = (p: string, n: number) => `SECRET-${p}-${n}`;

/**
 * A world around one user, `{p}-zed`: single chats with amy (both write; amy marks it), ben (pinned by
 * ben) and cat (zed deleted it with its messages, cat still has them); a fan-out group zed owns
 * (zed, amy, ben) where zed writes last; a shared-mode group amy owns (5 members) where zed writes with
 * `ext`. Every body zed sends holds a unique secret.
 */
async function buildWorld(p: string) {
  const ids = { zed: `${p}-zed`, amy: `${p}-amy`, ben: `${p}-ben`, cat: `${p}-cat`, dan: `${p}-dan` };
  const [zed, amy, ben, cat] = await Promise.all([
    h.as(ids.zed),
    h.as(ids.amy),
    h.as(ids.ben),
    h.as(ids.cat),
  ]);
  let n = 0;
  const secret = () => secretOf(p, n++);
  const zedSays = (to: string, chatType: 'single' | 'group' = 'single', ext?: Record<string, unknown>) =>
    zed.sendMessage({ ...text(to, secret(), { chatType }), ...(ext ? { ext } : {}) });
  await zedSays(ids.amy);
  await amy.sendMessage(text(ids.zed, 'hi zed'));
  await zedSays(ids.amy);
  await amy.addRemoteAndLocalConversationsMark([{ convId: ids.zed, chatType: 'single' }], 1);
  await zedSays(ids.ben);
  await ben.pinConversation(ids.zed, 'single', true);
  await zedSays(ids.cat);
  await cat.sendMessage(text(ids.zed, 'bye'));
  await zed.removeConversationFromServer(ids.cat, 'single', true);
  const fanOut = await zed.createGroup({ name: 'small', members: [ids.amy, ids.ben] });
  await zedSays(fanOut.groupId, 'group');
  await amy.sendMessage(text(fanOut.groupId, 'amy in small', { chatType: 'group' }));
  await zedSays(fanOut.groupId, 'group');
  const shared = await amy.createGroup({ name: 'big', members: [ids.zed, ids.ben, ids.cat, ids.dan] });
  await amy.sendMessage(text(shared.groupId, 'amy in big', { chatType: 'group' }));
  await zedSays(shared.groupId, 'group', { note: `EXT-${secretOf(p, 99)}` });
  await ben.sendMessage(text(shared.groupId, 'ben in big', { chatType: 'group' }));
  await zedSays(shared.groupId, 'group');
  const history = async (client: RoamingClient, convId: string, chatType: 'single' | 'group') =>
    (await client.fetchHistoryMessages(convId, chatType, 50)).messages;
  return { ids, zed, amy, ben, cat, fanOut, shared, history, sent: n };
}

function expectTombstones(before: Message[], after: Message[], erasedId: string) {
  // The same positions, in the same order: the erased sender's messages keep their place.
  expect(after.map((m) => m.msgId)).toEqual(before.map((m) => m.msgId));
  for (const [i, message] of after.entries()) {
    const was = before[i] as Message;
    if (was.from === erasedId) {
      expect(message).toEqual({ ...was, from: 'erased', body: {}, ext: undefined, erased: true });
    } else expect(message).toEqual(was);
  }
}

async function adminCall(method: string, path: string, body?: unknown) {
  return h.raw(method, path, {
    token: await admin(),
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
}

const itemsUnder = async (pk: string) => (await scanAll(h.tableName)).filter((item) => item.pk === pk);

/**
 * The state of issue 21's other parts around zed: held deletes (a hold on zed and amy while each deletes
 * one message of their chat by id, then released: tombstones and `HD` records stay until a purge), a
 * pending shortening of zed's retention, and conversations' own retention (zed's and amy's chat, and
 * ben's side of the fan-out group, which names nothing of zed and must keep its policy).
 */
async function addHoldAndRetentionState(w: Awaited<ReturnType<typeof buildWorld>>, p: string) {
  const { ids } = w;
  expect(
    (await adminCall('PUT', `/v1/admin/holds/${p}-case`, { userIds: [ids.zed, ids.amy], reason: 'case' }))
      .status,
  ).toBe(200);
  const chat = await w.history(w.zed, ids.amy, 'single');
  const [first, second] = chat.map((m) => m.msgId);
  expect(await w.zed.removeMessagesFromServerWithMsgIds(ids.amy, 'single', [first as string])).toBe(1);
  expect(await w.amy.removeMessagesFromServerWithMsgIds(ids.zed, 'single', [second as string])).toBe(1);
  expect((await adminCall('DELETE', `/v1/admin/holds/${p}-case`)).status).toBe(200);
  expect(await itemsUnder(`U#${ids.zed}#HD#single#${ids.amy}`)).toHaveLength(1);
  expect(await itemsUnder(`U#${ids.amy}#HD#single#${ids.zed}`)).toHaveLength(1);
  expect(
    (await itemsUnder(`U#${ids.zed}#C#single#${ids.amy}`)).filter((c) => c.hidden === true),
  ).toHaveLength(1);
  // A shortening that waits an hour: a pending change on zed's policy item.
  expect(
    (await adminCall('PUT', `/v1/admin/retention/users/${ids.zed}`, { days: 1, delaySeconds: 3600 })).status,
  ).toBe(202);
  const policy = (await itemsUnder(keys.policyPk)).find((item) => item.sk === keys.userPolicySk(ids.zed));
  expect(policy?.pendingDays).toBe(1);
  await w.zed.setConversationRetention(ids.amy, 'single', 30);
  await w.amy.setConversationRetention(ids.zed, 'single', 30);
  await w.ben.setConversationRetention(w.fanOut.groupId, 'group', 20);
}

describe('erasure', () => {
  it('erases a user everywhere: a scan finds their id only in audit records and none of their bodies', async () => {
    const w = await buildWorld('e1');
    await addHoldAndRetentionState(w, 'e1');
    const amyToken = (await w.amy.fetchConversationsFromServer({ limit: 50 })).syncToken as string;
    const smallBefore = await w.history(w.amy, w.fanOut.groupId, 'group');
    const bigBefore = await w.history(w.ben, w.shared.groupId, 'group');
    expect(smallBefore.filter((m) => m.from === w.ids.zed)).toHaveLength(2);

    const started = await startErasure(w.ids.zed);
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ erasureId: expect.any(String), status: 'running' });
    const view = await settled(started.body.erasureId as string);
    expect(view).toMatchObject({ status: 'done', phase: 'close', segmentsDone: 4, segmentCount: 4 });
    expect(view.userId).toBeUndefined();
    expect(view.counts).toMatchObject({ groupsLeft: 2, groupsHandedOver: 1 });

    const found = await itemsContaining(w.ids.zed);
    expect(found.table).toEqual([]);
    // The audit trail keeps what admins did about zed: the hold, the shortening, the erasure.
    expect(found.audit.map((record) => [record.action, record.target]).sort()).toEqual([
      ['erasure.start', `user:${w.ids.zed}`],
      ['hold.release', 'hold:e1-case'],
      ['hold.set', 'hold:e1-case'],
      ['retention.schedule', `user:${w.ids.zed}`],
    ]);
    expect(await itemsContaining(`SECRET-e1-`)).toEqual({ table: [], audit: [] });
    // What names nothing of zed stays: ben's side of the group keeps its own retention.
    const benList = await w.ben.fetchConversationsFromServer({ limit: 50 });
    expect(benList.conversations.find((c) => c.convId === w.fanOut.groupId)?.retentionDays).toBe(20);

    // Others' histories keep every position; zed's messages are tombstones.
    expectTombstones(smallBefore, await w.history(w.amy, w.fanOut.groupId, 'group'), w.ids.zed);
    expectTombstones(bigBefore, await w.history(w.ben, w.shared.groupId, 'group'), w.ids.zed);
    // Their single chats with zed are gone (the id is the conversation), cat's included.
    for (const [client, convId] of [
      [w.amy, w.ids.zed],
      [w.ben, w.ids.zed],
      [w.cat, w.ids.zed],
    ] as const) {
      expect(await w.history(client, convId, 'single')).toEqual([]);
    }
    // The group zed owned passed to the first remaining member; its count matches its members.
    const group = await h.raw('PUT', `/v1/groups/${w.fanOut.groupId}/members/${w.ids.dan}`, {
      token: await h.token(w.ids.amy),
    });
    expect(group.status).toBe(200);
    expect(group.body.group).toMatchObject({ owner: w.ids.amy, members: [w.ids.amy, w.ids.ben, w.ids.dan] });

    // amy's old token is refused (410): her device fetches afresh; a fresh fetch has no trace of zed.
    const stale = await h.raw('GET', `/v1/conversations?since=${encodeURIComponent(amyToken)}`, {
      token: await h.token(w.ids.amy),
    });
    expect(stale.status).toBe(410);
    expect(stale.body.error?.code).toBe('resync_required');
    h.clock.advance(3 * 60 * 60 * 1000 + 1);
    const fresh = await w.amy.fetchConversationsFromServer({ limit: 50 });
    expect(fresh.conversations.map((c) => c.convId).sort()).toEqual(
      [w.fanOut.groupId, w.shared.groupId].sort(),
    );
    expect(JSON.stringify(fresh)).not.toContain('SECRET');
    // From the fresh fetch on, `?since=` and a fresh fetch agree.
    await w.ben.sendMessage(text(w.fanOut.groupId, 'after the erasure', { chatType: 'group' }));
    const since = await w.amy.syncConversations(fresh.syncToken as string);
    const again = await w.amy.fetchConversationsFromServer({ limit: 50 });
    const byId = new Map(fresh.conversations.map((c) => [c.convId, c]));
    for (const c of since.conversations) byId.set(c.convId, c);
    for (const r of since.removed) byId.delete(r.convId);
    expect([...byId.values()].sort((a, b) => (a.convId < b.convId ? -1 : 1))).toEqual(
      [...again.conversations].sort((a, b) => (a.convId < b.convId ? -1 : 1)),
    );
  });

  it('is refused with 409 held when a legal hold covers the user', async () => {
    await h.documentClient.send(
      new PutCommand({
        TableName: h.tableName,
        Item: {
          ...keys.hold('h2'),
          holdId: 'h2',
          userIds: ['e2-zed'],
          reason: 'litigation',
          createdAt: 1,
          updatedAt: 1,
          setBy: 'ops',
        },
      }),
    );
    await (await h.as('e2-zed')).sendMessage(text('e2-amy', 'kept'));
    const refused = await startErasure('e2-zed');
    expect(refused.status).toBe(409);
    expect(refused.body.error?.code).toBe('held');
    expect((await itemsContaining('e2-zed')).table.length).toBeGreaterThan(0);
    expect((await itemsContaining('e2-zed')).audit).toEqual([]);
  });

  it('stops before its next page when a hold is placed while it runs (status held)', async () => {
    const w = await buildWorld('e3');
    const before = (await itemsContaining(w.ids.zed)).table.length;
    gate.after(
      (command) => command.constructor.name === 'ScanCommand',
      async () => {
        await h.documentClient.send(
          new PutCommand({
            TableName: h.tableName,
            Item: {
              ...keys.hold('h3'),
              holdId: 'h3',
              userIds: [w.ids.zed],
              reason: 'placed mid-job',
              createdAt: 1,
              updatedAt: 1,
              setBy: 'ops',
            },
          }),
        );
      },
    );
    const started = await startErasure(w.ids.zed);
    const view = await settled(started.body.erasureId as string);
    expect(view).toMatchObject({ status: 'held', userId: w.ids.zed });
    expect((view.segmentsDone as number) < 4).toBe(true);
    // What was erased before the hold is in the counts; the rest of zed's items are still there.
    const left = (await itemsContaining(w.ids.zed)).table.filter((item) => item.pk !== keys.erasuresPk);
    expect(left.length).toBeGreaterThan(0);
    expect(left.length).toBeLessThan(before);
  });

  const crashPoints: [string, (command: SentCommand, zed: string) => boolean][] = [
    [
      'leaving a group',
      (c, zed) =>
        c.constructor.name === 'TransactWriteCommand' && JSON.stringify(c.input).includes(`"M#${zed}"`),
    ],
    [
      'a tombstone',
      (c) =>
        c.constructor.name === 'UpdateCommand' && String(c.input.UpdateExpression).includes('erased = :true'),
    ],
    [
      'a resync marker',
      (c) => c.constructor.name === 'TransactWriteCommand' && JSON.stringify(c.input).includes('RESYNC'),
    ],
    [
      'a checkpoint',
      (c) =>
        c.constructor.name === 'UpdateCommand' &&
        String(c.input.UpdateExpression).includes('#segments.#segment'),
    ],
    ['a delete batch', (c) => c.constructor.name === 'BatchWriteCommand'],
    [
      'the closing walk',
      (c) =>
        c.constructor.name === 'UpdateCommand' && String(c.input.UpdateExpression).includes('closing = '),
    ],
  ];
  for (const [index, [point, matches]] of crashPoints.entries()) {
    it(`resumes after a crash at ${point} and finishes the erasure`, async () => {
      const p = `e4-${index}`;
      const w = await buildWorld(p);
      const crash = (command: SentCommand) => matches(command, w.ids.zed);
      gate.before(crash, () => {
        throw new Error(`crash at ${point}`);
      });
      const started = await startErasure(w.ids.zed);
      const erasureId = started.body.erasureId as string;
      const crashed = await settled(erasureId);
      expect(crashed.status).toBe('running');
      // The Lambda's retry, after the crashed invocation's lease lapsed.
      h.clock.advance(ERASURE_LEASE_MS + 1);
      const resumed = await runErasure(h.deps, erasureId);
      expect(resumed.outcome).toBe('done');
      expect((await itemsContaining(w.ids.zed)).table).toEqual([]);
      expect((await itemsContaining(`SECRET-${p}-`)).table).toEqual([]);
      const stale = await h.raw('GET', '/v1/conversations?limit=50', { token: await h.token(w.ids.amy) });
      expect(JSON.stringify(stale.body)).not.toContain(w.ids.zed);
    });
  }

  it('a retry that comes while the crashed invocation still holds the lease waits it out and finishes the erasure', async () => {
    const w = await buildWorld('e7');
    gate.before(
      (c) => c.constructor.name === 'BatchWriteCommand',
      () => {
        throw new Error('crash at a delete batch');
      },
    );
    const started = await startErasure(w.ids.zed);
    const erasureId = started.body.erasureId as string;
    expect((await settled(erasureId)).status).toBe('running');
    // Act: Lambda's retry arrives at once, the dead invocation's lease not yet lapsed.
    const invoked: unknown[] = [];
    const slept: number[] = [];
    const worker = makeErasureWorker(
      h.deps,
      async (_arn, event) => void invoked.push(event),
      undefined,
      async (ms) => {
        slept.push(ms);
        h.clock.advance(ms);
      },
    );
    const context = {
      awsRequestId: 'e7-retry',
      invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:erasure:live',
      getRemainingTimeInMillis: () => 300_000,
    } as unknown as Context;
    const answer = await worker({ source: 'roaming.erasure', erasureId }, context);
    // Assess: it waited about one lease and finished the job; nothing of zed is left.
    expect(answer.outcome).toBe('done');
    expect(slept).toHaveLength(1);
    expect(slept[0]).toBeLessThanOrEqual(ERASURE_LEASE_MS + 1_000);
    expect(invoked).toEqual([]);
    expect((await itemsContaining(w.ids.zed)).table).toEqual([]);
  });

  it('erases what lands behind the scan while it runs (a peer send, a group fan-out): the closing walk', async () => {
    const w = await buildWorld('e6');
    const late = await h.as('e6-eve');
    // The fan-out of amy's group message reaches every member but zed, and waits there.
    let sendMayGo: () => void = () => {};
    const sendWaits = new Promise<void>((resolve) => {
      sendMayGo = resolve;
    });
    gate.before(
      (c) =>
        c.constructor.name === 'TransactWriteCommand' &&
        JSON.stringify(c.input).includes(`"U#${w.ids.zed}#C#group#${w.fanOut.groupId}"`),
      () => sendWaits,
    );
    const groupSend = w.amy.sendMessage(text(w.fanOut.groupId, 'late in small', { chatType: 'group' }));
    // Segment 0 of the Scan waits at its first page until the other three have finished.
    let scanMayGo: () => void = () => {};
    const scanWaits = new Promise<void>((resolve) => {
      scanMayGo = resolve;
    });
    let scanHeld: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      scanHeld = resolve;
    });
    gate.before(
      (c) => c.constructor.name === 'ScanCommand' && c.input.Segment === 0 && !c.input.ExclusiveStartKey,
      () => {
        scanHeld();
        return scanWaits;
      },
    );
    const started = await startErasure(w.ids.zed);
    const erasureId = started.body.erasureId as string;
    await held;
    for (let i = 0; i < 500 && (await erasureView(erasureId)).body.segmentsDone !== 3; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await erasureView(erasureId)).body).toMatchObject({
      status: 'running',
      phase: 'scan',
      segmentsDone: 3,
    });
    // Behind three segments of four: the fan-out's copy for zed, single chats from a peer and a stranger.
    sendMayGo();
    await groupSend;
    await w.amy.sendMessage(text(w.ids.zed, 'are you there?'));
    await late.sendMessage(text(w.ids.zed, 'hello from eve'));
    expect(
      (await itemsContaining(w.ids.zed)).table.filter((item) => item.pk !== keys.erasuresPk).length,
    ).toBeGreaterThan(5);
    scanMayGo();
    const view = await settled(erasureId);
    expect(view).toMatchObject({ status: 'done', phase: 'close' });
    expect((await itemsContaining(w.ids.zed)).table).toEqual([]);
    expect((await itemsContaining('SECRET-e6-')).table).toEqual([]);
    // eve and amy hold nothing of their chats with zed; amy's devices are told to fetch afresh.
    expect(await w.history(late, w.ids.zed, 'single')).toEqual([]);
    expect(await w.history(w.amy, w.ids.zed, 'single')).toEqual([]);
  });

  it('leaves no sweep record naming the user: a run whose checkpoints met them, then the erasure', async () => {
    const [zedId, amyId] = ['e7-zed', 'e7-amy'];
    const [zed, amy] = await Promise.all([h.as(zedId), h.as(amyId)]);
    await zed.sendMessage(text(amyId, 'SECRET-e7-0'));
    await amy.sendMessage(text(zedId, 'back'));
    // zed's override is shorter than the app default (the sweep walks zed's partition in its per-user
    // pass) and amy's side of the chat has its own retention (its pass meets amy's chat with zed).
    expect(
      (await adminCall('PUT', `/v1/admin/retention/users/${zedId}`, { days: 1, delaySeconds: 0 })).status,
    ).toBe(202);
    await amy.setConversationRetention(zedId, 'single', 1);
    h.clock.advance(2 * 24 * 60 * 60 * 1000);
    const summary = await runSweep(h.deps);
    expect(summary.counts.messagesDeleted).toBeGreaterThanOrEqual(4);
    const sweepItems = (await scanAll(h.tableName)).filter((item) => String(item.pk).startsWith('SWEEP'));
    expect(sweepItems.length).toBeGreaterThan(0);
    expect(JSON.stringify(sweepItems)).not.toContain(zedId);
    const started = await startErasure(zedId);
    expect(await settled(started.body.erasureId as string)).toMatchObject({ status: 'done' });
    expect((await itemsContaining(zedId)).table).toEqual([]);
  });

  it('refuses bad input (400), a non-admin (403) and an unknown job (404)', async () => {
    const post = async (body: string, token?: string) =>
      h.raw('POST', '/v1/admin/erasures', {
        token: token ?? (await admin()),
        headers: { 'content-type': 'application/json' },
        body,
      });
    const missing = await post('{}');
    expect(missing.status).toBe(400);
    expect(missing.body.error?.message).toContain('userId');
    const forged = await post(JSON.stringify({ userId: 'a#b' }));
    expect(forged.status).toBe(400);
    expect(forged.body.error?.message).toContain('userId');
    const user = await post(JSON.stringify({ userId: 'someone' }), await h.token('e5-user'));
    expect(user.status).toBe(403);
    const badId = await erasureView('not-an-id');
    expect(badId.status).toBe(400);
    expect(badId.body.error?.message).toContain('erasureId');
    const unknown = await erasureView('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error?.code).toBe('not_found');
  });
});
