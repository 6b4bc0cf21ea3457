import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../functions/http/endpoint.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness, TEST_SECRET } from './support/harness.js';

let h: Harness;
let token: string;
beforeAll(async () => {
  h = await startHarness();
  token = await h.token('http-alice');
});
afterAll(async () => {
  await h.close();
});

const json = { 'content-type': 'application/json' };

describe('bad input gets a 4xx naming the problem, never a 500', () => {
  const cases: {
    name: string;
    method: string;
    path: string;
    body?: string;
    headers?: Record<string, string>;
    status: number;
    message: RegExp;
  }[] = [
    {
      name: 'pageSize 0',
      method: 'GET',
      path: '/v1/conversations?pageSize=0',
      status: 400,
      message: /pageSize.*>=1/,
    },
    {
      name: 'pageSize 21',
      method: 'GET',
      path: '/v1/conversations?pageSize=21',
      status: 400,
      message: /pageSize.*<=20/,
    },
    {
      name: 'pageNum 0',
      method: 'GET',
      path: '/v1/conversations?pageSize=5&pageNum=0',
      status: 400,
      message: /pageNum/,
    },
    {
      name: 'limit 51',
      method: 'GET',
      path: '/v1/conversations?limit=51',
      status: 400,
      message: /limit.*<=50/,
    },
    {
      name: 'page and cursor mixed',
      method: 'GET',
      path: '/v1/conversations?pageSize=5&limit=5',
      status: 400,
      message: /either/,
    },
    {
      name: 'forged cursor',
      method: 'GET',
      path: '/v1/conversations?cursor=bm90LWEtY3Vyc29y',
      status: 400,
      message: /cursor/,
    },
    {
      name: 'forged sync token',
      method: 'GET',
      path: '/v1/conversations?since=yesterday',
      status: 400,
      message: /since/,
    },
    {
      name: 'history pageSize 51',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?pageSize=51',
      status: 400,
      message: /pageSize.*<=50/,
    },
    {
      name: 'history pageSize not a number',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?pageSize=ten',
      status: 400,
      message: /pageSize.*whole number/,
    },
    {
      name: 'bad chatType',
      method: 'GET',
      path: '/v1/conversations/channel/bob/messages',
      status: 400,
      message: /chatType/,
    },
    {
      name: 'unknown direction',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?direction=sideways',
      status: 400,
      message: /direction/,
    },
    {
      name: 'malformed startMsgId',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?startMsgId=abc',
      status: 400,
      message: /startMsgId/,
    },
    {
      name: 'startTime after endTime',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?startTime=5&endTime=4',
      status: 400,
      message: /startTime/,
    },
    {
      name: 'unknown message type filter',
      method: 'GET',
      path: '/v1/conversations/single/bob/messages?types=text,gif',
      status: 400,
      message: /types/,
    },
    {
      name: 'convId with a key separator',
      method: 'GET',
      path: '/v1/conversations/single/a%23b/messages',
      status: 400,
      message: /convId/,
    },
    {
      name: 'non-JSON body',
      method: 'POST',
      path: '/v1/messages',
      body: '{"to": ',
      headers: json,
      status: 400,
      message: /not valid JSON/,
    },
    {
      name: 'not JSON content type',
      method: 'POST',
      path: '/v1/messages',
      body: 'to=bob',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 415,
      message: /JSON/,
    },
    { name: 'missing body', method: 'POST', path: '/v1/messages', status: 400, message: /body/ },
    {
      name: 'missing to',
      method: 'POST',
      path: '/v1/messages',
      body: JSON.stringify({ chatType: 'single', type: 'text', body: { text: 'x' } }),
      headers: json,
      status: 400,
      message: /body\.to/,
    },
    {
      name: 'unknown message type',
      method: 'POST',
      path: '/v1/messages',
      body: JSON.stringify({ ...text('bob', 'x'), type: 'gif' }),
      headers: json,
      status: 400,
      message: /body\.type/,
    },
    {
      name: 'text without text',
      method: 'POST',
      path: '/v1/messages',
      body: JSON.stringify({ to: 'bob', chatType: 'single', type: 'text', body: {} }),
      headers: json,
      status: 400,
      message: /body\.text/,
    },
    {
      name: 'body that is an array',
      method: 'POST',
      path: '/v1/messages',
      body: '[]',
      headers: json,
      status: 400,
      message: /body/,
    },
    {
      name: 'oversized body',
      method: 'POST',
      path: '/v1/messages',
      body: JSON.stringify(text('bob', 'x'.repeat(MAX_BODY_BYTES))),
      headers: json,
      status: 413,
      message: /exceeds/,
    },
    {
      name: 'broken percent-encoding in the path',
      method: 'GET',
      path: '/v1/conversations/single/%E0%A4%A/messages',
      status: 400,
      message: /percent-encoding/,
    },
    { name: 'unknown route', method: 'GET', path: '/v1/nothing-here', status: 404, message: /No route/ },
    { name: 'wrong method', method: 'PATCH', path: '/v1/messages', status: 405, message: /PATCH/ },
  ];
  for (const c of cases) {
    it(`${c.name} -> ${c.status}`, async () => {
      const response = await h.raw(c.method, c.path, { token, body: c.body, headers: c.headers });
      expect(response.status).toBe(c.status);
      expect(response.body.error?.message).toMatch(c.message);
      expect(response.body.error?.code).toEqual(expect.any(String));
    });
  }

  it('stores nothing for a rejected send', async () => {
    await h.raw('POST', '/v1/messages', {
      token,
      body: JSON.stringify({ ...text('http-bob', 'x'), type: 'gif' }),
      headers: json,
    });
    expect((await (await h.as('http-bob')).fetchConversationsFromServer({ limit: 5 })).conversations).toEqual(
      [],
    );
  });
});

describe('authentication', () => {
  it('answers 401 without a token, with a forged one and with an expired one', async () => {
    expect((await h.raw('GET', '/v1/conversations')).status).toBe(401);
    const forged = `${token.slice(0, -4)}AAAA`;
    expect((await h.raw('GET', '/v1/conversations', { token: forged })).status).toBe(401);
    const otherSecret = await (await import('../local/dev-auth.js')).signDevToken('http-alice', {
      secret: 'another-secret',
    });
    expect((await h.raw('GET', '/v1/conversations', { token: otherSecret })).body.error?.code).toBe(
      'unauthorized',
    );
  });

  it('answers 403 on user routes without the user scope, whose name the server is given', async () => {
    const { signDevToken } = await import('../local/dev-auth.js');
    const { createLocalApi } = await import('../local/http-server.js');
    const { signClaims } = await import('./support/forged-tokens.js');
    // A token of the issuer without roaming/user (an ID token's scopes): refused, naming the scope.
    const now = Math.floor(Date.now() / 1000);
    const idToken = await signClaims(
      { sub: 'http-alice', iss: 'roaming-local', aud: 'roaming', iat: now, exp: now + 60, scope: 'openid' },
      TEST_SECRET,
    );
    const refused = await h.raw('GET', '/v1/conversations', { token: idToken });
    expect([refused.status, refused.body.error?.message]).toEqual([
      403,
      'This route needs the roaming/user scope',
    ]);
    // A server configured with another name (ROAMING_USER_SCOPE) wants that name, and tokens carry it.
    const server = createLocalApi({
      handlers: { listConversations: async () => ({ statusCode: 200, body: '{}' }) },
      jwtSecret: TEST_SECRET,
      userScope: 'chat/user',
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/conversations`;
      const as = async (userScope?: string) =>
        (
          await fetch(url, {
            headers: {
              authorization: `Bearer ${await signDevToken('http-alice', { secret: TEST_SECRET, userScope })}`,
            },
          })
        ).status;
      expect([await as(), await as('chat/user')]).toEqual([403, 200]);
    } finally {
      server.close();
    }
  });

  it('answers 403 on admin routes without the admin scope', async () => {
    const response = await h.raw('GET', '/v1/admin/retention', { token });
    expect(response.status).toBe(403);
    expect(response.body.error?.message).toMatch(/roaming\/admin/);
  });
});

describe('DynamoDB requests per operation', () => {
  it('costs a fixed, small number of requests for each core operation', async () => {
    const alice = await h.as('rq-alice');
    const members = Array.from({ length: 9 }, (_, i) => `rq-member-${i}`);
    const group = await alice.createGroup({ members });
    await alice.sendMessage(text('rq-bob', 'hello'));
    // Reads look up the caller's retention policy once, then cache it for policyCacheMs.
    h.requests.reset();
    await alice.fetchConversationsFromServer({ limit: 20 });
    expect(h.requests.byCommand).toEqual({ BatchGetItem: 1, Query: 1 });

    h.requests.reset();
    await alice.sendMessage(text('rq-bob', 'single'));
    const single = { ...h.requests.byCommand };

    h.requests.reset();
    await alice.sendMessage(text(group.groupId, 'group of 10', { chatType: 'group' }));
    const groupSend = { ...h.requests.byCommand };

    h.requests.reset();
    await alice.fetchConversationsFromServer({ limit: 20 });
    const listPage = { ...h.requests.byCommand };

    h.requests.reset();
    await alice.fetchHistoryMessages('rq-bob', 'single', 20);
    const historyPage = { ...h.requests.byCommand };

    h.requests.reset();
    await alice.fetchHistoryMessages(group.groupId, 'group', 20);
    const groupHistoryPage = { ...h.requests.byCommand };

    // Single chat: one strongly consistent read of both sides, one transaction for the whole send.
    expect(single).toEqual({ BatchGetItem: 1, TransactWriteItems: 1 });
    // Group: the sender's side with META (which says the mode: docs/large-groups.md), the group, the
    // position (one transaction), the members' sides (with the log entry below), one transaction per
    // member, and the log entry's TTL once every member has it.
    expect(groupSend).toEqual({ Query: 1, BatchGetItem: 2, TransactWriteItems: 11, UpdateItem: 1 });
    expect(listPage).toEqual({ Query: 1 });
    expect(historyPage).toEqual({ GetItem: 1, Query: 1 });
    // Membership comes with the caller's own conversation item: no extra read for a group; its shared
    // history (a large group's, docs/large-groups.md) is read along, in the same round trip.
    expect(groupHistoryPage).toEqual({ GetItem: 1, Query: 2 });
  });
});

describe('JSON answers end with a newline (curl output does not run into the prompt)', () => {
  it.each([
    ['a success', 'GET', '/v1/conversations', 200],
    ['an error from a route', 'GET', '/v1/conversations?limit=0', 400],
    ['no route', 'GET', '/v1/nowhere', 404],
  ] as const)('%s', async (_name, method, path, status) => {
    const answer = await fetch(`${h.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
    });
    const body = await answer.text();
    expect(answer.status).toBe(status);
    expect(body.endsWith('}\n')).toBe(true);
    expect(body.indexOf('\n')).toBe(body.length - 1);
  });
});
