import { RateLimitedError } from '../core/errors.js';
import type { Deps } from './deps.js';

/**
 * One user's sends on this instance run one at a time, in arrival order. A user's concurrent sends all
 * write the same items (their rate-limit bucket, often the same conversation), so side by side they
 * cancel each other's transactions and retry: `npm run loadtest -- --abuser` showed one client with 16
 * sends in flight halving everyone else's throughput on one process. In a lane each send commits at its
 * first try. At most MAX_WAITING wait in a lane; beyond that a send is refused at once with 429, as a
 * rate limit is.
 *
 * This matters where one process serves many requests (npm start, any long-lived host). A Lambda
 * instance serves one request at a time, so there the bucket's own refusal (answered without a store
 * read once it is known empty, see rate-limits.ts) is what bounds an abuser.
 */
const MAX_WAITING = 8;

interface Lane {
  tail: Promise<unknown>;
  waiting: number;
}

const lanesOf = new WeakMap<Deps, Map<string, Lane>>();

export async function inSenderLane<T>(deps: Deps, sender: string, send: () => Promise<T>): Promise<T> {
  let lanes = lanesOf.get(deps);
  if (!lanes) {
    lanes = new Map();
    lanesOf.set(deps, lanes);
  }
  const lane = lanes.get(sender) ?? { tail: Promise.resolve(), waiting: 0 };
  if (lane.waiting >= MAX_WAITING) {
    throw new RateLimitedError(`Too many sends in flight: at most ${MAX_WAITING} at once per user`, {
      limit: 'sendsInFlight',
    });
  }
  lanes.set(sender, lane);
  lane.waiting++;
  const turn = lane.tail.then(send);
  // The next send waits for this one to end, whether it succeeded or not.
  lane.tail = turn.catch(() => undefined);
  try {
    return await turn;
  } finally {
    lane.waiting--;
    // An idle lane is forgotten, so the map holds only users with sends in flight.
    if (lane.waiting === 0 && lanes.get(sender) === lane) lanes.delete(sender);
  }
}
