import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendWire } from './fuzz/wire.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Inputs that the fuzzer (test/fuzz/) and the authorization matrix found doing something wrong, each
 * replayed here for good. (The matrix's own 'no expiry' cells are the regression tests of the token
 * without exp that was accepted.)
 */
let h: Harness;
let authorization: string;
beforeAll(async () => {
  h = await startHarness();
  authorization = `Bearer ${await h.token('regress-alice')}`;
});
afterAll(async () => {
  await h.close();
});

describe('fuzz findings', () => {
  it('a URL over 16 KiB gets a 431 JSON error, not a bare status line (seed 1019463078, a 65,536-character query key)', async () => {
    // Node refuses such a request before any handler runs; its default answer had no body at all.
    const answer = await sendWire(h.baseUrl, {
      method: 'POST',
      url: `/v1/messages?${'x'.repeat(65_536)}=%205`,
      headers: { authorization, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(answer.status).toBe(431);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.text)).toEqual({
      error: { code: 'headers_too_large', message: 'The URL and headers exceed 16 KiB' },
    });
  });

  it('the service still answers after refusing one (the refused connection is closed, not the server)', async () => {
    await sendWire(h.baseUrl, {
      method: 'GET',
      url: `/v1/conversations/single/${'y'.repeat(20_000)}`,
      headers: {},
    });
    const answer = await sendWire(h.baseUrl, {
      method: 'GET',
      url: '/v1/conversations',
      headers: { authorization },
    });
    expect(answer.status).toBe(200);
  });
});
