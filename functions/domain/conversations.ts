import { DAY_MS } from '../core/clock.js';
import { ResyncRequiredError } from '../core/errors.js';
import { lowestIdAt } from '../core/ids.js';
import type { ChatType, Conversation, ConversationRef } from '../core/model.js';
import { type ConversationState, conversationKey, toConversation } from '../store/conversation.js';
import { keyString } from '../store/db.js';
import { largeGroupsOf, readLargeGroups, readLargeGroupsItem } from '../store/large-groups.js';
import {
  type CutoffOf,
  type ListedPage,
  type ListRange,
  queryListed,
  queryMarked,
  queryPinned,
} from '../store/list-index.js';
import { listReachOf } from '../store/list-reach.js';
import { anyChangeSince, bumpEpoch, type ChangeMarker, queryChanges } from '../store/sync-store.js';
import { conversationCutoff, reachCutoff } from './conversation-retention.js';
import type { Deps } from './deps.js';
import {
  type GroupPositions,
  movedSince,
  positionsOf,
  readLargeGroupSides,
  readSides,
} from './large-group-sides.js';
import { LIST_TOKEN_LOOKBACK_MS, listTokenEpoch } from './list-sync-token.js';
import { MAX_CLOCK_SKEW_MS, NO_CUTOFF } from './retention.js';
import {
  type EditedMessages,
  editedNow,
  idsByConversation,
  type RecalledMessages,
  recalledNow,
} from './revised-in-sync.js';
import {
  type CursorKind,
  decodeCursor,
  decodeSince,
  encodeCursor,
  encodeSinceCursor,
  encodeSyncToken,
  type SyncToken,
} from './sync-tokens.js';

/** The four forms of GET /v1/conversations. */
export type ListRequest =
  /** No paging parameters: the SDK's default of the 10 latest conversations of the last 7 days. */
  | { form: 'recent' }
  | { form: 'cursor'; limit: number; cursor?: string }
  | { form: 'page'; pageSize: number; pageNum: number }
  /** Pinned conversations, most recently pinned first. */
  | { form: 'pinned'; limit: number; cursor?: string }
  /** Conversations with a mark (0..19), in list order. */
  | { form: 'mark'; mark: number; limit: number; cursor?: string }
  /** Incremental sync: what changed since a sync token. */
  | { form: 'since'; since: string; limit: number };

export interface ConversationPage {
  conversations: Conversation[];
  cursor: string | null;
  /**
   * On a first page: pass as `?since=` later to get everything changed after this page was read (and what
   * changed up to two hours before: the list index may not show it yet; list-sync-token.ts).
   */
  syncToken?: string;
  /** In the `since` form: conversations that left the list (deleted, emptied or expired). */
  removed?: RemovedConversation[];
  /** In the `since` form: messages this user deleted by id (on any device), to drop from caches. */
  messagesDeleted?: { convId: string; chatType: ChatType; msgIds: string[] }[];
  /** In the `since` form: messages recalled (by their sender or the group owner), to turn into tombstones. */
  messagesRecalled?: RecalledMessages[];
  /** In the `since` form: messages edited, as the user sees them now. */
  messagesEdited?: EditedMessages[];
  /**
   * In the `since` form: messages at or before this time (ms) have expired for the user (null: none).
   * It never goes back (retention floors), so a device applying the latest one it got to its cache and
   * list ends as a fresh fetch (docs/consistency.md, section 7).
   */
  retentionCutoff?: number | null;
  /**
   * In the `since` form: the server time (ms) the cutoffs were computed for. A conversation with its own
   * policy (`retentionDays`) expires what is at or before serverTime - retentionDays days, instead of
   * `retentionCutoff`; and never less than its `retentionFloor` (docs/api.md, "Retention on devices").
   */
  serverTime?: number;
}

/**
 * A conversation that left the list, with its watermark: a device drops its cached messages at or
 * before `clearedThrough` (deleted with its messages), and keeps them otherwise (deleted without).
 */
export interface RemovedConversation {
  convId: string;
  chatType: ChatType;
  clearedThrough: string | null;
  /** Its own policy, if any (Conversation.retentionDays): cached messages keep expiring by it. */
  retentionDays?: number;
  retentionFloor?: number;
}

export const RECENT_COUNT = 10;
export const RECENT_DAYS = 7;
/** How long a sync token is honoured; change markers are kept longer (sync-store.ts). */
export const SYNC_TOKEN_DAYS = 7;

export async function listConversations(
  deps: Deps,
  owner: string,
  request: ListRequest,
): Promise<ConversationPage> {
  const now = deps.clock.now();
  if (request.form === 'since') return changesSince(deps, owner, request);
  // A first page's token goes back far enough for changes the index does not show yet (list-sync-token.ts).
  const token = (page: MergedPage) =>
    encodeSyncToken({ epoch: listTokenEpoch(page.syncHead, now), at: now, groups: page.groups });

  if (request.form === 'recent') {
    // "Of the last 7 days" goes by the latest message the user can see, like expiry.
    const recent = now - RECENT_DAYS * DAY_MS;
    const page = await readWithCutoff(deps, owner, (cutoff, bound) => ({
      lowestListSk: lowestIdAt(Math.max(bound, recent) + 1),
      limit: RECENT_COUNT,
      cutoffOf: cutoffsOf(cutoff, now, recent),
    }));
    return {
      conversations: page.items.map((item) => item.conversation),
      cursor: null,
      syncToken: token(page),
    };
  }
  if (request.form === 'pinned') {
    const belowPinSk = request.cursor === undefined ? undefined : decodeCursor(request.cursor, 'pinned');
    const cutoff = await deps.retention.cutoffFor(owner);
    // A pinned large group's side is derived from META before the page filters it (member-view.ts).
    const derive = (states: ConversationState[]) => derivedSides(deps, states, cutoff);
    const cutoffOf = cutoffsOf(cutoff, now);
    const page = await queryPinned(deps.db, owner, {
      belowPinSk,
      limit: request.limit + 1,
      cutoffOf,
      derive,
    });
    return pageOf(page, request.limit, 'pinned');
  }
  if (request.form === 'mark') {
    const belowListSk = request.cursor === undefined ? undefined : decodeCursor(request.cursor, 'list');
    const read = async (range: ListRange): Promise<ListedPage> => {
      const [page, item] = await Promise.all([
        queryMarked(deps.db, owner, request.mark, range),
        readLargeGroupsItem(deps.db, owner),
      ]);
      return { ...page, largeGroups: largeGroupsOf(item), listReach: listReachOf(item) };
    };
    const merged = await readWithCutoff(
      deps,
      owner,
      (cutoff, bound) => ({
        lowestListSk: lowestIdAt(bound + 1),
        belowListSk,
        limit: request.limit + 1,
        cutoffOf: cutoffsOf(cutoff, now),
      }),
      { read, keep: (state) => state.marks.includes(request.mark) },
    );
    return pageOf(merged, request.limit, 'list');
  }
  if (request.form === 'cursor') {
    const belowListSk = request.cursor === undefined ? undefined : decodeCursor(request.cursor, 'list');
    const page = await readWithCutoff(deps, owner, (cutoff, bound) => ({
      lowestListSk: lowestIdAt(bound + 1),
      belowListSk,
      limit: request.limit + 1,
      cutoffOf: cutoffsOf(cutoff, now),
    }));
    return {
      ...pageOf(page, request.limit, 'list'),
      ...(request.cursor === undefined ? { syncToken: token(page) } : {}),
    };
  }
  // Page numbers: read through to the requested page (cost grows with pageNum; cursors do not).
  const skip = (request.pageNum - 1) * request.pageSize;
  const page = await readWithCutoff(deps, owner, (cutoff, bound) => ({
    lowestListSk: lowestIdAt(bound + 1),
    limit: skip + request.pageSize + 1,
    cutoffOf: cutoffsOf(cutoff, now),
  }));
  return {
    ...pageOf({ ...page, items: page.items.slice(skip) }, request.pageSize, 'list'),
    ...(request.pageNum === 1 ? { syncToken: token(page) } : {}),
  };
}

/** A list page with the user's large groups merged in, and their positions for a token. */
interface MergedPage extends ListedPage {
  groups: GroupPositions;
}

/**
 * Each conversation's cutoff (conversation-retention.ts) from the owner's (`cutoff`) at `now`, and not
 * below `atLeast` (the recent form's 7 days).
 */
function cutoffsOf(cutoff: number, now: number, atLeast = NO_CUTOFF): CutoffOf {
  return (state) => Math.max(atLeast, conversationCutoff(state, cutoff, now));
}

/** A page's range from the owner's cutoff and the bound its Query starts at (at or below that cutoff). */
type RangeFor = (cutoff: number, bound: number) => ListRange;

/**
 * Reads a list page bounded by the owner's retention cutoff, with their large groups merged in: the
 * page's Query, with the cutoff this process knows (its policy cache), or, when it does not, together
 * with the policy lookup and without the bound (rarely, that read shows a conversation that expired by
 * the policy: then it is read again with the cutoff). A first page's Query reads the large-groups item
 * too (it is at the top of the list index); a later page reads it alongside. Then one BatchGetItem of
 * their METAs and the user's items (docs/large-groups.md): at most two round trips. A conversation with
 * its own policy longer than the user's may be visible below the cutoff: the large-groups item says how
 * far back (list-reach.ts), and a page that ended above that is read again from there (only for users
 * who gave a conversation a longer policy).
 */
async function readWithCutoff(
  deps: Deps,
  owner: string,
  rangeFor: RangeFor,
  options: {
    read?: (range: ListRange) => Promise<ListedPage>;
    keep?: (state: ConversationState) => boolean;
  } = {},
): Promise<MergedPage> {
  const now = deps.clock.now();
  const read =
    options.read ??
    (async (range: ListRange): Promise<ListedPage> => {
      if (range.belowListSk === undefined) return queryListed(deps.db, owner, range);
      const [page, item] = await Promise.all([
        queryListed(deps.db, owner, range),
        readLargeGroupsItem(deps.db, owner),
      ]);
      return { ...page, largeGroups: largeGroupsOf(item), listReach: listReachOf(item) };
    });
  const merge = (page: ListedPage, range: ListRange, cutoff: number) =>
    mergeLargeGroups(deps, owner, page, range, { retentionCutoff: cutoff, keep: options.keep });
  const known = deps.retention.knownCutoff(owner);
  if (known !== undefined) {
    const range = rangeFor(known, known);
    const page = await read(range);
    const reaching = rangeFor(known, reachCutoff(known, page.listReach, now));
    // Read again only if the page ended above where a longer own policy may still show something.
    if (reaching.lowestListSk >= range.lowestListSk || page.items.length >= range.limit) {
      return merge(page, range, known);
    }
    return merge(await read(reaching), reaching, known);
  }
  const [cutoff, page] = await Promise.all([
    deps.retention.cutoffFor(owner),
    read(rangeFor(NO_CUTOFF, NO_CUTOFF)),
  ]);
  const range = rangeFor(cutoff, reachCutoff(cutoff, page.listReach, now));
  const expired = page.items.some(
    (item) => item.conversation.lastMessage.timestamp <= range.cutoffOf(item.state),
  );
  return merge(expired ? await read(range) : page, range, cutoff);
}

/**
 * Merges the owner's large groups (listed, within the range and the cutoff, and kept by `keep`) into a
 * page read from an index, by list key: the page holds its range's `limit` first items of the index,
 * so the first `limit` of the merge are the list's.
 */
async function mergeLargeGroups(
  deps: Deps,
  owner: string,
  page: ListedPage,
  range: ListRange,
  options: {
    /** The owner's retention cutoff (a range's may be later: the recent form's 7 days). */
    retentionCutoff: number;
    keep?: (state: ConversationState) => boolean;
  },
): Promise<MergedPage> {
  const keep = options.keep ?? (() => true);
  const groupIds = page.largeGroups ?? [];
  if (groupIds.length === 0) return { ...page, groups: new Map() };
  const { states, metas } = await readLargeGroupSides(deps, owner, groupIds, options.retentionCutoff);
  const merged = page.items.filter((item) => !(item.ref.chatType === 'group' && metas.has(item.ref.convId)));
  for (const state of states) {
    const conversation = toConversation(state);
    const sortKey = state.listSk;
    if (!state.shared || !conversation || sortKey === undefined || !keep(state)) continue;
    if (conversation.lastMessage.timestamp <= range.cutoffOf(state) || sortKey < range.lowestListSk) continue;
    if (range.belowListSk !== undefined && sortKey >= range.belowListSk) continue;
    merged.push({ ref: state.ref, state, sortKey, conversation });
  }
  merged.sort((a, b) => (a.sortKey < b.sortKey ? 1 : a.sortKey > b.sortKey ? -1 : 0));
  return { ...page, items: merged.slice(0, range.limit), groups: positionsOf(metas) };
}

/** Sides read from an index, large groups' derived from META (one BatchGetItem, only if there are any). */
async function derivedSides(
  deps: Deps,
  states: ConversationState[],
  cutoff: number,
): Promise<ConversationState[]> {
  const shared = states.filter((state) => state.shared);
  if (shared.length === 0) return states;
  const now = await readSides(
    deps,
    shared.map((state) => state.ref),
    cutoff,
  );
  const byKey = new Map(now.states.map((state) => [keyString(conversationKey(state.ref)), state]));
  return states.map((state) => byKey.get(keyString(conversationKey(state.ref))) ?? state);
}

function pageOf(
  page: ListedPage,
  limit: number,
  kind: CursorKind,
): Pick<ConversationPage, 'conversations' | 'cursor'> {
  const items = page.items.slice(0, limit);
  const last = items.at(-1);
  const more = page.items.length > limit && last !== undefined;
  return {
    conversations: items.map((item) => item.conversation),
    cursor: more ? encodeCursor(last.sortKey, kind) : null,
  };
}

/**
 * `?since=`: everything that changed after the token. A first call looks for a change marker of the
 * token's epoch or later, and for a large group of the user's with a message after the token's
 * position of it; with neither, nothing changed, and it answers with the token renewed, writing nothing
 * (a later write carries the token's epoch or a later one). Otherwise it starts a new sync epoch (so
 * every later write lands in it or after) and reads the markers of the epochs from the token's up to
 * the new one, which no write can join any more (docs/consistency.md, section 3). Continuation pages
 * read on in the same closed range. Conversations are reported as they are now; those not listed (or
 * expired) come under `removed`. Large groups that moved are reported on the first page.
 */
async function changesSince(
  deps: Deps,
  owner: string,
  request: Extract<ListRequest, { form: 'since' }>,
): Promise<ConversationPage> {
  const now = deps.clock.now();
  const since = decodeSince(request.since);
  if (now - since.at > SYNC_TOKEN_DAYS * DAY_MS) {
    throw new ResyncRequiredError('since: this sync token is too old; fetch the conversation list again');
  }
  // The policy lookup goes out with the first read (Promise.all: a failure of either is handled).
  const cutoffRead = deps.retention.currentCutoff(owner);
  let movedGroups: ConversationState[] = [];
  let groups = since.groups;
  if (since.kind === 'token') {
    const [cutoff, changed, large] = await Promise.all([
      cutoffRead,
      anyChangeSince(deps.db, owner, since.from),
      Promise.all([readLargeGroups(deps.db, owner), cutoffRead]).then(([ids, known]) =>
        readLargeGroupSides(deps, owner, ids, known),
      ),
    ]);
    // A large group is reported when it got a message since the token, or when retention lowered its
    // unread (nothing stamps that: it is reported at every since until read, more than changed, never less).
    movedGroups = large.states.filter((state) => {
      const meta = large.metas.get(state.ref.convId);
      return (
        meta !== undefined && (movedSince(since.groups, meta) || large.retentionLowered.has(meta.groupId))
      );
    });
    groups = positionsOf(large.metas);
    // No marker since the token: the large groups alone need no new epoch (nothing of the user's changed).
    if (!changed) return unchanged({ epoch: since.from, at: now, groups }, cutoff, movedGroups, now);
  }
  const [cutoff, below] = await Promise.all([
    cutoffRead,
    since.kind === 'cursor' ? since.below : bumpEpoch(deps.db, owner, now),
  ]);
  const { markers, more } = await queryChanges(deps.db, owner, {
    from: since.from,
    below,
    afterSk: since.kind === 'cursor' ? since.afterSk : undefined,
    limit: request.limit,
  });
  if (markers.some((marker) => resyncRequired(marker, since.at))) {
    throw new ResyncRequiredError(
      'since: conversations of yours were removed by an erasure; fetch the conversation list again',
    );
  }
  const refs = new Map<string, ConversationRef>();
  const deleted = new Map<string, { convId: string; chatType: ChatType; msgIds: Set<string> }>();
  for (const marker of markers) {
    if (marker.resyncAt !== undefined) continue;
    const ref: ConversationRef = { owner, chatType: marker.chatType, convId: marker.convId };
    const key = keyString(conversationKey(ref));
    refs.set(key, ref);
    if (marker.deleted.length === 0) continue;
    const entry = deleted.get(key) ?? {
      convId: ref.convId,
      chatType: ref.chatType,
      msgIds: new Set<string>(),
    };
    for (const msgId of marker.deleted) entry.msgIds.add(msgId);
    deleted.set(key, entry);
  }
  // The large groups that moved are read again with the markers' conversations, after the new epoch
  // began: a change of one made since the first read (its marker is in an epoch this call reads) must
  // be reported as it is now, not as that first read saw it (simulation seed 196).
  for (const state of movedGroups) refs.set(keyString(conversationKey(state.ref)), state.ref);
  const { states } = await readSides(deps, [...refs.values()], cutoff);
  const { conversations, removed } = reportOf(states, cutoff, now);
  const [messagesRecalled, messagesEdited] = await Promise.all([
    recalledNow(deps, idsByConversation(owner, markers, 'recalled'), states, cutoff),
    editedNow(deps, idsByConversation(owner, markers, 'edited'), states, cutoff),
  ]);
  const last = markers.at(-1);
  return {
    conversations,
    removed,
    messagesDeleted: [...deleted.values()].map((d) => ({ ...d, msgIds: [...d.msgIds].sort() })),
    messagesRecalled,
    messagesEdited,
    cursor:
      more && last
        ? encodeSinceCursor({ from: since.from, below, afterSk: last.sk, at: since.at, groups })
        : null,
    syncToken: encodeSyncToken({ epoch: below, at: now, groups }),
    retentionCutoff: cutoff === NO_CUTOFF ? null : cutoff,
    serverTime: now,
  };
}

/**
 * A resync marker (an erasure removed a conversation of this user's: sync-store.ts) binds a token issued
 * before it, and one a list page issued up to LIST_TOKEN_LOOKBACK_MS after it (such a page may not show
 * the removal yet: list-sync-token.ts), by clocks up to MAX_CLOCK_SKEW_MS apart. A token issued later
 * comes from a fetch that saw the list without it.
 */
function resyncRequired(marker: ChangeMarker, tokenAt: number): boolean {
  return (
    marker.resyncAt !== undefined && tokenAt < marker.resyncAt + LIST_TOKEN_LOOKBACK_MS + MAX_CLOCK_SKEW_MS
  );
}

/**
 * The answer of a `?since=` that found no change: the same epoch, issued now. Renewing `at` is safe: no
 * marker of that epoch or later existed, so every one it needs is written from now on and outlives it.
 */
function unchanged(
  token: SyncToken,
  cutoff: number,
  largeGroups: ConversationState[],
  now: number,
): ConversationPage {
  const { conversations, removed } = reportOf(largeGroups, cutoff, now);
  return {
    conversations,
    removed,
    messagesDeleted: [],
    messagesRecalled: [],
    messagesEdited: [],
    cursor: null,
    syncToken: encodeSyncToken(token),
    retentionCutoff: cutoff === NO_CUTOFF ? null : cutoff,
    serverTime: now,
  };
}

/**
 * Sides as a since answer reports them: listed and not expired (by their own policy, or the owner's
 * `cutoff`, at `now`), or removed (with their watermark, and their own policy: a device keeps expiring
 * its cached messages by it).
 */
function reportOf(
  states: readonly ConversationState[],
  cutoff: number,
  now: number,
): Pick<ConversationPage, 'conversations'> & { removed: RemovedConversation[] } {
  const conversations: Conversation[] = [];
  const removed: RemovedConversation[] = [];
  for (const state of states) {
    const conversation = toConversation(state);
    if (conversation && conversation.lastMessage.timestamp > conversationCutoff(state, cutoff, now))
      conversations.push(conversation);
    else
      removed.push({
        convId: state.ref.convId,
        chatType: state.ref.chatType,
        clearedThrough: state.clearedThrough ?? null,
        ...(state.retentionDays === undefined ? {} : { retentionDays: state.retentionDays }),
        ...(state.retentionFloor === undefined ? {} : { retentionFloor: state.retentionFloor }),
      });
  }
  return { conversations, removed };
}
