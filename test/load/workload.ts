import type { LoadApi } from './api.js';
import type { Ledger, SentMessage } from './ledger.js';

/**
 * Virtual users, each a loop of what an app does, until the deadline: send in single chats and in its
 * group, list, page history, mark read, sync with ?since=, and the three deletes. Every answer goes to
 * the ledger (what was acknowledged, what is uncertain). The mix is by weight.
 */
export interface Population {
  users: string[];
  /** Each user's group, if they are in one with somebody else. */
  groupOf: Map<string, string>;
  /** The users each user chats with. */
  friends: Map<string, string[]>;
}

const MIX: [Operation, number][] = [
  ['send single', 25],
  ['send group', 12],
  ['list', 10],
  ['history', 12],
  ['mark read', 12],
  ['sync', 10],
  ['delete by ids', 8],
  ['delete before', 4],
  ['delete conversation', 3],
];

type Operation =
  | 'send single'
  | 'send group'
  | 'list'
  | 'history'
  | 'mark read'
  | 'sync'
  | 'delete by ids'
  | 'delete before'
  | 'delete conversation';

export function population(tag: string, count: number): Population {
  const users = Array.from({ length: count }, (_, i) => `lt-${tag}-u${i}`);
  const groupOf = new Map<string, string>();
  for (let g = 0; g * 5 < count; g++) {
    const members = users.slice(g * 5, g * 5 + 5);
    if (members.length < 2) continue;
    for (const member of members) groupOf.set(member, `lt-${tag}-g${g}`);
  }
  const friends = new Map<string, string[]>();
  users.forEach((user, i) => {
    const peers = [1, 2, 3].map((d) => users[(i + d) % count] as string).filter((peer) => peer !== user);
    friends.set(user, [...new Set(peers.length ? peers : [user])]);
  });
  return { users, groupOf, friends };
}

/**
 * Creates the groups (their first member owns each, named as planned) and records them in the ledger.
 * The server makes group ids: each member's planned group becomes the id it answered with.
 */
export async function createGroups(
  api: LoadApi,
  ledger: Ledger,
  pop: Population,
  tokenOf: (u: string) => string,
) {
  const members = new Map<string, string[]>();
  for (const [user, planned] of pop.groupOf) members.set(planned, [...(members.get(planned) ?? []), user]);
  for (const [planned, list] of members) {
    const [owner, ...rest] = list as [string, ...string[]];
    const answer = await api.call('setup: create group', tokenOf(owner), 'POST', '/v1/groups', {
      name: planned,
      members: rest,
    });
    const groupId = (answer.body as { group?: { groupId?: string } } | undefined)?.group?.groupId;
    if (answer.status !== 201 || !groupId)
      throw new Error(`could not create group ${planned}: ${answer.status} ${JSON.stringify(answer.body)}`);
    ledger.groups.set(groupId, list);
    for (const member of list) pop.groupOf.set(member, groupId);
  }
}

export interface VirtualUserContext {
  api: LoadApi;
  ledger: Ledger;
  pop: Population;
  tokenOf: (user: string) => string;
  deadline: number;
  random: () => number;
}

export async function runVirtualUser(ctx: VirtualUserContext, user: string): Promise<void> {
  const state = { sent: 0, syncToken: undefined as string | undefined };
  const total = MIX.reduce((sum, [, weight]) => sum + weight, 0);
  while (performance.now() < ctx.deadline) {
    await perform(ctx, user, chooseOperation(ctx.random() * total), state);
  }
}

/** The operation whose share of the mix `roll` (0 to the total weight) falls in. */
function chooseOperation(roll: number): Operation {
  let left = roll;
  for (const [operation, weight] of MIX) {
    if (left < weight) return operation;
    left -= weight;
  }
  return MIX[0]?.[0] as Operation;
}

const pick = <T>(random: () => number, list: readonly T[]): T | undefined =>
  list[Math.floor(random() * list.length)];

async function perform(
  ctx: VirtualUserContext,
  user: string,
  operation: Operation,
  state: { sent: number; syncToken: string | undefined },
): Promise<void> {
  const { api, ledger, random } = ctx;
  const token = ctx.tokenOf(user);
  const conversation = pick(random, ledger.conversationsOf(user));
  const path = conversation
    ? `/v1/conversations/${conversation.chatType}/${encodeURIComponent(conversation.convId)}`
    : '';
  switch (operation) {
    case 'send single':
    case 'send group': {
      const group = ctx.pop.groupOf.get(user);
      const chatType = operation === 'send group' && group ? 'group' : 'single';
      const to =
        chatType === 'group' ? (group as string) : (pick(random, ctx.pop.friends.get(user) ?? []) ?? user);
      const text = `${user} says ${++state.sent}`;
      const sentAt = performance.now();
      const answer = await api.call<{ message?: { msgId: string; timestamp: number } }>(
        chatType === 'group' ? 'send group' : 'send single',
        token,
        'POST',
        '/v1/messages',
        { to, chatType, type: 'text', body: { text }, clientMsgId: `${user}-${state.sent}` },
      );
      const message = answer.body.message;
      if (answer.status === 201 && message) {
        const sent: SentMessage = {
          msgId: message.msgId,
          from: user,
          chatType,
          to,
          timestamp: message.timestamp,
          sentAt,
          ackAt: performance.now(),
        };
        ledger.acknowledged(sent);
      } else {
        ledger.uncertainTexts.add(text);
      }
      return;
    }
    case 'list':
      await api.call('list', token, 'GET', '/v1/conversations?limit=20');
      return;
    case 'history': {
      if (!conversation) return;
      let cursor: string | null = null;
      for (let page = 0; page < 3; page++) {
        const from: string = cursor ? `&startMsgId=${cursor}` : '';
        const answer = await api.call<{ cursor?: string | null }>(
          'history page',
          token,
          'GET',
          `${path}/messages?pageSize=20${from}`,
        );
        cursor = answer.body.cursor ?? null;
        if (!cursor) return;
      }
      return;
    }
    case 'mark read': {
      if (!conversation) return;
      const answer = await api.call<{ readThrough?: string | null }>(
        'mark read',
        token,
        'PUT',
        `${path}/read`,
        {},
      );
      const through = answer.body.readThrough;
      if (
        answer.status === 200 &&
        through &&
        (conversation.readThrough === undefined || through > conversation.readThrough)
      ) {
        conversation.readThrough = through;
      }
      return;
    }
    case 'sync': {
      if (state.syncToken === undefined) {
        const first = await api.call<{ syncToken?: string }>(
          'list',
          token,
          'GET',
          '/v1/conversations?limit=20',
        );
        state.syncToken = first.body.syncToken;
        return;
      }
      let query = `since=${encodeURIComponent(state.syncToken)}`;
      for (let page = 0; page < 5; page++) {
        const answer = await api.call<{ cursor?: string | null; syncToken?: string }>(
          'sync',
          token,
          'GET',
          `/v1/conversations?${query}`,
        );
        if (answer.status === 410) state.syncToken = undefined;
        if (answer.status !== 200) return;
        if (page === 0) state.syncToken = answer.body.syncToken;
        if (!answer.body.cursor) return;
        query = `since=${encodeURIComponent(answer.body.cursor)}`;
      }
      return;
    }
    case 'delete by ids': {
      if (!conversation) return;
      const present = ledger.present(conversation);
      const ids = [...new Set([pick(random, present), pick(random, present)])].flatMap((m) =>
        m ? [m.msgId] : [],
      );
      if (ids.length === 0) return;
      const answer = await api.call(
        'delete by ids',
        token,
        'DELETE',
        `${path}/messages?msgIds=${ids.join(',')}`,
      );
      for (const id of ids)
        conversation.deletedIds.set(id, answer.status === 200 || conversation.deletedIds.get(id) === true);
      return;
    }
    case 'delete before': {
      if (!conversation) return;
      // A time some message of the owner's copy has: every message accepted later sorts after it.
      const target = pick(random, ledger.present(conversation).slice(0, -1));
      if (!target) return;
      const answer = await api.call(
        'delete before',
        token,
        'DELETE',
        `${path}/messages?before=${target.timestamp}`,
      );
      conversation.deletedBefore.push({ before: target.timestamp, done: answer.status === 200 });
      return;
    }
    case 'delete conversation': {
      if (!conversation) return;
      const withMessages = random() < 0.5;
      const sentAt = performance.now();
      const answer = await api.call(
        'delete conversation',
        token,
        'DELETE',
        `${path}?deleteMessages=${withMessages}`,
      );
      const window = {
        sentAt,
        ackAt: answer.status === 0 ? Number.POSITIVE_INFINITY : performance.now(),
        done: answer.status === 200,
      };
      conversation.unlisted.push(window);
      if (withMessages) conversation.cleared.push(window);
      return;
    }
  }
}
