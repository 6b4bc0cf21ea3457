import { type AttributeValue, BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runErasure } from '../functions/domain/erasure.js';
import { EXPORT_LEASE_MS, runExport } from '../functions/domain/export-job.js';
import { ROUTES, type RouteName, type RouteSpec } from '../functions/routes.js';
import { keys } from '../functions/store/keys.js';
import { isReadOnly } from '../functions/store-access.js';
import { type Harness, startHarness } from './support/harness.js';
import {
  exampleRequest,
  type RequestTarget,
  type RouteRequest,
  sendRouteRequest,
} from './support/route-requests.js';
import { type FaultKind, type StoreFaults, storeFaults, useFastRetries } from './support/store-faults.js';
import { snapshotTable, type TableSnapshot, tableChanges } from './support/table-snapshot.js';

/**
 * Overload and outages through every write route (generated from the route table): DynamoDB throttles
 * (ThrottlingException, transactions cancelled with ThrottlingError, batches left unprocessed) or cannot
 * be reached, from the k-th command of the request on, for every k the request reaches. The answer is
 * 429 (throttled) or 503 (unreachable) with Retry-After, never a 500; and nothing partial is left
 * behind: once the client does what the answer says (retry the same request) and the scheduled sweep
 * has run, the table is exactly what one undisturbed request and the sweep make of it (see normalized).
 * And overload that passes (each command throttled once) is invisible to the caller.
 */

// errorResponse logs each 503 on stderr; the assertions are on the answers.
beforeAll(() => {
  vi.spyOn(console, 'error').mockImplementation(() => undefined);
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterAll(() => {
  vi.restoreAllMocks();
});

const ALICE = 'ov-alice';
/** What the requests name: Bob's chat with Alice, and the group (its id is the server's). */
function targets(groupId: string): { single: RequestTarget; group: RequestTarget } {
  const single: RequestTarget = {
    chatType: 'single',
    convId: 'ov-bob',
    groupId,
    userId: 'ov-carol',
    msgIds: [],
  };
  return { single, group: { ...single, chatType: 'group', convId: groupId } };
}

/** A table of its own with a little of everything in it: a chat, a group, a sync token, a user override. */
interface World {
  h: Harness;
  faults: StoreFaults;
  authorization: string;
  singleMsgIds: string[];
  groupMsgIds: string[];
  syncToken: string;
  single: RequestTarget;
  group: RequestTarget;
  close(): Promise<void>;
}

/**
 * An export a 202 started runs in the background (on AWS: the worker function, retried by Lambda). One
 * the faults stopped is worked on again once its lease has run out, as the worker's retry would.
 */
async function exportsFinished(w: World): Promise<void> {
  await w.h.exports.starter.idle();
  const { Items = [] } = (await w.h.documentClient.send(
    new QueryCommand({
      TableName: w.h.tableName,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': 'EXPORT' },
      ConsistentRead: true,
    }),
  )) as { Items?: { sk: string; status: string }[] };
  const unfinished = Items.filter((job) => job.status === 'running');
  if (unfinished.length === 0) return;
  w.h.clock.advance(EXPORT_LEASE_MS + 1);
  for (const job of unfinished) {
    expect(await runExport(w.h.deps, w.h.exports.sink, job.sk, { invocationId: 'retry' })).toBe('done');
  }
}

/** The world as it was built once: its items, restored into a new table for every run. */
interface Template {
  items: Record<string, AttributeValue>[];
  singleMsgIds: string[];
  groupMsgIds: string[];
  syncToken: string;
  groupId: string;
}

async function buildTemplate(): Promise<Template> {
  const h = await startHarness();
  try {
    const [alice, bob, admin] = [await h.as(ALICE), await h.as('ov-bob'), await h.as(ALICE, { admin: true })];
    const text = (to: string, chatType: 'single' | 'group', words: string) =>
      ({ to, chatType, type: 'text', body: { text: words } }) as const;
    const single = [
      await alice.sendMessage(text('ov-bob', 'single', 'a1')),
      await bob.sendMessage(text(ALICE, 'single', 'b1')),
      await bob.sendMessage(text(ALICE, 'single', 'b2')),
    ];
    const { groupId } = await alice.createGroup({ name: 'team', members: ['ov-bob', 'ov-carol'] });
    const group = [
      await bob.sendMessage(text(groupId, 'group', 'g1')),
      await alice.sendMessage(text(groupId, 'group', 'g2')),
    ];
    await admin.setUserRetention('ov-bob', 30);
    const { syncToken } = await alice.fetchConversationsFromServer({ limit: 5 });
    await bob.sendMessage(text(ALICE, 'single', 'b3'));
    const snapshot = await snapshotTable(h.documentClient, h.tableName);
    return {
      items: [...snapshot.values()].map((item) => JSON.parse(item) as Record<string, AttributeValue>),
      singleMsgIds: single.map((m) => m.msgId),
      groupMsgIds: group.map((m) => m.msgId),
      syncToken: syncToken as string,
      groupId,
    };
  } finally {
    await h.close();
  }
}

let template: Promise<Template> | undefined;

/** A new table holding the template's items, served by a new instance (cold caches, the same clock). */
async function freshWorld(): Promise<World> {
  template ??= buildTemplate();
  const t = await template;
  const faults = storeFaults();
  const h = await startHarness({ wrapClient: faults.wrap, config: { purgeShards: 2 } });
  useFastRetries(h.deps.db);
  for (let i = 0; i < t.items.length; i += 25) {
    const batch = t.items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } }));
    await (h.documentClient.send as (c: BatchWriteItemCommand) => Promise<unknown>).call(
      h.documentClient,
      new BatchWriteItemCommand({ RequestItems: { [h.tableName]: batch } }),
    );
  }
  return {
    h,
    faults,
    authorization: `Bearer ${await h.token(ALICE, { admin: true })}`,
    singleMsgIds: t.singleMsgIds,
    groupMsgIds: t.groupMsgIds,
    syncToken: t.syncToken,
    ...targets(t.groupId),
    close: () => h.close(),
  };
}

/** The requests each write route is overloaded with; a route without an entry gets its example. */
const VARIANTS: Partial<Record<RouteName, Record<string, (route: RouteSpec, w: World) => RouteRequest>>> = {
  sendMessage: {
    'single chat': (r, w) => exampleRequest(r, w.single),
    'single chat, clientMsgId': (r, w) => withBody(exampleRequest(r, w.single), { clientMsgId: 'ov-c1' }),
    'group fan-out, clientMsgId': (r, w) => withBody(exampleRequest(r, w.group), { clientMsgId: 'ov-c2' }),
  },
  listConversations: {
    'since (starts a sync epoch)': (r, w) => ({
      ...exampleRequest(r, w.single),
      query: [['since', w.syncToken]],
    }),
  },
  deleteMessages: {
    'by ids, the latest included': (r, w) =>
      exampleRequest(r, { ...w.single, msgIds: w.singleMsgIds.slice(1) }),
    'before a time (inline purge)': (r, w) => ({
      ...exampleRequest(r, w.single),
      query: [['before', String(w.h.clock.now())]],
    }),
    'by ids, group': (r, w) => exampleRequest(r, { ...w.group, msgIds: w.groupMsgIds }),
  },
  recallMessage: {
    'single chat, her own message': (r, w) =>
      exampleRequest(r, { ...w.single, msgIds: w.singleMsgIds.slice(0, 1) }),
    'group (fan-out), the owner recalls a member’s message (audited)': (r, w) =>
      exampleRequest(r, { ...w.group, msgIds: w.groupMsgIds.slice(0, 1) }),
  },
  modifyMessage: {
    'single chat': (r, w) => exampleRequest(r, { ...w.single, msgIds: w.singleMsgIds.slice(0, 1) }),
    'group (fan-out)': (r, w) => exampleRequest(r, { ...w.group, msgIds: w.groupMsgIds.slice(1, 2) }),
  },
  markRead: {
    'single chat': (r, w) => exampleRequest(r, w.single),
    group: (r, w) => exampleRequest(r, w.group),
  },
  deleteConversation: {
    'with its messages': (r, w) => exampleRequest(r, w.single),
    'group, list only': (r, w) => ({ ...exampleRequest(r, w.group), query: [['deleteMessages', 'false']] }),
  },
  createGroup: {
    'with members': (r, w) => withBody(exampleRequest(r, w.single), { members: ['ov-bob', 'ov-dave'] }),
  },
  addMember: { 'a new member': (r, w) => exampleRequest(r, { ...w.group, userId: 'ov-dave' }) },
  removeMember: {
    'the owner removes a member': (r, w) => exampleRequest(r, { ...w.group, userId: 'ov-carol' }),
  },
  deleteUserRetention: {
    'an existing override': (r, w) => exampleRequest(r, { ...w.single, userId: 'ov-bob' }),
  },
};

function withBody(request: RouteRequest, fields: Record<string, unknown>): RouteRequest {
  return { ...request, body: { ...(request.body as object), ...fields } };
}

function variantsOf(route: RouteSpec): [string, (route: RouteSpec, w: World) => RouteRequest][] {
  const listed = VARIANTS[route.name as RouteName];
  return listed ? Object.entries(listed) : [['example', (r, w) => exampleRequest(r, w.single)]];
}

/**
 * The table as two undisturbed runs of the same requests leave it: each ULID cut to its time part (the
 * rest is random); a user's sync epoch numbers left out (the head's epoch and those it records as begun:
 * a since call refused after starting a new epoch leaves them one higher, and epochs are only ever
 * compared, so that changes nothing); sweep and export bookkeeping
 * left out (how many runs there were, their leases, checkpoints and counts record the way there, not
 * where it got; finalTable has checked that every run finished).
 */
function normalized(snapshot: TableSnapshot): string[] {
  const ulid = /[0-9A-HJKMNP-TV-Z]{26}/g;
  return [...snapshot]
    .map(([key, text]) => {
      const item = JSON.parse(text) as Record<string, unknown>;
      const pk = key.slice(0, key.indexOf('|'));
      if (key.endsWith('|SYNC')) {
        for (const name of Object.keys(item))
          if (name === 'epoch' || name.startsWith('startEpoch')) delete item[name];
      }
      // A sweep start's audit entry records whether it joined a run in progress: the refused first
      // attempt started the run, so the retry joined it. That is the way there, as the leases are.
      if (pk === 'AUDIT' && (item.action as { S?: string } | undefined)?.S === 'sweep.start') {
        delete (item.after as { M?: Record<string, unknown> } | undefined)?.M?.joined;
      }
      // Sweep bookkeeping: finalTable has waited until every run is finished. Erasure jobs likewise
      // (their counts are at least once: a replayed page counts again).
      if (pk === 'SWEEPS' || pk.startsWith('SWEEP#') || pk === keys.erasuresPk) return undefined;
      // A sweep run's event is its bookkeeping too (its counts are at least once, its time the run's).
      if (pk.startsWith('EV#') && key.includes('#retention.swept:')) return undefined;
      // An export's bookkeeping (its leases, attempts and times) records the way there; finalTable has
      // checked that it is done, and what it wrote (position, counts, how many parts) is compared.
      if (pk === 'EXPORT') {
        for (const name of ['leaseOwner', 'leaseUntil', 'updatedAt', 'finishedAt', 'failures', 'error'])
          delete item[name];
        // Part names are ids made when each part is written: how many there are is what they wrote.
        item.parts = { N: String((item.parts as { L?: unknown[] } | undefined)?.L?.length ?? 0) };
      }
      // An event's outbox shard is a hash of its conversation, whose id (a group's) differs per run.
      const stored = `${key} ${JSON.stringify(item)}`.replace(/EV#\d+/g, 'EV#~');
      return stored.replace(ulid, (id) => `${id.slice(0, 10)}~`);
    })
    .filter((line) => line !== undefined)
    .sort();
}

/**
 * The table once the scheduled sweep has run after the request: what an operation leaves to the sweep
 * (purging copies it already hid, its purge bookkeeping) is part of what it does.
 */
async function finalTable(w: World): Promise<string[]> {
  await exportsFinished(w);
  // Later, as the scheduled sweep is: a lease held by a sweep invocation the faults stopped has run out.
  w.h.clock.advance(w.h.deps.config.sweepLeaseMs + 1);
  const started = await w.h.raw('POST', '/v1/admin/sweeps', {
    token: w.authorization.slice('Bearer '.length),
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  expect(started.status).toBe(202);
  await sweepsSettled(w);
  await erasuresSettled(w);
  return normalized(await snapshotTable(w.h.documentClient, w.h.tableName));
}

/** Waits until no sweep run is in progress: none listed as running, and its ACTIVE pointer cleared. */
async function sweepsSettled(w: World): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const list = await w.h.raw('GET', '/v1/admin/sweeps', { token: w.authorization.slice('Bearer '.length) });
    const runs = (list.body.runs ?? []) as { status: string }[];
    const active = await w.h.documentClient.send(
      new GetCommand({ TableName: w.h.tableName, Key: { pk: 'SWEEPS', sk: 'ACTIVE' }, ConsistentRead: true }),
    );
    if (runs.every((run) => run.status !== 'running') && active.Item === undefined) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the sweep did not finish');
}

/**
 * Runs every erasure job still running to its end, as the erasure function's retries do on AWS (a job the
 * faults stopped holds a lease the clock has moved past), and waits for those running in the background.
 */
async function erasuresSettled(w: World): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const jobs = await w.h.documentClient.send(
      new QueryCommand({
        TableName: w.h.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.erasuresPk },
        ConsistentRead: true,
      }),
    );
    const running = (jobs.Items ?? []).filter((job) => job.status === 'running');
    if (running.length === 0) return;
    for (const job of running) await runErasure(w.h.deps, job.sk as string);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('an erasure did not finish');
}

type Outcome = 'refused, nothing written' | 'refused, retry finished it' | 'answered, sweep finished it';

/** Runs `work` over `items`, at most `size` at a time; results in the order of `items`. */
async function inPool<T, R>(items: readonly T[], size: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return results;
}

interface Reference {
  status: number;
  /** The example input was a guess (a route without an example): its answer may rightly be a 4xx. */
  guessed: boolean;
  commands: number;
  table: string[];
}

async function undisturbed(
  route: RouteSpec,
  make: (route: RouteSpec, w: World) => RouteRequest,
): Promise<Reference> {
  const w = await freshWorld();
  try {
    w.faults.clear();
    const request = make(route, w);
    const answer = await sendRouteRequest(w.h.baseUrl, request, w.authorization);
    const commands = w.faults.commands;
    return { status: answer.status, guessed: request.guessed, commands, table: await finalTable(w) };
  } finally {
    await w.close();
  }
}

const EXPECTED: Record<FaultKind, { status: number; code: string }> = {
  throttle: { status: 429, code: 'throttled' },
  unreachable: { status: 503, code: 'unavailable' },
};

/** One request with the store failing from its `from`-th command on; what happened, and whether it ended right. */
async function faultedAt(
  route: RouteSpec,
  make: (route: RouteSpec, w: World) => RouteRequest,
  kind: FaultKind,
  from: number,
  reference: Reference,
): Promise<Outcome> {
  const w = await freshWorld();
  try {
    const request = make(route, w);
    const before = await snapshotTable(w.h.documentClient, w.h.tableName);
    w.faults.failFrom(kind, from);
    const answer = await sendRouteRequest(w.h.baseUrl, request, w.authorization);
    const faults = w.faults.faults;
    w.faults.clear();
    const where = `${kind} from command ${from}: ${answer.status} ${answer.text.slice(0, 200)}`;
    expect(answer.status, where).not.toBe(500);
    let outcome: Outcome = 'answered, sweep finished it';
    if (answer.status < 300) {
      // The fault hit a step the operation leaves to the sweep when it must (a purge's bookkeeping, a
      // started sweep's work): the final sweep below shows it whole.
      // (A 202's work goes on after the answer: its faults may come later, or not at all.)
      if (answer.status !== 202) expect(faults, where).toBeGreaterThan(0);
    } else {
      expect(answer.status, where).toBe(EXPECTED[kind].status);
      expect(JSON.parse(answer.text).error.code, where).toBe(EXPECTED[kind].code);
      expect(Number(answer.headers['retry-after']), where).toBeGreaterThanOrEqual(1);
      const changes = tableChanges(before, await snapshotTable(w.h.documentClient, w.h.tableName));
      // Refused with not one byte written: its retry is an undisturbed request (the reference).
      if (changes.length === 0) return 'refused, nothing written';
      outcome = 'refused, retry finished it';
      // Do what the answer says: try the same request again.
      const retry = await sendRouteRequest(w.h.baseUrl, request, w.authorization);
      expect(retry.status, `${where}; the retry got ${retry.text.slice(0, 200)}`).toBe(reference.status);
    }
    expect(await finalTable(w), `${where}: the table differs from one undisturbed request's`).toEqual(
      reference.table,
    );
    return outcome;
  } finally {
    await w.close();
  }
}

const WRITE_ROUTES = ROUTES.filter((route) => !isReadOnly(route.store));

describe('overload and outages on every write route', () => {
  for (const route of WRITE_ROUTES) {
    for (const [label, make] of variantsOf(route)) {
      let reference: Promise<Reference> | undefined;
      const referenceRun = () => {
        reference ??= undisturbed(route, make);
        return reference;
      };

      it(`${route.method} ${route.path} (${label}): 429/503 with Retry-After at every command, nothing partial left`, async () => {
        const expected = await referenceRun();
        // A refused guess still has its cuts checked: each must be refused as overload, never a 500.
        if (!expected.guessed) expect(expected.status).toBeLessThan(300);
        const cuts = (['throttle', 'unreachable'] as const).flatMap((kind) =>
          Array.from({ length: expected.commands }, (_, from) => ({ kind, from })),
        );
        // Each cut runs on a table of its own, so a few at once.
        const outcomes = await inPool(cuts, 3, ({ kind, from }) =>
          faultedAt(route, make, kind, from, expected),
        );
        const count = (outcome: Outcome) => outcomes.filter((o) => o === outcome).length;
        process.stdout.write(
          `overload ${route.name} (${label}): ${expected.commands} commands × 2 fault kinds = ${cuts.length} cuts; ` +
            `${count('refused, nothing written')} refused with nothing written, ` +
            `${count('refused, retry finished it')} refused after committing part (finished by the retry), ` +
            `${count('answered, sweep finished it')} answered 2xx leaving a step to the sweep\n`,
        );
      });

      it(`${route.method} ${route.path} (${label}): throttling that passes is invisible`, async () => {
        const expected = await referenceRun();
        const w = await freshWorld();
        try {
          w.faults.throttleFirstAttempts();
          const answer = await sendRouteRequest(w.h.baseUrl, make(route, w), w.authorization);
          expect(w.faults.faults).toBeGreaterThan(0);
          w.faults.clear();
          expect(answer.status, answer.text.slice(0, 200)).toBe(expected.status);
          expect(await finalTable(w)).toEqual(expected.table);
        } finally {
          await w.close();
        }
      });
    }
  }
});
