import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { runSweep } from '../../functions/domain/sweep.js';
import { verifyAuditTrail } from '../../functions/store/audit-store.js';
import { ensureTable } from '../../functions/store/create-table.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { keys } from '../../functions/store/keys.js';
import { Dice } from '../support/prng.js';
import { conversationPolicyUser } from './conversation-policies.js';
import { heldCopiesPurged, releaseAllHolds, startHoldOperations } from './holds.js';
import { newLog, type OperationCounts, type SimulationLog } from './log.js';
import { check } from './oracle.js';
import { pendingOperator } from './pending-policies.js';
import { reviser } from './revisions.js';
import { type OperationTag, runAs } from './scheduler.js';
import { passTime } from './upkeep.js';
import {
  actor,
  attemptSend,
  joinPastThreshold,
  operator,
  platform,
  RETRY_WINDOW_MS,
  retryableSends,
} from './workload.js';
import { createWorld, groupModeThreshold, MAX_SKEW_MS, type World } from './world.js';

/** One seed's run: what the oracle found, and how much happened. */
export interface SimulationResult {
  seed: number;
  failures: string[];
  steps: number;
  counts: OperationCounts;
  contended: number;
  /** How the run's group stored its history (world.ts, groupModeThreshold). */
  groupMode: GroupMode;
}

export type GroupMode =
  | 'fan-out'
  | 'shared from the start'
  | 'switched mid-run'
  | 'stayed fan-out below 3 members';

/** Users' sessions; with them, one operator and the platform (the sweep's schedule, TTL). */
const ACTORS = 4;
/** The run's phases: operations interleaved within one, hours to days passing between two. */
const PHASES = 4;
const OPERATIONS_PER_ACTOR_AND_PHASE = 3;
const OPERATOR_OPERATIONS_PER_PHASE = 2;
/** Pending shortenings set or cancelled per phase (pending-policies.ts). */
const PENDING_OPERATIONS_PER_PHASE = 2;
const PLATFORM_OPERATIONS_PER_PHASE = 1;
/** Conversations' own policies set, changed or cleared per phase (conversation-policies.ts). */
const CONVERSATION_POLICY_OPERATIONS_PER_PHASE = 2;
const REVISION_OPERATIONS_PER_PHASE = 4;
const RETRY_ROUNDS = 5;

/**
 * Runs one seed on `tableName` (a fresh table): in each phase the actors' operations interleaved by the
 * scheduler (with crashes injected into some sends, policy changes and sweeps), then clients retrying
 * their failed sends, then time passing; finally the oracle. Same seed, same run.
 */
export async function runSeed(
  seed: number,
  raw: DocumentSender,
  tableName: string,
): Promise<SimulationResult> {
  const world = await createWorld(seed, raw, tableName);
  const log = newLog(world);
  for (let phase = 0; phase < PHASES; phase++) {
    if (phase > 0) passTime(world, log, world.dice);
    for (let i = 0; i < ACTORS; i++) {
      const dice = Dice.seeded(world.dice.fork());
      world.scheduler.start('actor', () => actor(world, log, dice, OPERATIONS_PER_ACTOR_AND_PHASE));
    }
    const operatorDice = Dice.seeded(world.dice.fork());
    world.scheduler.start('operator', () =>
      operator(world, log, operatorDice, OPERATOR_OPERATIONS_PER_PHASE),
    );
    const platformDice = Dice.seeded(world.dice.fork());
    world.scheduler.start('platform', () =>
      platform(world, log, platformDice, PLATFORM_OPERATIONS_PER_PHASE),
    );
    // Its dice are not drawn from the world's, so the other actors make the choices they made before it.
    const pendingDice = Dice.seeded(world.seed * 7_919 + phase * 104_729 + 1);
    world.scheduler.start('pending', () =>
      pendingOperator(world, log, pendingDice, PENDING_OPERATIONS_PER_PHASE),
    );
    const conversationDice = Dice.seeded(world.seed * 6_007 + phase * 15_485_863 + 2);
    world.scheduler.start('conversation policies', () =>
      conversationPolicyUser(world, log, conversationDice, CONVERSATION_POLICY_OPERATIONS_PER_PHASE),
    );
    const revisionDice = Dice.seeded(world.seed * 4_099 + phase * 49_979_687 + 3);
    world.scheduler.start('revisions', () =>
      reviser(world, log, revisionDice, REVISION_OPERATIONS_PER_PHASE),
    );
    startHoldOperations(world, log, phase, PHASES);
    const switching =
      phase === 1 && groupModeThreshold(world.seed) === 2 ? joinPastThreshold(world, log) : undefined;
    await world.scheduler.drain();
    await switching;
    await retryFailedSends(world, log);
  }
  const failures: string[] = [];
  for (const record of log.sends) {
    if (record.message || record.refused) continue;
    // A retry refused because the sender has left the group since is not a lost message: it was never acknowledged.
    if (record.lastError === 'ForbiddenError') continue;
    if (world.clock.now() >= record.firstStartAt + RETRY_WINDOW_MS) {
      record.givenUp = true;
      log.counts.givenUp++;
      continue;
    }
    failures.push(`send ${record.text} was never acknowledged (last error ${record.lastError})`);
  }
  failures.push(...(await releaseAllHolds(world, log)));
  failures.push(...(await settle(world)));
  failures.push(...(await heldCopiesPurged(world, log)));
  failures.push(...(await check(world, log)));
  failures.push(...(await auditTrailFailures(world)));
  return {
    seed,
    failures,
    steps: world.scheduler.step,
    counts: log.counts,
    contended: log.contended,
    groupMode: await groupModeOf(world),
  };
}

/**
 * Before the oracle reads: more than an hour passes (every instance's clock has then passed the true
 * time of the last operation, and the leases of dead sweep invocations have lapsed), and the sweep runs
 * to the end of a run on the true clock, so every purge it started is settled (unread counts the copies
 * left). Its deletes pass the store audit like any other.
 */
async function settle(world: World): Promise<string[]> {
  world.clock.advance(MAX_SKEW_MS + 2 * world.direct.config.sweepLeaseMs);
  const step = world.scheduler.step;
  const tag: OperationTag = {
    id: -1,
    kind: 'sweep',
    commands: 0,
    startStep: step,
    startedAt: world.clock.now(),
    lastStep: step,
  };
  world.justifications.set(tag.id, { sweep: true });
  try {
    for (let attempt = 0; attempt < 3; attempt++) {
      const summary = await runAs(tag, () => runSweep(world.direct, { trigger: 'cli' }));
      if (summary.outcome === 'finished') return [];
    }
  } catch (error) {
    return [
      `the sweep after the last operation failed: ${(error as Error).name}: ${(error as Error).message}`,
    ];
  }
  return ['the sweep did not finish its run after the last operation'];
}

/**
 * The operator's policy changes (some crashed before or after a command, some on instances an hour off)
 * each append their audit record in the change's transaction: the trail stays one unbroken chain.
 */
async function auditTrailFailures(world: World): Promise<string[]> {
  const verification = await verifyAuditTrail(world.direct.db);
  return verification.problems.map((p) => `audit trail: record ${p.seq} ${p.problem}: ${p.detail}`);
}

/** Clients keep retrying what failed (same clientMsgId) until it is acknowledged, within the window. */
async function retryFailedSends(world: World, log: SimulationLog): Promise<void> {
  for (let round = 0; round < RETRY_ROUNDS; round++) {
    const failed = retryableSends(world, log).filter((record) => record.lastError !== 'ForbiddenError');
    if (failed.length === 0) return;
    for (const record of failed) {
      log.counts.retries++;
      void attemptSend(
        world,
        log,
        world.instances[round % world.instances.length]?.deps ?? world.direct,
        record,
      );
    }
    await world.scheduler.drain();
  }
}

/**
 * Runs seeds `concurrency` at a time, each on a table of its own (`{tablePrefix}_{seed}`, deleted after
 * it): retention policies and sweep runs are table-wide, and every seed has its own clock.
 */
export async function runSeeds(
  seeds: readonly number[],
  dynamo: DynamoDBClient,
  client: DocumentSender,
  options: { tablePrefix: string; concurrency?: number; onResult?: (result: SimulationResult) => void },
): Promise<SimulationResult[]> {
  const results: SimulationResult[] = [];
  let next = 0;
  async function worker() {
    while (next < seeds.length) {
      const seed = seeds[next++] as number;
      const tableName = `${options.tablePrefix}_${seed}`;
      await ensureTable(dynamo, tableName, { stream: false });
      try {
        const result = await runSeed(seed, client, tableName);
        results.push(result);
        options.onResult?.(result);
      } finally {
        await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency ?? 4 }, worker));
  return results.sort((a, b) => a.seed - b.seed);
}

/** How the group ended: in fan-out, or in shared mode from its creation or since a join mid-run. */
async function groupModeOf(world: World): Promise<GroupMode> {
  const threshold = groupModeThreshold(world.seed);
  if (threshold >= 200) return 'fan-out';
  if (threshold === 0) return 'shared from the start';
  const { Item } = (await world.direct.db.client.send(
    new GetCommand({
      TableName: world.tableName,
      Key: { pk: keys.groupPk(world.groupId), sk: keys.groupMetaSk },
      ConsistentRead: true,
    }),
  )) as { Item?: Record<string, unknown> };
  return Item?.shared === true ? 'switched mid-run' : 'stayed fan-out below 3 members';
}
