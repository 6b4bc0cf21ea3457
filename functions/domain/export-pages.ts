import { minId } from '../core/ids.js';
import type { ConversationRef } from '../core/model.js';
import { type CopyScanPage, type StoredCopy, scanCopies } from '../store/copy-scan.js';
import type { Db } from '../store/db.js';
import { keys } from '../store/keys.js';
import { sharedHistoryOf } from '../store/message-store.js';

/**
 * The pages of copies an export reads (export-content.ts), with two savings that change nothing it
 * writes: pages the export will want next are read while it writes the current one (a few reads ahead,
 * READ_AHEAD), and a step that stopped inside a page resumes from that page as read rather than reading
 * it again. Reads only: a worker that crashes or loses the job loses nothing but these reads.
 */

/** Copies one Query reads of a partition (at most 1 MB, whatever the limit). */
const COPY_PAGE = 5000;
/** Pages read ahead at most (each at most 1 MB of items, twice for a shared-mode group). */
export const READ_AHEAD = 3;

/** Which copies of a conversation's view a read covers, oldest first. */
export interface ViewRange {
  /** Copies after this id (exclusive). */
  afterId?: string;
  /** The lowest id of the user's own partition to read. */
  ownLowestId?: string;
  /** The lowest id of the shared history to read (a group in shared mode). */
  sharedLowestId?: string;
}

export interface ViewPages {
  /** The page of the view after `range.afterId`: exact up to its `lastReadId` (none: the view ends). */
  read(ref: ConversationRef, shared: boolean, range: ViewRange): Promise<CopyScanPage>;
  /**
   * Starts reading that page now; `read` of the same page takes it. Past READ_AHEAD pages read ahead and
   * not taken, the oldest is dropped.
   */
  readAhead(ref: ConversationRef, shared: boolean, range: ViewRange): void;
}

export function viewPages(db: Db): ViewPages {
  /** The last page read: a step that stopped inside it takes the rest from here. */
  let held: { view: string; page: CopyScanPage } | undefined;
  const ahead = new Map<string, Promise<CopyScanPage>>();
  const viewOf = (ref: ConversationRef, shared: boolean, range: ViewRange) =>
    JSON.stringify([keys.historyPk(ref), shared, range.ownLowestId ?? null, range.sharedLowestId ?? null]);
  const keyOf = (view: string, range: ViewRange) => `${view}@${range.afterId ?? ''}`;
  return {
    readAhead(ref, shared, range) {
      const key = keyOf(viewOf(ref, shared, range), range);
      if (ahead.has(key)) return;
      const page = readViewCopies(db, ref, shared, range);
      // Unused, its failure is nobody's; used, `read` awaits this same promise and gets the error.
      page.catch(() => undefined);
      ahead.set(key, page);
      for (const oldest of ahead.keys()) {
        if (ahead.size <= READ_AHEAD) break;
        ahead.delete(oldest);
      }
    },
    async read(ref, shared, range) {
      const view = viewOf(ref, shared, range);
      const rest = held?.view === view ? restOf(held.page, range.afterId) : undefined;
      if (rest) return rest;
      const key = keyOf(view, range);
      const pending = ahead.get(key) ?? readViewCopies(db, ref, shared, range);
      ahead.delete(key);
      const page = await pending;
      held = { view, page };
      return page;
    },
  };
}

/**
 * What `page` holds after `afterId`, when it holds all of it up to its own end: `afterId` is one of its
 * copies and not its last (or the page reached the view's end).
 */
function restOf(page: CopyScanPage, afterId: string | undefined): CopyScanPage | undefined {
  if (afterId === undefined) return undefined;
  const at = page.copies.findIndex((copy) => copy.msgId === afterId);
  if (at < 0 || (at === page.copies.length - 1 && page.lastReadId !== undefined)) return undefined;
  return {
    copies: page.copies.slice(at + 1),
    ...(page.lastReadId !== undefined ? { lastReadId: page.lastReadId } : {}),
  };
}

/**
 * A page of the user's view, oldest first: their own copies and tombstones, and for a group in shared
 * mode the shared history too (a tombstone wins over the shared copy of its id, whose content it shows:
 * a tombstone keeps none). What either Query
 * stopped short of is cut off, so the page is exact up to `lastReadId`.
 */
async function readViewCopies(
  db: Db,
  ref: ConversationRef,
  shared: boolean,
  range: ViewRange,
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
  // A tombstone keeps no body: it is exported with the content of the shared copy it hides, if stored.
  for (const copy of own.copies) {
    const hides = copy.tombstone ? byId.get(copy.msgId) : undefined;
    byId.set(copy.msgId, hides ? { ...copy, message: hides.message } : copy);
  }
  const copies = [...byId.values()]
    .filter((copy) => stop === undefined || copy.msgId <= stop)
    .sort((a, b) => (a.msgId < b.msgId ? -1 : a.msgId > b.msgId ? 1 : 0));
  return { copies, ...(stop !== undefined ? { lastReadId: stop } : {}) };
}
