import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useApiTelemetry } from '../functions/telemetry/api-telemetry.js';
import { countStoreUsage, hasMiddlewareStack } from '../functions/telemetry/store-usage.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * What operators get from every request: one Powertools log line (4xx at INFO, 5xx at ERROR with the
 * stack) and one set of EMF metrics per route. Captured here by a logger and a metrics object that
 * keep what they would print.
 */
class CapturingLogger extends Logger {
  readonly lines: Record<string, unknown>[] = [];
  protected override printLog(_level: number, log: LogItem): void {
    log.prepareForPrint();
    this.lines.push(JSON.parse(JSON.stringify(log.getAttributes())));
  }
}

class CapturingMetrics extends Metrics {
  readonly published: Record<string, unknown>[] = [];
  override publishStoredMetrics(): this {
    if (this.hasStoredMetrics()) this.published.push(JSON.parse(JSON.stringify(this.serializeMetrics())));
    this.clearMetrics();
    this.clearDimensions();
    return this;
  }
  override captureColdStartMetric(): void {}
}

let harness: Harness;
let logger: CapturingLogger;
let metrics: CapturingMetrics;
let failing = false;

beforeAll(async () => {
  logger = new CapturingLogger({ serviceName: 'roaming-api', logLevel: 'INFO' });
  metrics = new CapturingMetrics({ namespace: 'Roaming', serviceName: 'roaming-api' });
  useApiTelemetry({ logger, metrics });
  harness = await startHarness({
    // Fails the store's answers on demand, as a bug or an unexpected AWS error would.
    wrapClient: (client) => ({
      send: ((command: never) =>
        failing ? Promise.reject(new Error('disk on fire')) : client.send(command)) as typeof client.send,
    }),
  });
  // The wrapper hides the client from the local app; count on the client beneath it, as Lambda does.
  if (hasMiddlewareStack(harness.documentClient)) countStoreUsage(harness.documentClient);
});

afterAll(async () => {
  await harness?.close();
});

function lastLine(): Record<string, unknown> {
  return logger.lines.at(-1) as Record<string, unknown>;
}

describe('request log lines and metrics', () => {
  it('a request: one INFO line with route, caller, status, latency, DynamoDB requests and the request id; never the token', async () => {
    const token = await harness.token('log-alice');
    const before = logger.lines.length;
    const answer = await harness.raw('POST', '/v1/messages', {
      token,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ to: 'log-bob', chatType: 'single', type: 'text', body: { text: 'hi' } }),
    });
    expect(answer.status).toBe(201);
    expect(logger.lines.length).toBe(before + 1);
    const line = lastLine();
    expect(line).toMatchObject({
      level: 'INFO',
      message: 'request',
      service: 'roaming-api',
      route: 'sendMessage',
      method: 'POST',
      routeKey: 'POST /v1/messages',
      caller: 'log-alice',
      status: 201,
      correlation_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      function_request_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(line.latencyMs).toEqual(expect.any(Number));
    expect(line.path).toBeUndefined();
    // A single-chat send: one BatchGetItem and one TransactWriteItems (docs/storage.md, access patterns).
    expect(line.dynamodb).toEqual({
      requests: 2,
      capacityUnits: expect.any(Number),
      readUnits: expect.any(Number),
      byCommand: { BatchGetItem: 1, TransactWriteItems: 1 },
    });
    expect(JSON.stringify(line)).not.toContain(token);
  });

  it('a 4xx: INFO with the error code; a request refused for its token names no caller', async () => {
    const token = await harness.token('log-carol');
    await harness.raw('GET', '/v1/conversations?limit=0', { token });
    expect(lastLine()).toMatchObject({
      level: 'INFO',
      route: 'listConversations',
      caller: 'log-carol',
      status: 400,
      errorCode: 'bad_request',
      dynamodb: { requests: 0 },
    });
    await harness.raw('GET', '/v1/conversations', { token: 'not-a-token' });
    expect(lastLine()).toMatchObject({ level: 'INFO', status: 401, errorCode: 'unauthorized' });
    expect(lastLine().caller).toBeUndefined();
  });

  it('a 5xx: ERROR with the error, its stack and its cause; the caller sees only "internal"', async () => {
    const token = await harness.token('log-dave');
    failing = true;
    try {
      const answer = await harness.raw('GET', '/v1/conversations/single/log-erin/messages', { token });
      expect(answer.status).toBe(500);
      expect(answer.body).toEqual({ error: { code: 'internal', message: 'Internal error' } });
    } finally {
      failing = false;
    }
    const line = lastLine();
    expect(line).toMatchObject({
      level: 'ERROR',
      message: 'request failed',
      route: 'fetchHistory',
      caller: 'log-dave',
      status: 500,
      errorCode: 'internal',
      error: { name: 'StoreError', cause: { message: 'disk on fire' } },
    });
    expect((line.error as { stack: string }).stack).toContain('StoreError');
  });

  it("an admin action's line carries its own request's correlation id, not the previous request's", async () => {
    const admin = await harness.token('log-ops', { admin: true });
    // Prepare: a request before it, whose id the admin line must not carry.
    await harness.raw('GET', '/v1/admin/retention', { token: admin });
    const before = logger.lines.length;
    // Act: one admin action (a retention change is audited and logged).
    const answer = await harness.raw('PUT', '/v1/admin/retention', {
      token: admin,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ days: 30 }),
    });
    // Assess: its two lines, the admin action then the request, share one id, new to this request.
    expect(answer.status).toBe(202); // from keep-forever to 30 days: a shortening (at once in the harness)
    const [action, request] = logger.lines.slice(before);
    expect(logger.lines.length).toBe(before + 2);
    expect(action).toMatchObject({ message: 'admin action', audit: { actor: 'log-ops' } });
    expect(request).toMatchObject({ message: 'request', route: 'putRetention', status: 202 });
    expect(action?.correlation_id).toEqual(expect.stringMatching(/^[0-9a-f-]{36}$/));
    expect(action?.correlation_id).toBe(request?.correlation_id);
    expect(action?.correlation_id).not.toBe(logger.lines[before - 1]?.correlation_id);
  });

  it('names the route key, never the path: whose conversation or which group is not in the log', async () => {
    const token = await harness.token('log-gina');
    const requests: [string, string, string][] = [
      [
        'GET',
        '/v1/conversations/single/log-secret-peer/messages',
        'GET /v1/conversations/{chatType}/{convId}/messages',
      ],
      ['DELETE', '/v1/conversations/group/secret-group-id', 'DELETE /v1/conversations/{chatType}/{convId}'],
      [
        'PUT',
        '/v1/groups/secret-group-id/members/log-secret-peer',
        'PUT /v1/groups/{groupId}/members/{userId}',
      ],
    ];
    for (const [method, path, routeKey] of requests) {
      await harness.raw(method, path, { token });
      const line = lastLine();
      expect(line, path).toMatchObject({ message: 'request', routeKey, caller: 'log-gina' });
      expect(line.path, path).toBeUndefined();
      expect(JSON.stringify(line), path).not.toMatch(/secret-group-id|log-secret-peer/);
    }
    // Refused before any handler (a bad token): the same, from the local server's own line.
    await harness.raw('GET', '/v1/conversations/single/log-secret-peer/messages', { token: 'forged' });
    expect(lastLine()).toMatchObject({
      status: 401,
      routeKey: 'GET /v1/conversations/{chatType}/{convId}/messages',
    });
    expect(JSON.stringify(lastLine())).not.toContain('log-secret-peer');
  });

  it('a 404 keeps its path, cut to 64 characters (locally and in the $default function)', async () => {
    const token = await harness.token('log-hal');
    const long = `/v1/nothing/${'x'.repeat(200)}`;
    await harness.raw('GET', long, { token });
    expect(lastLine()).toMatchObject({ status: 404, routeKey: '$default', path: `${long.slice(0, 64)}…` });
    const { handler } = await import('../functions/lambda/notFound.js');
    await handler({
      rawPath: long,
      routeKey: '$default',
      requestContext: { http: { method: 'GET' }, requestId: 'r-404' },
    } as never);
    expect(lastLine()).toMatchObject({
      route: 'notFound',
      routeKey: '$default',
      path: `${long.slice(0, 64)}…`,
    });
  });

  it('EMF metrics per route: requests, latency, 4xx, 5xx, DynamoDB requests and capacity', async () => {
    const token = await harness.token('log-frank');
    metrics.published.length = 0;
    await harness.raw('GET', '/v1/conversations?limit=5', { token });
    const [emf] = metrics.published as {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
      [key: string]: unknown;
    }[];
    const directive = emf?._aws.CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('Roaming');
    expect(directive?.Dimensions).toEqual([['service', 'route']]);
    expect(directive?.Metrics.map((m) => m.Name)).toEqual([
      'Requests',
      'Latency',
      'ClientErrors',
      'ServerErrors',
      'DynamoDBRequests',
      'DynamoDBCapacityUnits',
    ]);
    expect(emf).toMatchObject({
      service: 'roaming-api',
      route: 'listConversations',
      Requests: 1,
      ClientErrors: 0,
    });
    expect(emf?.DynamoDBRequests).toBeGreaterThan(0);
  });
});
