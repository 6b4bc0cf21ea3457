import type { ChatType, Message } from '../core/model.js';

/**
 * What Roaming tells an app's backend (docs/events.md). Each committed change is one event, written in
 * the change's own transaction (the outbox, event-store.ts), so an event exists exactly when its change
 * does; its id is fixed when the change commits and every delivery or replay carries that id.
 */
export interface RoamingEvent<T extends EventType = EventType> {
  id: string;
  type: T;
  /** When the change committed, on the writing instance's clock (a message's own timestamp for a send). */
  occurredAt: number;
  data: EventData[T];
}

export interface EventData {
  /** A message took its position: `message` as stored (a pre-send hook's rewrite included). */
  'message.sent': MessageEventData & { message: Message };
  /** One user deleted messages for themself: by ids, or everything up to `through` (a `before`). */
  'message.deleted': ConversationEventData &
    ({ scope: 'ids'; msgIds: string[] } | { scope: 'before'; before: number; through: string });
  /** One user took a conversation off their list; with `deleteMessages` its history went for them too. */
  'conversation.deleted': ConversationEventData & { deleteMessages: boolean; through?: string };
  'group.member.added': { groupId: string; members: string[]; by: string };
  'group.member.removed': { groupId: string; member: string; by: string };
  /** Every copy became the tombstone `message` (no body, no ext: never the recalled text). */
  'message.recalled': MessageEventData & { by: string; message: Message };
  /** Every copy now shows `message` (the new body; the old one is never sent). */
  'message.edited': MessageEventData & { message: Message };
  /** A retention sweep run finished: what it deleted (counts at least once: docs/retention.md). */
  'retention.swept': { runId: string; counts: Record<string, number> };
}

export type EventType = keyof EventData;

export const EVENT_TYPES = [
  'message.sent',
  'message.deleted',
  'conversation.deleted',
  'group.member.added',
  'group.member.removed',
  'message.recalled',
  'message.edited',
  'retention.swept',
] as const satisfies readonly EventType[];

interface MessageEventData {
  msgId: string;
  chatType: ChatType;
  /** The sender. */
  from: string;
  /** The recipient user (single chat) or the group. */
  to: string;
}

interface ConversationEventData {
  /** Whose copies: one-way deletes change only the owner's. */
  owner: string;
  chatType: ChatType;
  /** The peer (single chat) or the group, as the owner sees it. */
  convId: string;
}

/**
 * The conversation an event belongs to, the same for both sides of a single chat: events of one
 * conversation are delivered in the order they committed (a FIFO message group on AWS). Events of no
 * conversation (a sweep) have their own.
 */
export function conversationOf(event: RoamingEvent): string {
  const data = event.data as Partial<MessageEventData & ConversationEventData & { groupId: string }>;
  if (data.groupId !== undefined) return conversationNamed('group', data.groupId, '');
  if (data.chatType === 'group') return conversationNamed('group', String(data.to ?? data.convId), '');
  if (data.chatType === 'single') {
    return conversationNamed('single', String(data.from ?? data.owner), String(data.to ?? data.convId));
  }
  return event.type;
}

/** A group (`a`), or the single chat of `a` and `b` (either side names it the same). */
export function conversationNamed(chatType: ChatType, a: string, b: string): string {
  if (chatType === 'group') return `group:${a}`;
  const [first, second] = [a, b].sort() as [string, string];
  return `single:${first}:${second}`;
}

export function messageEventData(message: Message): MessageEventData {
  return { msgId: message.msgId, chatType: message.chatType, from: message.from, to: message.to };
}
