import { highestIdAt, minId, nextId } from '../core/ids.js';
import type { ChatType, Conversation, ConversationRef, Message } from '../core/model.js';
import { type ConversationState, toConversation } from '../store/conversation.js';
import { type CopyScanPage, type StoredCopy, scanConversationRefs, scanCopies } from '../store/copy-scan.js';
import type { Db } from '../store/db.js';
import type { ExportCounts, ExportCursor, ExportJob } from '../store/export-store.js';
import { sharedHistoryOf } from '../store/message-store.js';
import type { Deps } from './deps.js';
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
 * - `deleted`: a tombstone (deleted by id in shared mode), or at or before the conversation's watermark
 *   (`clearedThrough`: a delete before a time, a conversation deleted with its messages, a rejoin);
 * - `left`: the user left the group (nothing of it is readable for them);
 * - `expired`: at or before the user's retention cutoff, fixed when the export started;
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
    }
  | { type: 'message'; chatType: ChatType; convId: string; message: Message; hidden?: HiddenReason }
  | { type: 'end'; conversations: number; copies: number };

/** Copies one Query reads of a partition (at most 1 MB, whatever the limit). */
const COPY_PAGE = 5000;
/** Conversations one step reads ahead (their keys in one Query, their sides in one BatchGetItem). */
const CONVERSATION_BATCH = 25;

export interface ExportStep {
  /** The lines, each with its newline: one part. */
  text: string;
  cursor: ExportCursor;
  counts: ExportCounts;
}

/**
 * The lines that follow `job.cursor`, at least `minBytes` of them unless the export ends first, and
 * the cursor after them. Reads only: a part is written and the job moved on by the caller.
 */
export async function readExportStep(deps: Deps, job: ExportJob, minBytes: number): Promise<ExportStep> {
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
  const ahead = readAhead(deps, job);
  while (counts.bytes < minBytes && !cursor.complete) {
    if (!cursor.current) {
      const next = await ahead.next(cursor.conversationsAfter);
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
    const side = await ahead.side(cursor.current.sk);
    const finished = await exportConversation(deps, job, side, cursor, write, () => counts.bytes >= minBytes);
    if (finished) {
      cursor.conversationsAfter = cursor.current?.sk;
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

/**
 * Writes the conversation in progress from its position on, until `full()` or its end; moves
 * `cursor.current` along. True when the conversation is finished.
 */
async function exportConversation(
  deps: Deps,
  job: ExportJob,
  side: ConversationState | undefined,
  cursor: ExportCursor,
  write: (line: ExportLine) => void,
  full: () => boolean,
): Promise<boolean> {
  const current = cursor.current;
  if (!current || !side) return true;
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
    });
    current.opened = true;
  };
  if (job.includeHidden || view.conversation !== null) open();
  if (!job.includeHidden && !view.readable) return true;
  for (;;) {
    const page = await readViewCopies(deps.db, ref, side.shared, {
      afterId: current.afterMsgId,
      ownLowestId: job.includeHidden ? undefined : view.lowestVisibleId,
      sharedLowestId: job.includeHidden ? view.lowestSharedId : view.lowestVisibleId,
    });
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
      });
      if (full()) return page.lastReadId === undefined && copy === page.copies.at(-1);
    }
    if (page.lastReadId === undefined) return true;
    current.afterMsgId = page.lastReadId;
    if (full()) return false;
  }
}

/**
 * The user's conversations in key order, a batch at a time, with their sides (read, as a list page
 * reads them, when the batch is: a step works on sides at most one batch old).
 */
function readAhead(deps: Deps, job: ExportJob) {
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
  return {
    /** The conversation after `afterSk`, if there is one. */
    async next(afterSk: string | undefined): Promise<{ sk: string } | undefined> {
      const at = batch.findIndex((entry) => afterSk === undefined || entry.sk > afterSk);
      if (at >= 0) return batch[at];
      if (batch.length > 0 && !more) return undefined;
      await load(afterSk);
      return batch[0];
    },
    /** The side of conversation `sk` (read with its batch, or now if it is not in it: a resumed step). */
    async side(sk: string): Promise<ConversationState | undefined> {
      const found = batch.find((entry) => entry.sk === sk);
      if (found) return found.side;
      const { states } = await readSides(deps, [refOfSk(job.userId, sk)], job.retentionCutoff);
      return states[0];
    },
  };
}

interface ViewRules {
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
  const cutoff = job.retentionCutoff;
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

/**
 * A page of the user's view, oldest first: their own copies and tombstones, and for a group in shared
 * mode the shared history too (a tombstone wins over the shared copy of its id). What either Query
 * stopped short of is cut off, so the page is exact up to `lastReadId`.
 */
async function readViewCopies(
  db: Db,
  ref: ConversationRef,
  shared: boolean,
  range: { afterId?: string; ownLowestId?: string; sharedLowestId?: string },
): Promise<CopyScanPage> {
  const lowest = (id: string | undefined) => (id ? { lowestId: id } : {});
  const ownRead = scanCopies(db, ref, {
    afterId: range.afterId,
    ...lowest(range.ownLowestId),
    limit: COPY_PAGE,
  });
  if (!(ref.chatType === 'group' && shared)) return ownRead;
  const [own, common] = await Promise.all([
    ownRead,
    scanCopies(db, sharedHistoryOf(ref.convId), {
      afterId: range.afterId,
      ...lowest(range.sharedLowestId),
      limit: COPY_PAGE,
    }),
  ]);
  const stops = [own.lastReadId, common.lastReadId].filter((id): id is string => id !== undefined);
  const stop = stops.length ? stops.reduce(minId) : undefined;
  const byId = new Map<string, StoredCopy>();
  for (const copy of common.copies) byId.set(copy.msgId, copy);
  for (const copy of own.copies) byId.set(copy.msgId, copy);
  const copies = [...byId.values()]
    .filter((copy) => stop === undefined || copy.msgId <= stop)
    .sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
  return { copies, ...(stop !== undefined ? { lastReadId: stop } : {}) };
}

function refOfSk(owner: string, sk: string): ConversationRef {
  const [, chatType, ...rest] = sk.split('#');
  return { owner, chatType: chatType as ChatType, convId: rest.join('#') };
}
