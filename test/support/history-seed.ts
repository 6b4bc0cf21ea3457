import { GetCommand, QueryCommand, ScanCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import { DAY_MS } from '../../functions/core/clock.js';
import { timeOfId } from '../../functions/core/ids.js';
import type { ConversationRef, Message } from '../../functions/core/model.js';
import { commit, readForWrite } from '../../functions/domain/conversation-writes.js';
import type { Deps } from '../../functions/domain/deps.js';
import { SWEEP_CLOCK_MARGIN_MS } from '../../functions/domain/retention.js';
import { applyMessage, conversationKey } from '../../functions/store/conversation.js';
import { type DocumentSender, send } from '../../functions/store/db.js';
import { keys } from '../../functions/store/keys.js';
import { putCopies } from '../../functions/store/message-store.js';
import { T0 } from './harness.js';
import { mulberry32 } from './prng.js';

/**
 * Long single-chat histories for retention tests, written as sends would leave them (a copy per side,
 * each side's conversation filed in the purge index under its oldest copy and pointing at the newest),
 * without a round trip per message. Message ids come from a seeded generator, so two tables seeded
 * with the same arguments hold the same items.
 */

/** Seeded histories start here and end at NOW: 60 days of data. */
export const START = T0;
export const NOW = T0 + 60 * DAY_MS;
export const HOUR_MS = 3_600_000;
/** A sweep run at SWEEP_AT deletes exactly what the policies expire at NOW (it keeps a clock margin). */
export const SWEEP_AT = NOW + SWEEP_CLOCK_MARGIN_MS;

export interface SeededPair {
  users: readonly [string, string];
  messages: Message[];
}

/** Users `{prefix}00`.. in a ring: each talks to the next, so everyone has two conversations. */
export function ringOf(prefix: string, count: number): [string, string][] {
  const users = Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(2, '0')}`);
  return users.map((user, i) => [user, users[(i + 1) % count] as string]);
}

export function sidesOf(pair: SeededPair): [ConversationRef, ConversationRef] {
  const [a, b] = pair.users;
  return [
    { owner: a, chatType: 'single', convId: b },
    { owner: b, chatType: 'single', convId: a },
  ];
}

/** A single-chat text message as the store keeps it: its timestamp is its id's time. */
export function singleChatText(msgId: string, from: string, to: string, text: string): Message {
  return { msgId, from, to, chatType: 'single', type: 'text', body: { text }, timestamp: timeOfId(msgId) };
}

/** One message every `stepMs` from `from` through `to` in each pair's conversation, senders alternating. */
export async function seedPairs(
  deps: Deps,
  input: {
    pairs: readonly (readonly [string, string])[];
    from: number;
    to: number;
    stepMs: number;
    seed: number;
  },
): Promise<SeededPair[]> {
  const random = mulberry32(input.seed);
  const seeded = input.pairs.map((users) => {
    const messages: Message[] = [];
    for (let time = input.from, i = 0; time <= input.to; time += input.stepMs, i++) {
      const msgId = ulid(time, random);
      const [from, to] = i % 2 === 0 ? users : ([users[1], users[0]] as const);
      messages.push(singleChatText(msgId, from, to, `m${i}`));
    }
    return { users, messages };
  });
  for (let i = 0; i < seeded.length; i += 4) {
    await Promise.all(seeded.slice(i, i + 4).map((pair) => writePair(deps, pair)));
  }
  return seeded;
}

async function writePair(deps: Deps, pair: SeededPair): Promise<void> {
  await writeHistory(deps, sidesOf(pair), pair.messages);
}

/**
 * Writes `messages` (oldest first, one conversation) as sends would leave them, without a transaction per
 * message: every copy (at its position), then each side's conversation item through the aggregate (the
 * first message, filing it for purge under its time, then the last), then the read position and unread
 * count the sends in between would have left (the owner's own message moves the read position to it).
 */
export async function writeHistory(
  deps: Deps,
  sides: readonly ConversationRef[],
  messages: readonly Message[],
) {
  for (let i = 0; i < messages.length; i += 500) {
    const slice = messages.slice(i, i + 500);
    await putCopies(
      deps.db,
      sides.flatMap((ref) => slice.map((message, j) => ({ ref, message, seq: i + j + 1 }))),
    );
  }
  const first = messages[0] as Message;
  const last = messages.at(-1) as Message;
  for (const ref of sides) {
    const read = await readForWrite(deps, [ref]);
    const context = read.context(ref.owner);
    const opened = applyMessage(context, read.state(ref), {
      message: first,
      seq: 1,
      own: first.from === ref.owner,
    });
    await commit(deps, opened.actions);
    if (messages.length > 1) {
      const closed = applyMessage(context, opened.next, {
        message: last,
        seq: messages.length,
        own: last.from === ref.owner,
      });
      await commit(deps, closed.actions);
    }
    const lastOwn = messages.findLastIndex((m) => m.from === ref.owner);
    await send(
      deps.db,
      new UpdateCommand({
        TableName: deps.db.tableName,
        Key: conversationKey(ref),
        UpdateExpression:
          lastOwn >= 0 ? 'SET unreadCount = :unread, readThrough = :read' : 'SET unreadCount = :unread',
        ExpressionAttributeValues: {
          ':unread': messages.length - 1 - lastOwn,
          ...(lastOwn >= 0 ? { ':read': messages[lastOwn]?.msgId } : {}),
        },
      }),
    );
  }
}

/** One side's conversation item as stored (strongly consistent), for tests that look at its attributes. */
export async function conversationItem(
  deps: Deps,
  ref: ConversationRef,
): Promise<Record<string, unknown> | undefined> {
  const result = await send<{ Item?: Record<string, unknown> }>(
    deps.db,
    new GetCommand({ TableName: deps.db.tableName, Key: conversationKey(ref), ConsistentRead: true }),
  );
  return result.Item;
}

/** The ids of the copies in the table for one side, oldest first (read with the unwrapped client). */
export async function copiesInTable(client: DocumentSender, tableName: string, ref: ConversationRef) {
  const ids: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await client.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.historyPk(ref) },
        ExclusiveStartKey: startKey,
      }),
    )) as { Items?: { sk: string }[]; LastEvaluatedKey?: Record<string, unknown> };
    ids.push(...(page.Items ?? []).map((item) => keys.msgIdOfSk(item.sk)));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return ids;
}

/**
 * The table's data as a comparable list: every message copy and every conversation's keys, latest,
 * listing, watermark and purge filing; sweep bookkeeping and sync stamps (rev, changeEpoch) left out.
 */
export async function dataOf(client: DocumentSender, tableName: string): Promise<string[]> {
  const rows: string[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await client.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey }),
    )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    for (const item of page.Items ?? []) {
      const pk = String(item.pk);
      // Bookkeeping whose ids differ from run to run: the sweep's (its runs' events too), the audit trail.
      if (pk.startsWith('SWEEP') || pk === 'AUDIT') continue;
      if (pk.startsWith('EV#') && String(item.sk).includes('#retention.swept:')) continue;
      const { pk: _pk, sk, lastMessage, listSk, clearedThrough, purgeShard, purgeSk, unreadCount } = item;
      const latest = (lastMessage as { msgId?: string } | undefined)?.msgId;
      rows.push(JSON.stringify({ pk, sk, latest, listSk, clearedThrough, purgeShard, purgeSk, unreadCount }));
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return rows.sort();
}

/** What a sweep at `now` must leave of one side: the copies after its owner's cutoff. */
export function survivorsOf(pair: SeededPair, cutoff: number): string[] {
  return pair.messages.filter((m) => m.timestamp > cutoff).map((m) => m.msgId);
}
