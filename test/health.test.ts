import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createServer as createNetServer } from 'node:net';
import { Logger, type LogItem } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ServiceUnavailableError } from '../functions/core/errors.js';
import { useApiTelemetry } from '../functions/telemetry/api-telemetry.js';
import { createLocalApi } from '../local/http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from '../local/local-app.js';
import { type Harness, startHarness, TEST_SECRET } from './support/harness.js';

/**
 * GET /health: without a token, 200 {"status": "ok"} when the store answers, 503 while the service is
 * starting or when the store does not answer; nothing else is revealed. A 503 while starting is an
 * expected answer: its log line is INFO, without an error or a stack.
 */
class CapturingLogger extends Logger {
  readonly lines: Record<string, unknown>[] = [];
  protected override printLog(_level: number, log: LogItem): void {
    log.prepareForPrint();
    this.lines.push(JSON.parse(JSON.stringify(log.getAttributes())));
  }
}

let harness: Harness;
let logger: CapturingLogger;
const servers: Server[] = [];

beforeAll(async () => {
  harness = await startHarness();
});

beforeEach(() => {
  logger = new CapturingLogger({ serviceName: 'roaming-api', logLevel: 'INFO' });
  useApiTelemetry({ logger, metrics: new Metrics({ namespace: 'Roaming', serviceName: 'roaming-api' }) });
});

afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await harness?.close();
});

async function serve(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function get(url: string, init: RequestInit = {}) {
  const response = await fetch(url, init);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe('GET /health', () => {
  it('answers 200 {"status":"ok"} without a token when the store answers, and nothing else', async () => {
    const answer = await get(`${harness.baseUrl}/health`);
    expect(answer.status).toBe(200);
    expect(answer.text).toBe('{"status":"ok"}\n');
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
    expect(logger.lines.at(-1)).toMatchObject({ level: 'INFO', route: 'health', status: 200 });
  });

  it('ignores a token: a bad one is not refused (there is nothing to authorize)', async () => {
    const answer = await get(`${harness.baseUrl}/health`, { headers: { authorization: 'Bearer nonsense' } });
    expect(answer.status).toBe(200);
  });

  it('answers 405 to another method', async () => {
    const answer = await get(`${harness.baseUrl}/health`, { method: 'POST' });
    expect(answer.status).toBe(405);
    expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'method_not_allowed' } });
  });

  it('answers 503 unavailable with Retry-After when the store does not answer', async () => {
    // Prepare: the service over a store endpoint nothing listens on.
    const probe = createNetServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const client = localDynamoClient(`http://127.0.0.1:${port}`);
    const app = buildLocalApp({ client: documentClientOf(client), tableName: 'nowhere' });
    const url = await serve(createLocalApi({ handlers: app.handlers, jwtSecret: TEST_SECRET }));
    try {
      // Act
      const answer = await get(`${url}/health`);
      // Assess: the store's failure is in the log line, not in the answer.
      expect(answer.status).toBe(503);
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(JSON.parse(answer.text)).toEqual({
        error: { code: 'unavailable', message: 'The store does not answer; retry shortly' },
      });
      expect(answer.text).not.toContain(String(port));
      expect(logger.lines.at(-1)).toMatchObject({ level: 'ERROR', route: 'health', status: 503 });
    } finally {
      client.destroy();
    }
  });

  it('answers 503 while the service is starting, logged once at INFO without a stack', async () => {
    const starting = new ServiceUnavailableError('Roaming is starting; retry shortly', {
      retryAfterSeconds: 2,
    });
    const url = await serve(
      createLocalApi({ handlers: {}, jwtSecret: TEST_SECRET, unavailable: () => starting }),
    );
    const health = await get(`${url}/health`);
    const route = await get(`${url}/v1/conversations`);
    const again = await get(`${url}/health`);
    expect([health.status, route.status, again.status]).toEqual([503, 503, 503]);
    expect(health.headers.get('retry-after')).toBe('2');
    expect(JSON.parse(health.text)).toMatchObject({ error: { code: 'unavailable' } });
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toMatchObject({
      level: 'INFO',
      message: 'request',
      route: 'health',
      status: 503,
      errorCode: 'unavailable',
    });
    expect(logger.lines[0]?.error).toBeUndefined();
  });
});
