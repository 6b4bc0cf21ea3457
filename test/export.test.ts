import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { afterEach, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import { highestIdAt } from '../functions/core/ids.js';
import type { Conversation } from '../functions/core/model.js';
import { EXPORT_LEASE_MS, runExport, startExport } from '../functions/domain/export-job.js';
import { folderSink } from '../functions/exports/folder-sink.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { storeFaults } from './support/store-faults.js';

/**
 * Export (issue 21): POST /v1/admin/exports writes a user's conversations and copies as NDJSON, as a
 * resumable job. Each export here is compared with a full scan of the table: the user's partitions read
 * raw, judged by the rule docs/compliance.md states (deleted, left, expired, unapplied), so every
 * conversation and copy must be in the file exactly once, hidden ones only with includeHidden.
 */

/** Groups above 3 members switch to shared mode at their first send; nothing is purged inline. */
const CONFIG = { sharedHistoryAbove: 3, inlinePurgeBatches: 0 };

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type Line = Record<string, unknown> & { type: string };

/** Every item of the table (the oracle's raw material), page after page. */
async function scanTable(harness: Harness): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = (await harness.documentClient.send(
      new ScanCommand({ TableName: harness.tableName, ExclusiveStartKey: start, ConsistentRead: true }),
    )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

/**
 * What the export must hold, from the scan: each conversation item of the user (in key order) and the
 * copies of their view (own partition; a shared-mode group's history above their watermark, a tombstone
 * standing for its copy), each with the reason it is hidden, if it is. A conversation's cutoff is its own
 * policy's (`retentionDays` before the export's start) if it has one, else the user's, and never below
 * its `retentionFloor`.
 */
function expectedFromScan(
  items: Record<string, unknown>[],
  userId: string,
  cutoff: number | null,
  startedAt: number,
) {
  const conversations = items
    .filter((item) => item.pk === `U#${userId}` && String(item.sk).startsWith('C#'))
    .sort((a, b) => (String(a.sk) < String(b.sk) ? -1 : 1));
  return conversations.map((conv) => {
    const [, chatType, convId] = String(conv.sk).split('#') as [string, string, string];
    const ownDays = conv.retentionDays as number | undefined;
    const ownCutoff = ownDays === undefined ? cutoff : startedAt - ownDays * DAY_MS;
    const floor = conv.retentionFloor as number | undefined;
    const convCutoff = floor !== undefined && (ownCutoff === null || floor > ownCutoff) ? floor : ownCutoff;
    const expiredThrough = convCutoff === null ? undefined : highestIdAt(convCutoff);
    const watermark = conv.clearedThrough as string | undefined;
    const shared = conv.shared === true;
    const byId = new Map<string, Record<string, unknown>>();
    if (shared) {
      for (const item of items) {
        const id = String(item.sk).slice(2);
        if (item.pk === `G#${convId}#H` && (watermark === undefined || id > watermark)) byId.set(id, item);
      }
    }
    for (const item of items) {
      if (item.pk !== `U#${userId}#C#${chatType}#${convId}`) continue;
      // A tombstone keeps no body: the export shows the shared copy's it hides.
      const hides = item.hidden === true ? byId.get(String(item.sk).slice(2)) : undefined;
      byId.set(String(item.sk).slice(2), hides ? { ...item, body: hides.body } : item);
    }
    const copies = [...byId.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([msgId, item]) => {
        let hidden: string | undefined;
        if (item.hidden === true || (watermark !== undefined && msgId <= watermark)) hidden = 'deleted';
        else if (conv.left === true) hidden = 'left';
        else if (expiredThrough !== undefined && msgId <= expiredThrough) hidden = 'expired';
        else if (!shared && (conv.headMsgId === undefined || msgId > String(conv.headMsgId)))
          hidden = 'unapplied';
        // A member's tombstone of a shared copy keeps no body.
        const text =
          item.body === undefined ? undefined : (JSON.parse(String(item.body)) as { text?: string }).text;
        return { msgId, hidden, tombstone: item.hidden === true, text };
      });
    return { chatType, convId, copies };
  });
}

/** The file's lines, parsed; and its conversations with their copies, in file order. */
function parseExport(ndjson: string) {
  const lines = ndjson
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Line);
  const conversations: {
    chatType: string;
    convId: string;
    listed: boolean;
    conversation: Conversation | null;
    retentionCutoff: number | undefined;
    copies: { msgId: string; hidden: string | undefined; tombstone: boolean; text: string | undefined }[];
  }[] = [];
  for (const line of lines) {
    if (line.type === 'conversation') {
      conversations.push({
        chatType: line.chatType as string,
        convId: line.convId as string,
        listed: line.listed as boolean,
        conversation: line.conversation as Conversation | null,
        retentionCutoff: line.retentionCutoff as number | undefined,
        copies: [],
      });
    }
    if (line.type === 'message') {
      const current = conversations.at(-1);
      expect(current?.convId).toBe(line.convId);
      const message = line.message as { msgId: string; body?: { text?: string } };
      current?.copies.push({
        msgId: message.msgId,
        hidden: line.hidden as string | undefined,
        tombstone: line.tombstone === true,
        text: message.body?.text,
      });
    }
  }
  return { lines, conversations };
}

async function adminToken(harness: Harness) {
  return harness.token('ops', { admin: true });
}

/** Starts an export over HTTP, waits for it, and reads its file through the location it answers. */
async function exportOverHttp(harness: Harness, userId: string, includeHidden?: boolean) {
  const token = await adminToken(harness);
  const started = await harness.raw('POST', '/v1/admin/exports', {
    token,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(includeHidden === undefined ? { userId } : { userId, includeHidden }),
  });
  expect(started.status).toBe(202);
  expect(started.body).toMatchObject({ userId, status: 'running', includeHidden: includeHidden ?? false });
  await harness.exports.starter.idle();
  const exportId = started.body.exportId as string;
  const progress = await harness.raw('GET', `/v1/admin/exports/${exportId}`, { token });
  expect(progress.status).toBe(200);
  expect(progress.body).toMatchObject({ exportId, userId, status: 'done' });
  const location = progress.body.location as string;
  const file = await fetch(new URL(location, harness.baseUrl), {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(file.status).toBe(200);
  expect(file.headers.get('content-type')).toBe('application/x-ndjson');
  const ndjson = await file.text();
  return { exportId, progress: progress.body, ndjson, ...parseExport(ndjson) };
}

/**
 * alice's world: a single chat with deletes by id and before a time, one deleted without its messages,
 * expired history (1 day for alice), a fan-out group of 3 and a shared-mode group of 5 (with a one-way
 * delete: a tombstone), and a group she left.
 */
async function aliceWorld(harness: Harness) {
  const ops = await harness.as('ops', { admin: true });
  const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => harness.as(u)));
  if (!alice || !bob || !carol) throw new Error('clients');
  await ops.setUserRetention('alice', 1);
  const dan = await harness.as('dan');
  await alice.sendMessage(text('dan', 'old, expires'));
  await dan.sendMessage(text('alice', 'old too'));
  await alice.sendMessage(text('bob', 'old, and deleted before a time'));
  harness.clock.advance(2 * DAY_MS);
  await dan.sendMessage(text('alice', 'new from dan'));
  const ab = [];
  for (let i = 0; i < 6; i++) {
    ab.push(await (i % 2 ? bob : alice).sendMessage(text(i % 2 ? 'alice' : 'bob', `ab ${i}`)));
    harness.clock.advance(1000);
  }
  await alice.removeMessagesFromServerWithMsgIds('bob', 'single', [ab[4]?.msgId ?? '']);
  await alice.removeMessagesFromServerWithTimestamp('bob', 'single', ab[1]?.timestamp ?? 0);
  await carol.sendMessage(text('alice', 'from carol'));
  await alice.sendMessage(text('carol', 'to carol'));
  await alice.removeConversationFromServer('carol', 'single', false);
  const small = await alice.createGroup({ name: 'small', members: ['bob', 'carol'] });
  await bob.sendMessage(text(small.groupId, 'small 1', { chatType: 'group' }));
  await alice.sendMessage(text(small.groupId, 'small 2', { chatType: 'group' }));
  const big = await alice.createGroup({ name: 'big', members: ['bob', 'carol', 'dan', 'eve'] });
  const bigSent = [];
  for (let i = 0; i < 4; i++) {
    bigSent.push(await bob.sendMessage(text(big.groupId, `big ${i}`, { chatType: 'group' })));
    harness.clock.advance(1000);
  }
  await alice.removeMessagesFromServerWithMsgIds(big.groupId, 'group', [bigSent[1]?.msgId ?? '']);
  const left = await bob.createGroup({ name: 'left', members: ['alice'] });
  await bob.sendMessage(text(left.groupId, 'before alice left', { chatType: 'group' }));
  await alice.removeGroupMember(left.groupId, 'alice');
  return { alice, small, big, left };
}

describe('export equals a full scan of the user', () => {
  it('writes what alice can see, each conversation as her list shows it, and every hidden copy with includeHidden', async () => {
    h = await startHarness({ config: CONFIG });
    const { alice, big, left: leftGroup } = await aliceWorld(h);

    const visible = await exportOverHttp(h, 'alice');
    const hidden = await exportOverHttp(h, 'alice', true);
    const items = await scanTable(h);
    const header = visible.lines[0] as Line;
    expect(header).toMatchObject({
      type: 'header',
      format: 'roaming-export',
      userId: 'alice',
      includeHidden: false,
    });
    expect(header.retentionCutoff).toBe(h.clock.now() - DAY_MS);
    const expected = expectedFromScan(
      items,
      'alice',
      header.retentionCutoff as number,
      header.startedAt as number,
    );

    // includeHidden: every conversation item and every stored copy of her view, once, with its reason.
    expect(
      hidden.conversations.map(({ chatType, convId, copies }) => ({ chatType, convId, copies })),
    ).toEqual(expected);
    const reasons = new Set(hidden.conversations.flatMap((c) => c.copies.map((copy) => copy.hidden)));
    expect(reasons).toEqual(new Set([undefined, 'deleted', 'expired']));
    // Leaving moved her watermark to the group's head: what she had of it is deleted for her.
    const left = hidden.conversations.find((c) => c.convId === leftGroup.groupId);
    expect(left?.copies.map((c) => [c.text, c.hidden])).toEqual([['before alice left', 'deleted']]);
    expect(visible.conversations.some((c) => c.convId === leftGroup.groupId)).toBe(false);
    // The shared group: the tombstone stands for the shared copy she deleted; the rest come from the shared history.
    const bigHidden = hidden.conversations.find((c) => c.convId === big.groupId);
    expect(bigHidden?.copies.map((c) => [c.text, c.hidden ?? 'visible'])).toEqual([
      ['big 0', 'visible'],
      ['big 1', 'deleted'],
      ['big 2', 'visible'],
      ['big 3', 'visible'],
    ]);

    // Default: the visible copies only, in conversations that are listed or have one.
    const expectedVisible = expected
      .map((conv) => ({ ...conv, copies: conv.copies.filter((copy) => copy.hidden === undefined) }))
      .filter(
        (conv) =>
          conv.copies.length > 0 || visible.conversations.some((c) => c.convId === conv.convId && c.listed),
      );
    expect(
      visible.conversations.map(({ chatType, convId, copies }) => ({ chatType, convId, copies })),
    ).toEqual(expectedVisible);
    expect(visible.conversations.flatMap((c) => c.copies.filter((copy) => copy.hidden))).toEqual([]);

    // Each listed conversation is the object her own list shows; carol's (deleted without its messages)
    // is not listed but its history is still hers to read, and in the export.
    const list = await alice.fetchConversationsFromServer({ limit: 50 });
    for (const conv of visible.conversations.filter((c) => c.listed)) {
      expect(conv.conversation).toEqual(list.conversations.find((c) => c.convId === conv.convId));
    }
    expect(visible.conversations.filter((c) => c.listed)).toHaveLength(list.conversations.length);
    const carol = visible.conversations.find((c) => c.convId === 'carol');
    expect(carol).toMatchObject({ listed: false, conversation: null });
    const carolHistory = await alice.fetchHistoryMessages('carol', 'single', 50, undefined, {
      direction: 'down',
    });
    expect(carol?.copies.map((c) => c.msgId)).toEqual(carolHistory.messages.map((m) => m.msgId));

    // Counts and the end line agree with the file.
    const end = visible.lines.at(-1) as Line;
    const copies = visible.conversations.reduce((n, c) => n + c.copies.length, 0);
    expect(end).toEqual({ type: 'end', conversations: visible.conversations.length, copies });
    expect(visible.progress).toMatchObject({
      conversations: visible.conversations.length,
      copies,
      bytes: Buffer.byteLength(visible.ndjson),
    });
  });

  it("leaves out what a conversation's own policy expired and the tombstones a hold keeps, unless includeHidden", async () => {
    const harness = await startHarness({ config: CONFIG });
    h = harness;
    const [alice, dan, erin, bob, ops] = await Promise.all([
      harness.as('alice'),
      harness.as('dan'),
      harness.as('erin'),
      harness.as('bob'),
      harness.as('ops', { admin: true }),
    ]);
    if (!alice || !dan || !erin || !bob || !ops) throw new Error('clients');
    // alice keeps forever; two of her conversations do not.
    for (const [client, to, sender] of [
      [dan, 'alice', 'dan'],
      [alice, 'dan', 'alice'],
      [erin, 'alice', 'erin'],
      [bob, 'alice', 'bob'],
    ] as const) {
      await client.sendMessage(text(to, `old ${sender}`));
      harness.clock.advance(1000);
    }
    harness.clock.advance(3 * DAY_MS);
    // dan: a day of its own. erin: a day, then back to alice's (the floor keeps what had expired hidden).
    await alice.setConversationRetention('dan', 'single', 1);
    await alice.setConversationRetention('erin', 'single', 1);
    await alice.setConversationRetention('erin', 'single', null);
    await dan.sendMessage(text('alice', 'new from dan'));
    await erin.sendMessage(text('alice', 'new from erin'));
    // bob: under a legal hold alice deletes one of his messages: kept, as a tombstone she cannot see.
    const held = await harness.raw('PUT', '/v1/admin/holds/case-7', {
      token: await adminToken(harness),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userIds: ['alice'], reason: 'Case 7' }),
    });
    expect(held.status).toBe(200);
    const doomed = await bob.sendMessage(text('alice', 'deleted under the hold'));
    await bob.sendMessage(text('alice', 'kept and seen'));
    await alice.removeMessagesFromServerWithMsgIds('bob', 'single', [doomed.msgId]);

    const visible = await exportOverHttp(harness, 'alice');
    const hidden = await exportOverHttp(harness, 'alice', true);
    const items = await scanTable(harness);
    // The world is what the test says: the tombstone is stored, the policies are on the items.
    const tombstone = items.find(
      (item) => item.pk === 'U#alice#C#single#bob' && item.sk === `M#${doomed.msgId}`,
    );
    expect(tombstone?.hidden).toBe(true);
    const danItem = items.find((item) => item.pk === 'U#alice' && item.sk === 'C#single#dan');
    const erinItem = items.find((item) => item.pk === 'U#alice' && item.sk === 'C#single#erin');
    expect(danItem?.retentionDays).toBe(1);
    expect(erinItem?.retentionDays).toBeUndefined();
    expect(erinItem?.retentionFloor).toBeGreaterThan(0);

    for (const file of [visible, hidden]) {
      const header = file.lines[0] as Line;
      expect(header.retentionCutoff).toBeNull();
      const expected = expectedFromScan(items, 'alice', null, header.startedAt as number);
      const wanted =
        file === hidden
          ? expected
          : expected.map((conv) => ({
              ...conv,
              copies: conv.copies.filter((copy) => copy.hidden === undefined),
            }));
      expect(
        file.conversations.map(({ chatType, convId, copies }) => ({ chatType, convId, copies })),
      ).toEqual(wanted);
      // A conversation whose own policy or floor sets its cutoff apart says so; the others follow the header.
      const cutoffs = Object.fromEntries(file.conversations.map((c) => [c.convId, c.retentionCutoff]));
      expect(cutoffs).toEqual({
        dan: (header.startedAt as number) - DAY_MS,
        erin: erinItem?.retentionFloor,
        bob: undefined,
      });
    }
    const textsOf = (file: typeof visible, convId: string) =>
      file.conversations
        .find((c) => c.convId === convId)
        ?.copies.map((c) => [c.text, c.hidden ?? 'visible', c.tombstone]);
    expect(textsOf(visible, 'dan')).toEqual([['new from dan', 'visible', false]]);
    expect(textsOf(visible, 'erin')).toEqual([['new from erin', 'visible', false]]);
    expect(textsOf(visible, 'bob')).toEqual([
      ['old bob', 'visible', false],
      ['kept and seen', 'visible', false],
    ]);
    expect(textsOf(hidden, 'dan')).toEqual([
      ['old dan', 'expired', false],
      ['old alice', 'expired', false],
      ['new from dan', 'visible', false],
    ]);
    expect(textsOf(hidden, 'erin')).toEqual([
      ['old erin', 'expired', false],
      ['new from erin', 'visible', false],
    ]);
    expect(textsOf(hidden, 'bob')).toEqual([
      ['old bob', 'visible', false],
      ['deleted under the hold', 'deleted', true],
      ['kept and seen', 'visible', false],
    ]);
    // Exactly what her own reads show, conversation by conversation.
    for (const conv of visible.conversations) {
      const history = await alice.fetchHistoryMessages(conv.convId, 'single', 50, undefined, {
        direction: 'down',
      });
      expect(
        conv.copies.map((c) => c.msgId),
        conv.convId,
      ).toEqual(history.messages.map((m) => m.msgId));
    }
  });

  it('exports a user with nothing stored as a header and an end line', async () => {
    h = await startHarness({ config: CONFIG });
    const empty = await exportOverHttp(h, 'nobody');
    expect(empty.lines.map((line) => line.type)).toEqual(['header', 'end']);
    expect(empty.progress).toMatchObject({ conversations: 0, copies: 0, parts: 1 });
  });
});

describe('export survives a crash at any point', () => {
  it('gives the same file when the worker crashes at every store command and is resumed', async () => {
    const faults = storeFaults();
    const harness = await startHarness({ config: CONFIG, wrapClient: (client) => faults.wrap(client) });
    h = harness;
    await aliceWorld(h);
    const dir = mkdtempSync(join(tmpdir(), 'roaming-export-crash-'));
    // Tiny parts: every few lines are a step of their own, so crashes land between and inside steps.
    const sink = folderSink(dir, 600);
    const run = async (crashAt?: number) => {
      const { job } = await startExport(harness.deps, 'ops', { userId: 'alice', includeHidden: true });
      let crashed = false;
      if (crashAt !== undefined) {
        faults.failFrom('unreachable', crashAt);
        crashed = await runExport(harness.deps, sink, job.exportId, { invocationId: 'first' }).then(
          () => false,
          () => true,
        );
        faults.clear();
      }
      // Every other crash is resumed by a retry of the same invocation, the others by a new worker once
      // the lease has lapsed.
      const resumeBy = crashAt !== undefined && crashAt % 2 === 1 ? 'next' : 'first';
      if (resumeBy === 'next') harness.clock.advance(EXPORT_LEASE_MS + 1);
      const outcome = await runExport(harness.deps, sink, job.exportId, { invocationId: resumeBy });
      const file = sink.fileOf(job.exportId);
      return { crashed, outcome, text: file ? readFileSync(file, 'utf8') : '' };
    };
    const reference = await run();
    expect(reference.outcome).toBe('done');
    const body = (text: string) => text.split('\n').slice(1).join('\n'); // the header names the export
    const referenceParts = parseExport(reference.text);
    expect(referenceParts.conversations.length).toBeGreaterThan(3);
    let crashes = 0;
    for (let crashAt = 0; ; crashAt++) {
      const result = await run(crashAt);
      if (!result.crashed) break;
      crashes++;
      expect(result.outcome, `crash at command ${crashAt}`).toBe('done');
      expect(body(result.text), `crash at command ${crashAt}`).toBe(body(reference.text));
    }
    expect(crashes).toBeGreaterThan(20);
  }, 120_000);

  it('a worker that lost its lease writes nothing the job reads, and the one that took over finishes it', async () => {
    h = await startHarness({ config: CONFIG });
    await aliceWorld(h);
    const sink = folderSink(mkdtempSync(join(tmpdir(), 'roaming-export-lease-')), 600);
    const { job } = await startExport(h.deps, 'ops', { userId: 'alice', includeHidden: false });
    expect(await runExport(h.deps, sink, job.exportId, { invocationId: 'slow', maxParts: 2 })).toBe(
      'stopped',
    );
    // A live lease keeps others out.
    const second = await runExport(h.deps, sink, job.exportId, { invocationId: 'other', maxParts: 1 });
    expect(second).toBe('stopped');
    // 'other' released its lease on stopping; 'slow' comes back while 'other' works: one of them wins each part.
    const [a, b] = await Promise.all([
      runExport(h.deps, sink, job.exportId, { invocationId: 'slow' }),
      runExport(h.deps, sink, job.exportId, { invocationId: 'other' }),
    ]);
    expect([a, b].sort()).toEqual(['busy', 'done'].sort());
    const file = sink.fileOf(job.exportId);
    const parsed = parseExport(readFileSync(file ?? '', 'utf8'));
    const ids = parsed.conversations.flatMap((c) => c.copies.map((copy) => `${c.convId}/${copy.msgId}`));
    expect(new Set(ids).size).toBe(ids.length);
    const expected = expectedFromScan(await scanTable(h), 'alice', h.clock.now() - DAY_MS, job.startedAt);
    expect(ids).toEqual(
      expected.flatMap((c) =>
        c.copies.filter((copy) => !copy.hidden).map((copy) => `${c.convId}/${copy.msgId}`),
      ),
    );
  });
});

describe('the folder sink', () => {
  it('joins a single part by renaming it, and a join again after a crash leaves the same file', async () => {
    const root = mkdtempSync(join(tmpdir(), 'roaming-export-join-'));
    const sink = folderSink(root, 1024);
    const exportId = ulid();
    const part = ulid();
    await sink.writePart(exportId, part, '{"type":"header"}\n{"type":"end"}\n');
    await sink.join(exportId, [part]);
    const file = sink.fileOf(exportId);
    expect(readFileSync(file ?? '', 'utf8')).toBe('{"type":"header"}\n{"type":"end"}\n');
    // The job was not marked done (a crash): the next worker joins the same parts again.
    await sink.join(exportId, [part]);
    expect(readFileSync(sink.fileOf(exportId) ?? '', 'utf8')).toBe('{"type":"header"}\n{"type":"end"}\n');
    // Two parts are copied in order.
    const other = ulid();
    const [first, second] = [ulid(), ulid()];
    await sink.writePart(other, first, 'a\n');
    await sink.writePart(other, second, 'b\n');
    await sink.join(other, [first, second]);
    expect(readFileSync(sink.fileOf(other) ?? '', 'utf8')).toBe('a\nb\n');
  });
});

describe('export routes', () => {
  it('records who started which export in the audit trail', async () => {
    h = await startHarness({ config: CONFIG });
    const { exportId } = await exportOverHttp(h, 'alice', true);
    const audit = await h.raw('GET', '/v1/admin/audit?limit=5', { token: await adminToken(h) });
    expect((audit.body.records as unknown[])[0]).toMatchObject({
      actor: 'ops',
      action: 'export.start',
      target: 'user:alice',
      before: null,
      after: { exportId, includeHidden: true },
    });
  });

  it('refuses bad input with a 400 naming the field, non-admins with 403, unknown exports with 404', async () => {
    const harness = await startHarness({ config: CONFIG });
    h = harness;
    const admin = await adminToken(h);
    const user = await h.token('alice');
    const post = (body: string, token = admin) =>
      harness.raw('POST', '/v1/admin/exports', {
        token,
        headers: { 'content-type': 'application/json' },
        body,
      });
    const missing = await post('{}');
    expect(missing.status).toBe(400);
    expect(missing.body.error?.message).toContain('userId');
    const forged = await post(JSON.stringify({ userId: 'a#b' }));
    expect(forged.status).toBe(400);
    expect(forged.body.error?.message).toContain('userId');
    const notBoolean = await post(JSON.stringify({ userId: 'alice', includeHidden: 'yes' }));
    expect(notBoolean.status).toBe(400);
    expect(notBoolean.body.error?.message).toContain('includeHidden');
    expect((await post(JSON.stringify({ userId: 'alice' }), user)).status).toBe(403);

    const malformed = await h.raw('GET', '/v1/admin/exports/not-an-id', { token: admin });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error?.message).toContain('exportId');
    const unknown = await h.raw('GET', `/v1/admin/exports/${h.deps.ids.next()}`, { token: admin });
    expect(unknown.status).toBe(404);
    expect((await h.raw('GET', `/v1/admin/exports/${h.deps.ids.next()}`, { token: user })).status).toBe(403);

    const { exportId } = await exportOverHttp(h, 'alice');
    const file = `/v1/admin/exports/${exportId}/file`;
    expect((await h.raw('GET', file, { token: user })).status).toBe(403);
    expect((await h.raw('GET', file)).status).toBe(401);
    expect((await h.raw('GET', `/v1/admin/exports/${h.deps.ids.next()}/file`, { token: admin })).status).toBe(
      404,
    );
    expect((await h.raw('GET', '/v1/admin/exports/..%2f..%2fetc/file', { token: admin })).status).toBe(400);
    expect((await h.raw('POST', file, { token: admin })).status).toBe(405);
  });
});
