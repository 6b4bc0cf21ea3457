/** The wire shapes (docs/api.md, openapi.json), shared by the domain, the handlers and the typed client. */
export const CHAT_TYPES = ['single', 'group'] as const;
export type ChatType = (typeof CHAT_TYPES)[number];

export const MESSAGE_TYPES = ['text', 'image', 'audio', 'video', 'file', 'location', 'custom'] as const;
export type MessageType = (typeof MESSAGE_TYPES)[number];

export interface Message {
  msgId: string;
  from: string;
  /** The recipient user for single chat, the group id for group chat. */
  to: string;
  chatType: ChatType;
  type: MessageType;
  /** Absent only on a recalled message's tombstone (`recalled`). */
  body?: Record<string, unknown>;
  ext?: Record<string, unknown>;
  /** Server time in ms, equal to the time encoded in msgId. */
  timestamp: number;
  /**
   * The message was recalled (docs/recall-and-edit.md): every copy is this tombstone, with no body and no
   * ext; it keeps its place in history.
   */
  recalled?: MessageRecall;
  /** The sender edited the message: `count` edits so far, the last at `at` (ms). */
  edited?: MessageEdit;
  /**
   * The sender's data was erased (docs/compliance.md, "Erasure"): the message keeps its place, with
   * `from` "erased", an empty body and no ext.
   */
  erased?: true;
}

export interface MessageRecall {
  /** Who recalled it: its sender, or the group's owner. */
  by: string;
  at: number;
}

export interface MessageEdit {
  count: number;
  at: number;
}

/** The body of POST /v1/messages. */
export interface SendRequest {
  to: string;
  chatType: ChatType;
  type: MessageType;
  body: Record<string, unknown>;
  ext?: Record<string, unknown>;
  /** Makes the send idempotent: a retry with the same id returns the same message. */
  clientMsgId?: string;
}

export interface Conversation {
  convId: string;
  chatType: ChatType;
  /** The newest message this user can still see, as a preview (at most ~1 KB; `truncated` when cut). */
  lastMessage: Message & { truncated?: true };
  /** Messages from others after the read position that this user can still see. */
  unreadCount: number;
  updatedAt: number;
  /** The read position: messages at or before it are read (moved forward by PUT .../read). */
  readThrough: string | null;
  /** The deletion watermark: everything at or before it is gone for this user. */
  clearedThrough: string | null;
  /** When this user pinned it (ms), or null. */
  pinnedAt: number | null;
  /** This user's marks (0..19), sorted. */
  marks: number[];
  /**
   * This conversation's own retention in days ("disappearing messages"), set by the user for their side;
   * absent: their user's (or the app's) policy applies. The most specific policy wins.
   */
  retentionDays?: number;
  /**
   * What stays hidden whatever the days (ms): what was expired when the conversation's own policy last
   * changed. Absent: none. A device drops cached messages at or before it.
   */
  retentionFloor?: number;
}

/** Names one conversation of one user: the peer's id (single) or the group id (group). */
export interface ConversationRef {
  owner: string;
  chatType: ChatType;
  convId: string;
}

export interface Group {
  groupId: string;
  name: string;
  owner: string;
  members: string[];
  createdAt: number;
}

/** Retention in days; null keeps history forever. */
export type RetentionDays = number | null;
