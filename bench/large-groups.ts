import { pathToFileURL } from 'node:url';
import { listConversations } from '../functions/domain/conversations.js';
import type { Deps } from '../functions/domain/deps.js';
import { createGroup } from '../functions/domain/groups.js';
import { fetchHistory } from '../functions/domain/history.js';
import { sendMessage } from '../functions/domain/send.js';
import { roundTripCounter } from '../test/support/round-trips.js';
import { runBenchmarks, startBenchStore } from './setup.js';

/**
 * Large groups (docs/large-groups.md): a send's write units and requests at each group size, fan-out
 * up to the threshold (200) and shared mode above it; a list page for a user in 100 large groups; a
 * history page of a large group; and what a million messages cost in write units at on-demand prices.
 */
export interface GroupSizeFigure {
  members: number;
  mode: 'fan-out' | 'shared';
  requests: number;
  roundTrips: number;
  writeUnits: number;
  /** On-demand write request units for 1,000,000 such sends, in US dollars. */
  dollarsPerMillion: number;
}

export interface LargeGroupFigures {
  sends: GroupSizeFigure[];
  listIn100: { requests: number; roundTrips: number; conversations: number };
  historyPage: { requests: number; roundTrips: number };
}

/** On-demand price of a million write request units (us-east-1, since November 2024). */
export const DOLLARS_PER_MILLION_WRITE_UNITS = 0.625;
const SIZES = [10, 200, 201, 1_000, 5_000];

export async function benchLargeGroups(): Promise<LargeGroupFigures> {
  const trips = roundTripCounter();
  const store = await startBenchStore({ maxGroupMembers: 5_000 }, (client) => trips.wrap(client));
  const { deps, requests } = store;
  const measure = async (operation: () => Promise<unknown>) => {
    requests.reset();
    trips.reset();
    await operation();
    return { requests: requests.total(), roundTrips: trips.roundTrips, writeUnits: requests.writeUnits };
  };
  const text = (to: string) => ({ to, chatType: 'group', type: 'text', body: { text: 'bench' } }) as const;
  try {
    console.log(
      `  ${'members'.padEnd(8)} ${'mode'.padEnd(8)} ${'requests'.padEnd(9)} ${'WCU'.padEnd(8)} $ per million sends`,
    );
    const sends: GroupSizeFigure[] = [];
    for (const size of SIZES) {
      const group = await groupOf(deps, `g${size}`, size);
      await sendMessage(deps, `g${size}-owner`, text(group));
      const figure = await measure(() => sendMessage(deps, `g${size}-owner`, text(group)));
      const row: GroupSizeFigure = {
        members: size,
        mode: size > deps.config.sharedHistoryAbove ? 'shared' : 'fan-out',
        ...figure,
        dollarsPerMillion: figure.writeUnits * DOLLARS_PER_MILLION_WRITE_UNITS,
      };
      sends.push(row);
      console.log(
        `  ${String(size).padEnd(8)} ${row.mode.padEnd(8)} ${String(row.requests).padEnd(9)} ${row.writeUnits.toFixed(1).padEnd(8)} ${row.dollarsPerMillion.toFixed(2)}`,
      );
    }

    // A user in 100 large groups (of 3 members: a list's cost does not depend on their size).
    const small = { ...deps, config: { ...deps.config, sharedHistoryAbove: 2 } };
    for (let i = 0; i < 100; i++) {
      const { groupId } = await createGroup(small, `lister-peer-${i}`, { members: ['lister', `other-${i}`] });
      await sendMessage(small, `lister-peer-${i}`, text(groupId));
    }
    await listConversations(small, 'lister', { form: 'cursor', limit: 20 });
    let conversations = 0;
    const list = await measure(async () => {
      const page = await listConversations(small, 'lister', { form: 'cursor', limit: 20 });
      conversations = page.conversations.length;
    });
    const listIn100 = { requests: list.requests, roundTrips: list.roundTrips, conversations };
    console.log(
      `  list page (limit 20), a user in 100 large groups: ${list.requests} requests, ${list.roundTrips} round trips`,
    );
    const historyPage = await measure(() =>
      fetchHistory(
        deps,
        { owner: 'g5000-member-1', chatType: 'group', convId: groupIds.get(5_000) as string },
        { pageSize: 20, direction: 'up' },
      ),
    );
    console.log(
      `  history page (20), a member of the 5,000: ${historyPage.requests} requests, ${historyPage.roundTrips} round trip(s)`,
    );
    return {
      sends,
      listIn100,
      historyPage: { requests: historyPage.requests, roundTrips: historyPage.roundTrips },
    };
  } finally {
    await store.stop();
  }
}

const groupIds = new Map<number, string>();

/** A group of `size` members, made by its owner in one creation (its members join in batches). */
async function groupOf(deps: Deps, prefix: string, size: number): Promise<string> {
  const members = Array.from({ length: size - 1 }, (_, i) => `${prefix}-member-${i}`);
  const { groupId } = await createGroup(deps, `${prefix}-owner`, { members });
  groupIds.set(size, groupId);
  return groupId;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchLargeGroups();
  });
