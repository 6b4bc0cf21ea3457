import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { ttlAfter } from '../functions/core/clock.js';
import type { SendRequest } from '../functions/core/model.js';
import type { PresendPolicy } from '../functions/domain/deps.js';
import { hasValidSignature, SIGNATURE_HEADER } from '../functions/events/signing.js';
import { configFromEnv, DEVELOPMENT_IDEMPOTENCY_KEY, presendFromEnv } from '../functions/runtime.js';
import { retryableRequest } from '../functions/store/idempotency-store.js';
import { keys } from '../functions/store/keys.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';
import { contractProblems } from './support/openapi-contract.js';

/**
 * The pre-send hook (docs/presend-hook.md) on the real engine: a real hook server on 127.0.0.1, which
 * answers each sender as the test scripted it and records every call it gets (the count of calls is
 * what "never twice" is about).
 */
const WEBHOOK_SECRET = 'presend-test-webhook-secret';
const TIMEOUT_MS = 300;

interface HookCall {
  rawBody: string;
  signature: string | undefined;
  payload: {
    type: string;
    occurredAt: number;
    data: SendRequest & { from: string };
  };
}

/** How the hook answers one call: a status and a body, after an optional delay; `hang` never answers. */
type Answer = { status?: number; body: unknown; delayMs?: number } | 'hang';

class HookServer {
  readonly calls = new Map<string, HookCall[]>();
  private readonly scripts = new Map<string, (call: HookCall) => Answer>();
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/presend`;
  }

  /** How the hook answers `sender`'s sends (each test uses senders of its own). */
  script(sender: string, answer: (call: HookCall) => Answer): void {
    this.scripts.set(sender, answer);
  }

  callsFrom(sender: string): HookCall[] {
    return this.calls.get(sender) ?? [];
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const payload = JSON.parse(rawBody) as HookCall['payload'];
    const call: HookCall = { rawBody, signature: request.headers[SIGNATURE_HEADER] as string, payload };
    const sender = payload.data.from;
    this.calls.set(sender, [...this.callsFrom(sender), call]);
    const answer = this.scripts.get(sender)?.(call) ?? { body: { action: 'allow' } };
    if (answer === 'hang') return;
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (response.destroyed) return;
    response.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
    response.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }
}

const hook = new HookServer();
const harnesses = {} as Record<PresendPolicy, Harness>;

beforeAll(async () => {
  await hook.start();
  for (const policy of ['open', 'closed'] as const) {
    harnesses[policy] = await startHarness({
      config: { presendTimeoutMs: TIMEOUT_MS },
      presend: { url: hook.url, policy, secret: () => Promise.resolve(WEBHOOK_SECRET) },
    });
  }
});
afterAll(async () => {
  await Promise.all(Object.values(harnesses).map((h) => h.close()));
  await hook.close();
});

/** A sender id no other test uses (the hook server scripts and counts calls by sender). */
function user(label: string): string {
  return `${label}-${Math.random().toString(36).slice(2, 8)}`;
}

async function history(client: RoamingClient, convId: string, chatType: 'single' | 'group' = 'single') {
  return (await client.fetchHistoryMessages(convId, chatType, 50)).messages;
}

async function conversations(client: RoamingClient) {
  return (await client.fetchConversationsFromServer({ limit: 50 })).conversations;
}

/** The error a send failed with, as the client saw it. */
async function refusal(send: Promise<unknown>) {
  return send.then(
    () => {
      throw new Error('the send was accepted');
    },
    (error: { status: number; code: string; message: string }) => ({
      status: error.status,
      code: error.code,
      message: error.message,
    }),
  );
}

/** The decision record of a send, as stored. */
async function decisionRecord(h: Harness, sender: string, clientMsgId: string) {
  const found = (await h.documentClient.send(
    new GetCommand({
      TableName: h.tableName,
      Key: keys.presendDecision(sender, clientMsgId),
      ConsistentRead: true,
    }),
  )) as { Item?: Record<string, unknown> };
  return found.Item;
}

describe('the hook allows', () => {
  it('stores the message as sent', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('al-a'), user('al-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, () => ({ body: { action: 'allow' } }));
    // Act
    const sent = await alice.sendMessage(text(b, 'hello as sent'));
    // Assess
    expect(sent.body).toEqual({ text: 'hello as sent' });
    expect(await history(bob, a)).toEqual([sent]);
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  it('signs its call to the hook, which carries the message about to be sent', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('sig-a'), user('sig-b')];
    const alice = await h.as(a);
    // Act
    await alice.sendMessage({ ...text(b, 'signed', { clientMsgId: 'sig-1' }), ext: { tag: 'x' } });
    // Assess
    const [call] = hook.callsFrom(a);
    expect(call).toBeDefined();
    expect(hasValidSignature(WEBHOOK_SECRET, call?.rawBody ?? '', call?.signature)).toBe(true);
    expect(hasValidSignature('another-secret', call?.rawBody ?? '', call?.signature)).toBe(false);
    expect(call?.payload).toEqual({
      type: 'message.presend',
      occurredAt: h.clock.now(),
      data: {
        from: a,
        to: b,
        chatType: 'single',
        type: 'text',
        body: { text: 'signed' },
        ext: { tag: 'x' },
        clientMsgId: 'sig-1',
      },
    });
  });
});

describe('the hook rejects', () => {
  it("answers 403 rejected with the hook's reason, and stores nothing", async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('rj-a'), user('rj-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, () => ({ body: { action: 'reject', reason: 'no links allowed' } }));
    // Act
    const refused = await refusal(alice.sendMessage(text(b, 'see http://spam', { clientMsgId: 'rj-1' })));
    // Assess
    expect(refused).toEqual({ status: 403, code: 'rejected', message: 'no links allowed' });
    expect(await history(alice, b)).toEqual([]);
    expect(await history(bob, a)).toEqual([]);
    expect(await conversations(alice)).toEqual([]);
    expect(await conversations(bob)).toEqual([]);
  });

  it('answers the same refusal to a retry without asking the hook again', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('rj2-a'), user('rj2-b')];
    const alice = await h.as(a);
    hook.script(a, () => ({ body: { action: 'reject', reason: 'not today' } }));
    await refusal(alice.sendMessage(text(b, 'first', { clientMsgId: 'rj2-1' })));
    hook.script(a, () => ({ body: { action: 'allow' } }));
    // Act
    const again = await refusal(alice.sendMessage(text(b, 'first', { clientMsgId: 'rj2-1' })));
    // Assess
    expect(again).toEqual({ status: 403, code: 'rejected', message: 'not today' });
    expect(hook.callsFrom(a)).toHaveLength(1);
  });
});

describe('the hook rewrites', () => {
  it('stores and answers the rewritten body on both sides; a retry answers it too, without asking again', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('rw-a'), user('rw-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, (call) => ({
      body: {
        action: 'rewrite',
        body: { text: String(call.payload.data.body.text).replace('darn', '****') },
      },
    }));
    const message = text(b, 'oh darn it', { clientMsgId: 'rw-1' });
    // Act
    const sent = await alice.sendMessage(message);
    const retried = await alice.sendMessage(message);
    // Assess
    expect(sent.body).toEqual({ text: 'oh **** it' });
    expect(retried).toEqual(sent);
    expect(await history(alice, b)).toEqual([sent]);
    expect(await history(bob, a)).toEqual([sent]);
    expect((await conversations(bob))[0]?.lastMessage.body).toEqual({ text: 'oh **** it' });
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  it('goes through the hook for a group send too: every member gets the rewrite', async () => {
    // Prepare
    const h = harnesses.open;
    const [owner, m1, m2] = [user('grp-o'), user('grp-m1'), user('grp-m2')];
    const alice = await h.as(owner);
    const member = await h.as(m1);
    const group = await alice.createGroup({ name: 'hooked', members: [m1, m2] });
    hook.script(owner, () => ({ body: { action: 'rewrite', body: { text: 'rewritten for the group' } } }));
    // Act
    const sent = await alice.sendMessage(
      text(group.groupId, 'original', { chatType: 'group', clientMsgId: 'g-1' }),
    );
    // Assess
    expect(sent.body).toEqual({ text: 'rewritten for the group' });
    expect(await history(member, group.groupId, 'group')).toEqual([sent]);
    expect(hook.callsFrom(owner).map((call) => call.payload.data.chatType)).toEqual(['group']);
  });
});

describe('a hook that does not answer in time', () => {
  it('under open: the message is accepted as sent', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('to-a'), user('to-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, () => ({ body: { action: 'reject', reason: 'too late' }, delayMs: TIMEOUT_MS * 5 }));
    // Act
    const sent = await alice.sendMessage(text(b, 'nobody waited', { clientMsgId: 'to-1' }));
    // Assess
    expect(sent.body).toEqual({ text: 'nobody waited' });
    expect(await history(bob, a)).toEqual([sent]);
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  it('under closed: 503 hook_unavailable and nothing stored; final for the clientMsgId, a new one asks again', async () => {
    // Prepare
    const h = harnesses.closed;
    const [a, b] = [user('tc-a'), user('tc-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, () => ({ body: { action: 'allow' }, delayMs: TIMEOUT_MS * 5 }));
    // Act
    const refused = await refusal(alice.sendMessage(text(b, 'held back', { clientMsgId: 'tc-1' })));
    hook.script(a, () => ({ body: { action: 'allow' } }));
    const again = await refusal(alice.sendMessage(text(b, 'held back', { clientMsgId: 'tc-1' })));
    const callsAfterRetry = hook.callsFrom(a).length;
    const anew = await alice.sendMessage(text(b, 'held back', { clientMsgId: 'tc-2' }));
    // Assess
    expect(refused).toMatchObject({ status: 503, code: 'hook_unavailable' });
    expect(again).toMatchObject({ status: 503, code: 'hook_unavailable' });
    expect(callsAfterRetry).toBe(1);
    expect(anew.body).toEqual({ text: 'held back' });
    expect(await history(bob, a)).toEqual([anew]);
    expect(hook.callsFrom(a)).toHaveLength(2);
  });
});

describe('the refusals as the API documents them', () => {
  it.each([
    ['open', { body: { action: 'reject', reason: 'nope' } }, 403, 'rejected'],
    ['closed', { status: 502, body: 'bad gateway' }, 503, 'hook_unavailable'],
  ] as const)('under %s: the answer matches the OpenAPI document', async (policy, answer, status, code) => {
    // Prepare
    const h = harnesses[policy];
    const [a, b] = [user(`doc-${policy}-a`), user(`doc-${policy}-b`)];
    hook.script(a, () => answer);
    const url = `${h.baseUrl}/v1/messages`;
    // Act
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${await h.token(a)}`, 'content-type': 'application/json' },
      body: JSON.stringify(text(b, 'documented', { clientMsgId: 'doc-1' })),
    });
    const answered = {
      status: response.status,
      headers: Object.fromEntries(response.headers),
      text: await response.text(),
    };
    // Assess
    expect(answered.status).toBe(status);
    expect(JSON.parse(answered.text).error.code).toBe(code);
    expect(contractProblems({ method: 'POST', url }, answered)).toEqual([]);
  });
});

/** Answers a hook may give that count as errors: the policy applies. */
const BROKEN_ANSWERS: [string, Answer][] = [
  ['answers HTTP 500', { status: 500, body: { action: 'allow' } }],
  ['answers something that is not JSON', { body: 'allow' }],
  ['answers an action it does not have', { body: { action: 'maybe' } }],
  ['rewrites a text message to no text', { body: { action: 'rewrite', body: { text: '' } } }],
  ['rewrites the body to something that is not an object', { body: { action: 'rewrite', body: ['x'] } }],
  [
    'rewrites to a body over the size limit',
    { body: { action: 'rewrite', body: { text: 'x'.repeat(6000) } } },
  ],
];

describe('a hook that errs', () => {
  it.each(BROKEN_ANSWERS)('that %s, under open: the message is accepted as sent', async (label, answer) => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('eo-a'), user('eo-b')];
    const alice = await h.as(a);
    const bob = await h.as(b);
    hook.script(a, () => answer);
    // Act
    const sent = await alice.sendMessage(text(b, `as sent (${label})`, { clientMsgId: 'eo-1' }));
    // Assess
    expect(sent.body).toEqual({ text: `as sent (${label})` });
    expect(await history(bob, a)).toEqual([sent]);
    expect((await decisionRecord(h, a, 'eo-1'))?.decision).toMatchObject({
      action: 'unavailable',
      policy: 'open',
    });
  });

  it.each(BROKEN_ANSWERS)(
    'that %s, under closed: 503 hook_unavailable, nothing stored',
    async (_, answer) => {
      // Prepare
      const h = harnesses.closed;
      const [a, b] = [user('ec-a'), user('ec-b')];
      const alice = await h.as(a);
      const bob = await h.as(b);
      hook.script(a, () => answer);
      // Act
      const refused = await refusal(alice.sendMessage(text(b, 'refused', { clientMsgId: 'ec-1' })));
      // Assess
      expect(refused).toMatchObject({ status: 503, code: 'hook_unavailable' });
      expect(await history(alice, b)).toEqual([]);
      expect(await conversations(bob)).toEqual([]);
    },
  );
});

describe('the hook is never asked twice about one clientMsgId', () => {
  it('a retry after success answers the same message without asking', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('nt1-a'), user('nt1-b')];
    const alice = await h.as(a);
    const message = text(b, 'once', { clientMsgId: 'nt1-1' });
    const first = await alice.sendMessage(message);
    // Act
    const second = await alice.sendMessage(message);
    // Assess
    expect(second).toEqual(first);
    expect(await history(alice, b)).toEqual([first]);
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  it('two concurrent sends with the same clientMsgId: one call, one message, the same answer', async () => {
    // Prepare
    const h = harnesses.open;
    const second = await h.instance({ clockOffsetMs: 3000 });
    const [a, b] = [user('nt2-a'), user('nt2-b')];
    const alice = await h.as(a);
    const aliceElsewhere = await second.as(a);
    // The hook answers slowly (within its timeout), so the second send finds the claim undecided.
    hook.script(a, () => ({ body: { action: 'rewrite', body: { text: 'decided once' } }, delayMs: 100 }));
    const message = text(b, 'twice at once', { clientMsgId: 'nt2-1' });
    // Act
    const [one, other] = await Promise.all([alice.sendMessage(message), aliceElsewhere.sendMessage(message)]);
    // Assess
    expect(other).toEqual(one);
    expect(one.body).toEqual({ text: 'decided once' });
    expect(await history(alice, b)).toEqual([one]);
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  it('a different message under a used clientMsgId is a 409, without asking', async () => {
    // Prepare
    const h = harnesses.open;
    const [a, b] = [user('nt3-a'), user('nt3-b')];
    const alice = await h.as(a);
    await alice.sendMessage(text(b, 'the first', { clientMsgId: 'nt3-1' }));
    // Act
    const refused = await refusal(alice.sendMessage(text(b, 'another', { clientMsgId: 'nt3-1' })));
    // Assess
    expect(refused).toMatchObject({ status: 409, code: 'conflict' });
    expect(hook.callsFrom(a)).toHaveLength(1);
  });

  /**
   * A request that claimed the decision and died before recording it (its process gone): the claim is
   * written directly, as that request left it. The retry waits the timeout and the margin, then settles
   * the policy's outcome: final, and the hook is never asked.
   */
  it.each([
    ['open', 'accepted as sent'],
    ['closed', 'refused with 503 hook_unavailable'],
  ] as const)('a retry after a crash between claim and decision, under %s: %s', async (policy, _) => {
    // Prepare
    const h = harnesses[policy];
    const [a, b] = [user(`cr-${policy}-a`), user(`cr-${policy}-b`)];
    const alice = await h.as(a);
    const bob = await h.as(b);
    const message = text(b, 'after a crash', { clientMsgId: 'cr-1' });
    await claimAsADeadRequestLeftIt(h, a, message);
    // Act
    const outcome = await alice.sendMessage(message).then(
      (sent) => ({ sent }),
      (error: { status: number; code: string }) => ({ refused: { status: error.status, code: error.code } }),
    );
    const settled = await decisionRecord(h, a, 'cr-1');
    // Assess
    if (policy === 'open') {
      expect('sent' in outcome && outcome.sent.body).toEqual({ text: 'after a crash' });
      expect(await history(bob, a)).toHaveLength(1);
    } else {
      expect(outcome).toEqual({ refused: { status: 503, code: 'hook_unavailable' } });
      expect(await history(bob, a)).toEqual([]);
    }
    expect(settled?.decision).toMatchObject({ action: 'unavailable', policy });
    expect(hook.callsFrom(a)).toHaveLength(0);
  });
});

/** The claim record of a request that won it and died before asking the hook (or before recording). */
async function claimAsADeadRequestLeftIt(h: Harness, sender: string, message: ReturnType<typeof text>) {
  const { to, chatType, type, body } = message;
  const { hash } = retryableRequest(
    keys.idempotency(sender, message.clientMsgId as string),
    { to, chatType, type, body },
    DEVELOPMENT_IDEMPOTENCY_KEY,
  );
  await h.documentClient.send(
    new PutCommand({
      TableName: h.tableName,
      Item: {
        ...keys.presendDecision(sender, message.clientMsgId as string),
        requestHash: hash,
        claimedAt: h.clock.now(),
        expiresAt: ttlAfter(h.clock.now(), 7),
      },
    }),
  );
}

describe('configuration', () => {
  const secret = () => Promise.resolve('s');

  it('has no hook without a URL, and open is the default policy', () => {
    expect(presendFromEnv({}, secret)).toBeUndefined();
    expect(presendFromEnv({ ROAMING_PRESEND_URL: 'https://hooks.test/presend' }, secret)).toMatchObject({
      url: 'https://hooks.test/presend',
      policy: 'open',
    });
  });

  it('refuses to start on a policy other than open or closed, a URL without a secret, or a bad URL', () => {
    expect(() => presendFromEnv({ ROAMING_PRESEND_POLICY: 'strict' }, secret)).toThrow(/open" or "closed/);
    expect(() => presendFromEnv({ ROAMING_PRESEND_URL: 'https://hooks.test/p' }, undefined)).toThrow(
      /ROAMING_WEBHOOK_SECRET/,
    );
    expect(() => presendFromEnv({ ROAMING_PRESEND_URL: 'ftp://hooks.test/p' }, secret)).toThrow(/http\(s\)/);
  });

  it('takes a timeout from 1 to 10000 ms', () => {
    expect(configFromEnv({ ROAMING_PRESEND_TIMEOUT_MS: '250' })).toEqual({ presendTimeoutMs: 250 });
    expect(() => configFromEnv({ ROAMING_PRESEND_TIMEOUT_MS: '0' })).toThrow(/1 to 10000/);
    expect(() => configFromEnv({ ROAMING_PRESEND_TIMEOUT_MS: '10001' })).toThrow(/1 to 10000/);
  });
});
