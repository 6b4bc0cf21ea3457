import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAsyncInvoke } from '../functions/lambda-invoke.js';
import { lambdaSweepStarter } from '../functions/sweep-starter.js';

/** A stand-in for the Lambda API that records what it was sent and answers with `status`. */
let status = 202;
const received: { method?: string; url?: string; headers: IncomingMessage['headers']; body: string }[] = [];
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    received.push({
      method: req.method,
      url: req.url,
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(status === 202 ? '' : '{"Type":"User","message":"denied"}');
  });
});
let client: LambdaClient;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = new LambdaClient({
    region: 'eu-west-1',
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  client.destroy();
});

describe('starting the sweep function from POST /v1/admin/sweeps', () => {
  it('invokes it asynchronously (Event) with the run id, signed for the lambda service', async () => {
    // Prepare
    status = 202;
    const starter = lambdaSweepStarter('roaming-sweep', createAsyncInvoke(client));
    // Act
    await starter.start('01RUNID');
    // Assess
    const request = received.at(-1);
    expect(request).toMatchObject({ method: 'POST', url: '/2015-03-31/functions/roaming-sweep/invocations' });
    expect(request?.headers['x-amz-invocation-type']).toBe('Event');
    expect(request?.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/eu-west-1\/lambda\/aws4_request, SignedHeaders=.*host.*x-amz-invocation-type/,
    );
    expect(JSON.parse(request?.body ?? '')).toEqual({ source: 'roaming.admin', runId: '01RUNID' });
  });

  it('fails loudly when Lambda refuses', async () => {
    status = 403;
    const invoke = createAsyncInvoke(client);
    await expect(invoke('roaming-sweep', {})).rejects.toThrow(/Invoke of roaming-sweep failed/);
  });
});
