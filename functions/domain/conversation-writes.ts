import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ForbiddenError, ThrottledError } from '../core/errors.js';
import type { ConversationRef } from '../core/model.js';
import {
  type ConversationState,
  conversationKey,
  isMemberView,
  stateOf,
  type WriteContext,
} from '../store/conversation.js';
import { batchGet, type Key, keyString, sendConditional } from '../store/db.js';
import { type GroupMeta, metaKey, metaOf } from '../store/group-store.js';
import { keys } from '../store/keys.js';
import { advance } from '../store/member-view.js';
import { type SyncState, syncStateOf } from '../store/sync-store.js';
import { type TransactItem, transactWrite } from '../store/transactions.js';
import type { Deps } from './deps.js';

/**
 * The one way conversation items are written: read what the write depends on (strongly consistent, one
 * BatchGetItem), decide, commit one transaction whose conditions re-check what was decided on, and when
 * a condition no longer holds (a concurrent write, a since call moving the epoch) read again and decide
 * again, a bounded number of times with jittered backoff.
 */

export interface Snapshot {
  /** The owner's side as it is now (a large group's member: derived from META, member-view.ts). */
  state(ref: ConversationRef): ConversationState;
  /** The META of a group conversation read (every group ref's is read along), if the group exists. */
  meta(groupId: string): GroupMeta | undefined;
  sync(owner: string): SyncState;
  /** Any other item read along (copies, an idempotency record), or undefined if absent. */
  item(key: Key): Record<string, unknown> | undefined;
  /** What the conversation aggregate needs to write for `owner`. */
  context(owner: string): WriteContext;
}

export function readForWrite(
  deps: Deps,
  refs: readonly ConversationRef[],
  extra: readonly Key[] = [],
): Promise<Snapshot> {
  return readSnapshot(deps, refs, extra, { syncHeads: true });
}

/**
 * The conversation items alone, without their owners' sync heads: for writes that change nothing an
 * owner sees, so stamp no change (the sweep's quick settle only re-files a conversation in the purge
 * index). A write that would need a head fails loudly rather than stamp from one never read.
 */
export function readConversationsOnly(deps: Deps, refs: readonly ConversationRef[]): Promise<Snapshot> {
  return readSnapshot(deps, refs, [], { syncHeads: false });
}

async function readSnapshot(
  deps: Deps,
  refs: readonly ConversationRef[],
  extra: readonly Key[],
  options: { syncHeads: boolean },
): Promise<Snapshot> {
  const owners = options.syncHeads ? [...new Set(refs.map((ref) => ref.owner))] : [];
  // A group member's side may be derived from META (shared mode): it is read along, once per group.
  const groups = [...new Set(refs.filter((ref) => ref.chatType === 'group').map((ref) => ref.convId))];
  const items = await batchGet(deps.db, [
    ...refs.map(conversationKey),
    ...owners.map((owner) => keys.syncHead(owner)),
    ...groups.map(metaKey),
    ...extra,
  ]);
  const meta = (groupId: string) => {
    const item = items.get(keyString(metaKey(groupId)));
    return item && metaOf(groupId, item);
  };
  const now = deps.clock.now();
  const sync = (owner: string) => {
    if (!options.syncHeads) throw new Error(`the sync head of ${owner} was not read: read for write`);
    return syncStateOf(owner, items.get(keyString(keys.syncHead(owner))));
  };
  return {
    state: (ref) =>
      advance(
        stateOf(ref, items.get(keyString(conversationKey(ref)))),
        ref.chatType === 'group' ? meta(ref.convId) : undefined,
      ),
    meta,
    sync,
    item: (key) => items.get(keyString(key)),
    context: (owner) => ({
      tableName: deps.db.tableName,
      get sync() {
        return sync(owner);
      },
      now,
      purgeShards: deps.config.purgeShards,
    }),
  };
}

/** Returned by an attempt whose transaction's conditions failed: read and decide again. */
export const TRY_AGAIN = Symbol('try again');

const MAX_ATTEMPTS = 10;

export async function withRetries<T>(
  deps: Deps,
  what: string,
  attempt: (attemptNumber: number) => Promise<T | typeof TRY_AGAIN>,
): Promise<T> {
  for (let n = 0; n < MAX_ATTEMPTS; n++) {
    const result = await attempt(n);
    if (result !== TRY_AGAIN) return result as T;
    await deps.timer.sleep(deps.random() * Math.min(200, 5 * 2 ** n));
  }
  throw new ThrottledError(`${what}: the conversation kept changing; retry shortly`);
}

/**
 * Commits `actions`; TRY_AGAIN when a condition failed. A lone update (bookkeeping that needs no sync
 * stamp) goes as a plain conditional UpdateItem: a transaction would cost twice the write units.
 */
export async function commit(deps: Deps, actions: readonly TransactItem[]): Promise<true | typeof TRY_AGAIN> {
  const [only] = actions;
  if (actions.length === 1 && only?.Update) {
    return (await sendConditional(deps.db, new UpdateCommand(only.Update))) ? true : TRY_AGAIN;
  }
  const outcome = await transactWrite(deps.db, actions);
  return outcome.committed ? true : TRY_AGAIN;
}

/** The caller's side, which they may change: in a group only while a member (the same rule as reading). */
export function changeableState(read: Snapshot, ref: ConversationRef): ConversationState {
  const state = read.state(ref);
  if (ref.chatType === 'group' && !isMemberView(state)) {
    throw new ForbiddenError('You are not a member of this group');
  }
  return state;
}

/** The keys that are there: optional items to read along (an idempotency record, a rate limit). */
export function present(...keys: (Key | undefined)[]): Key[] {
  return keys.filter((key): key is Key => key !== undefined);
}
