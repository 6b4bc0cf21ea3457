import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DescribeStreamCommand,
  DynamoDBStreamsClient,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type Shard,
} from '@aws-sdk/client-dynamodb-streams';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import {
  DELIVERY_ATTEMPTS,
  deliverInOrder,
  type PostEvent,
  retryDelaySeconds,
} from '../functions/events/delivery.js';
import type { DocumentSender } from '../functions/store/db.js';
import {
  type EventStreamRecord,
  type QueuedEvent,
  queuedEventOfRecord,
} from '../functions/store/event-store.js';
import { keys } from '../functions/store/keys.js';
import { LOCAL_CREDENTIALS, type StoreCredentials } from './local-secrets.js';

/**
 * npm start's event delivery (docs/events.md, "Locally"): what EventBridge Pipes and the SQS FIFO queue
 * do on AWS, in this process. It reads the table's stream from DynamoDB Local, keeps the outbox's events
 * (the same filter as the pipe: queuedEventOfRecord), queues them per conversation and delivers them with
 * the sender function's code (deliverInOrder, webhookPoster), with the same backoff and attempts.
 *
 * Nothing is lost when the process stops or dies: how far each stream shard is read is saved in the
 * table (EVENT_CURSOR) only up to the first event not yet delivered or dead-lettered, and a new pipeline
 * starts from there; what was delivered after that point is delivered again (at least once; receivers
 * de-duplicate by the event id).
 */
export interface EventPipelineOptions {
  endpoint: string;
  credentials?: StoreCredentials;
  tableName: string;
  /** Where the shard positions are saved (the same table). */
  client: DocumentSender;
  post: PostEvent;
  /** The wait after `failedAttempts` failed deliveries of a conversation's first event. @default the AWS backoff */
  retryDelayMs?: (failedAttempts: number) => number;
  /** Attempts before an event is a dead letter. @default DELIVERY_ATTEMPTS */
  attempts?: number;
  /** How often the stream is read when it had nothing new. @default 200 */
  pollMs?: number;
  onDeadLetter?: (queued: QueuedEvent, reason: string) => void;
  onError?: (error: unknown) => void;
}

export interface EventPipeline {
  /**
   * Resolves once everything written to the table before the call is delivered or dead-lettered: it
   * writes a marker and waits until the stream has brought it and nothing read before it is pending.
   */
  idle(): Promise<void>;
  /** Stops reading and delivering; saves positions first. */
  stop(): Promise<void>;
  /** Stops at once, saving nothing more: a crash, for tests. */
  crash(): void;
  readonly deadLetters: readonly QueuedEvent[];
}

/** One event read from a shard, until delivered or dead-lettered. */
interface Entry {
  seq: string;
  done: boolean;
}

interface ShardState {
  shardId: string;
  iterator: string | undefined;
  /** Read, in stream order; the prefix that is done is dropped and becomes the saved position. */
  entries: Entry[];
  saved: string | undefined;
  position: string | undefined;
  /** The last record read: a lost iterator is taken again after it. */
  lastRead: string | undefined;
  closed: boolean;
}

interface GroupQueue {
  items: { queued: QueuedEvent; entry: Entry }[];
  running: boolean;
}

const BATCH_SIZE = 10;
const CURSOR_PK = keys.eventCursor('').pk;
/** idle()'s markers, beside the positions (expired at once: TTL removes them on a store that has it). */
const MARKER_PREFIX = 'IDLE#';

export async function startEventPipeline(options: EventPipelineOptions): Promise<EventPipeline> {
  const credentials = options.credentials ?? LOCAL_CREDENTIALS;
  const region = 'local';
  const dynamo = new DynamoDBClient({ endpoint: options.endpoint, region, credentials });
  const streams = new DynamoDBStreamsClient({ endpoint: options.endpoint, region, credentials });
  const table = await dynamo.send(new DescribeTableCommand({ TableName: options.tableName }));
  const streamArn = table.Table?.LatestStreamArn;
  if (!streamArn) throw new Error(`table ${options.tableName} has no stream: events cannot be delivered`);
  const retryDelayMs = options.retryDelayMs ?? ((n: number) => retryDelaySeconds(n) * 1000);
  const attempts = options.attempts ?? DELIVERY_ATTEMPTS;
  const pollMs = options.pollMs ?? 200;
  const shards = new Map<string, ShardState>();
  const groups = new Map<string, GroupQueue>();
  const deadLetters: QueuedEvent[] = [];
  let running = true;
  let crashed = false;
  // idle() calls waiting for their marker to come through the stream, and the markers seen.
  let idleWaiters: { marker: string; wake: () => void }[] = [];
  const markersSeen = new Set<string>();
  let markers = 0;

  const report = (error: unknown) => (options.onError ?? ((e) => console.error('event pipeline:', e)))(error);

  async function discoverShards(): Promise<void> {
    let start: string | undefined;
    const found: Shard[] = [];
    do {
      const page = await streams.send(
        new DescribeStreamCommand({ StreamArn: streamArn, ExclusiveStartShardId: start }),
      );
      found.push(...(page.StreamDescription?.Shards ?? []));
      start = page.StreamDescription?.LastEvaluatedShardId;
    } while (start);
    for (const shard of found) {
      const shardId = shard.ShardId as string;
      if (shards.has(shardId)) continue;
      const saved = await options.client.send(
        new GetCommand({
          TableName: options.tableName,
          Key: keys.eventCursor(shardId),
          ConsistentRead: true,
        }),
      );
      const position = saved.Item?.sequenceNumber as string | undefined;
      shards.set(shardId, {
        shardId,
        iterator: await iteratorAfter(shardId, position),
        entries: [],
        saved: position,
        position,
        lastRead: position,
        closed: false,
      });
    }
  }

  /** An iterator after `sequenceNumber`, or from the oldest record kept when there is none (or it is gone). */
  async function iteratorAfter(shardId: string, sequenceNumber: string | undefined) {
    const from = (type: 'AFTER_SEQUENCE_NUMBER' | 'TRIM_HORIZON') =>
      streams.send(
        new GetShardIteratorCommand({
          StreamArn: streamArn,
          ShardId: shardId,
          ShardIteratorType: type,
          ...(type === 'AFTER_SEQUENCE_NUMBER' ? { SequenceNumber: sequenceNumber } : {}),
        }),
      );
    if (sequenceNumber === undefined) return (await from('TRIM_HORIZON')).ShardIterator;
    try {
      return (await from('AFTER_SEQUENCE_NUMBER')).ShardIterator;
    } catch (error) {
      if ((error as Error).name !== 'TrimmedDataAccessException') throw error;
      return (await from('TRIM_HORIZON')).ShardIterator;
    }
  }

  /** Reads each open shard once; true when some shard had records. */
  async function readOnce(): Promise<boolean> {
    let any = false;
    for (const shard of shards.values()) {
      if (!shard.iterator) continue;
      const page = await streams
        .send(new GetRecordsCommand({ ShardIterator: shard.iterator, Limit: 1000 }))
        .catch(async (error: Error) => {
          // An iterator the store no longer honours (expired, or said to be past the trim horizon):
          // take a new one after the last record read, and read again next time.
          if (error.name !== 'TrimmedDataAccessException' && error.name !== 'ExpiredIteratorException')
            throw error;
          shard.iterator = await iteratorAfter(shard.shardId, shard.lastRead);
          return undefined;
        });
      if (!page) continue;
      if (crashed) return false;
      shard.iterator = page.NextShardIterator;
      if (!shard.iterator) shard.closed = true;
      for (const record of page.Records ?? []) {
        // The saved positions' own writes are in the stream too: they are not news (else each save
        // would cause the next).
        const key = record.dynamodb?.Keys;
        if (key?.pk?.S !== CURSOR_PK) any = true;
        else if (key.sk?.S?.startsWith(MARKER_PREFIX)) markersSeen.add(key.sk.S);
        const entry: Entry = { seq: record.dynamodb?.SequenceNumber as string, done: false };
        shard.lastRead = entry.seq;
        shard.entries.push(entry);
        const queued = queuedEventOfRecord(record as EventStreamRecord);
        if (!queued) {
          entry.done = true;
          continue;
        }
        enqueue(queued, entry);
      }
      advance(shard);
    }
    return any;
  }

  function enqueue(queued: QueuedEvent, entry: Entry) {
    const group = groups.get(queued.group) ?? { items: [], running: false };
    groups.set(queued.group, group);
    group.items.push({ queued, entry });
    if (!group.running) void deliverGroup(queued.group, group);
  }

  /** Delivers a conversation's queue head first, BATCH_SIZE at a time, waiting out its backoff on failure. */
  async function deliverGroup(name: string, group: GroupQueue): Promise<void> {
    group.running = true;
    let failedAttempts = 0;
    try {
      while (running && group.items.length > 0) {
        const batch = group.items.slice(0, BATCH_SIZE);
        const { failed, reasons } = await deliverInOrder(
          batch.map((item) => item.queued),
          options.post,
        );
        if (crashed) return;
        const delivered = batch.length - failed.length;
        for (const item of group.items.splice(0, delivered)) item.entry.done = true;
        if (failed.length === 0) {
          failedAttempts = 0;
          continue;
        }
        failedAttempts = delivered > 0 ? 1 : failedAttempts + 1;
        if (failedAttempts >= attempts) {
          const head = group.items.shift() as { queued: QueuedEvent; entry: Entry };
          head.entry.done = true;
          deadLetters.push(head.queued);
          options.onDeadLetter?.(head.queued, reasons.get(failed[0] as QueuedEvent) ?? 'failed');
          failedAttempts = 0;
          continue;
        }
        await sleep(retryDelayMs(failedAttempts));
      }
    } finally {
      group.running = false;
      if (group.items.length === 0) groups.delete(name);
      for (const shard of shards.values()) advance(shard);
      wakeIdle();
    }
  }

  /** Drops the done prefix of a shard's entries: the position a restart may start after. */
  function advance(shard: ShardState) {
    while (shard.entries.length > 0 && (shard.entries[0] as Entry).done) {
      shard.position = (shard.entries.shift() as Entry).seq;
    }
  }

  async function savePositions(): Promise<void> {
    for (const shard of shards.values()) {
      if (shard.position === undefined || shard.position === shard.saved || crashed) continue;
      const position = shard.position;
      await options.client.send(
        new PutCommand({
          TableName: options.tableName,
          Item: { ...keys.eventCursor(shard.shardId), sequenceNumber: position },
        }),
      );
      shard.saved = position;
    }
  }

  function wakeIdle() {
    const drained = groups.size === 0 && [...shards.values()].every((s) => s.entries.length === 0);
    if (!drained) return;
    const ready = idleWaiters.filter((waiter) => markersSeen.has(waiter.marker));
    idleWaiters = idleWaiters.filter((waiter) => !markersSeen.has(waiter.marker));
    for (const waiter of ready) waiter.wake();
  }

  const loop = (async function readLoop() {
    while (running) {
      try {
        await discoverShards();
        const any = await readOnce();
        if (any) await savePositions();
        wakeIdle();
        if (!any) await sleep(pollMs);
      } catch (error) {
        if (!running) return;
        report(error);
        await sleep(pollMs * 5);
      }
    }
  })();

  return {
    deadLetters,
    async idle() {
      const marker = `${MARKER_PREFIX}${process.pid}-${++markers}-${Date.now()}`;
      const reached = new Promise<void>((resolve) => idleWaiters.push({ marker, wake: resolve }));
      await options.client.send(
        new PutCommand({ TableName: options.tableName, Item: { pk: CURSOR_PK, sk: marker, expiresAt: 0 } }),
      );
      await reached;
    },
    async stop() {
      running = false;
      await loop;
      await savePositions();
      dynamo.destroy();
      streams.destroy();
    },
    crash() {
      crashed = true;
      running = false;
      dynamo.destroy();
      streams.destroy();
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
