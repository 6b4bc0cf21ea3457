import { pathToFileURL } from 'node:url';
import {
  BatchGetCommand,
  BatchWriteCommand,
  QueryCommand,
  type QueryCommandInput,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { DAY_MS, ManualClock } from '../functions/core/clock.js';
import { mapLimited } from '../functions/core/concurrency.js';
import type { ConversationRef } from '../functions/core/model.js';
import { ROUND_CONVERSATIONS, ROUND_COPIES } from '../functions/domain/sweep-round.js';
import { createDeps } from '../functions/runtime.js';
import { conversationKey } from '../functions/store/conversation.js';
import { ensureTable } from '../functions/store/create-table.js';
import { keys } from '../functions/store/keys.js';
import { startEmbeddedDynamo } from '../local/embedded-dynamo.js';
import { documentClientOf, localDynamoClient } from '../local/local-app.js';
import { HOUR_MS, NOW, START, seedPairs, sidesOf, survivorsOf } from '../test/support/history-seed.js';
import { cpuSample, cpuSpent } from './cpu.js';
import { runBenchmarks } from './setup.js';
import { spreadOf } from './stats.js';

/**
 * What each kind of request the sweep sends costs DynamoDB Local in CPU, on the sweep benchmark's data
 * (conversations with 60 days of history, one message every 6 hours, half of it expired by a 30-day
 * policy: 121 due copies each). The sweep benchmark finds the sweep bound by the engine's CPU; this
 * says what a conversation's reads and settle cost next to its deletes, and so how close to the raw
 * delete rate any sweep that reads each conversation's keys can come on this engine.
 * Run: `npx tsx bench/engine-costs.ts`. Figures only; nothing asserts a speed.
 */
interface EngineCosts {
  /** Engine CPU per request (ms), median of the repetitions, by request kind. */
  perRequest: Record<RequestKind, number>;
  dueCopiesPerConversation: number;
  /** Engine CPU to delete one conversation's due copies in calls of 25 (ms). */
  deletesPerConversation: number;
  /** Its key Query, the Query for its oldest copy left, and its settle (ms). */
  readsAndSettlePerConversation: number;
  /** deletes / (deletes + reads and settle): sweep/raw at equal core use, before any other request. */
  ceiling: number;
  /** The same with full rounds' shares added: a BatchGetItem and a checkpoint (an UpdateItem) per round. */
  ceilingWithRounds: number;
}

type RequestKind = 'deleteBatch' | 'dueKeysQuery' | 'oldestCopyQuery' | 'roundBatchGet' | 'settleUpdate';

const LABELS: Record<RequestKind, string> = {
  deleteBatch: 'BatchWriteItem, 25 deletes',
  dueKeysQuery: "Query, a conversation's due keys",
  oldestCopyQuery: 'Query, the oldest copy left (limit 1)',
  roundBatchGet: `BatchGetItem, ${ROUND_CONVERSATIONS} conversation items`,
  settleUpdate: 'UpdateItem, a conditional settle',
};

const PAIRS_PER_SET = 50;
const SETS = 3;
const IN_FLIGHT = 8;

async function benchEngineCosts(): Promise<EngineCosts> {
  const dynamo = await startEmbeddedDynamo();
  const raw = localDynamoClient(dynamo.endpoint);
  try {
    const client = documentClientOf(raw);
    const tableName = 'roaming_engine_costs';
    await ensureTable(raw, tableName);
    const deps = createDeps({ client, tableName, clock: new ManualClock(START) });
    const cutoff = NOW - 30 * DAY_MS;

    // Three sets alike: each kind of request is measured once per set (deletes need copies to delete).
    const sets: { refs: ConversationRef[]; through: Map<ConversationRef, string>; due: object[] }[] = [];
    for (let s = 0; s < SETS; s++) {
      const pairs = Array.from(
        { length: PAIRS_PER_SET },
        (_, i) => [`cost-${s}-${i}-a`, `cost-${s}-${i}-b`] as const,
      );
      const seeded = await seedPairs(deps, { pairs, from: START, to: NOW, stepMs: 6 * HOUR_MS, seed: 7 + s });
      const set = {
        refs: [] as ConversationRef[],
        through: new Map<ConversationRef, string>(),
        due: [] as object[],
      };
      for (const pair of seeded) {
        const kept = new Set(survivorsOf(pair, cutoff));
        const expired = pair.messages.filter((m) => !kept.has(m.msgId));
        for (const ref of sidesOf(pair)) {
          set.refs.push(ref);
          set.through.set(ref, expired.at(-1)?.msgId as string);
          for (const m of expired) set.due.push({ pk: keys.historyPk(ref), sk: keys.messageSk(m.msgId) });
        }
      }
      sets.push(set);
    }

    const samples: Record<RequestKind, number[]> = {
      deleteBatch: [],
      dueKeysQuery: [],
      oldestCopyQuery: [],
      roundBatchGet: [],
      settleUpdate: [],
    };
    /** Engine CPU per request of `requests` sent IN_FLIGHT at a time. */
    async function measure<T>(kind: RequestKind, requests: readonly T[], send: (r: T) => Promise<unknown>) {
      await settleEngine();
      const before = cpuSample(dynamo.pid);
      await mapLimited(requests, IN_FLIGHT, send);
      await settleEngine();
      const spent = cpuSpent(before, cpuSample(dynamo.pid)).engineMs;
      if (spent !== undefined) samples[kind].push(spent / requests.length);
    }
    const keyQuery = (ref: ConversationRef, range: Partial<QueryCommandInput>) =>
      client.send(
        new QueryCommand({
          TableName: tableName,
          ProjectionExpression: 'sk',
          ConsistentRead: true,
          ...range,
          ExpressionAttributeValues: { ':pk': keys.historyPk(ref), ...range.ExpressionAttributeValues },
        } as QueryCommandInput),
      );

    for (const [n, set] of sets.entries()) {
      await measure('dueKeysQuery', set.refs, (ref) =>
        keyQuery(ref, {
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :lo AND :hi',
          ExpressionAttributeValues: {
            ':lo': keys.messageSkPrefix,
            ':hi': keys.messageSk(set.through.get(ref) as string),
          },
          Limit: ROUND_COPIES,
        }),
      );
      await measure('oldestCopyQuery', set.refs, (ref) =>
        keyQuery(ref, {
          KeyConditionExpression: 'pk = :pk AND sk > :lo',
          ExpressionAttributeValues: { ':lo': keys.messageSk(set.through.get(ref) as string) },
          Limit: 1,
        }),
      );
      const rounds = chunks(set.refs, ROUND_CONVERSATIONS);
      await measure('roundBatchGet', rounds, (round) =>
        client.send(
          new BatchGetCommand({
            RequestItems: { [tableName]: { Keys: round.map(conversationKey), ConsistentRead: true } },
          }),
        ),
      );
      // The quick settle: re-file the conversation in the purge index, conditional on the item as read.
      await measure('settleUpdate', set.refs, (ref) =>
        client.send(
          new UpdateCommand({
            TableName: tableName,
            Key: conversationKey(ref),
            UpdateExpression: 'SET purgeSk = :filed',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':filed': keys.purgeSk(cutoff + n + 1, ref) },
          }),
        ),
      );
      await measure('deleteBatch', chunks(set.due, 25), (chunk) =>
        client.send(
          new BatchWriteCommand({
            RequestItems: { [tableName]: chunk.map((Key) => ({ DeleteRequest: { Key } })) },
          }),
        ),
      );
    }

    const perRequest = Object.fromEntries(
      Object.entries(samples).map(([kind, values]) => [kind, spreadOf(values).median]),
    ) as Record<RequestKind, number>;
    const dueCopies = (sets[0]?.due.length ?? 0) / (sets[0]?.refs.length ?? 1);
    const deletes = (dueCopies / 25) * perRequest.deleteBatch;
    const readsAndSettle = perRequest.dueKeysQuery + perRequest.oldestCopyQuery + perRequest.settleUpdate;
    const costs: EngineCosts = {
      perRequest,
      dueCopiesPerConversation: dueCopies,
      deletesPerConversation: deletes,
      readsAndSettlePerConversation: readsAndSettle,
      ceiling: deletes / (deletes + readsAndSettle),
      ceilingWithRounds:
        deletes /
        (deletes +
          readsAndSettle +
          (perRequest.roundBatchGet + perRequest.settleUpdate) / ROUND_CONVERSATIONS),
    };
    print(costs);
    return costs;
  } finally {
    raw.destroy();
    await dynamo.stop();
  }
}

function print(costs: EngineCosts): void {
  console.log(
    `Engine CPU per request on DynamoDB Local (ms; median of ${SETS} sets, ${IN_FLIGHT} in flight):`,
  );
  for (const [kind, label] of Object.entries(LABELS) as [RequestKind, string][]) {
    console.log(`  ${label.padEnd(42)} ${costs.perRequest[kind].toFixed(2)}`);
  }
  const c = costs;
  console.log(
    `  per conversation of ${c.dueCopiesPerConversation} due copies: deletes ${c.deletesPerConversation.toFixed(1)} ms; ` +
      `key Query + oldest-copy Query + settle ${c.readsAndSettlePerConversation.toFixed(1)} ms ` +
      `(${((100 * c.readsAndSettlePerConversation) / c.deletesPerConversation).toFixed(0)}% of the deletes)`,
  );
  console.log(
    `  ceiling of sweep / raw at equal core use: ${c.ceiling.toFixed(2)}× with only those; ` +
      `${c.ceilingWithRounds.toFixed(2)}× with full rounds' reads and checkpoints; shard claims, index pages and closes come on top`,
  );
}

/** Lets the engine finish what it was doing (its CPU is read from /proc in 10 ms ticks). */
const settleEngine = () => new Promise((resolve) => setTimeout(resolve, 300));

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  runBenchmarks(async () => {
    await benchEngineCosts();
  });
}
