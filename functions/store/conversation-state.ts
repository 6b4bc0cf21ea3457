import { maxId } from '../core/ids.js';
import type { Conversation, ConversationRef, Message } from '../core/model.js';
import type { Key } from './db.js';
import { keys } from './keys.js';
import type { SyncState } from './sync-store.js';
import type { TransactItem } from './transactions.js';

/**
 * The conversation aggregate's state: one owner's side of one conversation, as read from its item (or
 * from a mark entry, which holds a copy). docs/consistency.md, section 2, says what each attribute means
 * and which invariants they keep; conversation-item.ts declares how each is stored, conversation.ts is
 * the only code that changes them.
 */
export interface ConversationState {
  ref: ConversationRef;
  /** False when the owner has no item for this conversation yet. */
  exists: boolean;
  /** Bumped by every write that changes what the owner sees: user operations condition on it. */
  rev: number;
  /** The owner's applied position: messages 1..seq (or joinedAt+1..seq in a group) are applied. */
  seq: number;
  /** The msgId at `seq`; undefined before the first message. */
  headMsgId?: string;
  /** The newest message the owner can still see. */
  lastMessage?: Message;
  /** The list index key while listed (`{head msgId}#{type}#{convId}`), else undefined. */
  listSk?: string;
  readThrough?: string;
  clearedThrough?: string;
  /** Copies in (max(readThrough, clearedThrough), head]: all from others (see applyMessage). */
  unread: number;
  /** When the owner pinned it (ms), if pinned. */
  pinnedAt?: number;
  /** The owner's marks (0..19), sorted. */
  marks: number[];
  /** Sync epoch of the last visible change (a marker exists for it); -1 before any. */
  changeEpoch: number;
  /** When that epoch's change marker was last written (ms): it is renewed before it can expire. */
  markedAt?: number;
  /** A former group member: nothing applies any more. */
  left: boolean;
  /** Filed in the purge index (purgeSk), if at all. */
  purgeSk?: string;
  /**
   * A member of a group in shared mode (or switching to it): the item holds the member's positions as of
   * `seq`; what the group got since is derived from META (member-view.ts). Its list key is kept out of
   * the list index (a list page merges large groups in at their live position).
   */
  shared: boolean;
  /** The conversation's own retention in days, set by its owner (conversation-retention.ts), if any. */
  retentionDays?: number;
  /** What was expired (ms) when the conversation's own policy last changed: it stays hidden. */
  retentionFloor?: number;
  /**
   * Not stored: this state was derived past the item's `seq` from META (member-view.ts), so a write
   * stores the derived position, head, latest and unread with its own change.
   */
  advanced?: boolean;
}

/** What every write needs besides the state: the table, the owner's sync head as read, and the time. */
export interface WriteContext {
  tableName: string;
  sync: SyncState;
  /** Wall-clock ms of the serving instance (marker expiry, pin time; never an order of messages). */
  now: number;
  purgeShards: number;
}

/** A conversation write: the transaction actions to commit it, and the state once committed. */
export interface ConversationWrite {
  actions: TransactItem[];
  next: ConversationState;
}

export { refOfItem, stateOf } from './conversation-item.js';

export function conversationKey(ref: ConversationRef): Key {
  return keys.conversation(ref);
}

export function isListed(state: ConversationState): boolean {
  return state.listSk !== undefined;
}

/** The conversation as the API shows it; undefined when it is not listed. */
export function toConversation(state: ConversationState): Conversation | undefined {
  if (!isListed(state) || !state.lastMessage) return undefined;
  return {
    convId: state.ref.convId,
    chatType: state.ref.chatType,
    lastMessage: state.lastMessage,
    unreadCount: state.unread,
    updatedAt: state.lastMessage.timestamp,
    readThrough: state.readThrough ?? null,
    clearedThrough: state.clearedThrough ?? null,
    pinnedAt: state.pinnedAt ?? null,
    marks: state.marks,
    ...(state.retentionDays === undefined ? {} : { retentionDays: state.retentionDays }),
    ...(state.retentionFloor === undefined ? {} : { retentionFloor: state.retentionFloor }),
  };
}

/** Where unread messages start: after the later of the read position and the watermark. */
export function unreadAfter(state: ConversationState): string | undefined {
  const { readThrough, clearedThrough } = state;
  if (readThrough === undefined) return clearedThrough;
  if (clearedThrough === undefined) return readThrough;
  return maxId(readThrough, clearedThrough);
}

/** A group conversation the owner may read and change: they are a member (their item says so). */
export function isMemberView(state: ConversationState): boolean {
  return state.exists && !state.left;
}
