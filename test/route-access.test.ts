import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { RoamingClient } from '../client/roaming-client.js';
import { DAY_MS, ManualClock } from '../functions/core/clock.js';
import type { Deps } from '../functions/domain/deps.js';
import { runErasure } from '../functions/domain/erasure.js';
import { runExport } from '../functions/domain/export-job.js';
import { reviseMessage } from '../functions/domain/revise.js';
import { sendMessage } from '../functions/domain/send.js';
import { runSweep } from '../functions/domain/sweep.js';
import { makeStartErasureHandler } from '../functions/handlers/erasures.js';
import { makeStartExportHandler } from '../functions/handlers/exports.js';
import { makeStartSweepHandler } from '../functions/handlers/sweeps.js';
import {
  ERASURE_FUNCTION,
  EXPORT_FUNCTION,
  HEALTH_ROUTE,
  ROUTES,
  SWEEP_FUNCTION,
} from '../functions/routes.js';
import { ensureTable } from '../functions/store/create-table.js';
import { createDb } from '../functions/store/db.js';
import { keys } from '../functions/store/keys.js';
import { auditTableNameOf } from '../functions/store/table.js';
import {
  AUDIT_ACTIONS,
  INDEX_PARTITIONS,
  type IndexName,
  type ItemAction,
  matchesPattern,
  PARTITIONS,
  type Partition,
  type StoreAccess,
  withRequestBudget,
} from '../functions/store-access.js';
import { signDevToken } from '../local/dev-auth.js';
import { createLocalApi, type LocalHandlers } from '../local/http-server.js';
import { buildLocalApp, documentClientOf, localDynamoClient } from '../local/local-app.js';
import { type AccessRecorder, accessRecorder, type RecordedAccess } from './support/access-recorder.js';
import { T0 } from './support/harness.js';

/**
 * What each function asks of DynamoDB, recorded while a session drives every route through its paths
 * (sends with and without retry ids and their replays, groups and their fan-out, every list and history
 * form, every delete, marks, pins, read acks, every admin route) and the sweep runs over expired data.
 * Each access is held to what the route table declares for that function (functions/routes.ts, the
 * grants the stack makes from it): a new access a route's code makes without declaring it fails here,
 * before it fails on AWS with AccessDenied. And every declared grant is used by the session, so no
 * function keeps a permission it does not need.
 */
const SECRET = 'route-access-secret';

let recorder: AccessRecorder;
let server: Server;
let baseUrl: string;
let clock: ManualClock;
let raw: ReturnType<typeof localDynamoClient>;
let tableName: string;
/** Sweep runs startSweep opened: on AWS it invokes the sweep function, which works on them. */
const deferredSweeps: string[] = [];
/** Exports startExport opened: on AWS it invokes the export worker function, which works on them. */
const deferredExports: string[] = [];
let exportsOf: ReturnType<typeof buildLocalApp>['exports'];

async function runDeferredExports(deps: Deps): Promise<void> {
  for (const exportId of deferredExports.splice(0)) {
    await recorder.as(EXPORT_FUNCTION.name, () =>
      runExport(deps, exportsOf.sink, exportId, { invocationId: `ax-${exportId}` }),
    );
    // Lambda delivers an event at least once: a second delivery finds the job over (it reads the job).
    await recorder.as(EXPORT_FUNCTION.name, () =>
      runExport(deps, exportsOf.sink, exportId, { invocationId: `ax-again-${exportId}` }),
    );
  }
}
/** Erasures startErasure opened: on AWS it invokes the erasure function, which works on them. */
const deferredErasures: string[] = [];

async function startDeferredSweeps(deps: Deps): Promise<void> {
  for (const runId of deferredSweeps.splice(0)) {
    await recorder.as('sweep', () => runSweep(deps, { trigger: 'admin', runId }));
  }
}

beforeAll(async () => {
  raw = localDynamoClient(inject('dynamoEndpoint'));
  tableName = `roaming_access_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  await ensureTable(raw, tableName, { stream: false });
  recorder = accessRecorder({ table: tableName, audit: auditTableNameOf(tableName) });
  clock = new ManualClock(T0 + 30 * DAY_MS);
  const client = recorder.wrap(documentClientOf(raw));
  // Rate limits on (their buckets are part of what a route touches); the clock moves on between steps.
  // The crowd group (31 members) is past the shared-mode threshold: its session runs in shared mode.
  const app = buildLocalApp({
    client,
    tableName,
    clock,
    // The clock stands still, so the inbound limit's slots never come (test/inbound-limits.test.ts).
    // Shortenings take effect at once unless the session asks for a delay (as the pending ones below do).
    config: {
      inlinePurgeBudgetMs: 60_000,
      sharedHistoryAbove: 20,
      inboundPerSecond: 0,
      retentionDelaySeconds: 0,
    },
  });
  const handlers: LocalHandlers = {};
  for (const [name, handler] of Object.entries(app.handlers)) {
    (handlers as Record<string, unknown>)[name] = (event: never, context: never) =>
      recorder.as(name, () => (handler as (e: never, c: never) => unknown)(event, context));
  }
  // On AWS startSweep invokes the sweep function: what the sweep does is the sweep's, not startSweep's.
  handlers.startSweep = (event, context) =>
    recorder.as('startSweep', () =>
      makeStartSweepHandler(app.deps, { start: async (runId) => void deferredSweeps.push(runId) })(
        event,
        context,
      ),
    );
  // Likewise startExport: the export worker's reads are its own.
  exportsOf = app.exports;
  handlers.startExport = (event, context) =>
    recorder.as('startExport', () =>
      makeStartExportHandler(app.deps, { start: async (exportId) => void deferredExports.push(exportId) })(
        event,
        context,
      ),
    );
  handlers.startErasure = (event, context) =>
    recorder.as('startErasure', () =>
      makeStartErasureHandler(app.deps, { start: async (id) => void deferredErasures.push(id) })(
        event,
        context,
      ),
    );
  server = createLocalApi({ handlers, jwtSecret: SECRET });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await runSession(app.deps);
}, 120_000);

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  raw?.destroy();
});

async function as(user: string, admin = false): Promise<RoamingClient> {
  return new RoamingClient(baseUrl, await signDevToken(user, { secret: SECRET, admin }));
}

const text = (to: string, words: string, extra: Record<string, unknown> = {}) => ({
  to,
  chatType: 'single' as const,
  type: 'text' as const,
  body: { text: words },
  ...extra,
});

/** A refusal is a path too (it reads before it refuses); a 5xx fails the session. */
async function refusedOrDone(work: Promise<unknown>): Promise<void> {
  await work.catch((error: { status?: number }) => {
    if (!(error.status && error.status < 500)) throw error;
  });
}

async function runSession(deps: Deps): Promise<void> {
  const step = () => clock.advance(1000);
  const alice = await as('ax-alice');
  const bob = await as('ax-bob');
  const carol = await as('ax-carol');
  const dan = await as('ax-dan');
  const fay = await as('ax-fay');
  const pinner = await as('ax-pinner');
  const ops = await as('ax-ops', true);
  // Admin first: a user override kept forever and cleared while the app default is forever has no
  // floor to keep, so it is removed.
  await ops.setUserRetention('ax-zed', null);
  await ops.clearUserRetention('ax-zed');
  // Conversations the sweep settles later: dan's (marked) expires whole, fay's (marked) in part.
  await (await as('ax-eve')).sendMessage(text('ax-dan', 'old'));
  await dan.addRemoteAndLocalConversationsMark([{ convId: 'ax-eve', chatType: 'single' }], 5);
  await (await as('ax-gus')).sendMessage(text('ax-fay', 'old'));
  step();
  // Sends: plain, with a retry id, its replay; a conflict on the id.
  const first = await alice.sendMessage(text('ax-bob', 'one'));
  step();
  await alice.sendMessage(text('ax-bob', 'two', { clientMsgId: 'ax-m-1' }));
  await alice.sendMessage(text('ax-bob', 'two', { clientMsgId: 'ax-m-1' }));
  await refusedOrDone(alice.sendMessage(text('ax-bob', 'changed', { clientMsgId: 'ax-m-1' })));
  step();
  await bob.sendMessage(text('ax-alice', 'back'));
  await bob.sendMessage({ ...text('ax-alice', ''), type: 'location', body: { lat: 1, lng: 2 } });
  // Bob marks his chat with alice twice; her next message moves its mark entries.
  const withAlice = [{ convId: 'ax-alice', chatType: 'single' as const }];
  await bob.addRemoteAndLocalConversationsMark(withAlice, 3);
  await bob.addRemoteAndLocalConversationsMark(withAlice, 4);
  step();
  const unreadOne = await alice.sendMessage(text('ax-bob', 'three'));
  const readPoint = await alice.sendMessage(text('ax-bob', 'four'));
  await alice.sendMessage(text('ax-bob', 'five'));
  // Groups: create (more members than one transaction takes) with a retry id and its replay, add, send
  // (fan-out), remove a member who marked it, leave.
  const crowd = Array.from({ length: 30 }, (_, i) => `ax-crowd-${i}`);
  const big = await alice.createGroup({ name: 'crowd', members: crowd, clientRequestId: 'ax-g-big' });
  const group = await alice.createGroup({ name: 'ax', members: ['ax-bob'], clientRequestId: 'ax-g-1' });
  await alice.createGroup({ name: 'ax', members: ['ax-bob'], clientRequestId: 'ax-g-1' });
  await alice.addGroupMember(group.groupId, 'ax-carol');
  step();
  await alice.sendMessage({ ...text(group.groupId, 'hi all', { clientMsgId: 'ax-g-m' }), chatType: 'group' });
  await alice.sendMessage({ ...text(group.groupId, 'hi all', { clientMsgId: 'ax-g-m' }), chatType: 'group' });
  await alice.sendMessage({ ...text(big.groupId, 'hi crowd'), chatType: 'group' });
  const carols = await carol.sendMessage({ ...text(group.groupId, 'hi'), chatType: 'group' });
  await carol.addRemoteAndLocalConversationsMark([{ convId: group.groupId, chatType: 'group' }], 1);
  await alice.removeGroupMember(group.groupId, 'ax-carol');
  await bob.removeGroupMember(group.groupId, 'ax-bob');
  step();
  // A large group's member (shared mode): history, a delete by id (a tombstone), a read ack, a mark and
  // its list, a pin and its list, a since, deleting the conversation with its history, leaving.
  const crowdie = await as('ax-crowd-0');
  const crowdTalk = await crowdie.fetchHistoryMessages(big.groupId, 'group', 10);
  await crowdie.removeMessagesFromServerWithMsgIds(big.groupId, 'group', [
    crowdTalk.messages[0]?.msgId ?? '',
  ]);
  const again = await alice.sendMessage({ ...text(big.groupId, 'hi again'), chatType: 'group' });
  await alice.sendMessage({ ...text(big.groupId, 'and again'), chatType: 'group' });
  // Read short of the newest: what stays unread is counted from positions, the shared history's too.
  await crowdie.sendConversationReadAck(big.groupId, 'group', again.msgId);
  const bigGroup = [{ convId: big.groupId, chatType: 'group' as const }];
  await crowdie.addRemoteAndLocalConversationsMark(bigGroup, 2);
  await crowdie.fetchConversationsByOptions({ mark: 2, pageSize: 10 });
  await crowdie.deleteRemoteAndLocalConversationsMark(bigGroup, 2);
  await crowdie.pinConversation(big.groupId, 'group', true);
  await crowdie.setConversationRetention(big.groupId, 'group', 30);
  await crowdie.fetchPinnedConversationsFromServerWithCursor(undefined, 10);
  await crowdie.pinConversation(big.groupId, 'group', false);
  const crowdPage = await crowdie.fetchConversationsFromServer({ limit: 1 });
  if (crowdPage.syncToken) await crowdie.syncConversations(crowdPage.syncToken);
  await crowdie.removeConversationFromServer(big.groupId, 'group', true);
  await crowdie.removeGroupMember(big.groupId, 'ax-crowd-0');
  step();
  // Lists: first page, next page, since a token, pinned, a mark; pin and unpin a marked conversation.
  const page = await bob.fetchConversationsFromServer({ limit: 1 });
  if (page.cursor) await bob.fetchConversationsFromServer({ limit: 1, cursor: page.cursor });
  if (page.syncToken) await bob.syncConversations(page.syncToken);
  await bob.pinConversation('ax-alice', 'single', true);
  await bob.fetchPinnedConversationsFromServerWithCursor(undefined, 10);
  await bob.fetchConversationsByOptions({ mark: 3, pageSize: 10 });
  // A conversation's own retention, on a marked conversation (its mark entries are rewritten).
  await bob.setConversationRetention('ax-alice', 'single', 30);
  await bob.deleteRemoteAndLocalConversationsMark(withAlice, 4);
  await bob.pinConversation('ax-alice', 'single', false);
  await bob.fetchConversationsFromServerWithPage(5, 1);
  // History: up, down, filtered, a group's, a non-member's.
  const history = await bob.fetchHistoryMessages('ax-alice', 'single', 2);
  if (history.cursor) await bob.fetchHistoryMessages('ax-alice', 'single', 2, history.cursor);
  await bob.fetchHistoryMessages('ax-alice', 'single', 10, undefined, {
    direction: 'down',
    types: ['location'],
  });
  await alice.fetchHistoryMessages(group.groupId, 'group', 10);
  await refusedOrDone(carol.fetchHistoryMessages(group.groupId, 'group', 10));
  // Deletes by ids (an unread one leaves a gap the read ack reads across), read acks, by time (an
  // inline purge), a whole marked conversation with its history.
  await bob.removeMessagesFromServerWithMsgIds('ax-alice', 'single', [first.msgId, unreadOne.msgId]);
  // Read up to a message with unread ones above it: they are counted from positions and gaps.
  await bob.sendConversationReadAck('ax-alice', 'single', readPoint.msgId);
  await bob.sendConversationReadAck('ax-alice', 'single');
  await alice.sendConversationReadAck(group.groupId, 'group');
  await alice.removeMessagesFromServerWithTimestamp('ax-bob', 'single', clock.now());
  await refusedOrDone(alice.removeMessagesFromServerWithMsgIds(group.groupId, 'group', [first.msgId]));
  await bob.removeConversationFromServer('ax-alice', 'single', true);
  await refusedOrDone(carol.removeConversationFromServer(group.groupId, 'group', false));
  // The pin cap: 50 pinned, then the 51st once retention hides some of them (they are unpinned first).
  for (let i = 0; i < 51; i++) {
    await (await as(`ax-pal-${i}`)).sendMessage(text('ax-pinner', `pal ${i}`));
    if (i < 50) await pinner.pinConversation(`ax-pal-${i}`, 'single', true);
  }
  await ops.setUserRetention('ax-pinner', 1);
  clock.advance(2 * DAY_MS);
  await (await as('ax-pal-50')).sendMessage(text('ax-pinner', 'pal 50 again'));
  await pinner.pinConversation('ax-pal-50', 'single', true);
  await ops.clearUserRetention('ax-pinner');
  // Retention previews (the app default: policies, purge index, copy counts; a user: their partitions)
  // and pending shortenings with their previews, cancelled (the user's item goes: nothing of it is left;
  // the app default's cancel leaves a floor, so it comes second).
  const opsToken = await signDevToken('ax-ops', { secret: SECRET, admin: true });
  const adminCall = (method: string, path: string, body?: unknown) =>
    fetch(`${baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  await adminCall('GET', '/v1/admin/retention/preview?days=1');
  await adminCall('GET', '/v1/admin/retention/preview?days=1&userId=ax-bob');
  await adminCall('PUT', '/v1/admin/retention/users/ax-bob', { days: 1, delaySeconds: 86_400 });
  await adminCall('DELETE', '/v1/admin/retention/pending?userId=ax-bob');
  await adminCall('PUT', '/v1/admin/retention', { days: 1, delaySeconds: 3600 });
  await adminCall('DELETE', '/v1/admin/retention/pending');
  // Admin: retention (read, set, per user, clear), sweeps, the trail (verified), health.
  await ops.getRetention();
  await ops.setAppRetention(30);
  await ops.setUserRetention('ax-alice', 7);
  await ops.clearUserRetention('ax-alice');
  await ops.startSweep();
  // The run is open, its sweep not yet started: its progress is read from its shards.
  await ops.listSweeps();
  await adminCall('POST', '/v1/admin/events/replay', { from: 0 });
  const active = await raw.send(
    new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'SWEEPS' }, sk: { S: 'ACTIVE' } } }),
  );
  await startDeferredSweeps(deps);
  // A crash left the finished run's pointer behind: the next start clears it and opens a new run.
  if (active.Item) await raw.send(new PutItemCommand({ TableName: tableName, Item: active.Item }));
  await ops.startSweep();
  await startDeferredSweeps(deps);
  const admin = await signDevToken('ax-ops', { secret: SECRET, admin: true });
  await fetch(`${baseUrl}/v1/admin/audit?verify=true`, { headers: { authorization: `Bearer ${admin}` } });
  // Legal holds: set, replace, list, release (on a user of their own: the session's deletes stay as they are).
  const holdRequest = (method: string, body?: unknown) => ({
    method,
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const hold = { userIds: ['ax-hal'], reason: 'session' };
  await fetch(`${baseUrl}/v1/admin/holds/ax-case`, holdRequest('PUT', hold));
  await fetch(`${baseUrl}/v1/admin/holds/ax-case`, holdRequest('PUT', { ...hold, reason: 'replaced' }));
  await fetch(`${baseUrl}/v1/admin/holds`, holdRequest('GET'));
  await fetch(`${baseUrl}/v1/admin/holds/ax-case`, holdRequest('DELETE'));
  await fetch(`${baseUrl}/health`);
  // Time passes: retention (30 days) expires dan's conversation whole and fay's first message, whose
  // conversation (marked, with a newer message) stays listed: the scheduled sweep settles both. Nobody
  // keeps longer, so the run also purges the crowd group's shared history (its registered copies).
  // Recall and edit: an edit in a single chat (one transaction); the group owner recalls a member's
  // message (audited) in a fan-out group and one of hers in the shared one (META's latest message). A
  // send whose fan-out died before carol (who marked the group) is finished by the recall or the edit of
  // its message (carol's mark entry moves). A recall whose carrying dies at a member's side is left
  // pending: the sweep below finishes it.
  const typo = await alice.sendMessage(text('ax-bob', 'to fxi'));
  await alice.modifyMessage('ax-bob', 'single', typo.msgId, { body: { text: 'to fix' } });
  await alice.recallMessage(group.groupId, 'group', carols.msgId);
  const latest = await alice.sendMessage({ ...text(big.groupId, 'take this back'), chatType: 'group' });
  await alice.recallMessage(big.groupId, 'group', latest.msgId);
  const revised = await alice.createGroup({ name: 'rev', members: ['ax-bob', 'ax-carol'] });
  await bob.sendMessage({ ...text(revised.groupId, 'first'), chatType: 'group' });
  await carol.addRemoteAndLocalConversationsMark([{ convId: revised.groupId, chatType: 'group' }], 1);
  const toCarol = keys.historyPk({ owner: 'ax-carol', chatType: 'group', convId: revised.groupId });
  const diesAt = (
    dies: (command: { constructor: { name: string }; input: Record<string, unknown> }) => boolean,
  ) =>
    createDb(
      {
        send: ((command: { constructor: { name: string }; input: Record<string, unknown> }) => {
          if (dies(command)) throw new Error('dies here');
          return deps.db.client.send(command as never);
        }) as typeof deps.db.client.send,
      },
      deps.db.tableName,
      deps.db.retry,
    );
  const reachesCarol = (command: { constructor: { name: string }; input: Record<string, unknown> }) =>
    command.constructor.name === 'TransactWriteCommand' && JSON.stringify(command.input).includes(toCarol);
  const halfSent = async () => {
    const sent = await recorder
      .as('sendMessage', () =>
        sendMessage({ ...deps, db: diesAt(reachesCarol) }, 'ax-alice', {
          ...text(revised.groupId, 'half delivered'),
          chatType: 'group',
        }),
      )
      .catch(() => undefined);
    expect(sent).toBeUndefined();
    // The log entry its position took (read outside the recording: no function's request).
    const log = (await documentClientOf(raw).send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.groupLogPk(revised.groupId) },
        ConsistentRead: true,
      }),
    )) as { Items?: Record<string, unknown>[] };
    const entry = log.Items?.at(-1);
    return String((entry?.message as { msgId?: string } | undefined)?.msgId);
  };
  await alice.recallMessage(revised.groupId, 'group', await halfSent());
  await alice.modifyMessage(revised.groupId, 'group', await halfSent(), { body: { text: 'delivered' } });
  const dying = await alice.sendMessage({ ...text(revised.groupId, 'dies midway'), chatType: 'group' });
  let transactions = 0;
  const second = () => ++transactions === 2;
  await recorder.as('recallMessage', () =>
    reviseMessage(
      { ...deps, db: diesAt((command) => command.constructor.name === 'TransactWriteCommand' && second()) },
      { owner: 'ax-alice', chatType: 'group', convId: revised.groupId },
      dying.msgId,
      { kind: 'recall' },
    ).catch(() => undefined),
  );
  clock.advance(33 * DAY_MS);
  await (await as('ax-gus')).sendMessage(text('ax-fay', 'new'));
  await fay.addRemoteAndLocalConversationsMark([{ convId: 'ax-gus', chatType: 'single' }], 2);
  await recorder.as('sweep', () => runSweep(deps, { trigger: 'schedule' }));
  // A short retention on a fresh single chat: the sweep deletes its expired message's send event too.
  await ops.setUserRetention('ax-gus', 1);
  clock.advance(3 * DAY_MS);
  await recorder.as('sweep', () => runSweep(deps, { trigger: 'schedule' }));
  // An export of a member of the crowd group (shared mode) and of other chats, and its progress.
  const adminToken = await signDevToken('ax-ops', { secret: SECRET, admin: true });
  const started = await fetch(`${baseUrl}/v1/admin/exports`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ userId: 'ax-crowd-0', includeHidden: true }),
  });
  const { exportId } = (await started.json()) as { exportId: string };
  await runDeferredExports(deps);
  await fetch(`${baseUrl}/v1/admin/exports/${exportId}`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  // Erasure of a user with a pinned single chat, a mark, a group they own (fan-out) and the crowd group
  // (shared mode): the job leaves the groups, deletes, tombstones and tells the peers to resync.
  await ops.setUserRetention('ax-gone', 30);
  const gone = await as('ax-gone');
  await gone.sendMessage(text('ax-alice', 'from gone', { ext: { k: 1 } }));
  await alice.pinConversation('ax-gone', 'single', true);
  await gone.sendMessage(text('ax-alice', 'again'));
  const owned = await gone.createGroup({ name: 'gone', members: ['ax-alice', 'ax-bob'] });
  await gone.sendMessage({ ...text(owned.groupId, 'in group'), chatType: 'group' });
  await ops.startErasure<{ erasureId: string }>('ax-gone');
  for (const erasureId of deferredErasures.splice(0)) {
    await recorder.as('erasure', () => runErasure(deps, erasureId));
    await ops.getErasure(erasureId);
  }
}

/** The route table's grants of each function (the stack makes its IAM policy from the same). */
const GRANTS = new Map<string, StoreAccess>([
  // Every route also charges its caller's request budget (the stack grants it: withRequestBudget).
  ...ROUTES.map((route) => [route.name, withRequestBudget(route.store)] as [string, StoreAccess]),
  [HEALTH_ROUTE.name, HEALTH_ROUTE.store],
  [SWEEP_FUNCTION.name, SWEEP_FUNCTION.store],
  [EXPORT_FUNCTION.name, EXPORT_FUNCTION.store],
  [ERASURE_FUNCTION.name, ERASURE_FUNCTION.store],
]);

/** Why IAM would refuse this request of its function, or undefined if it allows it. */
function refusal(access: RecordedAccess): string | undefined {
  const store = GRANTS.get(access.fn);
  if (!store) return `${access.fn} has no grants`;
  if (access.action === 'Scan') return store.scan && access.table === 'table' ? undefined : 'table Scan';
  const action = access.action as ItemAction;
  if (access.table === 'audit') {
    return store.audit && (AUDIT_ACTIONS[store.audit] as readonly string[]).includes(action)
      ? undefined
      : `audit ${action}`;
  }
  if (access.index !== undefined) {
    const index = access.index as IndexName;
    const allowed = action === 'Query' && store.indexes?.includes(index);
    const outside = access.partitions.filter((pk) => !matchesPattern(INDEX_PARTITIONS[index], pk));
    return allowed && outside.length === 0
      ? undefined
      : `index ${index} ${action} ${access.partitions.join(',')}`;
  }
  // ForAllValues: every partition the request names must be one the action is granted on.
  const patterns = (Object.entries(store.table) as [Partition, readonly ItemAction[]][])
    .filter(([, actions]) => actions.includes(action))
    .map(([partition]) => PARTITIONS[partition]);
  const outside = access.partitions.filter((pk) => !patterns.some((pattern) => matchesPattern(pattern, pk)));
  return outside.length === 0 ? undefined : `table ${action} ${outside.join(',')}`;
}

/** Each grant of a function, as `where action pattern`. */
function grantsOf(store: StoreAccess): string[] {
  return [
    ...(Object.entries(store.table) as [Partition, readonly ItemAction[]][]).flatMap(([partition, actions]) =>
      actions.map((action) => `table ${action} ${PARTITIONS[partition]}`),
    ),
    ...(store.indexes ?? []).map((index) => `index:${index} Query ${INDEX_PARTITIONS[index]}`),
    ...(store.audit ? AUDIT_ACTIONS[store.audit].map((action) => `audit ${action} *`) : []),
    ...(store.scan ? ['table Scan *'] : []),
  ];
}

/** Whether a recorded request used this grant. */
function uses(access: RecordedAccess, grant: string): boolean {
  const [where, action, pattern] = grant.split(' ') as [string, string, string];
  if (access.action !== action) return false;
  if (where === 'audit') return access.table === 'audit';
  if (action === 'Scan') return access.table === 'table';
  if (access.table !== 'table') return false;
  if (where.startsWith('index:')) return access.index === where.slice('index:'.length);
  return access.index === undefined && access.partitions.some((pk) => matchesPattern(pattern, pk));
}

describe('what each function asks of DynamoDB (recorded over a session of every route)', () => {
  it('recorded every function: every route, GET /health and the sweep', () => {
    const recorded = new Set(recorder.accesses.map((access) => access.fn));
    expect([...recorded].sort()).toEqual([...GRANTS.keys()].sort());
  });

  it('asks only for what its route table entry grants: no request IAM would refuse', () => {
    const refused = new Set<string>();
    for (const access of recorder.accesses) {
      const why = refusal(access);
      if (why) refused.add(`${access.fn}: ${why}`);
    }
    expect([...refused].sort()).toEqual([]);
  });

  it('uses every grant it has: no function keeps a permission it does not need', () => {
    const unused: string[] = [];
    for (const [fn, store] of GRANTS) {
      const mine = recorder.accesses.filter((access) => access.fn === fn);
      for (const grant of grantsOf(store)) {
        if (!mine.some((access) => uses(access, grant))) unused.push(`${fn}: ${grant}`);
      }
    }
    expect(unused.sort()).toEqual([]);
  });
});
