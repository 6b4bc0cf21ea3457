import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RoamingApiError, type RoamingClient } from '../client/roaming-client.js';
import { TOLERATED_SKEW_MS } from '../functions/domain/rate-limits.js';
import { text } from './support/fixtures.js';
import { type Harness, startHarness } from './support/harness.js';

/**
 * Issue 20, item 11: rate limits never refuse a user under the limit because of another instance's
 * clock (instances up to an hour off true time), and still refuse one well over it. The user's sends
 * go through several servers over the same table, each with a clock of its own; time moves on the
 * harness clock (every instance reads it plus its offset).
 */
const SENDS_PER_SECOND = 10;
const BURST = 20;
/** The skew every instance may have (an hour either way). */
const HOUR_MS = TOLERATED_SKEW_MS;
let h: Harness;
beforeAll(async () => {
  h = await startHarness({ config: { sendsPerSecond: SENDS_PER_SECOND, sendBurst: BURST } });
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

/** Sends `count` messages one every `intervalMs`, through `route(i)`; the statuses of refusals (by index). */
async function sendEvery(
  intervalMs: number,
  count: number,
  route: (i: number) => RoamingClient,
  to: string,
): Promise<Map<number, number>> {
  const refused = new Map<number, number>();
  for (let i = 0; i < count; i++) {
    if (i > 0) h.clock.advance(intervalMs);
    try {
      await route(i).sendMessage(text(to, `m${i}`));
    } catch (error) {
      if (!(error instanceof RoamingApiError)) throw error;
      refused.set(i, error.status);
    }
  }
  return refused;
}

/** Sending at half the limit: one send every two tokens' time (ms). */
const halfTheLimit = (2 * 1000) / SENDS_PER_SECOND;
/** Sending at three times the limit (whole ms: the clock counts whole ms). */
const threeTimesTheLimit = Math.floor(1000 / SENDS_PER_SECOND / 3);

describe('rate limits across instances whose clocks disagree', () => {
  it('after one send through an instance 5 s ahead, sends at half the limit on time are never refused', async () => {
    // Prepare
    const [ahead, onTime] = (await clientsOn('rs1-alice', [5_000, 0])) as [RoamingClient, RoamingClient];
    await ahead.sendMessage(text('rs1-bob', 'from the fast instance'));
    // Act: 10 s at half the limit (50 sends: more than the burst, so a bucket stuck 5 s ahead shows).
    const refused = await sendEvery(halfTheLimit, 50, () => onTime, 'rs1-bob');
    // Assess
    expect([...refused]).toEqual([]);
  });

  it('after a send an hour ahead, a user at half the limit through instances 5 s ahead and on time is never refused', async () => {
    // Prepare
    const [hourAhead, ahead, onTime] = (await clientsOn('rs2-alice', [HOUR_MS, 5_000, 0])) as [
      RoamingClient,
      RoamingClient,
      RoamingClient,
    ];
    await hourAhead.sendMessage(text('rs2-bob', 'from an hour ahead'));
    // Act: 120 sends at half the limit, alternating between the two slower instances...
    const slower = await sendEvery(halfTheLimit, 120, (i) => (i % 2 ? ahead : onTime), 'rs2-bob');
    // ...then through all three in turn, in both orders, and in runs on one instance.
    const routes = [onTime, ahead, hourAhead, hourAhead, ahead, onTime, onTime, onTime, ahead, ahead];
    const mixed = await sendEvery(
      halfTheLimit,
      200,
      (i) => routes[i % routes.length] as RoamingClient,
      'rs2-bob',
    );
    // Assess
    expect([...slower]).toEqual([]);
    expect([...mixed]).toEqual([]);
  });

  it('an instance an hour behind counts the refill of the time since a send on time', async () => {
    // Prepare: the bucket is emptied on time.
    const [onTime, hourBehind] = (await clientsOn('rs3-alice', [0, -HOUR_MS])) as [
      RoamingClient,
      RoamingClient,
    ];
    const burst = await sendEvery(0, BURST, () => onTime, 'rs3-bob');
    expect([...burst]).toEqual([]);
    // Act: at half the limit through the slow instance, then both in turn.
    h.clock.advance(halfTheLimit);
    const behind = await sendEvery(halfTheLimit, 60, (i) => (i % 3 ? hourBehind : onTime), 'rs3-bob');
    // Assess
    expect([...behind]).toEqual([]);
  });

  it('still refuses a user sending at three times the limit through all of them', async () => {
    // Prepare
    const clients = await clientsOn('rs4-alice', [HOUR_MS, 5_000, 0, -HOUR_MS]);
    // Act: 200 sends, a third of the limit's interval apart, through the instances in turn.
    const refused = await sendEvery(
      threeTimesTheLimit,
      200,
      (i) => clients[i % 4] as RoamingClient,
      'rs4-bob',
    );
    // Assess: all with 429, and no more accepted than the burst and the limit over the time it took.
    expect(new Set(refused.values())).toEqual(new Set([429]));
    const elapsedSeconds = (199 * threeTimesTheLimit) / 1000;
    const accepted = 200 - refused.size;
    expect(accepted).toBeLessThanOrEqual(BURST + Math.ceil(elapsedSeconds * SENDS_PER_SECOND) + 1);
    expect(accepted).toBeGreaterThanOrEqual(BURST);
  });
});
