import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { marshall } from '@aws-sdk/util-dynamodb';
import { sendMessage } from '../functions/domain/send.js';
import { webhookPoster } from '../functions/events/delivery.js';
import { allStoredEvents } from '../functions/store/event-store.js';
import { startEventPipeline } from '../local/event-pipeline.js';
import { sizeOf } from '../test/support/transaction-capacity.js';
import { runBenchmarks, startBenchStore } from './setup.js';

/**
 * Events (issue 26): what the outbox adds to a send (its item's write units, inside the send's
 * transaction), and whether delivery keeps up: sends at full speed from many senders while npm start's
 * pipeline delivers their events to a local receiver; events delivered per second against sends
 * accepted per second (the delivery's time counts from the first send to the last event received).
 */
export interface EventFigures {
  sends: number;
  conversations: number;
  sendsPerSecond: number;
  eventsPerSecond: number;
  /** eventsPerSecond / sendsPerSecond: ≥ 1 when delivery keeps pace (it may finish with the sends). */
  ratio: number;
  /** The send's write units, as the counter models the transaction, and the part that is the event. */
  sendWriteUnits: number;
  addedWriteUnits: number;
  eventItemBytes: number;
}

const CONVERSATIONS = 50;
const SENDS = 2000;
const IN_FLIGHT = 16;

export async function benchEvents(): Promise<EventFigures> {
  const store = await startBenchStore({}, (client) => client, { stream: true });
  const { deps, requests } = store;
  let received = 0;
  let lastReceivedAt = 0;
  const receiver = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received++;
      lastReceivedAt = performance.now();
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/events`;
  try {
    // One send measured alone: its write units, and its event item's.
    requests.reset();
    const one = await sendMessage(deps, 'bench-one', {
      to: 'bench-two',
      chatType: 'single',
      type: 'text',
      body: { text: 'hello, this is a typical short chat message' },
    });
    const sendWriteUnits = requests.writeUnits;
    const item = (await allStoredEvents(deps.db, deps.config.eventShards)).find(
      (event) => event.eventId === `message.sent:${one.msgId}`,
    );
    const eventItemBytes = sizeOf(marshall(item ?? {}, { removeUndefinedValues: true }));
    // In a transaction an item costs 2 units per started KB; the outbox item has no index entries.
    const addedWriteUnits = 2 * Math.max(1, Math.ceil(eventItemBytes / 1024));

    const pipeline = await startEventPipeline({
      endpoint: store.endpoint,
      tableName: deps.db.tableName,
      client: deps.db.client,
      post: webhookPoster({ url, secret: async () => 'bench-secret' }),
      pollMs: 50,
    });
    await pipeline.idle();
    const before = received;
    const started = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < SENDS) {
          const i = next++;
          await sendMessage(deps, `bench-sender-${i % CONVERSATIONS}`, {
            to: `bench-peer-${i % CONVERSATIONS}`,
            chatType: 'single',
            type: 'text',
            body: { text: `message ${i}` },
          });
        }
      }),
    );
    const sendSeconds = (performance.now() - started) / 1000;
    await pipeline.idle();
    await pipeline.stop();
    const deliverSeconds = (lastReceivedAt - started) / 1000;
    const delivered = received - before;
    const figures: EventFigures = {
      sends: SENDS,
      conversations: CONVERSATIONS,
      sendsPerSecond: SENDS / sendSeconds,
      eventsPerSecond: delivered / deliverSeconds,
      ratio: delivered / deliverSeconds / (SENDS / sendSeconds),
      sendWriteUnits,
      addedWriteUnits,
      eventItemBytes,
    };
    console.log(
      `  ${SENDS} single-chat sends in ${CONVERSATIONS} conversations, ${IN_FLIGHT} at a time: ` +
        `${figures.sendsPerSecond.toFixed(0)} sends/s; ${delivered} events delivered, ${figures.eventsPerSecond.toFixed(0)} events/s ` +
        `(ratio ${figures.ratio.toFixed(2)})`,
    );
    console.log(
      `  a single-chat send: ${sendWriteUnits.toFixed(1)} WCU, of which the event ${addedWriteUnits} (its item ${eventItemBytes} bytes)`,
    );
    return figures;
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
    await store.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchEvents();
  });
