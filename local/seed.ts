import './quiet-warnings.js';
import { parseArgs } from 'node:util';
import type { Clock } from '../functions/core/clock.js';
import { type Deps, NO_RATE_LIMITS } from '../functions/domain/deps.js';
import { createGroup } from '../functions/domain/groups.js';
import { sendMessage } from '../functions/domain/send.js';
import { createDeps } from '../functions/runtime.js';
import { type Lifetime, runCommand, StartupError, wholeNumberArg } from './cli.js';
import { openTable } from './open-store.js';
import { type PlannedGroup, type PlannedMessage, planSeed, type SeedPlan } from './seed-plan.js';

/**
 * `npm run seed -- --users N --messages M --days D --groups G [--seed S] [--concurrency C]`: a realistic
 * dataset (seed-plan.ts) written through the service's own write path (the domain's createGroup and
 * sendMessage, as the API calls them), into the running `npm start`'s store (or DYNAMODB_ENDPOINT, or a
 * DynamoDB Local started here on the data folder). The service stamps each message with its clock,
 * max(now, previous + 1): each writer's clock is set to the planned time of its next message, so the
 * timestamps walk forward over the D days up to now. Conversations are split among C writers (one
 * conversation, one writer: its messages stay in order); a progress bar, then messages/s.
 */
const COMMAND = 'npm run seed';

runCommand(seed, {
  onSignal() {
    console.log('\nSeed interrupted: what was written stays.');
    return 130;
  },
});

interface SeedArgs {
  users: number;
  messages: number;
  days: number;
  groups: number;
  seed: number;
  concurrency: number;
}

async function seed(lifetime: Lifetime): Promise<void> {
  const args = readArgs();
  const { tableName, config, client, documentClient } = await openTable(process.env, lifetime, {
    command: COMMAND,
    what: 'the seed',
    again: 'Run it again',
  });
  // An operator's tool writing as fast as it can: the per-user rate limits are not for it.
  const unlimited = { ...config, ...NO_RATE_LIMITS };
  const writer = (clock: Clock): Deps =>
    createDeps({ client: documentClient, tableName, clock, config: unlimited });

  const plan = planSeed({ ...args, end: Date.now() });
  console.log(
    `Seeding ${count(args.messages)} messages for ${count(args.users)} users, ${args.groups} groups, ` +
      `over ${args.days} days into table ${tableName}`,
  );
  const started = performance.now();
  const groupIds = await createGroups(plan, writer);
  const progress = progressBar(args.messages);
  await Promise.all(
    split(plan, args.concurrency).map((messages) =>
      writeMessages(messages, plan, groupIds, writer, progress.tick),
    ),
  );
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  printSummary(plan, groupIds, args, seconds);
  client.destroy();
  await lifetime.end(0);
}

/** Groups are created a minute before the first message, so every member sees the whole group history. */
async function createGroups(plan: SeedPlan, writer: (clock: Clock) => Deps): Promise<string[]> {
  const deps = writer({ now: () => plan.start - 60_000 });
  const ids: string[] = [];
  for (const group of plan.groups) {
    const created = await createGroup(deps, group.owner, { name: group.name, members: group.members });
    ids.push(created.groupId);
  }
  return ids;
}

/** Conversation k goes to writer k mod C; each writer sends its messages in time order. */
function split(plan: SeedPlan, writers: number): PlannedMessage[][] {
  const shares: PlannedMessage[][] = Array.from({ length: writers }, () => []);
  for (const message of plan.messages) shares[message.conversation % writers]?.push(message);
  return shares.filter((share) => share.length > 0);
}

async function writeMessages(
  messages: PlannedMessage[],
  plan: SeedPlan,
  groupIds: string[],
  writer: (clock: Clock) => Deps,
  sent: () => void,
): Promise<void> {
  let now = plan.start;
  const deps = writer({ now: () => now });
  for (const message of messages) {
    now = message.at;
    const conversation = plan.conversations[message.conversation];
    if (!conversation) continue;
    const to =
      conversation.chatType === 'group'
        ? (groupIds[conversation.group as number] as string)
        : (conversation.users?.find((user) => user !== message.from) ?? message.from);
    await sendMessage(deps, message.from, {
      to,
      chatType: conversation.chatType,
      type: message.type,
      body: message.body,
    });
    sent();
  }
}

/** A bar on a terminal (redrawn at most 10 times a second), else a line every 10%. */
function progressBar(total: number): { tick: () => void; done: () => void } {
  const started = performance.now();
  const terminal = Boolean(process.stdout.isTTY);
  let sent = 0;
  let drawnAt = 0;
  let lastTenth = 0;
  const rate = () => Math.round(sent / Math.max(0.001, (performance.now() - started) / 1000));
  const draw = () => {
    const width = 30;
    const filled = Math.round((sent / total) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    process.stdout.write(`\r[${bar}] ${count(sent)}/${count(total)} messages  ${count(rate())} msg/s `);
  };
  return {
    tick() {
      sent++;
      if (terminal) {
        const now = performance.now();
        if (now - drawnAt > 100 || sent === total) {
          drawnAt = now;
          draw();
        }
        return;
      }
      const tenth = Math.floor((sent / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        const width = 30;
        const filled = tenth * 3;
        console.log(
          `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${count(sent)}/${count(total)} messages  ${count(rate())} msg/s`,
        );
      }
    },
    done() {
      if (terminal) {
        draw();
        process.stdout.write('\n');
      }
    },
  };
}

function printSummary(plan: SeedPlan, groupIds: string[], args: SeedArgs, seconds: number): void {
  const perConversation = new Map<number, number>();
  for (const message of plan.messages) {
    perConversation.set(message.conversation, (perConversation.get(message.conversation) ?? 0) + 1);
  }
  const lengths = [...perConversation.values()].sort((a, b) => a - b);
  const singles = [...perConversation.keys()].filter(
    (k) => plan.conversations[k]?.chatType === 'single',
  ).length;
  const sizes = plan.groups.map((group: PlannedGroup) => group.members.length);
  const first = plan.messages[0]?.at ?? plan.start;
  const last = plan.messages.at(-1)?.at ?? plan.start;
  console.log(
    `Seeded ${count(args.messages)} messages in ${seconds.toFixed(1)} s: ${count(Math.round(args.messages / seconds))} messages/s`,
  );
  console.log(
    `  users: ${count(args.users)}; groups: ${groupIds.length}` +
      (sizes.length ? ` (${Math.min(...sizes)} to ${Math.max(...sizes)} members)` : ''),
  );
  console.log(
    `  conversations with messages: ${count(lengths.length)} (${count(singles)} single, ${count(lengths.length - singles)} group); ` +
      `messages per conversation: ${lengths[0] ?? 0} to ${count(lengths.at(-1) ?? 0)}, median ${lengths[Math.floor(lengths.length / 2)] ?? 0}`,
  );
  console.log(`  timestamps: ${new Date(first).toISOString()} to ${new Date(last).toISOString()}`);
  console.log(`  try: npm run token -- ${plan.users[0]}   (then GET /v1/conversations with it)`);
}

function readArgs(): SeedArgs {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '100' },
      messages: { type: 'string', default: '10000' },
      days: { type: 'string', default: '30' },
      groups: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      concurrency: { type: 'string', default: '16' },
    },
  });
  const args = {
    users: whole('--users', values.users, 1),
    messages: whole('--messages', values.messages, 1),
    days: whole('--days', values.days, 1),
    groups: whole('--groups', values.groups, 0),
    seed: whole('--seed', values.seed, 0),
    concurrency: whole('--concurrency', values.concurrency, 1),
  };
  if (args.groups > 0 && args.users < 3) throw new StartupError('--groups needs at least 3 --users');
  return args;
}

/** Every seed flag has a default, so a value is always there. */
function whole(flag: string, value: string | undefined, min: number): number {
  return wholeNumberArg(flag, value ?? '', min) as number;
}

function count(n: number): string {
  return n.toLocaleString('en-US');
}
