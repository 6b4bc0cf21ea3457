/**
 * The load test's log of what the service acknowledged, and what follows from it for every copy: a
 * message acknowledged (2xx) is in every participant's copy unless that participant deleted it. Times
 * are the client's (performance.now()): `sentAt` when the request left, `ackAt` when its answer came
 * (Infinity when no answer came: the server may still be working on it).
 */
export interface SentMessage {
  msgId: string;
  from: string;
  chatType: 'single' | 'group';
  /** The peer (single) or the group. */
  to: string;
  timestamp: number;
  sentAt: number;
  ackAt: number;
}

interface Window {
  sentAt: number;
  ackAt: number;
  done: boolean;
}

interface ConversationLog {
  owner: string;
  chatType: 'single' | 'group';
  convId: string;
  /** Messages this owner has a copy of, in the order they were acknowledged. */
  messages: SentMessage[];
  deletedIds: Map<string, boolean>;
  deletedBefore: { before: number; done: boolean }[];
  /** Deletes of the whole conversation with its messages. */
  cleared: Window[];
  /** Everything that takes the conversation off the list (both conversation deletes). */
  unlisted: Window[];
  /** The furthest read position a read ack answered. */
  readThrough?: string;
}

export type CopyStatus = 'present' | 'deleted' | 'uncertain';

export const conversationKey = (owner: string, chatType: string, convId: string) =>
  `${owner}|${chatType}|${convId}`;

export class Ledger {
  readonly groups = new Map<string, string[]>();
  readonly messages = new Map<string, SentMessage>();
  /** Texts of sends that got no success: they may or may not have been accepted. */
  readonly uncertainTexts = new Set<string>();
  readonly conversations = new Map<string, ConversationLog>();

  /** Every owner of a copy of `message`, with the conversation id the copy is under. */
  copiesOf(message: Pick<SentMessage, 'from' | 'to' | 'chatType'>): { owner: string; convId: string }[] {
    if (message.chatType === 'group') {
      return (this.groups.get(message.to) ?? []).map((owner) => ({ owner, convId: message.to }));
    }
    if (message.from === message.to) return [{ owner: message.from, convId: message.from }];
    return [
      { owner: message.from, convId: message.to },
      { owner: message.to, convId: message.from },
    ];
  }

  acknowledged(message: SentMessage): void {
    this.messages.set(message.msgId, message);
    for (const { owner, convId } of this.copiesOf(message)) {
      this.conversation(owner, message.chatType, convId).messages.push(message);
    }
  }

  conversation(owner: string, chatType: 'single' | 'group', convId: string): ConversationLog {
    const key = conversationKey(owner, chatType, convId);
    let log = this.conversations.get(key);
    if (!log) {
      log = {
        owner,
        chatType,
        convId,
        messages: [],
        deletedIds: new Map(),
        deletedBefore: [],
        cleared: [],
        unlisted: [],
      };
      this.conversations.set(key, log);
    }
    return log;
  }

  /** The conversations `owner` has a copy of some message in. */
  conversationsOf(owner: string): ConversationLog[] {
    return [...this.conversations.values()].filter((c) => c.owner === owner && c.messages.length > 0);
  }

  /** What the owner's copy of `message` must be, from every delete the owner made of it. */
  statusOf(log: ConversationLog, message: SentMessage): CopyStatus {
    let uncertain = false;
    const byId = log.deletedIds.get(message.msgId);
    if (byId === true) return 'deleted';
    if (byId === false) uncertain = true;
    for (const d of log.deletedBefore) {
      if (message.timestamp <= d.before) {
        if (d.done) return 'deleted';
        uncertain = true;
      }
    }
    for (const w of log.cleared) {
      // It covers what the owner had when it started; a message sent after it answered stays.
      if (message.ackAt < w.sentAt) {
        if (w.done) return 'deleted';
        uncertain = true;
      } else if (!(message.sentAt > w.ackAt)) {
        uncertain = true;
      }
    }
    return uncertain ? 'uncertain' : 'present';
  }

  present(log: ConversationLog): SentMessage[] {
    return log.messages.filter((m) => this.statusOf(log, m) === 'present');
  }
}
