import type { ChatType } from '../core/model.js';
import type { Key } from '../store/db.js';
import { EVENT_PK_PREFIX, eventMentions } from '../store/event-store.js';
import { keys } from '../store/keys.js';
import type { StoredMessage } from '../store/stored-message.js';

/**
 * What an erasure does with one item of the table (functions/domain/erasure.ts scans them all): pure,
 * from the item alone. Ids never contain '#', so `U#{user}` and `U#{user}#...` are the user's own
 * partitions and no one else's.
 */
export type ItemStep =
  /** The user's own items, a peer's copies of and records about their single chat with the user. */
  | { kind: 'delete'; key: Key; owner?: string; conversation?: Conversation }
  /** A peer's single chat with the user: the conversation item (its pin counted off the peer's head). */
  | { kind: 'deleteConversation'; key: Key; owner: string; pinned: boolean; conversation: Conversation }
  /** A copy the user sent, in a peer's partition (`owner`) or a group's shared history (`groupId`). */
  | { kind: 'tombstoneCopy'; key: Key; owner?: string; groupId?: string; conversation?: Conversation }
  /** A message of the user's kept inside an item: a latest-message preview, a fan-out log entry. */
  | {
      kind: 'tombstoneEmbedded';
      key: Key;
      attribute: 'lastMessage' | 'message';
      message: StoredMessage;
      owner?: string;
      groupId?: string;
      conversation?: Conversation;
    }
  /** The user's membership of a group: they leave it (handing it over if they own it). */
  | { kind: 'leaveGroup'; groupId: string };

export interface Conversation {
  chatType: ChatType;
  convId: string;
}

type Item = Record<string, unknown>;

const keyOf = (item: Item): Key => ({ pk: item.pk as string, sk: item.sk as string });

function sentBy(message: unknown, userId: string): message is StoredMessage {
  return typeof message === 'object' && message !== null && (message as StoredMessage).from === userId;
}

/** The steps for one item: none when it holds nothing of the user's. */
export function stepsFor(item: Item, userId: string): ItemStep[] {
  const key = keyOf(item);
  const { pk, sk } = key;
  const own = keys.userPk(userId);
  if (pk === own || pk.startsWith(`${own}#`) || pk === keys.requestBudget(userId, '').pk) {
    return [{ kind: 'delete', key }];
  }
  if (pk === keys.policyPk && sk === keys.userPolicySk(userId)) return [{ kind: 'delete', key }];
  // A pending revision of a message they sent (its record, in their partition, goes too).
  if (pk === keys.pendingRevisionsPk && item.recordPk === keys.revision(userId, 'single', '', '').pk) {
    return [{ kind: 'delete', key }];
  }
  // An event about them (sent, received, deleted, joined...): the outbox keeps no trace of them.
  if (pk.startsWith(EVENT_PK_PREFIX)) return eventMentions(item, userId) ? [{ kind: 'delete', key }] : [];
  if (pk.startsWith('U#')) return peerSteps(item, key, userId);
  if (pk.startsWith('G#')) return groupSteps(item, key, userId);
  return [];
}

/** Another user's item (`U#{owner}...`). */
function peerSteps(item: Item, key: Key, userId: string): ItemStep[] {
  const [, owner = '', kind, ...rest] = key.pk.split('#');
  const withUser: Conversation = { chatType: 'single', convId: userId };
  // The conversation item of their single chat with the user: its id is the user's.
  if (kind === undefined && key.sk === keys.conversationSk('single', userId)) {
    return [
      {
        kind: 'deleteConversation',
        key,
        owner,
        pinned: item.pinnedAt !== undefined,
        conversation: withUser,
      },
    ];
  }
  // Copies, gap and held-delete records of that chat: `U#{owner}#{C|GAP|HD}#single#{user}`.
  if ((kind === 'C' || kind === 'GAP' || kind === 'HD') && rest[0] === 'single' && rest[1] === userId) {
    return [{ kind: 'delete', key, owner, conversation: withUser }];
  }
  // Change markers, deleted-ids records and mark entries name their conversation.
  if (item.chatType === 'single' && item.convId === userId && (kind === 'CHG' || kind === 'MARK')) {
    return [{ kind: 'delete', key, owner, conversation: withUser }];
  }
  const conversation = conversationOf(item, kind, rest);
  const steps: ItemStep[] = [];
  // A copy of a group message the user sent.
  // (A recalled message's copy, or a member's tombstone of a shared copy, has no body: still a copy.)
  if (kind === 'C' && sentBy(item, userId) && typeof item.msgId === 'string') {
    steps.push({ kind: 'tombstoneCopy', key, owner, conversation });
  }
  // A conversation item or mark entry showing the user's message as the latest.
  if (sentBy(item.lastMessage, userId)) {
    const message = item.lastMessage;
    steps.push({ kind: 'tombstoneEmbedded', key, attribute: 'lastMessage', message, owner, conversation });
  }
  return steps;
}

function conversationOf(item: Item, kind: string | undefined, rest: string[]): Conversation | undefined {
  if (kind === 'C' && (rest[0] === 'single' || rest[0] === 'group')) {
    return { chatType: rest[0], convId: rest[1] ?? '' };
  }
  if ((item.chatType === 'single' || item.chatType === 'group') && typeof item.convId === 'string') {
    return { chatType: item.chatType, convId: item.convId };
  }
  return undefined;
}

/** A group's items: META and members (`G#{id}`), its fan-out log (`#LOG`), its shared history (`#H`). */
function groupSteps(item: Item, key: Key, userId: string): ItemStep[] {
  const [, groupId = '', part] = key.pk.split('#');
  const conversation: Conversation = { chatType: 'group', convId: groupId };
  if (part === undefined && key.sk === keys.memberSk(userId)) return [{ kind: 'leaveGroup', groupId }];
  // A group the user owns is handed over when they leave (they are always a member of it).
  if (part === undefined && key.sk === keys.groupMetaSk && item.owner === userId) {
    return [{ kind: 'leaveGroup', groupId }, ...metaPreview(item, key, userId, groupId, conversation)];
  }
  if (part === undefined && key.sk === keys.groupMetaSk) {
    return metaPreview(item, key, userId, groupId, conversation);
  }
  if (part === 'LOG' && sentBy(item.message, userId)) {
    const message = item.message;
    return [{ kind: 'tombstoneEmbedded', key, attribute: 'message', message, groupId, conversation }];
  }
  if (part === 'H' && sentBy(item, userId) && typeof item.msgId === 'string') {
    return [{ kind: 'tombstoneCopy', key, groupId, conversation }];
  }
  return [];
}

function metaPreview(
  item: Item,
  key: Key,
  userId: string,
  groupId: string,
  conversation: Conversation,
): ItemStep[] {
  if (!sentBy(item.lastMessage, userId)) return [];
  const message = item.lastMessage;
  return [{ kind: 'tombstoneEmbedded', key, attribute: 'lastMessage', message, groupId, conversation }];
}
