import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { timeOfId } from '../../functions/core/ids.js';
import type { ChatType, ConversationRef } from '../../functions/core/model.js';
import {
  cutoffFor,
  deletableCutoff,
  longestDuring,
  SWEEP_CLOCK_MARGIN_MS,
  sweepWindow,
} from '../../functions/domain/retention.js';
import { runSweep } from '../../functions/domain/sweep.js';
import {
  makeDeleteHoldHandler,
  makeListHoldsHandler,
  makePutHoldHandler,
} from '../../functions/handlers/holds.js';
import type { HttpHandler } from '../../functions/handlers/registry.js';
import { ADMIN_SCOPE } from '../../functions/http/caller.js';
import { createDb, type DocumentSender } from '../../functions/store/db.js';
import type { Hold } from '../../functions/store/hold-store.js';
import { keys } from '../../functions/store/keys.js';
import { getAllPolicies, type RetentionPolicies } from '../../functions/store/policy-store.js';
import { API_SERVICE, METRICS_NAMESPACE, useApiTelemetry } from '../../functions/telemetry/api-telemetry.js';
import { lambdaContext } from '../../local/http-server.js';
import { Dice } from '../support/prng.js';
import type { SimulationLog } from './log.js';
import { type OperationTag, runAs } from './scheduler.js';
import type { SimInstance, World } from './world.js';

/**
 * Legal holds in the simulation (docs/compliance.md, "Legal holds"; docs/consistency.md, section 9).
 *
 * The workload: in some phases (chosen by the seed; a quarter of the seeds never hold anything), an
 * operator sets, replaces and releases holds through the admin routes (PUT and DELETE
 * /v1/admin/holds/{holdId}, the handlers the Lambda runs, called in-process so their commands pass the
 * scheduler like everyone else's), some on whole users, some on one conversation of a user, some
 * crashing before or after a command; interleaved with sends, deletes, policy changes and sweeps.
 *
 * The audit (HoldAudit, inside the store audit): it keeps the timeline of the holds as stored, and fails
 * any physical delete of a copy (a user's copy, a tombstone, a large group's shared copy) that a hold
 * covered when it was deleted, unless the operation deleting it read the holds before that hold was
 * stored: work already past its read of the holds may finish (a sweep round, an inline purge batch, a
 * delete by ids; section 9). Which read bounds a delete: the operation's last read of the holds before
 * it; for a sweep, whose two workers run rounds side by side, the read sent together with the round's
 * read of the owner's policy (both are sent at the same step; a large group's page reads all policies).
 *
 * After the run: every hold is released through the route, a sweep runs, and what is hidden (deleted by
 * its owner, or a tombstone) or expired in every conversation a hold ever covered must be physically
 * gone, with its held-delete records (heldCopiesPurged).
 */

// ---------------------------------------------------------------------------------------------- audit

/** The holds as stored from a step on (until the next entry). */
interface HoldState {
  step: number;
  holds: Hold[];
}

/** One read by an operation: the step at which it was sent to the scheduler, and the step it ran at. */
interface Read {
  issued: number;
  step: number;
  /** For a sweep's read of the holds: which users had a side of which group then (`user|groupId`). */
  sides?: Set<string>;
}

interface OperationReads {
  holds: Read[];
  /** The last read of each user's policy item ('*': of all of them). */
  policies: Map<string, Read>;
}

const HELD_DELETES_PK = /^U#([^#]+)#HD#(single|group)#([^#]+)$/;

interface Command {
  constructor: { name: string };
  input: {
    Key?: Record<string, unknown>;
    KeyConditionExpression?: string;
    ExpressionAttributeValues?: Record<string, unknown>;
    RequestItems?: Record<string, unknown>;
    TransactItems?: {
      Put?: { Item: Record<string, unknown> };
      Delete?: { Key: Record<string, unknown> };
      Update?: { Key: Record<string, unknown> };
    }[];
  };
}

export class HoldAudit {
  readonly timeline: HoldState[] = [];
  /** Copies deleted while a hold covered them, inside the documented window (read before the hold). */
  windowDeletes = 0;
  /** Copies deletes by ids kept as tombstones under a hold, as their held-delete records name them. */
  readonly tombstones = new Map<string, { ref: ConversationRef; ids: Set<string> }>();
  private readonly reads = new Map<number, OperationReads>();
  /** The scheduler step at which each command was sent (noteIssued). */
  private readonly issued = new WeakMap<object, number>();

  constructor(
    private readonly raw: DocumentSender,
    private readonly tableName: string,
    private readonly step: () => number,
  ) {}

  async start(): Promise<void> {
    await this.recordHolds();
  }

  /** Outside the scheduler: notes the step at which each command is sent, before it waits its turn. */
  noteIssued(client: DocumentSender): DocumentSender {
    return {
      send: ((command: object) => {
        this.issued.set(command, this.step());
        return (client.send as (c: unknown) => Promise<unknown>)(command);
      }) as DocumentSender['send'],
    };
  }

  /** Right before a command reaches the store: notes the operation's reads of the holds and policies. */
  async beforeSending(command: Command, operation: OperationTag | undefined): Promise<void> {
    this.noteTombstones(command);
    if (!operation) return;
    const reads = this.readsOf(operation);
    const read: Read = { issued: this.issued.get(command) ?? this.step(), step: this.step() };
    const name = command.constructor.name;
    const pk = command.input.ExpressionAttributeValues?.[':pk'];
    if (name === 'QueryCommand' && pk === keys.holdsPk) {
      if (operation.kind === 'sweep') read.sides = await this.sidesOfHeldUsers();
      reads.holds.push(read);
    }
    if (name === 'QueryCommand' && pk === keys.policyPk) reads.policies.set('*', read);
    const userPrefix = keys.userPolicySk('');
    for (const key of readKeys(command)) {
      const sk = String(key.sk);
      if (key.pk === keys.policyPk && sk.startsWith(userPrefix)) {
        reads.policies.set(sk.slice(userPrefix.length), read);
      }
    }
  }

  /** Right after a command was applied: a hold set or released is a new state of the timeline. */
  async afterSending(command: Command): Promise<void> {
    if (command.constructor.name !== 'TransactWriteCommand') return;
    const touches = (command.input.TransactItems ?? []).some(
      (action) => (action.Put?.Item.pk ?? action.Delete?.Key.pk ?? action.Update?.Key.pk) === keys.holdsPk,
    );
    if (touches) await this.recordHolds();
  }

  /**
   * Fails the delete of `ref`'s copy of `msgId` if a hold covers it now and has since before the read of
   * the holds that bounds the deleting operation's delete.
   */
  copyDeleteFailure(ref: ConversationRef, operation: OperationTag | undefined, where: string) {
    const read = this.boundingRead(operation, ref.owner);
    const since = this.coveredSince((holds) => holds.some((hold) => coversConversation(hold, ref)));
    return this.verdict(since, read, where);
  }

  /** The same for a large group's shared copy: a hold names the group, or holds a user with a side. */
  async sharedDeleteFailure(groupId: string, operation: OperationTag | undefined, where: string) {
    const read = this.boundingRead(operation, '*');
    const sidesNow = await this.sidesOfHeldUsers();
    const hasSide = (user: string) =>
      sidesNow.has(`${user}|${groupId}`) && (read?.sides?.has(`${user}|${groupId}`) ?? true);
    const since = this.coveredSince((holds) =>
      holds.some(
        (hold) =>
          hold.conversations?.some((c) => c.chatType === 'group' && c.convId === groupId) ||
          (hold.conversations === undefined && hold.userIds.some(hasSide)),
      ),
    );
    return this.verdict(since, read, where);
  }

  /** Everything the holds covered at some step of the run. */
  everCovered(): Hold[] {
    return this.timeline.flatMap((state) => state.holds);
  }

  private verdict(since: number | undefined, read: Read | undefined, where: string) {
    if (since === undefined) return undefined;
    if (read !== undefined && read.step < since) {
      this.windowDeletes++;
      return undefined;
    }
    const readAt = read ? `read the holds at step ${read.step}` : 'never read the holds';
    return `${where}: a legal hold covers it since step ${since}, and the deleting operation ${readAt}`;
  }

  /** The first step from which, without a break, the holds as stored cover it (undefined: not now). */
  private coveredSince(covers: (holds: Hold[]) => boolean): number | undefined {
    let since: number | undefined;
    for (let i = this.timeline.length - 1; i >= 0; i--) {
      const state = this.timeline[i] as HoldState;
      if (!covers(state.holds)) break;
      since = state.step;
    }
    return since;
  }

  /**
   * The read of the holds that decided the operation's delete: its last one; for a sweep, the one sent
   * with its last read of the owner's policy ('*': of all policies), the earliest if two workers sent one
   * at that step (the verdict then errs on the side of the window).
   */
  private boundingRead(operation: OperationTag | undefined, owner: string): Read | undefined {
    if (!operation) return undefined;
    const reads = this.readsOf(operation);
    const last = reads.holds.at(-1);
    if (operation.kind !== 'sweep') return last;
    const policyRead = reads.policies.get(owner) ?? reads.policies.get('*');
    const paired = reads.holds.filter((read) => read.issued === policyRead?.issued);
    return paired.sort((a, b) => a.step - b.step)[0] ?? last;
  }

  private readsOf(operation: OperationTag): OperationReads {
    let reads = this.reads.get(operation.id);
    if (!reads) {
      reads = { holds: [], policies: new Map() };
      this.reads.set(operation.id, reads);
    }
    return reads;
  }

  /** Notes the copies a held delete by ids names in its record (its transaction may yet fail). */
  private noteTombstones(command: Command): void {
    if (command.constructor.name !== 'TransactWriteCommand') return;
    for (const action of command.input.TransactItems ?? []) {
      const item = action.Put?.Item;
      const match = HELD_DELETES_PK.exec(String(item?.pk));
      // A held version (a recall or edit under the hold) names no tombstone.
      if (!item || !match || !Array.isArray(item.ids)) continue;
      const [, owner, chatType, convId] = match as unknown as [string, string, ChatType, string];
      const pk = String(item.pk);
      const noted = this.tombstones.get(pk) ?? { ref: { owner, chatType, convId }, ids: new Set<string>() };
      for (const id of item.ids as string[]) noted.ids.add(id);
      this.tombstones.set(pk, noted);
    }
  }

  private async recordHolds(): Promise<void> {
    const output = (await this.raw.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.holdsPk },
        ConsistentRead: true,
      }),
    )) as { Items?: Hold[] };
    this.timeline.push({ step: this.step(), holds: output.Items ?? [] });
  }

  /** The groups in which each user a hold holds whole has a side now (`user|groupId`). */
  private async sidesOfHeldUsers(): Promise<Set<string>> {
    const holds = this.timeline.at(-1)?.holds ?? [];
    const users = new Set(holds.filter((h) => h.conversations === undefined).flatMap((h) => h.userIds));
    const sides = new Set<string>();
    for (const user of users) {
      const output = (await this.raw.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :group)',
          ExpressionAttributeValues: { ':pk': keys.userPk(user), ':group': keys.conversationSk('group', '') },
          ConsistentRead: true,
        }),
      )) as { Items?: { sk: string }[] };
      for (const item of output.Items ?? []) {
        sides.add(`${user}|${item.sk.slice(keys.conversationSk('group', '').length)}`);
      }
    }
    return sides;
  }
}

/** Whether the hold covers the owner's side of the conversation (written apart from the product's). */
function coversConversation(hold: Hold, ref: ConversationRef): boolean {
  if (!hold.userIds.includes(ref.owner)) return false;
  return (
    hold.conversations === undefined ||
    hold.conversations.some((c) => c.chatType === ref.chatType && c.convId === ref.convId)
  );
}

function readKeys(command: Command): Record<string, unknown>[] {
  const name = command.constructor.name;
  if (name === 'GetCommand' && command.input.Key) return [command.input.Key];
  if (name !== 'BatchGetCommand') return [];
  return Object.values(command.input.RequestItems ?? {}).flatMap(
    (request) => (request as { Keys?: Record<string, unknown>[] }).Keys ?? [],
  );
}

// ------------------------------------------------------------------------------------------- workload

/** Hold operations per phase, by seed (its own stream: the rest of the run's choices are untouched). */
export function holdPlan(seed: number, phases: number): number[] {
  const dice = Dice.seeded(seed * 31 + 21);
  if (dice.chance(0.25)) return Array.from({ length: phases }, () => 0);
  const plan: number[] = Array.from({ length: phases }, () => (dice.chance(0.6) ? dice.between(1, 2) : 0));
  if (!plan.some((n) => n > 0)) plan[0] = 1;
  return plan;
}

interface HoldWorkload {
  plan: number[];
  dice: Dice;
  /** Hold ids the operator has sent a PUT for. */
  ids: Set<string>;
}

const workloads = new WeakMap<World, HoldWorkload>();

function workloadOf(world: World, phases: number): HoldWorkload {
  let workload = workloads.get(world);
  if (!workload) {
    workload = {
      plan: holdPlan(world.seed, phases),
      dice: Dice.seeded(world.seed * 31 + 22),
      ids: new Set(),
    };
    workloads.set(world, workload);
  }
  return workload;
}

/** Starts the phase's hold operations (if the seed has some), interleaved with everything else. */
export function startHoldOperations(world: World, log: SimulationLog, phase: number, phases: number): void {
  const workload = workloadOf(world, phases);
  const operations = workload.plan[phase] ?? 0;
  if (operations === 0) return;
  const dice = Dice.seeded(workload.dice.fork());
  world.scheduler.start('hold operator', async () => {
    for (let i = 0; i < operations; i++) {
      world.clock.advance(dice.int(800));
      await changeHold(world, log, dice, workload);
    }
  });
}

/** One PUT (a whole user or two, or one conversation of a user) or DELETE of a hold, maybe crashing. */
async function changeHold(world: World, log: SimulationLog, dice: Dice, workload: HoldWorkload) {
  const instance = dice.pick(world.instances);
  const fault = dice.chance(0.15)
    ? { at: dice.int(3), when: dice.pick(['before', 'after'] as const) }
    : undefined;
  const known = [...workload.ids];
  if (known.length > 0 && dice.chance(0.35)) {
    const holdId = dice.pick(known);
    const answer = await request(world, instance, 'delete', holdId, undefined, fault);
    if (answer.status === 200) log.counts.holdsReleased++;
    else expectAnswer(log, answer, [404], fault !== undefined);
    return;
  }
  const holdId = `case-${dice.int(3)}`;
  const user = dice.pick(world.users);
  const body = dice.chance(0.5)
    ? { userIds: dice.some(world.users, 2), reason: `litigation ${holdId}` }
    : {
        userIds: [user],
        reason: `investigation ${holdId}`,
        conversations: [
          dice.chance(0.5)
            ? { chatType: 'group', convId: world.groupId }
            : { chatType: 'single', convId: dice.pick(world.users) },
        ],
      };
  workload.ids.add(holdId);
  const answer = await request(world, instance, 'put', holdId, body, fault);
  if (answer.status === 200) log.counts.holdsSet++;
  else expectAnswer(log, answer, [], fault !== undefined);
}

function expectAnswer(log: SimulationLog, answer: Answer, expected: number[], crashed: boolean): void {
  if (expected.includes(answer.status)) return;
  // A crash at one of its commands answers 5xx; contention that outlasted the retries answers 503.
  if (answer.status === 503) log.contended++;
  else if (!(crashed && answer.status >= 500))
    log.errors.push(`hold route answered ${answer.status}: ${answer.body}`);
}

interface Answer {
  status: number;
  body: string;
}

const handlers = new WeakMap<SimInstance['deps'], Record<'put' | 'delete' | 'list', HttpHandler>>();

/**
 * One request to a hold route of an instance, as API Gateway hands it to the Lambda (payload v2, the
 * admin's verified claims), run as a scheduled operation (`fault`: a crash at one of its commands).
 */
async function request(
  world: World,
  instance: SimInstance,
  route: 'put' | 'delete' | 'list',
  holdId: string | undefined,
  body: unknown,
  fault?: OperationTag['fault'],
): Promise<Answer> {
  let routes = handlers.get(instance.deps);
  if (!routes) {
    quietTelemetry();
    routes = {
      put: makePutHoldHandler(instance.deps),
      delete: makeDeleteHoldHandler(instance.deps),
      list: makeListHoldsHandler(instance.deps),
    };
    handlers.set(instance.deps, routes);
  }
  const method = { put: 'PUT', delete: 'DELETE', list: 'GET' }[route];
  const template = holdId === undefined ? '/v1/admin/holds' : '/v1/admin/holds/{holdId}';
  const path = holdId === undefined ? '/v1/admin/holds' : `/v1/admin/holds/${holdId}`;
  const now = world.clock.now();
  const event: APIGatewayProxyEventV2WithJWTAuthorizer = {
    version: '2.0',
    routeKey: `${method} ${template}`,
    rawPath: path,
    rawQueryString: '',
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    pathParameters: holdId === undefined ? undefined : { holdId },
    body: body === undefined ? undefined : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: {
      accountId: 'simulation',
      apiId: 'simulation',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      requestId: `s${world.seed}-${world.scheduler.step}-${route}`,
      routeKey: `${method} ${template}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'simulation' },
      authorizer: { jwt: { claims: { sub: world.admin, scope: ADMIN_SCOPE }, scopes: [ADMIN_SCOPE] } },
    },
  };
  const handler = routes[route];
  const { done } = world.scheduler.start(
    'hold',
    () => handler(event, lambdaContext(`${route}Hold`, 3_600_000)),
    fault,
  );
  // The handler answers every failure (a crash at a command included) with an error response.
  const result = await done.catch((error: Error) => ({
    statusCode: 0,
    body: `${error.name}: ${error.message}`,
  }));
  return { status: result.statusCode ?? 200, body: String(result.body ?? '') };
}

let quiet = false;

/** The routes' request lines and metrics would drown the simulation's own output: off in its process. */
function quietTelemetry(): void {
  if (quiet) return;
  quiet = true;
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  useApiTelemetry({
    logger: new Logger({ serviceName: API_SERVICE, logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: API_SERVICE }),
  });
}

/**
 * After the last phase: counts what the holds in force keep (hidden or expired, still stored), then
 * releases every hold through the routes (listing them, as an operator would), until none is left.
 */
export async function releaseAllHolds(world: World, log: SimulationLog): Promise<string[]> {
  if (world.audit.holds.everCovered().length === 0) return [];
  const instance = world.instances[0] as SimInstance;
  log.counts.keptByHolds += await countKept(
    world,
    refsCoveredBy(world, world.audit.holds.timeline.at(-1)?.holds ?? []),
  );
  for (let attempt = 0; attempt < 5; attempt++) {
    const listing = request(world, instance, 'list', undefined, undefined);
    await world.scheduler.drain();
    const answer = await listing;
    if (answer.status !== 200) return [`GET /v1/admin/holds answered ${answer.status}: ${answer.body}`];
    const holds = (JSON.parse(answer.body) as { holds: Hold[] }).holds;
    if (holds.length === 0) return [];
    const releases = holds.map((hold) => request(world, instance, 'delete', hold.holdId, undefined));
    await world.scheduler.drain();
    for (const answer of await Promise.all(releases)) {
      if (answer.status === 200) log.counts.holdsReleased++;
      else if (answer.status !== 404) return [`releasing a hold answered ${answer.status}: ${answer.body}`];
    }
  }
  return ['the holds could not all be released after the run'];
}

/**
 * After the holds were released and the sweep settled: one more sweep run on the true clock (the one
 * that settled may have been a run started earlier, with an older `now`), then, in every conversation a
 * hold ever covered, nothing hidden or expired is stored: no copy at or below its owner's watermark, no
 * tombstone, no held-delete record, no copy the days in force expire at that run's time (with the
 * sweep's clock margin); nor, in a large group a hold ever covered, a shared copy the longest retention
 * in force expires.
 */
export async function heldCopiesPurged(world: World, log: SimulationLog): Promise<string[]> {
  const tombstones = [...world.audit.holds.tombstones.values()];
  log.counts.heldDeletes += tombstones.reduce((sum, noted) => sum + noted.ids.size, 0);
  log.counts.holdWindowDeletes += world.audit.holds.windowDeletes;
  const ever = world.audit.holds.everCovered();
  if (ever.length === 0) return [];
  const tag: OperationTag = {
    id: -2,
    kind: 'sweep',
    commands: 0,
    startStep: world.scheduler.step,
    startedAt: world.clock.now(),
    lastStep: world.scheduler.step,
  };
  world.justifications.set(tag.id, { sweep: true });
  let runNow: number | undefined;
  const summary = await runAs(tag, () =>
    runSweep(world.direct, {
      trigger: 'cli',
      onEvent: (event) => {
        if (event.type === 'run') runNow = event.now;
      },
    }),
  );
  if (summary.outcome !== 'finished' || !summary.closedRun || runNow === undefined) {
    return [`the sweep after the release did not run to its end (${summary.outcome})`];
  }
  const db = createDb(world.direct.db.client, world.tableName);
  const policies = await getAllPolicies(db);
  const failures: string[] = [];
  for (const ref of refsCoveredBy(world, ever)) {
    const stored = await storedLeft(world, ref, policies, runNow);
    if (stored.length > 0)
      failures.push(
        `after the holds' release and a sweep, ${ref.owner}'s ${ref.chatType}#${ref.convId} still stores ${stored.join(', ')}`,
      );
    const kept = tombstones.find((noted) => keys.historyPk(noted.ref) === keys.historyPk(ref))?.ids;
    const ids = new Set(
      (await query(world, keys.historyPk(ref))).map((item) => keys.msgIdOfSk(String(item.sk))),
    );
    const tombstonesLeft = [...(kept ?? [])].filter((id) => ids.has(id));
    if (tombstonesLeft.length > 0)
      failures.push(
        `after the holds' release and a sweep, ${where(ref)} still stores the tombstones its held deletes kept: ${tombstonesLeft.join(', ')}`,
      );
    const records = await query(world, keys.heldDeletesPk(ref));
    if (records.length > 0)
      failures.push(
        `after the holds' release and a sweep, ${ref.owner}'s ${ref.chatType}#${ref.convId} keeps ${records.length} held-delete records`,
      );
  }
  const groupHeld = ever.some(
    (hold) =>
      hold.conversations === undefined ||
      hold.conversations.some((c) => c.chatType === 'group' && c.convId === world.groupId),
  );
  const sharedCutoff = longestCutoff(
    policies,
    runNow,
    world.audit.conversations.longestEverInGroup(world.groupId),
  );
  if (groupHeld) {
    const expired = (await query(world, keys.sharedHistoryPk(world.groupId)))
      .map((item) => keys.msgIdOfSk(String(item.sk)))
      .filter((id) => timeOfId(id) <= sharedCutoff);
    if (expired.length > 0)
      failures.push(
        `after the holds' release and a sweep, the group's shared history still stores expired ${expired.join(', ')}`,
      );
  }
  return failures;
}

const where = (ref: ConversationRef) => `${ref.owner}'s ${ref.chatType}#${ref.convId}`;

/** Every conversation side of a user the holds cover (for a whole user: each they can have). */
function refsCoveredBy(world: World, holds: readonly Hold[]): ConversationRef[] {
  const refs = new Map<string, ConversationRef>();
  for (const hold of holds) {
    for (const owner of hold.userIds) {
      const sides = hold.conversations ?? [
        ...world.users.map((peer) => ({ chatType: 'single' as const, convId: peer })),
        { chatType: 'group' as const, convId: world.groupId },
      ];
      for (const { chatType, convId } of sides)
        refs.set(`${owner}|${chatType}|${convId}`, { owner, chatType, convId });
    }
  }
  return [...refs.values()].sort((a, b) => (keys.historyPk(a) < keys.historyPk(b) ? -1 : 1));
}

/** Copies of the side at or below its watermark (tombstones too) or expired at `now`, by the days in force. */
async function storedLeft(world: World, ref: ConversationRef, policies: RetentionPolicies, now: number) {
  const { Item: conversation } = (await world.direct.db.client.send(
    new GetCommand({ TableName: world.tableName, Key: keys.conversation(ref), ConsistentRead: true }),
  )) as { Item?: Record<string, unknown> };
  const clearedThrough = conversation?.clearedThrough as string | undefined;
  // The days in force at the sweep's time (a pending shortening counts once its effectiveAt passed); a
  // conversation's own days in place of its owner's (withOwnPolicy, conversation-policies.ts).
  const own = conversation?.retentionDays as number | undefined;
  const cutoff =
    own === undefined
      ? deletableCutoff(policies, ref.owner, now)
      : cutoffFor(own, now - SWEEP_CLOCK_MARGIN_MS);
  const left: string[] = [];
  for (const item of await query(world, keys.historyPk(ref))) {
    const id = keys.msgIdOfSk(String(item.sk));
    const what = item.hidden === true ? `the tombstone ${id}` : id;
    if (clearedThrough !== undefined && id <= clearedThrough)
      left.push(`${what} (at or below its watermark ${clearedThrough})`);
    else if (timeOfId(id) <= cutoff) left.push(`${what} (expired)`);
  }
  return left;
}

async function countKept(world: World, refs: ConversationRef[]): Promise<number> {
  const policies = await getAllPolicies(createDb(world.direct.db.client, world.tableName));
  let kept = 0;
  for (const ref of refs) kept += (await storedLeft(world, ref, policies, world.clock.now())).length;
  return kept;
}

/**
 * The longest retention in force for anyone at any moment of a sweep's clock window at `runNow`, or the
 * longest own policy a member gave the group (its keepDays), cut at the window's start (the product's
 * sharedDeletableCutoff, with the group's keepDays).
 */
function longestCutoff(stored: RetentionPolicies, runNow: number, keepDays?: number): number {
  const { from, to } = sweepWindow(runNow);
  const days = longestDuring(stored, from, to, (policies) => {
    const all = [
      policies.appDays,
      ...policies.userDays.values(),
      ...(keepDays === undefined ? [] : [keepDays]),
    ];
    return all.includes(null) ? null : Math.max(...(all as number[]));
  });
  return cutoffFor(days, from);
}

async function query(world: World, pk: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = (await world.direct.db.client.send(
      new QueryCommand({
        TableName: world.tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    )) as { Items?: Record<string, unknown>[]; LastEvaluatedKey?: Record<string, unknown> };
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}
