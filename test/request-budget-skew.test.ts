import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError, type RoamingClient } from '../client/roaming-client.js';
import { TOLERATED_SKEW_MS } from '../functions/domain/bucket-clock.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Issue 24, item 1: the request budget never refuses a user under it because of another instance's
 * clock (instances up to an hour off true time), and still refuses one well over it, as the send limit
 * does (rate-limit-skew.test.ts). A user's requests go through several servers over the same table,
 * each with a clock of its own; time moves on the harness clock (every instance reads it plus its offset).
 *
 * Every request here reads less than the base cost, so each costs exactly the base: 10 requests fill
 * the budget, 5 a second refill it.
 */
const BASE_UNITS = 10;
const REQUESTS_PER_SECOND = 5;
const BURST = 10;
const HOUR_MS = TOLERATED_SKEW_MS;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({
    config: {
      requestBaseUnits: BASE_UNITS,
      requestBudget: BURST * BASE_UNITS,
      requestBudgetPerSecond: REQUESTS_PER_SECOND * BASE_UNITS,
    },
  });
});
afterAll(async () => {
  await h.close();
});

/** A user's clients on new instances with these clock offsets (fresh instances: nothing learned yet). */
async function clientsOn(user: string, offsetsMs: readonly number[]): Promise<RoamingClient[]> {
  const clients: RoamingClient[] = [];
  for (const clockOffsetMs of offsetsMs) clients.push(await (await h.instance({ clockOffsetMs })).as(user));
  return clients;
}

/** `count` requests one every `intervalMs`, through `route(i)`; the statuses of refusals (by index). */
async function requestEvery(
  intervalMs: number,
  count: number,
  route: (i: number) => RoamingClient,
): Promise<Map<number, number>> {
  const refused = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    if (i > 0) h.clock.advance(intervalMs);
    try {
      await route(i).fetchConversationsFromServer({ limit: 10 });
    } catch (error) {
      if (!(error instanceof RoamingApiError)) throw error;
      refused.set(i, error.status);
    }
  }
  return refused;
}

/** At half the budget's refill: one request every two requests' time (ms). */
const halfTheRate = (2 * 1000) / REQUESTS_PER_SECOND;
/** At three times the refill (whole ms: the clock counts whole ms). */
const threeTimesTheRate = Math.floor(1000 / REQUESTS_PER_SECOND / 3);

/** After a run under the budget, the budget still holds: a burst at once is cut off at the budget. */
async function expectBurstRefusedAfter(client: RoamingClient, atMost: number) {
  const refused = await requestEvery(0, 2 * BURST, () => client);
  expect(refused.size).toBeGreaterThanOrEqual(2 * BURST - atMost);
  expect(new Set(refused.values())).toEqual(new Set([429]));
}

describe('the request budget across instances whose clocks disagree', () => {
  it('after one request through an instance 5 s ahead, requests at half the rate on time are never refused', async () => {
    // Prepare
    const [ahead, onTime] = (await clientsOn('rb1-alice', [5_000, 0])) as [RoamingClient, RoamingClient];
    await ahead.fetchConversationsFromServer({ limit: 10 });
    // Act: 20 s at half the rate (50 requests: more than the budget, so a budget stuck 5 s ahead shows).
    const refused = await requestEvery(halfTheRate, 50, () => onTime);
    // Assess
    expect([...refused]).toEqual([]);
    await expectBurstRefusedAfter(onTime, BURST);
  });

  it('after a request an hour ahead, a user at half the rate through instances 5 s ahead and on time is never refused', async () => {
    // Prepare
    const [hourAhead, ahead, onTime] = (await clientsOn('rb2-alice', [HOUR_MS, 5_000, 0])) as [
      RoamingClient,
      RoamingClient,
      RoamingClient,
    ];
    await hourAhead.fetchConversationsFromServer({ limit: 10 });
    // Act: 60 requests at half the rate, alternating between the two slower instances...
    const slower = await requestEvery(halfTheRate, 60, (i) => (i % 2 ? ahead : onTime));
    // ...then through all three in turn, in both orders, and in runs on one instance.
    const routes = [onTime, ahead, hourAhead, hourAhead, ahead, onTime, onTime, onTime, ahead, ahead];
    const mixed = await requestEvery(halfTheRate, 100, (i) => routes[i % routes.length] as RoamingClient);
    // Assess
    expect([...slower]).toEqual([]);
    expect([...mixed]).toEqual([]);
    await expectBurstRefusedAfter(onTime, BURST);
  });

  it('an instance an hour behind counts the refill of the time since a request on time', async () => {
    // Prepare: the budget is emptied on time.
    const [onTime, hourBehind] = (await clientsOn('rb3-alice', [0, -HOUR_MS])) as [
      RoamingClient,
      RoamingClient,
    ];
    expect([...(await requestEvery(0, BURST, () => onTime))]).toEqual([]);
    // Act: at half the rate through the slow instance, then both in turn.
    h.clock.advance(halfTheRate);
    const behind = await requestEvery(halfTheRate, 40, (i) => (i % 3 ? hourBehind : onTime));
    // Assess
    expect([...behind]).toEqual([]);
    await expectBurstRefusedAfter(hourBehind, BURST);
  });

  it('a budget last charged by a clock beyond the tolerated skew does not lock the user out on time', async () => {
    // Prepare: one request through an instance three hours ahead (two instances may be two apart).
    const [broken, onTime] = (await clientsOn('rb5-alice', [3 * HOUR_MS, 0])) as [
      RoamingClient,
      RoamingClient,
    ];
    await broken.fetchConversationsFromServer({ limit: 10 });
    // Act: at half the rate on time.
    const refused = await requestEvery(halfTheRate, 20, () => onTime);
    // Assess: the budget was moved back to now, and still holds.
    expect([...refused]).toEqual([]);
    await expectBurstRefusedAfter(onTime, BURST);
  });

  it('refuses a user at three times the rate through all of them', async () => {
    // Prepare
    const clients = await clientsOn('rb4-alice', [HOUR_MS, 5_000, 0, -HOUR_MS]);
    // Act: 150 requests, a third of the refill interval apart, through the instances in turn.
    const refused = await requestEvery(threeTimesTheRate, 150, (i) => clients[i % 4] as RoamingClient);
    // Assess: all with 429, and no more answered than the budget and the refill over the time it took.
    expect(new Set(refused.values())).toEqual(new Set([429]));
    const elapsedSeconds = (149 * threeTimesTheRate) / 1000;
    const answered = 150 - refused.size;
    expect(answered).toBeLessThanOrEqual(BURST + Math.ceil(elapsedSeconds * REQUESTS_PER_SECOND) + 1);
    expect(answered).toBeGreaterThanOrEqual(BURST);
  });
});
