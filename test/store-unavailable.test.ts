import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  ServiceUnavailableError,
  StoreError,
  ThrottledError,
  ValidationError,
} from '../functions/core/errors.js';
import { errorResponse } from '../functions/http/error-response.js';
import { ROUTES } from '../functions/routes.js';
import { isStoreUnreachable } from '../functions/store/db.js';
import { signDevToken } from '../local/dev-auth.js';
import { createLocalApi } from '../local/http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from '../local/local-app.js';

// errorResponse logs each failure on stderr; the assertions are on the answers.
beforeAll(() => {
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
});
afterAll(() => {
  vi.restoreAllMocks();
});

/** A port nothing listens on: bound, then closed, so connecting is refused. */
async function deadEndpoint(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** What the SDK throws for one DescribeTable against `endpoint`. */
async function sdkErrorFrom(endpoint: string): Promise<unknown> {
  const client = localDynamoClient(endpoint);
  try {
    await client.send(new DescribeTableCommand({ TableName: 'nothing-here' }));
    return undefined;
  } catch (error) {
    return error;
  } finally {
    client.destroy();
  }
}

describe('errors that carry a retry-after answer with a Retry-After header', () => {
  it('503 ServiceUnavailableError: code unavailable, its message, Retry-After in seconds', () => {
    const response = errorResponse(
      new ServiceUnavailableError('The store is unavailable', { retryAfterSeconds: 5 }),
    );
    expect(response.statusCode).toBe(503);
    expect(response.headers?.['retry-after']).toBe('5');
    expect(JSON.parse(response.body ?? '')).toEqual({
      error: { code: 'unavailable', message: 'The store is unavailable' },
    });
  });

  it('429 ThrottledError: Retry-After too (1 s unless it says otherwise)', () => {
    const response = errorResponse(new ThrottledError('busy'));
    expect(response.statusCode).toBe(429);
    expect(response.headers?.['retry-after']).toBe('1');
  });

  it('other errors have none, and a StoreError stays a 500 that hides its message', () => {
    expect(errorResponse(new ValidationError('bad')).headers?.['retry-after']).toBeUndefined();
    const internal = errorResponse(new StoreError('secret details'));
    expect(internal.statusCode).toBe(500);
    expect(internal.headers?.['retry-after']).toBeUndefined();
    expect(internal.body).not.toContain('secret details');
  });
});

describe('isStoreUnreachable tells a store that cannot be reached from one that answered', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });

  it('connection refused (nothing listens) is unreachable', async () => {
    const error = await sdkErrorFrom(await deadEndpoint());
    expect(error).toMatchObject({ code: 'ECONNREFUSED' });
    expect(isStoreUnreachable(error)).toBe(true);
  });

  it('a connection closed without an answer (socket hang up / reset) is unreachable', async () => {
    const hangUp = createServer((socket) => socket.destroy());
    servers.push(hangUp);
    const error = await sdkErrorFrom(await listen(hangUp));
    expect(isStoreUnreachable(error)).toBe(true);
  });

  it('a cause chain is followed; an answer from the store (not found, bad request) is not unreachable', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(isStoreUnreachable(new Error('wrapped', { cause: refused }))).toBe(true);
    const notFound = Object.assign(new Error('Requested resource not found'), {
      name: 'ResourceNotFoundException',
    });
    expect(isStoreUnreachable(notFound)).toBe(false);
    expect(isStoreUnreachable(new Error('ValidationException'))).toBe(false);
    expect(isStoreUnreachable('ECONNREFUSED')).toBe(false);
  });
});

describe('a dead store: every route answers 503 with Retry-After, quickly, never 500', () => {
  let baseUrl: string;
  let close: () => Promise<void>;
  const secret = 'dead-store-secret';
  beforeAll(async () => {
    const client = localDynamoClient(await deadEndpoint());
    const app = buildLocalApp({ client: documentClientOf(client), tableName: 'gone' });
    const server = createLocalApi({ handlers: app.handlers, jwtSecret: secret });
    baseUrl = await listen(server);
    close = async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      client.destroy();
    };
  });
  afterAll(() => close());

  /** A valid request for each route, so that it gets as far as the store. */
  const requests: Record<string, { path: string; body?: unknown }> = {
    sendMessage: {
      path: '/v1/messages',
      body: { to: 'bob', chatType: 'single', type: 'text', body: { text: 'hi' } },
    },
    listConversations: { path: '/v1/conversations' },
    fetchHistory: { path: '/v1/conversations/single/bob/messages' },
    deleteMessages: { path: '/v1/conversations/single/bob/messages?msgIds=01ARZ3NDEKTSV4RRFFQ69G5FAV' },
    markRead: { path: '/v1/conversations/single/bob/read', body: {} },
    recallMessage: { path: '/v1/conversations/single/bob/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV/recall' },
    modifyMessage: {
      path: '/v1/conversations/single/bob/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV',
      body: { body: { text: 'fixed' } },
    },
    pinConversation: { path: '/v1/conversations/single/bob/pin' },
    unpinConversation: { path: '/v1/conversations/single/bob/pin' },
    markConversation: { path: '/v1/conversations/single/bob/marks/3' },
    unmarkConversation: { path: '/v1/conversations/single/bob/marks/3' },
    deleteConversation: { path: '/v1/conversations/single/bob?deleteMessages=true' },
    createGroup: { path: '/v1/groups', body: { name: 'team', members: ['bob'] } },
    addMember: { path: '/v1/groups/team/members/carol' },
    removeMember: { path: '/v1/groups/team/members/carol' },
    getRetention: { path: '/v1/admin/retention' },
    putRetention: { path: '/v1/admin/retention', body: { days: 30 } },
    putUserRetention: { path: '/v1/admin/retention/users/bob', body: { days: 7 } },
    deleteUserRetention: { path: '/v1/admin/retention/users/bob' },
    previewRetention: { path: '/v1/admin/retention/preview?days=30' },
    cancelPendingRetention: { path: '/v1/admin/retention/pending' },
    listSweeps: { path: '/v1/admin/sweeps' },
    listAudit: { path: '/v1/admin/audit' },
    startSweep: { path: '/v1/admin/sweeps', body: {} },
    replayEvents: { path: '/v1/admin/events/replay', body: { from: 0 } },
    putHold: { path: '/v1/admin/holds/case-1', body: { userIds: ['bob'], reason: 'Case 1' } },
    listHolds: { path: '/v1/admin/holds' },
    deleteHold: { path: '/v1/admin/holds/case-1' },
    putConversationRetention: { path: '/v1/conversations/single/bob/retention', body: { days: 7 } },
    startExport: { path: '/v1/admin/exports', body: { userId: 'bob' } },
    getExport: { path: '/v1/admin/exports/01KG8NJW002MYZ336HTPDJ5Q1Z' },
    startErasure: { path: '/v1/admin/erasures', body: { userId: 'bob' } },
    getErasure: { path: '/v1/admin/erasures/01ARZ3NDEKTSV4RRFFQ69G5FAV' },
  };

  it('covers every route in the route table', () => {
    expect(Object.keys(requests).sort()).toEqual(ROUTES.map((route) => route.name).sort());
  });

  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, async () => {
      const request = requests[route.name];
      if (!request) throw new Error(`no request for ${route.name}`);
      const token = await signDevToken('alice', { admin: true, secret });
      const started = performance.now();
      const response = await fetch(new URL(request.path, baseUrl), {
        method: route.method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(request.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
      });
      const elapsed = performance.now() - started;
      expect({ status: response.status, body: await response.json() }).toEqual({
        status: 503,
        body: { error: { code: 'unavailable', message: 'The store is unavailable; retry shortly' } },
      });
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(elapsed).toBeLessThan(2500);
    });
  }
});
