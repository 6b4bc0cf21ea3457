import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError, RoamingClient } from '../client/roaming-client.js';

/**
 * The client behind what sits between it and the API: a base URL with a path (an API Gateway custom
 * domain mapping, a reverse proxy) and a proxy's own answers (an HTML 502). A stand-in server records
 * each request's path and answers what the test tells it to.
 */
type Answer = { status: number; headers?: Record<string, string>; body: string };

let server: Server;
let origin: string;
let next: Answer;
const seen: string[] = [];

beforeAll(async () => {
  server = createServer(function answer(req: IncomingMessage, res: ServerResponse) {
    seen.push(req.url ?? '');
    res.writeHead(next.status, next.headers ?? { 'content-type': 'application/json' });
    res.end(next.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const EMPTY_PAGE = JSON.stringify({ conversations: [], cursor: null });

async function thrownBy(work: Promise<unknown>): Promise<RoamingApiError> {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(RoamingApiError);
  return error as RoamingApiError;
}

describe('the client and its base URL', () => {
  it.each([
    ['/roaming', '/roaming/v1/conversations?limit=5'],
    ['/roaming/', '/roaming/v1/conversations?limit=5'],
    ['', '/v1/conversations?limit=5'],
  ])('keeps the base path "%s"', async (basePath, expected) => {
    next = { status: 200, body: EMPTY_PAGE };
    const client = new RoamingClient(`${origin}${basePath}`, 'a token');
    await client.fetchConversationsFromServer({ limit: 5 });
    expect(seen.at(-1)).toBe(expected);
  });
});

describe('the client and error answers', () => {
  it("a proxy's HTML 502 is a RoamingApiError with its status, not a SyntaxError", async () => {
    next = {
      status: 502,
      headers: { 'content-type': 'text/html' },
      body: '<html><body>502 Bad Gateway</body></html>',
    };
    const error = await thrownBy(new RoamingClient(origin, 't').fetchConversationsFromServer());
    expect(error.status).toBe(502);
    expect(error.code).toBe('unknown');
    expect(error.message).toContain('502 Bad Gateway');
    expect(error.retryAfterSeconds).toBeUndefined();
  });

  it("an API error keeps the server's code and message, and exposes Retry-After", async () => {
    next = {
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '3' },
      body: JSON.stringify({ error: { code: 'rate_limited', message: 'Too many messages' } }),
    };
    const error = await thrownBy(
      new RoamingClient(origin, 't').sendMessage({ to: 'bob', chatType: 'single', type: 'text', body: {} }),
    );
    expect([error.status, error.code, error.message, error.retryAfterSeconds]).toEqual([
      429,
      'rate_limited',
      'Too many messages',
      3,
    ]);
  });

  it('an empty 503 with an HTTP-date Retry-After is a RoamingApiError with seconds to wait', async () => {
    next = {
      status: 503,
      headers: { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() },
      body: '',
    };
    const error = await thrownBy(new RoamingClient(origin, 't').getRetention());
    expect(error.status).toBe(503);
    expect(error.code).toBe('unknown');
    expect(error.retryAfterSeconds).toBeGreaterThan(3_000);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(3_600);
  });

  it('a 2xx that is not JSON is a RoamingApiError too', async () => {
    next = { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
    const error = await thrownBy(new RoamingClient(origin, 't').fetchConversationsFromServer());
    expect([error.status, error.code]).toEqual([200, 'invalid_response']);
  });
});
