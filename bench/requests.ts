import { pathToFileURL } from 'node:url';
import type { ConversationRef } from '../functions/core/model.js';
import { listConversations } from '../functions/domain/conversations.js';
import {
  deleteConversation,
  deleteMessagesBefore,
  deleteMessagesByIds,
} from '../functions/domain/deletion.js';
import { createGroup } from '../functions/domain/groups.js';
import { fetchHistory } from '../functions/domain/history.js';
import { setMarked, setPinned } from '../functions/domain/pins-and-marks.js';
import { markConversationRead } from '../functions/domain/read-position.js';
import { sendMessage } from '../functions/domain/send.js';
import { seedSingleChat } from '../test/support/fixtures.js';
import { roundTripCounter } from '../test/support/round-trips.js';
import { type BenchStore, formatCounts, runBenchmarks, startBenchStore } from './setup.js';

/**
 * DynamoDB requests per API operation, counted by an SDK middleware on the real client against
 * DynamoDB Local, and the sequential round trips the operation waits for (requests sent together are
 * one; test/support/round-trips.ts). Operations run through the domain functions the handlers call
 * (the HTTP layer adds no requests). Prints one line per operation and returns the figures.
 */
export interface OperationFigure {
  operation: string;
  requests: number;
  byCommand: Record<string, number>;
  roundTrips: number;
  writeUnits: number;
  readUnits: number;
  ms: number;
}

export async function benchRequests(): Promise<OperationFigure[]> {
  const trips = roundTripCounter();
  const store = await startBenchStore({}, (client) => trips.wrap(client));
  try {
    return await measureAll(store, trips);
  } finally {
    await store.stop();
  }
}

async function measureAll(
  store: BenchStore,
  trips: ReturnType<typeof roundTripCounter>,
): Promise<OperationFigure[]> {
  const { deps, clock, requests } = store;
  const figures: OperationFigure[] = [];
  console.log(
    `  ${'operation'.padEnd(52)} ${'round trips'.padEnd(12)} ${'requests'.padEnd(60)} ${'capacity'.padEnd(24)} time`,
  );
  const measure = async <T>(label: string, operation: () => Promise<T>): Promise<T> => {
    requests.reset();
    trips.reset();
    const started = performance.now();
    const result = await operation();
    const ms = performance.now() - started;
    const units = `WCU ${requests.writeUnits.toFixed(1)}, RCU ${requests.readUnits.toFixed(1)}`;
    console.log(
      `  ${label.padEnd(52)} ${String(trips.roundTrips).padEnd(12)} ${formatCounts(requests.byCommand).padEnd(60)} ${units.padEnd(24)} ${ms.toFixed(0)} ms`,
    );
    figures.push({
      operation: label,
      requests: requests.total(),
      byCommand: { ...requests.byCommand },
      roundTrips: trips.roundTrips,
      writeUnits: requests.writeUnits,
      readUnits: requests.readUnits,
      ms,
    });
    return result;
  };
  const text = (to: string, chatType: 'single' | 'group' = 'single') =>
    ({ to, chatType, type: 'text', body: { text: 'bench' } }) as const;

  console.log('DynamoDB requests per operation (policy cache warm):');
  await sendMessage(deps, 'alice', text('bob'));
  await listConversations(deps, 'alice', { form: 'recent' });
  await measure('send, single chat', () => sendMessage(deps, 'alice', text('bob')));
  await measure('send, single chat with clientMsgId', () =>
    sendMessage(deps, 'alice', { ...text('bob'), clientMsgId: 'bench-1' }),
  );
  const group = await createGroup(deps, 'alice', {
    members: Array.from({ length: 9 }, (_, i) => `member-${i}`),
  });
  await measure('send, group of 10 members', () => sendMessage(deps, 'alice', text(group.groupId, 'group')));
  // Large messages: the conversation items (and their index copies) hold a bounded preview, not the body.
  const longText = (to: string, chatType: 'single' | 'group' = 'single') =>
    ({ to, chatType, type: 'text', body: { text: 'x'.repeat(5_000) } }) as const;
  const bigCustom = (to: string, chatType: 'single' | 'group' = 'single') =>
    ({ to, chatType, type: 'custom', body: { blob: 'y'.repeat(12_000) } }) as const;
  await measure('send, single chat, 5,000-character text', () => sendMessage(deps, 'alice', longText('bob')));
  await measure('send, single chat, 12 KB custom message', () =>
    sendMessage(deps, 'alice', bigCustom('bob')),
  );
  await measure('send, group of 10, 5,000-character text', () =>
    sendMessage(deps, 'alice', longText(group.groupId, 'group')),
  );
  await measure('send, group of 10, 12 KB custom message', () =>
    sendMessage(deps, 'alice', bigCustom(group.groupId, 'group')),
  );
  for (let i = 0; i < 30; i++) await sendMessage(deps, 'alice', text(`peer-${i}`));
  const firstPage = await measure('conversation list page (limit 20)', () =>
    listConversations(deps, 'alice', { form: 'cursor', limit: 20 }),
  );
  // A first sync closes the epoch the 30 conversations were created in; then three change.
  const synced = await listConversations(deps, 'alice', {
    form: 'since',
    since: firstPage.syncToken as string,
    limit: 50,
  });
  for (let i = 0; i < 3; i++) await sendMessage(deps, `peer-${i}`, text('alice'));
  const changed = await measure('incremental sync (?since=), 3 conversations changed', () =>
    listConversations(deps, 'alice', { form: 'since', since: synced.syncToken as string, limit: 50 }),
  );
  await measure('idle sync (?since=), nothing changed', () =>
    listConversations(deps, 'alice', { form: 'since', since: changed.syncToken as string, limit: 50 }),
  );
  await measure('read ack (PUT .../read), 1 unread', () =>
    markConversationRead(deps, { owner: 'alice', chatType: 'single', convId: 'peer-0' }),
  );
  const peer = (i: number) => ({ owner: 'alice', chatType: 'single' as const, convId: `peer-${i}` });
  await measure('pin', () => setPinned(deps, peer(1), true));
  await measure('mark', () => setMarked(deps, peer(1), 4, true));
  for (let i = 2; i < 12; i++) {
    await setPinned(deps, peer(i), true);
    await setMarked(deps, peer(i), 4, true);
  }
  await measure('a new message in a pinned conversation with 1 mark', () =>
    sendMessage(deps, 'peer-1', text('alice')),
  );
  await measure('pinned list page (limit 20)', () =>
    listConversations(deps, 'alice', { form: 'pinned', limit: 20 }),
  );
  await measure('mark list page (limit 20)', () =>
    listConversations(deps, 'alice', { form: 'mark', mark: 4, limit: 20 }),
  );
  await measure('history page (pageSize 20), single chat', () =>
    fetchHistory(
      deps,
      { owner: 'alice', chatType: 'single', convId: 'bob' },
      { pageSize: 20, direction: 'up' },
    ),
  );
  await measure('history page (pageSize 20), group', () =>
    fetchHistory(
      deps,
      { owner: 'alice', chatType: 'group', convId: group.groupId },
      { pageSize: 20, direction: 'up' },
    ),
  );

  const seeded = await seedSingleChat(deps, clock, 'carol', 'dave', 200);
  const carolSide: ConversationRef = { owner: 'carol', chatType: 'single', convId: 'dave' };
  await listConversations(deps, 'carol', { form: 'recent' });
  await measure('delete 50 ids (including the latest)', () =>
    deleteMessagesByIds(
      deps,
      carolSide,
      seeded.slice(-50).map((m) => m.msgId),
    ),
  );

  for (const size of [1_000, 100_000]) {
    const owner = `big-${size}`;
    const started = performance.now();
    const history = await seedSingleChat(deps, clock, owner, `peer-of-${owner}`, size);
    console.log(`  (seeded ${size} messages in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
    const ref: ConversationRef = { owner, chatType: 'single', convId: `peer-of-${owner}` };
    await listConversations(deps, owner, { form: 'recent' });
    const middle = history[Math.floor(size * 0.9)]?.timestamp as number;
    await measure(`delete before a timestamp, ${size} messages (90% hidden)`, () =>
      deleteMessagesBefore(deps, ref, middle),
    );
  }

  // Bounded counts (issue 20, item 13): what stays unread is counted from positions, so a read ack and
  // a delete before a time cost the same at 10 and at 10,000 unread copies. The delete's inline purge is
  // off here (its work is the copies it deletes, capped at inlinePurgeBatches): the decision is measured.
  const deciding = { ...deps, config: { ...deps.config, inlinePurgeBatches: 0 } };
  for (const unread of [10, 10_000]) {
    const reader = `reader-${unread}`;
    const acked = await seedSingleChat(deps, clock, `writer-${unread}`, reader, unread + 1);
    const ackedSide: ConversationRef = { owner: reader, chatType: 'single', convId: `writer-${unread}` };
    await measure(`read ack leaving ${unread} unread`, () =>
      markConversationRead(deps, ackedSide, acked[0]?.msgId),
    );
    const hidden = await seedSingleChat(deps, clock, `hider-${unread}`, reader, unread + 2);
    const hiddenSide: ConversationRef = { owner: reader, chatType: 'single', convId: `hider-${unread}` };
    await measure(`delete before a time hiding ${unread} unread (purge apart)`, () =>
      deleteMessagesBefore(deciding, hiddenSide, hidden[unread - 1]?.timestamp as number),
    );
  }

  await sendMessage(deps, 'erin', text('frank'));
  await listConversations(deps, 'erin', { form: 'recent' });
  for (let i = 0; i < 9; i++) await sendMessage(deps, 'frank', text('erin'));
  await measure('delete conversation, keep messages', () =>
    deleteConversation(deps, { owner: 'erin', chatType: 'single', convId: 'frank' }, false),
  );
  await measure('delete conversation with its 10 messages', () =>
    deleteConversation(deps, { owner: 'erin', chatType: 'single', convId: 'frank' }, true),
  );
  return figures;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchRequests();
  });
