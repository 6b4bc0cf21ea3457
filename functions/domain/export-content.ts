import { highestIdAt, nextId } from '../core/ids.js';
import type { ChatType, Conversation, ConversationRef, Message } from '../core/model.js';
import { type ConversationState, toConversation } from '../store/conversation.js';
import { type StoredCopy, scanConversationRefs } from '../store/copy-scan.js';
import type { ExportCounts, ExportCursor, ExportJob } from '../store/export-store.js';
import { conversationCutoff } from './conversation-retention.js';
import type { Deps } from './deps.js';
import { READ_AHEAD, type ViewPages, type ViewRange, viewPages } from './export-pages.js';
import { readSides } from './large-group-sides.js';
import { NO_CUTOFF } from './retention.js';

/**
 * What an export writes, one JSON object a line (docs/compliance.md, "Export"): a header; each of the
 * user's conversations (in key order) followed by the copies of it they own, oldest first; an end line
 * with the totals. By default only what the user can see, as the API shows it; with `includeHidden`
 * also what is stored but hidden from them, each line saying why.
 *
 * The rule, per copy of the user's view (their own partition and, for a group in shared mode, the
 * shared history above their watermark, where their joining set it; a tombstone stands for the shared
 * copy it hides), first match wins:
 * - `deleted`: a tombstone (a copy deleted by id while a legal hold kept it, or a shared copy deleted by
 *   id in shared mode: its line says `tombstone: true`), or at or before the conversation's watermark
 *   (`clearedThrough`: a delete before a time, a conversation deleted with its messages, a rejoin);
 * - `left`: the user left the group (nothing of it is readable for them);
 * - `expired`: at or before the conversation's retention cutoff (conversation-retention.ts: its own
 *   days if it has them, else the user's policy, never below its floor) as it was when the export
 *   started (its `startedAt`; the user's cutoff is fixed then too);
 * - `unapplied`: above the head of a fan-out conversation (a send still applying it);
 * - otherwise visible. Hidden copies are only in an export with `includeHidden`.
 * A conversation is written when it is listed (as the list shows it: `conversation`), or when it has a
 * copy to write (a conversation deleted without its messages still has its history); with
 * `includeHidden`, every conversation item is.
 */

export type HiddenReason = 'deleted' | 'left' | 'expired' | 'unapplied';

export type ExportLine =
  | {
      type: 'header';
      format: 'roaming-export';
      version: 1;
      exportId: string;
      userId: string;
      includeHidden: boolean;
      startedAt: number;
      /** Copies at or before it (ms) are expired for the user (null: keeps forever). */
      retentionCutoff: number | null;
    }
  | {
      type: 'conversation';
      chatType: ChatType;
      convId: string;
      /** In the user's conversation list: `conversation` is the object the list shows. */
      listed: boolean;
      conversation: Conversation | null;
      /**
       * Its copies at or before it (ms) are expired: only when its own policy or floor (conversation-
       * retention.ts) sets it apart from the user's, else the header's `retentionCutoff` applies.
       */
      retentionCutoff?: number;
    }
  | {
      type: 'message';
      chatType: ChatType;
      convId: string;
      message: Message;
      hidden?: HiddenReason;
      /** Stored as a tombstone: deleted by the user, kept by a legal hold or for a shared copy. */
      tombstone?: true;
    }
  | { type: 'end'; conversations: number; copies: number };

/** Conversations read at a time (their keys in one Query, their sides in one BatchGetItem). */
const CONVERSATION_BATCH = 25;

export interface ExportStep {
  /** The lines, each with its newline: one part. */
  text: string;
  cursor: ExportCursor;
  counts: ExportCounts;
}

/** Reads an export's steps one after the other (one worker's run: what it has read serves the next step). */
export interface ExportReader {
  /**
   * The lines that follow `job.cursor`, at least `minBytes` of them unless the export ends first, and
   * the cursor after them. Reads only: a part is written and the job moved on by the caller.
   */
  step(job: ExportJob, minBytes: number): Promise<ExportStep>;
}

/**
 * A reader for one worker's run of one export: it keeps the batch of conversations it read and the
 * page it is in across steps, and reads the next page (or the next conversation's first) while it
 * writes the lines of the current one.
 */
export function exportReader(deps: Deps, job: ExportJob): ExportReader {
  const conversations = conversationBatches(deps, job);
  const pages = viewPages(deps.db);
  return { step: (at, minBytes) => readStep(at, minBytes, conversations, pages) };
}

async function readStep(
  job: ExportJob,
  minBytes: number,
  conversations: ConversationBatches,
  pages: ViewPages,
): Promise<ExportStep> {
  const cursor: ExportCursor = structuredClone(job.cursor);
  const lines: string[] = [];
  const counts: ExportCounts = { conversations: 0, copies: 0, bytes: 0 };
  const write = (line: ExportLine) => {
    const text = `${JSON.stringify(line)}\n`;
    lines.push(text);
    counts.bytes += Buffer.byteLength(text);
    if (line.type === 'conversation') counts.conversations++;
    if (line.type === 'message') counts.copies++;
  };
  if (job.parts.length === 0) write(headerOf(job));
  while (counts.bytes < minBytes && !cursor.complete) {
    if (!cursor.current) {
      const next = await conversations.next(cursor.conversationsAfter);
      if (!next) {
        write({
          type: 'end',
          conversations: job.conversations + counts.conversations,
          copies: job.copies + counts.copies,
        });
        cursor.complete = true;
        break;
      }
      cursor.current = { sk: next.sk, opened: false };
    }
    const current = cursor.current;
    const side = await conversations.side(current.sk);
    // The first pages of the conversations that follow are read while this one is written.
    const readNextAhead = () => {
      for (const following of conversations.loadedAfter(current.sk, READ_AHEAD - 1)) {
        const view = following.side && viewRules(following.side, job);
        if (!following.side || !view || !(job.includeHidden || view.readable)) continue;
        pages.readAhead(following.side.ref, following.side.shared, rangeOf(view, job, undefined));
      }
    };
    const finished = await exportConversation(job, side, current, pages, {
      write,
      full: () => counts.bytes >= minBytes,
      readNextAhead,
    });
    if (finished) {
      cursor.conversationsAfter = current.sk;
      cursor.current = undefined;
    }
  }
  return { text: lines.join(''), cursor, counts };
}

function headerOf(job: ExportJob): ExportLine {
  return {
    type: 'header',
    format: 'roaming-export',
    version: 1,
    exportId: job.exportId,
    userId: job.userId,
    includeHidden: job.includeHidden,
    startedAt: job.startedAt,
    retentionCutoff: job.retentionCutoff === NO_CUTOFF ? null : job.retentionCutoff,
  };
}

/** The range of a conversation's view an export reads from `afterId` on. */
function rangeOf(view: ViewRules, job: ExportJob, afterId: string | undefined): ViewRange {
  return {
    ...(afterId !== undefined ? { afterId } : {}),
    ...(job.includeHidden
      ? view.lowestSharedId !== undefined
        ? { sharedLowestId: view.lowestSharedId }
        : {}
      : { ownLowestId: view.lowestVisibleId, sharedLowestId: view.lowestVisibleId }),
  };
}

/**
 * Writes the conversation in progress from its position on, until `full()` or its end; moves
 * `current` along. True when the conversation is finished.
 */
async function exportConversation(
  job: ExportJob,
  side: ConversationState | undefined,
  current: NonNullable<ExportCursor['current']>,
  pages: ViewPages,
  out: { write: (line: ExportLine) => void; full: () => boolean; readNextAhead: () => void },
): Promise<boolean> {
  if (!side) return true;
  const { write, full } = out;
  const ref = side.ref;
  const view = viewRules(side, job);
  const open = () => {
    if (current.opened) return;
    write({
      type: 'conversation',
      chatType: ref.chatType,
      convId: ref.convId,
      listed: view.conversation !== null,
      conversation: view.conversation,
      ...(view.cutoff !== job.retentionCutoff ? { retentionCutoff: view.cutoff } : {}),
    });
    current.opened = true;
  };
  if (job.includeHidden || view.conversation !== null) open();
  if (!job.includeHidden && !view.readable) return true;
  for (;;) {
    const reading = pages.read(ref, side.shared, rangeOf(view, job, current.afterMsgId));
    out.readNextAhead();
    const page = await reading;
    if (page.lastReadId !== undefined) pages.readAhead(ref, side.shared, rangeOf(view, job, page.lastReadId));
    for (const copy of page.copies) {
      const hidden = view.hiddenReason(copy);
      // Past a fan-out head the rest is still being applied: not in a default export (nor skipped for good).
      if (hidden === 'unapplied' && !job.includeHidden) return true;
      current.afterMsgId = copy.msgId;
      if (hidden !== undefined && !job.includeHidden) continue;
      open();
      write({
        type: 'message',
        chatType: ref.chatType,
        convId: ref.convId,
        message: copy.message,
        ...(hidden !== undefined ? { hidden } : {}),
        ...(copy.tombstone ? { tombstone: true } : {}),
      });
      if (full()) return page.lastReadId === undefined && copy === page.copies.at(-1);
    }
    if (page.lastReadId === undefined) return true;
    current.afterMsgId = page.lastReadId;
    if (full()) return false;
  }
}

interface ConversationBatches {
  /** The conversation after `afterSk`, if there is one. */
  next(afterSk: string | undefined): Promise<{ sk: string } | undefined>;
  /** The side of conversation `sk` (read with its batch, or now if it is not in it: a resumed worker). */
  side(sk: string): Promise<ConversationState | undefined>;
  /** Up to `count` conversations after `sk` among those read already (nothing is read). */
  loadedAfter(sk: string, count: number): { sk: string; side: ConversationState | undefined }[];
}

/**
 * The user's conversations in key order, a batch at a time, with their sides (read, as a list page
 * reads them, when the batch is: a conversation is written by the side its batch read).
 */
function conversationBatches(deps: Deps, job: ExportJob): ConversationBatches {
  let batch: { sk: string; side: ConversationState | undefined }[] = [];
  let more = true;
  const load = async (afterSk: string | undefined) => {
    const page = await scanConversationRefs(deps.db, job.userId, { afterSk, limit: CONVERSATION_BATCH });
    const { states } = await readSides(
      deps,
      page.refs.map(({ ref }) => ref),
      job.retentionCutoff,
    );
    batch = page.refs.map(({ sk }, i) => ({ sk, side: states[i] }));
    more = page.more;
  };
  const after = (afterSk: string | undefined) =>
    batch.find((entry) => afterSk === undefined || entry.sk > afterSk);
  return {
    async next(afterSk) {
      const found = after(afterSk);
      if (found) return found;
      if (batch.length > 0 && !more) return undefined;
      await load(afterSk);
      return batch[0];
    },
    async side(sk) {
      const found = batch.find((entry) => entry.sk === sk);
      if (found) return found.side;
      const { states } = await readSides(deps, [refOfSk(job.userId, sk)], job.retentionCutoff);
      return states[0];
    },
    loadedAfter(sk, count) {
      return batch.filter((entry) => entry.sk > sk).slice(0, count);
    },
  };
}

interface ViewRules {
  /** The conversation's retention cutoff (ms) for this export. */
  cutoff: number;
  /** The conversation as the list shows it, or null when it is not listed. */
  conversation: Conversation | null;
  /** The user may read its history at all (not a group they left). */
  readable: boolean;
  /** The lowest id the user can see (above the watermark and the cutoff). */
  lowestVisibleId: string;
  /** The lowest id of the shared history in the user's view (above their watermark). */
  lowestSharedId?: string;
  hiddenReason(copy: StoredCopy): HiddenReason | undefined;
}

function viewRules(side: ConversationState, job: ExportJob): ViewRules {
  // As a read at the export's start judged it: its own days from then, else the user's cutoff then.
  const cutoff = conversationCutoff(side, job.retentionCutoff, job.startedAt);
  const expiredThrough = cutoff === NO_CUTOFF ? undefined : highestIdAt(cutoff);
  const watermark = side.clearedThrough;
  const conversation = toConversation(side);
  const listed = conversation !== undefined && !side.left && conversation.lastMessage.timestamp > cutoff;
  const lowestShared = watermark === undefined ? undefined : nextId(watermark);
  const aboveCutoff = expiredThrough === undefined ? undefined : nextId(expiredThrough);
  const lowestVisibleId = [lowestShared, aboveCutoff].reduce<string>(
    (a, b) => (b !== undefined && b > a ? b : a),
    '',
  );
  return {
    cutoff,
    conversation: listed && conversation ? conversation : null,
    readable: side.exists && !side.left,
    lowestVisibleId,
    ...(lowestShared !== undefined ? { lowestSharedId: lowestShared } : {}),
    hiddenReason(copy) {
      if (copy.tombstone || (watermark !== undefined && copy.msgId <= watermark)) return 'deleted';
      if (side.left) return 'left';
      if (expiredThrough !== undefined && copy.msgId <= expiredThrough) return 'expired';
      if (!side.shared && (side.headMsgId === undefined || copy.msgId > side.headMsgId)) return 'unapplied';
      return undefined;
    },
  };
}

function refOfSk(owner: string, sk: string): ConversationRef {
  const [, chatType, ...rest] = sk.split('#');
  return { owner, chatType: chatType as ChatType, convId: rest.join('#') };
}
