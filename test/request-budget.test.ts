import { GetCommand, UpdateCommand, type UpdateCommandInput } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoamingClient } from '../client/roaming-client.js';
import { DEFAULT_CONFIG, type RoamingConfig } from '../functions/domain/deps.js';
import { ROUTES } from '../functions/routes.js';
import { budgetKey } from '../functions/store/request-budget-store.js';
import { matchesPattern, PARTITIONS } from '../functions/store-access.js';
import { countStoreUsage, hasMiddlewareStack } from '../functions/telemetry/store-usage.js';
import { seedLargeTexts, text } from './support/fixtures.js';
import { type Harness, type RawResponse, startHarness } from './support/harness.js';
import { captureRequestLog, lastStoreUsage } from './support/log-capture.js';
import { exampleRequest, urlOf } from './support/route-requests.js';

/**
 * Issue 24, item 1: every route charges the caller's request budget before its work, weighted by the
 * read units the work used, so one account cannot take what the others share. Tests run on the
 * harness clock (it moves only when told), with the budget on (the harness turns it off by default).
 */
const DEFAULT_BUDGET = {
  requestBudget: DEFAULT_CONFIG.requestBudget,
  requestBudgetPerSecond: DEFAULT_CONFIG.requestBudgetPerSecond,
  requestBaseUnits: DEFAULT_CONFIG.requestBaseUnits,
} satisfies Partial<RoamingConfig>;

const harnesses: Harness[] = [];
async function harnessWith(config: Partial<RoamingConfig>): Promise<Harness> {
  const h = await startHarness({ config });
  harnesses.push(h);
  return h;
}
afterAll(async () => {
  for (const h of harnesses) await h.close();
});

/** A refusal by the request budget, as the API answers it. */
function expectBudgetRefusal(answer: RawResponse, limit: 'requests' | 'adminRequests') {
  expect(answer.status).toBe(429);
  expect(answer.body.error).toMatchObject({ code: 'rate_limited', limit });
  expect(answer.body.error?.message).toMatch(/request budget is used up .*retry in \d+ s/);
  expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
}

describe("one user's loop of GETs", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith(DEFAULT_BUDGET);
  });

  it('refuses a loop of 1,000 GETs in 5 s with 429 while a second user’s interleaved requests are all answered', async () => {
    // Prepare: each user has a conversation with a few messages to page through.
    const alice = await h.as('loop-alice');
    const bob = await h.as('loop-bob');
    await alice.sendMessage(text('loop-carol', 'hi carol'));
    await bob.sendMessage(text('loop-dave', 'hi dave'));
    const [aliceToken, bobToken] = [await h.token('loop-alice'), await h.token('loop-bob')];
    const history = (peer: string) => `/v1/conversations/single/${peer}/messages?pageSize=20`;
    // Act: 1,000 GETs of alice's, 5 ms apart on the clock; one of bob's after every tenth.
    const alices: { status: number; storeRequests: number; answer: RawResponse }[] = [];
    const bobs: number[] = [];
    for (let i = 0; i < 1_000; i++) {
      h.clock.advance(5);
      h.requests.reset();
      const answer = await h.raw('GET', history('loop-carol'), { token: aliceToken });
      alices.push({ status: answer.status, storeRequests: h.requests.total(), answer });
      if (i % 10 === 9) bobs.push((await h.raw('GET', history('loop-dave'), { token: bobToken })).status);
    }
    // Assess
    const refused = alices.filter((a) => a.status === 429);
    const answered = alices.filter((a) => a.status === 200);
    expect(answered.length + refused.length).toBe(1_000);
    expect(refused.length).toBeGreaterThan(0);
    for (const a of refused) expectBudgetRefusal(a.answer, 'requests');
    // A refused request costs the store at most one small request (the charge that found the budget empty).
    expect(Math.max(...refused.map((a) => a.storeRequests))).toBeLessThanOrEqual(1);
    expect(bobs).toEqual(Array(100).fill(200));
    console.log(
      `loop of 1,000 GETs in 5 s (default budget ${DEFAULT_BUDGET.requestBudget} units, ` +
        `${DEFAULT_BUDGET.requestBudgetPerSecond}/s, at least ${DEFAULT_BUDGET.requestBaseUnits} a request): ` +
        `alice ${answered.length} answered, ${refused.length} refused with 429 (first at #${alices.findIndex((a) => a.status === 429) + 1}; ` +
        `store requests of refused ones: ${refused.reduce((n, a) => n + a.storeRequests, 0)} in all, at most ` +
        `${Math.max(...refused.map((a) => a.storeRequests))} each); bob ${bobs.filter((s) => s === 200).length} of ${bobs.length} answered`,
    );
  });
});

describe('every route', () => {
  let h: Harness;
  const log = captureRequestLog();
  beforeAll(async () => {
    // One request's worth: the second request of a caller is refused (the clock stands still).
    h = await harnessWith({ requestBudget: 5, requestBudgetPerSecond: 1, requestBaseUnits: 5 });
  });

  it.each(ROUTES.map((route) => [route.name, route] as const))(
    '%s charges the caller’s budget before its work: the next request is refused with 429, costing at most one store request',
    async (name, route) => {
      // Prepare: a caller of its own (admin routes need the scope).
      const user = `every-${name}`;
      const token = await h.token(user, { admin: route.access === 'admin' });
      const request = exampleRequest(route, {
        chatType: 'single',
        convId: `${user}-peer`,
        groupId: `${user}-group`,
        userId: `${user}-other`,
        msgIds: [],
      });
      const send = () =>
        h.raw(request.method, urlOf(request), {
          token,
          ...(request.body === undefined
            ? {}
            : { body: JSON.stringify(request.body), headers: { 'content-type': 'application/json' } }),
        });
      // Act
      const first = await send();
      const second = await send();
      // Assess: the first was let through (whatever it answered), the second refused before any work,
      // at the cost of at most one request to the store (its request log line counts them).
      expect(first.status).not.toBe(429);
      expectBudgetRefusal(second, route.access === 'admin' ? 'adminRequests' : 'requests');
      expect(lastStoreUsage(log, name).requests).toBeLessThanOrEqual(1);
    },
  );

  it('keeps an admin’s user budget and admin budget apart', async () => {
    // Prepare: the admin budget spent.
    const token = await h.token('every-both', { admin: true });
    expect((await h.raw('GET', '/v1/admin/retention', { token })).status).toBe(200);
    expectBudgetRefusal(await h.raw('GET', '/v1/admin/retention', { token }), 'adminRequests');
    // Act / Assess: the user budget is untouched, then spent on its own.
    expect((await h.raw('GET', '/v1/conversations?limit=10', { token })).status).toBe(200);
    expectBudgetRefusal(await h.raw('GET', '/v1/conversations?limit=10', { token }), 'requests');
  });
});

describe('weighting by the read units a request used', () => {
  const perSecond = 1;
  const baseUnits = 5;
  let h: Harness;
  beforeAll(async () => {
    h = await harnessWith({
      requestBudget: 400,
      requestBudgetPerSecond: perSecond,
      requestBaseUnits: baseUnits,
    });
  });

  /** The budget item's `tat` (ms of refill owed, in bucket time). */
  async function tatOf(user: string): Promise<number> {
    const { Item } = await h.documentClient.send(
      new GetCommand({ TableName: h.tableName, Key: budgetKey(user, 'requests'), ConsistentRead: true }),
    );
    return Number(Item?.tat);
  }

  it('charges a history page of 12 KB copies its read units, so a few such pages spend what 80 cheap requests would', async () => {
    // Prepare: 250 messages of 12 KB between wb-alice and wb-bob.
    await seedLargeTexts(h.deps, h.clock, 'wb-alice', 'wb-bob', 250);
    const bob = await h.token('wb-bob');
    const page = (cursor?: string) =>
      `/v1/conversations/single/wb-alice/messages?pageSize=50${cursor ? `&startMsgId=${cursor}` : ''}`;
    expect((await h.raw('GET', '/v1/conversations?limit=10', { token: bob })).status).toBe(200);
    // Act: one page; what its budget was charged against what it read.
    const before = await tatOf('wb-bob');
    h.requests.reset();
    const first = await h.raw('GET', page(), { token: bob });
    const readUnits = h.requests.readUnits;
    const charged = ((await tatOf('wb-bob')) - before) * (perSecond / 1000);
    // ...then pages until refused.
    let cursor = first.body.cursor as string | null;
    let pagesAnswered = 1;
    while (cursor) {
      const next = await h.raw('GET', page(cursor), { token: bob });
      if (next.status !== 200) {
        expectBudgetRefusal(next, 'requests');
        break;
      }
      pagesAnswered++;
      cursor = next.body.cursor as string | null;
    }
    // Assess: the page cost its read units (rounded up to whole ms of refill); 400 units pay for two
    // such pages and admit a third on credit (it is charged after its work), where cheap requests get 80.
    expect(first.status).toBe(200);
    expect(readUnits).toBeGreaterThan(100);
    expect(charged).toBeCloseTo(readUnits, 2);
    expect(pagesAnswered).toBe(3);
    console.log(
      `a page of 50 12 KB copies read ${readUnits} units and was charged ${charged.toFixed(3)}; ` +
        `a 400-unit budget answered ${pagesAnswered} such pages`,
    );
  });

  it('charges a cheap request the base cost only, with no second write', async () => {
    const token = await h.token('wb-carol');
    await h.raw('GET', '/v1/conversations?limit=10', { token });
    const before = await tatOf('wb-carol');
    h.requests.reset();
    expect((await h.raw('GET', '/v1/conversations?limit=10', { token })).status).toBe(200);
    expect(h.requests.readUnits).toBeLessThanOrEqual(baseUnits);
    expect(((await tatOf('wb-carol')) - before) * (perSecond / 1000)).toBe(baseUnits);
    expect(h.requests.byCommand.UpdateItem).toBe(1);
  });
});

describe('what the budget writes', () => {
  it('is only the caller’s budget item, in the budget partition the stack grants every function (and no other)', async () => {
    // Prepare: every UpdateItem the service sends is recorded (the counting middleware stays on the client).
    const updates: UpdateCommandInput[] = [];
    const h = await startHarness({
      config: { requestBudget: 30, requestBudgetPerSecond: 1, requestBaseUnits: 5 },
      wrapClient: (client) => ({
        send: ((command: { input: object }) => {
          if (command instanceof UpdateCommand) updates.push(command.input as UpdateCommandInput);
          return client.send(command as never);
        }) as typeof client.send,
      }),
    });
    harnesses.push(h);
    if (hasMiddlewareStack(h.documentClient)) countStoreUsage(h.documentClient);
    await seedLargeTexts(h.deps, h.clock, 'wr-alice', 'wr-bob', 30);
    const token = await h.token('wr-bob');
    updates.length = 0; // the seeding's writes
    // Act: a charge that starts the budget, one settled after its work, refusals.
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      statuses.push(
        (await h.raw('GET', '/v1/conversations/single/wr-alice/messages?pageSize=20', { token })).status,
      );
    }
    // Assess
    expect(statuses).toEqual([200, 429, 429, 429]);
    // A history page writes nothing but the budget: every UpdateItem is the caller's budget item.
    expect(updates.length).toBeGreaterThanOrEqual(2);
    for (const update of updates) {
      expect(update.Key).toEqual(budgetKey('wr-bob', 'requests'));
      expect(matchesPattern(PARTITIONS.budget, String(update.Key?.pk))).toBe(true);
      expect(matchesPattern(PARTITIONS.user, String(update.Key?.pk))).toBe(false);
    }
  });
});

describe('several devices at once', () => {
  it('admits exactly what the budget holds when 20 requests of one user arrive together through two instances', async () => {
    // Prepare: room for 5 requests (reads stay under the base cost: nothing is charged after).
    const h = await harnessWith({ requestBudget: 100, requestBudgetPerSecond: 1, requestBaseUnits: 20 });
    const other = await h.instance({ clockOffsetMs: 0 });
    const devices: RoamingClient[] = [await h.as('dev-alice'), await other.as('dev-alice')];
    // Act
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (devices[i % 2] as RoamingClient).fetchConversationsFromServer({ limit: 10 }).then(
          () => 200,
          (error: { status: number; code: string; limit?: string }) =>
            `${error.status} ${error.code} ${error.limit}`,
        ),
      ),
    );
    // Assess
    expect(outcomes.filter((o) => o === 200)).toHaveLength(5);
    expect(outcomes.filter((o) => o !== 200)).toEqual(Array(15).fill('429 rate_limited requests'));
  });
});

describe('a sender putting a fresh clientMsgId on every send', () => {
  it('is charged for each: once the budget is spent, sends are refused without reading their record or bucket', async () => {
    // Prepare: the default send limit (bursts of 20) and a budget of 60 base costs, on a clock standing still.
    const h = await harnessWith({
      sendsPerSecond: DEFAULT_CONFIG.sendsPerSecond,
      sendBurst: DEFAULT_CONFIG.sendBurst,
      requestBudget: 300,
      requestBudgetPerSecond: 1,
      requestBaseUnits: 5,
    });
    const token = await h.token('fresh-alice');
    const outcomes: { limit?: string; status: number; storeRequests: number; reads: number }[] = [];
    // Act
    for (let i = 0; i < 100; i++) {
      h.requests.reset();
      const answer = await h.raw('POST', '/v1/messages', {
        token,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...text('fresh-bob', `spam ${i}`), clientMsgId: `fresh-${i}` }),
      });
      outcomes.push({
        status: answer.status,
        limit: (answer.body.error as { limit?: string } | undefined)?.limit,
        storeRequests: h.requests.total(),
        reads: (h.requests.byCommand.BatchGetItem ?? 0) + (h.requests.byCommand.GetItem ?? 0),
      });
    }
    // Assess: 20 sent; then refused by the send limit, each after reading its record and bucket (a
    // fresh clientMsgId may be a retry); then by the request budget, without a read.
    const firstByBudget = outcomes.findIndex((o) => o.limit === 'requests');
    expect(outcomes.slice(0, 20).map((o) => o.status)).toEqual(Array(20).fill(201));
    expect(firstByBudget).toBeGreaterThan(20);
    const bySendLimit = outcomes.slice(20, firstByBudget);
    expect(bySendLimit.every((o) => o.status === 429 && o.limit === 'send' && o.reads > 0)).toBe(true);
    const byBudget = outcomes.slice(firstByBudget);
    expect(byBudget.every((o) => o.status === 429 && o.limit === 'requests')).toBe(true);
    expect(byBudget.every((o) => o.reads === 0 && o.storeRequests <= 1)).toBe(true);
    console.log(
      `fresh clientMsgIds: ${20} sent, ${bySendLimit.length} refused by the send limit (a read each), ` +
        `${byBudget.length} by the request budget (${byBudget.reduce((n, o) => n + o.storeRequests, 0)} store requests in all)`,
    );
  });
});
