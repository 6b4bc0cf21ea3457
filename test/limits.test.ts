import { createHash, createHmac } from 'node:crypto';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS } from '../functions/core/clock.js';
import type { Message } from '../functions/core/model.js';
import { MAX_CONTENT_BYTES, MAX_TEXT_CHARACTERS } from '../functions/domain/message-limits.js';
import { DEVELOPMENT_IDEMPOTENCY_KEY } from '../functions/runtime.js';
import { keys } from '../functions/store/keys.js';
import { DEV_AUDIENCE, DEV_ISSUER, signDevToken } from '../local/dev-auth.js';
import { runAbuser } from './load/abuser.js';
import { idsOf, seedSingleChat, text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { removeDir, runLocal, tempDir } from './support/local-process.js';
import { type StoreFaults, storeFaults } from './support/store-faults.js';

/**
 * Issue "Bound every request's work and every user's cost; attribute every admin action".
 * Rate limits are off in the other test files; `limited` has them on, small, on the test clock.
 */
let h: Harness;
let limited: Harness;
/** Counts the commands `limited` sends (no faults armed). */
const limitedStore: StoreFaults = storeFaults();
beforeAll(async () => {
  h = await startHarness({ config: { maxGroupMembers: 3 } });
  limited = await startHarness({
    wrapClient: limitedStore.wrap,
    config: { sendsPerSecond: 2, sendBurst: 3, groupsPerDay: 2, memberAddsPerMinute: 5 },
  });
});
afterAll(async () => {
  await h.close();
  await limited.close();
});

const json = (body: unknown) => ({
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

describe('a history page does bounded work whatever its filters', () => {
  it('reads at most pageSize + 1 copies over 5,000 non-matching messages and hands back a cursor; the walk finds every match once', async () => {
    const seeded = await seedSingleChat(h.deps, h.clock, 'b-alice', 'b-bob', 5_000);
    // Three matches among them, far apart: the only image messages.
    const images = [10, 2_500, 4_990].map((at) => seeded[at] as Message);
    await markAsImages(images);
    const bob = await h.as('b-bob');
    const pageSize = 50;
    const found: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    let maxRequests = 0;
    let readUnits = 0;
    for (;;) {
      h.requests.reset();
      const page = await bob.fetchHistoryMessages('b-alice', 'single', pageSize, cursor, {
        types: ['image'],
      });
      maxRequests = Math.max(maxRequests, h.requests.byCommand.Query ?? 0);
      readUnits = Math.max(readUnits, h.requests.readUnits);
      pages++;
      found.push(...idsOf(page.messages));
      if (page.cursor === null) break;
      cursor = page.cursor;
    }
    // Each page read one Query of at most pageSize + 1 copies (as an unfiltered page does): 5,000 / 51
    // pages, never the lot at once; each page's few read units are what its budget is charged.
    expect(maxRequests).toBe(1);
    expect(pages).toBeGreaterThanOrEqual(Math.floor(5_000 / (pageSize + 1)));
    expect(readUnits).toBeLessThan(10);
    expect(found).toEqual(idsOf(images).reverse());
  });

  /** Bob's copies of these become image messages (seeding writes text only). */
  async function markAsImages(messages: Message[]) {
    for (const m of messages) {
      await h.documentClient.send(
        new UpdateCommand({
          TableName: h.tableName,
          Key: {
            pk: keys.historyPk({ owner: 'b-bob', chatType: 'single', convId: 'b-alice' }),
            sk: keys.messageSk(m.msgId),
          },
          UpdateExpression: 'SET #type = :image',
          ExpressionAttributeNames: { '#type': 'type' },
          ExpressionAttributeValues: { ':image': 'image' },
        }),
      );
    }
  }
});

describe('page numbers stop at the first 1,000 conversations', () => {
  it('answers 400 naming the cursor form beyond them', async () => {
    const token = await h.token('p-me');
    const beyond = await h.raw('GET', '/v1/conversations?pageSize=20&pageNum=51', { token });
    expect(beyond.status).toBe(400);
    expect(beyond.body.error?.message).toMatch(/first 1000 conversations; use limit and cursor/);
    expect((await h.raw('GET', '/v1/conversations?pageSize=20&pageNum=50', { token })).status).toBe(200);
  });
});

describe('message sizes', () => {
  it('refuses with 413, per type, what is larger than the field allows, and stores nothing of it', async () => {
    const token = await h.token('s-alice');
    const send = (body: unknown) => h.raw('POST', '/v1/messages', { token, ...json(body) });
    const cases: [string, unknown][] = [
      [
        'text',
        {
          to: 's-bob',
          chatType: 'single',
          type: 'text',
          body: { text: 'x'.repeat(MAX_TEXT_CHARACTERS + 1) },
        },
      ],
      [
        'custom',
        {
          to: 's-bob',
          chatType: 'single',
          type: 'custom',
          body: { blob: 'y'.repeat(MAX_CONTENT_BYTES.custom) },
        },
      ],
      [
        'image',
        {
          to: 's-bob',
          chatType: 'single',
          type: 'image',
          body: { url: 'z'.repeat(MAX_CONTENT_BYTES.image) },
        },
      ],
      [
        'location',
        {
          to: 's-bob',
          chatType: 'single',
          type: 'location',
          body: { place: 'w'.repeat(MAX_CONTENT_BYTES.location) },
        },
      ],
    ];
    for (const [type, body] of cases) {
      const response = await send(body);
      expect(response.status, type).toBe(413);
      expect(response.body.error?.code).toBe('payload_too_large');
    }
    // 5,000 characters of text (4-byte ones) fit: the limit is characters, not bytes, for text.
    expect(
      (await send({ to: 's-bob', chatType: 'single', type: 'text', body: { text: '😀'.repeat(2_000) } }))
        .status,
    ).toBe(201);
    const history = await (await h.as('s-bob')).fetchHistoryMessages('s-alice', 'single');
    expect(history.messages).toHaveLength(1);
  });

  it('keeps a bounded preview in the list, the whole message in history', async () => {
    const alice = await h.as('v-alice');
    const long = await alice.sendMessage(text('v-bob', 'é'.repeat(3_000)));
    const [listed] = (await (await h.as('v-bob')).fetchConversationsFromServer({ limit: 5 })).conversations;
    expect(listed?.lastMessage).toMatchObject({
      msgId: long.msgId,
      truncated: true,
      body: { text: 'é'.repeat(200) },
    });
    expect(JSON.stringify(listed?.lastMessage).length).toBeLessThan(1024);
    const [full] = (await (await h.as('v-bob')).fetchHistoryMessages('v-alice', 'single')).messages;
    expect(full).toEqual(long);
  });

  it('keeps the preview bounded when deleting the newest makes a long message the latest again', async () => {
    // Prepare: a long message, then a short one after it.
    const alice = await h.as('w-alice');
    const long = await alice.sendMessage(text('w-bob', 'é'.repeat(3_000)));
    const short = await alice.sendMessage(text('w-bob', 'short'));
    const bob = await h.as('w-bob');
    // Act: bob deletes the newest; the long one is his latest again.
    await bob.removeMessagesFromServerWithMsgIds('w-alice', 'single', [short.msgId]);
    // Assess
    const [listed] = (await bob.fetchConversationsFromServer({ limit: 5 })).conversations;
    expect(listed?.lastMessage).toMatchObject({
      msgId: long.msgId,
      truncated: true,
      body: { text: 'é'.repeat(200) },
    });
    expect(JSON.stringify(listed?.lastMessage).length).toBeLessThan(1024);
  });
});

describe('per-user limits', () => {
  it('sends: a burst, then 429 with Retry-After until the bucket refills; others are not affected', async () => {
    const token = await limited.token('r-abuser');
    const send = (n: number) =>
      limited.raw('POST', '/v1/messages', { token, ...json(text('r-peer', `m${n}`)) });
    for (let i = 0; i < 3; i++) expect((await send(i)).status).toBe(201);
    const refused = await limited.raw('POST', '/v1/messages', {
      token,
      ...json(text('r-peer', 'one too many')),
    });
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'rate_limited' });
    expect(refused.body.error?.message).toMatch(/at most 2 messages a second/);
    const withHeader = await fetch(new URL('/v1/messages', limited.baseUrl), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(text('r-peer', 'still too many')),
    });
    expect(withHeader.status).toBe(429);
    expect(withHeader.headers.get('retry-after')).toBe('1');
    // Somebody else sends as usual meanwhile.
    expect((await (await limited.as('r-other')).sendMessage(text('r-peer', 'fine'))).msgId).toBeDefined();
    limited.clock.advance(500);
    expect((await send(4)).status).toBe(201);
    // Nothing of the refused sends was stored.
    expect(
      (await (await limited.as('r-peer')).fetchHistoryMessages('r-abuser', 'single', 50)).messages,
    ).toHaveLength(4);
  });

  it('a retry of an accepted send is answered from its record, even while the sender is refused', async () => {
    const sender = await limited.as('r-retrier');
    const first = await sender.sendMessage(text('r-peer', 'accepted', { clientMsgId: 'r-retry-1' }));
    for (let i = 0; i < 2; i++) await sender.sendMessage(text('r-peer', `burst ${i}`));
    // The bucket is empty, and this instance knows it.
    await expect(sender.sendMessage(text('r-peer', 'refused'))).rejects.toMatchObject({ status: 429 });
    const retried = await sender.sendMessage(text('r-peer', 'accepted', { clientMsgId: 'r-retry-1' }));
    expect(retried.msgId).toBe(first.msgId);
    // A new message with a clientMsgId is still refused, after reading its (absent) record.
    await expect(
      sender.sendMessage(text('r-peer', 'new', { clientMsgId: 'r-retry-2' })),
    ).rejects.toMatchObject({ status: 429 });
  });

  it('a sender seen over the limit is refused without a store read until a token is back', async () => {
    const sender = await limited.as('r-flat-out');
    for (let i = 0; i < 3; i++) await sender.sendMessage(text('r-peer', `burst ${i}`));
    // The first refusal reads the bucket (and finds it empty)...
    await expect(sender.sendMessage(text('r-peer', 'refused after a read'))).rejects.toMatchObject({
      status: 429,
      code: 'rate_limited',
    });
    // ...the next ones are answered from what this instance learned: no command reaches the store.
    limitedStore.clear();
    for (let i = 0; i < 5; i++) {
      await expect(sender.sendMessage(text('r-peer', `ignored Retry-After ${i}`))).rejects.toMatchObject({
        status: 429,
        code: 'rate_limited',
      });
    }
    expect(limitedStore.commands).toBe(0);
    // Another user is not affected, and once a token is back the sender is served again.
    await (await limited.as('r-bystander')).sendMessage(text('r-peer', 'fine'));
    limited.clock.advance(500);
    expect((await sender.sendMessage(text('r-peer', 'served again'))).msgId).toBeDefined();
  });

  it('a client sending flat out and ignoring Retry-After gets its burst and nothing more while time stands still', async () => {
    const victims = ['r-v1', 'r-v2', 'r-v3'];
    const outcome = await runAbuser({
      baseUrl: limited.baseUrl,
      user: 'r-spammer',
      token: await limited.token('r-spammer'),
      victims,
      deadline: performance.timeOrigin + performance.now() + 1_000,
      concurrency: 8,
    });
    // The test clock does not move: the bucket never refills past its burst of 3.
    expect(outcome.accepted).toHaveLength(3);
    expect(outcome.rateLimited).toBe(outcome.tried - 3);
    expect(outcome.tried).toBeGreaterThan(20);
    expect([...outcome.other]).toEqual([]);
    const copies = [];
    for (const victim of victims) {
      const page = await (await limited.as(victim)).fetchHistoryMessages('r-spammer', 'single', 50);
      copies.push(...page.messages.map((m) => m.msgId));
    }
    expect(copies.sort()).toEqual(outcome.accepted.map((m) => m.msgId).sort());
  });

  it('groups per day and members added per minute', async () => {
    const owner = await limited.as('r-owner');
    const first = await owner.createGroup({ members: ['r-m1', 'r-m2'] });
    await owner.createGroup({ members: ['r-m3'] });
    const third = await owner.createGroup({}).catch((e) => e);
    expect(third).toMatchObject({ status: 429, code: 'rate_limited' });
    // 3 of 5 member adds were spent creating them; 2 more fit this minute.
    await owner.addGroupMember(first.groupId, 'r-m4');
    await owner.addGroupMember(first.groupId, 'r-m5');
    expect(await owner.addGroupMember(first.groupId, 'r-m6').catch((e) => e)).toMatchObject({ status: 429 });
    limited.clock.advance(60_000);
    await owner.addGroupMember(first.groupId, 'r-m6');
    limited.clock.advance(DAY_MS);
    await owner.createGroup({});
  });
});

describe('group membership under concurrency', () => {
  it('holds the member cap: 12 concurrent adds to a group of 2 with a cap of 3 leave exactly 3 members', async () => {
    const owner = await h.as('c-owner');
    const group = await owner.createGroup({ members: ['c-m0'] });
    const results = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => owner.addGroupMember(group.groupId, `c-new-${i}`)),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect((r.reason as { status: number }).status).toBe(409);
    const members = (await owner.addGroupMember(group.groupId, 'c-m0')).members;
    expect(members).toHaveLength(3);
  });
});

describe('local tokens', () => {
  const sign = (claims: { exp?: number; iat?: number }) => {
    const jwt = new SignJWT({ scope: 'roaming/user' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('t-user')
      .setIssuer(DEV_ISSUER)
      .setAudience(DEV_AUDIENCE);
    if (claims.iat !== undefined) jwt.setIssuedAt(claims.iat);
    if (claims.exp !== undefined) jwt.setExpirationTime(claims.exp);
    return jwt.sign(new TextEncoder().encode('test-secret'));
  };
  it('need an expiry at most 30 days after they were issued', async () => {
    const now = Math.floor(Date.now() / 1000);
    const status = async (token: string) => (await h.raw('GET', '/v1/conversations', { token })).status;
    expect(await status(await sign({ iat: now }))).toBe(401);
    expect(await status(await sign({ iat: now, exp: now + 31 * 86_400 }))).toBe(401);
    expect(await status(await sign({ exp: now + 31 * 86_400 }))).toBe(401);
    expect(await status(await sign({ iat: now, exp: now + 30 * 86_400 }))).toBe(200);
  });

  it('cannot stretch their life with an issue time in the future', async () => {
    const now = Math.floor(Date.now() / 1000);
    const status = async (token: string) => (await h.raw('GET', '/v1/conversations', { token })).status;
    // 30 days from its claimed issue a day ahead: 31 days from now.
    expect(await status(await sign({ iat: now + 86_400, exp: now + 31 * 86_400 }))).toBe(401);
    expect(await status(await sign({ iat: now + 60, exp: now + 86_400 }))).toBe(200);
  });

  it('are not signed (npm run token) when the server would refuse them', async () => {
    const secret = 'test-secret';
    await expect(signDevToken('t-user', { expiresIn: '31d', secret })).rejects.toThrow(/at most 30 days/);
    await expect(signDevToken('t-user', { expiresIn: '60d', secret })).rejects.toThrow(/at most 30 days/);
    const token = await signDevToken('t-user', { expiresIn: '30d', secret });
    expect((await h.raw('GET', '/v1/conversations', { token })).status).toBe(200);
  });

  it('npm run token exits 2 and names --expires when the span is past 30 days; prints a token otherwise', async () => {
    const cwd = tempDir('token');
    try {
      const refused = runLocal('local/token.ts', { cwd, args: ['t-user', '--expires', '60d'] });
      expect((await refused.exited(30_000)).code).toBe(2);
      expect(refused.stderr()).toContain('--expires: expires must be a time span of at most 30 days');
      expect(refused.stdout()).toBe('');
      const signed = runLocal('local/token.ts', { cwd, args: ['t-user', '--expires', '1h'] });
      expect((await signed.exited(30_000)).code).toBe(0);
      expect(signed.stdout().trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    } finally {
      removeDir(cwd);
    }
  }, 60_000);

  it('stop working at their expiry, however often they were accepted before', async () => {
    const status = async (token: string) => (await h.raw('GET', '/v1/conversations', { token })).status;
    // Expires at the start of the next second but one: accepted now, refused once that has passed.
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await sign({ iat: exp - 60, exp });
    for (let i = 0; i < 3; i++) expect(await status(token)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    expect(await status(token)).toBe(401);
  });
});

describe('idempotency records', () => {
  it('keep an HMAC under the deployment key: a guess at the message cannot be confirmed from them', async () => {
    const request = text('i-bob', 'yes', { clientMsgId: 'i-1' });
    await (await h.as('i-alice')).sendMessage(request);
    const { Item } = (await h.documentClient.send(
      new GetCommand({ TableName: h.tableName, Key: keys.idempotency('i-alice', 'i-1') }),
    )) as { Item?: Record<string, unknown> };
    const { to, chatType, type, body } = request;
    const plain = JSON.stringify({ to, chatType, type, body });
    expect(Item?.requestHash).not.toBe(createHash('sha256').update(plain).digest('base64url'));
    expect(Item?.requestHash).toBe(
      createHmac('sha256', DEVELOPMENT_IDEMPOTENCY_KEY).update(plain).digest('base64url'),
    );
  });
});

describe('the audit trail', () => {
  it('chains before and after across two retention changes made at once, on a clock that stands still', async () => {
    // Prepare: a table of its own (the trail is the table's), the app default at 30 days.
    const own = await startHarness();
    try {
      const admin = await own.as('c-ops', { admin: true });
      await admin.setAppRetention(30);
      // Act: two changes race, both read 30 and write in the same millisecond.
      await Promise.all([admin.setAppRetention(7), admin.setAppRetention(14)]);
      // Assess: the second to land saw the first's value, not 30.
      const { records } = (
        await own.raw('GET', '/v1/admin/audit?limit=10', { token: await own.token('c-ops', { admin: true }) })
      ).body as { records: { before: unknown; after: unknown }[] };
      const [last, first, initial] = records;
      expect(initial).toMatchObject({ before: 'unset', after: 30 });
      expect(first?.before).toBe(30);
      expect(last?.before).toBe(first?.after);
    } finally {
      await own.close();
    }
  });

  it('records every admin action with who, what, before and after; lists it newest first to admins only', async () => {
    const admin = await h.as('a-ops', { admin: true });
    await admin.setAppRetention(30);
    await admin.setAppRetention(7);
    await admin.setUserRetention('a-bob', null);
    await admin.clearUserRetention('a-bob');
    await admin.clearUserRetention('a-bob');
    await admin.startSweep();
    const { records, cursor } = (
      await h.raw('GET', '/v1/admin/audit?limit=10', { token: await h.token('a-ops', { admin: true }) })
    ).body as { records: Record<string, unknown>[]; cursor: string | null };
    expect(cursor).toBeNull();
    expect(records.map((r) => [r.action, r.target, r.before, r.after])).toEqual([
      ['sweep.start', expect.any(String), null, expect.objectContaining({ joined: false })],
      ['retention.clear', 'user:a-bob', null, 'unset'],
      ['retention.set', 'user:a-bob', 'unset', null],
      ['retention.set', 'app', 30, 7],
      ['retention.set', 'app', 'unset', 30],
    ]);
    expect(records.every((r) => r.actor === 'a-ops' && typeof r.at === 'number')).toBe(true);
    expect((await h.raw('GET', '/v1/admin/audit', { token: await h.token('a-user') })).status).toBe(403);
    const page = (
      await h.raw('GET', '/v1/admin/audit?limit=2', { token: await h.token('a-ops', { admin: true }) })
    ).body as { records: { auditId: string }[]; cursor: string };
    const next = (
      await h.raw('GET', `/v1/admin/audit?limit=2&cursor=${page.cursor}`, {
        token: await h.token('a-ops', { admin: true }),
      })
    ).body as { records: { auditId: string }[] };
    expect([...page.records, ...next.records].map((r) => r.auditId)).toEqual(
      records.slice(0, 4).map((r) => r.auditId),
    );
  });
});
