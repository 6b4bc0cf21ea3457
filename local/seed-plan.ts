import { DAY_MS } from '../functions/core/clock.js';
import type { ChatType, MessageType } from '../functions/core/model.js';

/**
 * A realistic dataset, planned before anything is written (and the same for the same `seed`): users,
 * groups of 3 to 12 members, and messages spread over `days` days up to `end`. Conversations are of
 * varied length: their weights follow a power law, so a few are busy and most have a handful of
 * messages; a fifth of the traffic goes to groups when there are any.
 */
export interface SeedOptions {
  users: number;
  messages: number;
  days: number;
  groups: number;
  seed: number;
  /** The last message's time (ms). */
  end: number;
}

export interface PlannedGroup {
  /** Index of the group in the plan (the server makes its id). */
  index: number;
  name: string;
  owner: string;
  members: string[];
}

export interface PlannedConversation {
  chatType: ChatType;
  /** Single chat: the two users; group: the group's index. */
  users: [string, string] | null;
  group: number | null;
}

export interface PlannedMessage {
  conversation: number;
  from: string;
  at: number;
  type: MessageType;
  body: Record<string, unknown>;
}

export interface SeedPlan {
  users: string[];
  groups: PlannedGroup[];
  conversations: PlannedConversation[];
  /** In time order. */
  messages: PlannedMessage[];
  start: number;
}

export function planSeed(options: SeedOptions): SeedPlan {
  const random = mulberry32(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const users = Array.from({ length: options.users }, (_, i) => `user-${String(i + 1).padStart(4, '0')}`);

  const groups: PlannedGroup[] = Array.from({ length: options.groups }, (_, index) => {
    const size = Math.min(users.length, 3 + Math.floor(random() * 10));
    const members = shuffled(users, random).slice(0, size);
    return { index, name: `${pick(GROUP_NAMES)} ${index + 1}`, owner: members[0] as string, members };
  });

  // About two single chats per user, each between two different users (or one, for a lone user).
  const pairs = new Map<string, [string, string]>();
  for (let i = 0; i < users.length * 2; i++) {
    const a = pick(users);
    const b = users.length > 1 ? pick(users.filter((u) => u !== a)) : a;
    pairs.set([a, b].sort().join('|'), [a, b]);
  }
  const conversations: PlannedConversation[] = [
    ...[...pairs.values()].map((pair) => ({ chatType: 'single' as const, users: pair, group: null })),
    ...groups.map((group) => ({ chatType: 'group' as const, users: null, group: group.index })),
  ];
  // Zipf-like weights: conversation k of n gets 1/(k+1); groups share a fifth of all traffic.
  const order = shuffled(
    conversations.map((_, i) => i),
    random,
  );
  const weights = new Array<number>(conversations.length).fill(0);
  order.forEach((conversation, rank) => {
    weights[conversation] = 1 / (rank + 1);
  });
  const groupShare = groups.length > 0 ? 0.2 : 0;
  const total = (filter: (c: PlannedConversation) => boolean) =>
    weights.reduce((sum, w, i) => sum + (filter(conversations[i] as PlannedConversation) ? w : 0), 0);
  const singleTotal = total((c) => c.chatType === 'single');
  const groupTotal = total((c) => c.chatType === 'group');
  const scaled = weights.map((w, i) =>
    conversations[i]?.chatType === 'group'
      ? (w / groupTotal) * groupShare
      : (w / singleTotal) * (1 - groupShare),
  );
  const cumulative: number[] = [];
  let sum = 0;
  for (const weight of scaled) {
    sum += weight;
    cumulative.push(sum);
  }

  const start = options.end - options.days * DAY_MS;
  const step = (options.end - start) / Math.max(1, options.messages);
  const messages: PlannedMessage[] = [];
  for (let i = 0; i < options.messages; i++) {
    const r = random() * (cumulative.at(-1) ?? 1);
    const conversation = Math.max(
      0,
      cumulative.findIndex((c) => r < c),
    );
    const planned = conversations[conversation] as PlannedConversation;
    const from =
      planned.chatType === 'single'
        ? pick(planned.users as [string, string])
        : pick((groups[planned.group as number] as PlannedGroup).members);
    // Evenly spread with jitter, always moving forward: chats happen at every hour of the D days.
    const at = Math.floor(start + (i + random() * 0.9) * step);
    messages.push({ conversation, from, at, ...messageBody(random, pick) });
  }
  return { users, groups, conversations, messages, start };
}

function messageBody(
  random: () => number,
  pick: <T>(items: readonly T[]) => T,
): Pick<PlannedMessage, 'type' | 'body'> {
  const roll = random();
  if (roll < 0.85) {
    const words = Array.from({ length: 2 + Math.floor(random() * 12) }, () => pick(WORDS));
    return { type: 'text', body: { text: `${words.join(' ')}${pick(['', '.', '!', '?'])}` } };
  }
  if (roll < 0.93) {
    const width = pick([640, 1080, 1920]);
    return {
      type: 'image',
      body: {
        url: `https://files.example.com/img/${Math.floor(random() * 1e9)}.jpg`,
        width,
        height: width * 0.75,
      },
    };
  }
  if (roll < 0.97) {
    return { type: 'file', body: { name: `${pick(WORDS)}.pdf`, size: Math.floor(random() * 5e6) } };
  }
  return { type: 'location', body: { lat: 48 + random() * 4, lng: 2 + random() * 10, label: pick(WORDS) } };
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

/** A small seeded PRNG: the same seed plans the same dataset. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const GROUP_NAMES = ['Team', 'Family', 'Book club', 'Climbing', 'Project', 'Neighbours', 'Trip'];
const WORDS = [
  'hi',
  'hello',
  'ok',
  'sure',
  'thanks',
  'see',
  'you',
  'tomorrow',
  'lunch',
  'meeting',
  'at',
  'noon',
  'the',
  'report',
  'is',
  'ready',
  'running',
  'late',
  'call',
  'me',
  'when',
  'free',
  'great',
  'idea',
  'photos',
  'from',
  'weekend',
  'coffee',
  'later',
  'done',
];
