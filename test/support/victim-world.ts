import { randomBytes } from 'node:crypto';
import type { Harness } from './harness.js';

/**
 * A small world of private data and the users who must not see it: alice and bob chat; alice owns a
 * group with bob and dave; carol was a member and was removed; mallory was never in anything. Every
 * message text, the group's name and the victims' ids are unique canaries, so an answer that carries
 * any of them to someone who did not name it has leaked it.
 */
export interface VictimWorld {
  alice: string;
  bob: string;
  dave: string;
  carol: string;
  mallory: string;
  groupId: string;
  groupName: string;
  /** alice's and bob's messages in their single chat, oldest first. */
  singleMsgIds: string[];
  /** The group's messages, oldest first. */
  groupMsgIds: string[];
  /** Message texts, the group name and the victims' ids and message ids: never shown to an outsider. */
  secrets: string[];
  /** True for a table key (`pk|sk`) of an item that belongs to a victim (their data or the group). */
  ownsKey(key: string): boolean;
}

export async function buildVictimWorld(h: Harness, tag: string): Promise<VictimWorld> {
  const salt = randomBytes(4).toString('hex');
  const id = (name: string) => `${name}-${tag}-${salt}`;
  const [alice, bob, dave, carol, mallory] = ['alice', 'bob', 'dave', 'carol', 'mallory'].map(id) as [
    string,
    string,
    string,
    string,
    string,
  ];
  const groupName = `canary-group-name-${salt}`;
  const secret = (what: string) => `canary-${what}-${salt}`;
  const [a, b] = [await h.as(alice), await h.as(bob)];
  const single = [
    await a.sendMessage({ to: bob, chatType: 'single', type: 'text', body: { text: secret('a-to-b') } }),
    await b.sendMessage({ to: alice, chatType: 'single', type: 'text', body: { text: secret('b-to-a') } }),
    await a.sendMessage({
      to: bob,
      chatType: 'single',
      type: 'custom',
      body: { note: secret('custom-body') },
      ext: { tag: secret('ext') },
    }),
  ];
  const { groupId } = await a.createGroup({ name: groupName, members: [bob, dave, carol] });
  const before = await a.sendMessage({
    to: groupId,
    chatType: 'group',
    type: 'text',
    body: { text: secret('group-before-removal') },
  });
  await a.removeGroupMember(groupId, carol);
  const after = await b.sendMessage({
    to: groupId,
    chatType: 'group',
    type: 'text',
    body: { text: secret('group-after-removal') },
  });
  const singleMsgIds = single.map((m) => m.msgId);
  const groupMsgIds = [before.msgId, after.msgId];
  const victims = [alice, bob, dave];
  return {
    alice,
    bob,
    dave,
    carol,
    mallory,
    groupId,
    groupName,
    singleMsgIds,
    groupMsgIds,
    secrets: [
      secret('a-to-b'),
      secret('b-to-a'),
      secret('custom-body'),
      secret('ext'),
      secret('group-before-removal'),
      secret('group-after-removal'),
      groupName,
      groupId,
      ...victims,
      ...singleMsgIds,
      ...groupMsgIds,
    ],
    ownsKey(key) {
      const pk = key.slice(0, key.indexOf('|'));
      return (
        victims.some((v) => pk === `U#${v}` || pk.startsWith(`U#${v}#`)) ||
        pk === `G#${groupId}` ||
        pk.startsWith(`G#${groupId}#`)
      );
    },
  };
}

/**
 * The secrets an answer carries that the request did not name itself (echoing what the caller sent is
 * not a leak): checked on the answer's raw bytes, headers included.
 */
export function leakedSecrets(
  world: VictimWorld,
  request: { url: string; body?: string },
  answer: { headers: Record<string, string>; text: string },
): string[] {
  const asked = `${decodeURIComponentSafe(request.url)} ${request.body ?? ''}`;
  const wire = `${JSON.stringify(answer.headers)}\n${answer.text}`;
  return world.secrets.filter((s) => !asked.includes(s) && wire.includes(s));
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
