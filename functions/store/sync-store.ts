import { GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ttlAfter } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import { bytesToId, idToBytes } from '../core/ids.js';
import type { ChatType } from '../core/model.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import { type TransactItem, transactWrite } from './transactions.js';

/**
 * A user's sync head and change markers (docs/consistency.md, section 3). Every write to a conversation
 * item checks, in its transaction, that the head's epoch is still the one it read, and puts a marker for
 * that epoch; `?since=` bumps the epoch and then reads the markers below it. A write never lands in an
 * epoch a since call has already read past.
 */

/** How long change markers are kept (TTL): longer than a sync token is honoured. */
export const CHANGE_MARKER_DAYS = 8;

export interface SyncState {
  owner: string;
  /** False until the user's first sync or pin: the epoch is 0 then. */
  exists: boolean;
  epoch: number;
  /** Conversations the user has pinned (the cap is checked against it, in the same transaction). */
  pinCount: number;
}

/** Most conversations one user may pin (Easemob and Tencent IM allow 50). */
export const MAX_PINNED = 50;

export function syncStateOf(owner: string, item: Record<string, unknown> | undefined): SyncState {
  return {
    owner,
    exists: item !== undefined,
    epoch: Number(item?.epoch ?? 0),
    pinCount: Number(item?.pinCount ?? 0),
  };
}

/** The transaction action that fails the write if a since call moved the epoch after `sync` was read. */
export function epochCheck(tableName: string, sync: SyncState): TransactItem {
  return {
    ConditionCheck: {
      TableName: tableName,
      Key: keys.syncHead(sync.owner),
      ConditionExpression: sync.exists ? '#epoch = :epoch' : 'attribute_not_exists(pk)',
      ...(sync.exists
        ? {
            ExpressionAttributeNames: { '#epoch': 'epoch' },
            ExpressionAttributeValues: { ':epoch': sync.epoch },
          }
        : {}),
    },
  };
}

/**
 * A write that also counts pins: checks the epoch like epochCheck and moves `pinCount` by `delta`, never
 * past MAX_PINNED (the same item cannot be in one transaction twice, so this replaces the check).
 */
export function pinCountUpdate(tableName: string, sync: SyncState, delta: 1 | -1): TransactItem {
  const condition = sync.exists ? '#epoch = :epoch' : 'attribute_not_exists(pk)';
  return {
    Update: {
      TableName: tableName,
      Key: keys.syncHead(sync.owner),
      UpdateExpression: 'SET listSk = :listSk, #epoch = if_not_exists(#epoch, :zero) ADD pinCount :delta',
      ConditionExpression:
        delta > 0 ? `${condition} AND (attribute_not_exists(pinCount) OR pinCount < :max)` : condition,
      ExpressionAttributeNames: { '#epoch': 'epoch' },
      ExpressionAttributeValues: {
        ':listSk': keys.syncHeadListSk,
        ':zero': 0,
        ':delta': delta,
        ...(sync.exists ? { ':epoch': sync.epoch } : {}),
        ...(delta > 0 ? { ':max': MAX_PINNED } : {}),
      },
    },
  };
}

/**
 * The marker saying "this conversation changed in this epoch" (one key per pair: writing it twice is
 * harmless).
 */
export function changeMarker(
  tableName: string,
  sync: SyncState,
  conversation: { chatType: ChatType; convId: string },
  now: number,
): TransactItem {
  return {
    Update: {
      TableName: tableName,
      Key: {
        pk: keys.changePk(sync.owner),
        sk: keys.changeSk(sync.epoch, conversation.chatType, conversation.convId),
      },
      UpdateExpression: 'SET chatType = :chatType, convId = :convId, expiresAt = :expiresAt',
      ExpressionAttributeValues: {
        ':chatType': conversation.chatType,
        ':convId': conversation.convId,
        ':expiresAt': markerExpiry(now),
      },
    },
  };
}

/**
 * The message ids one write deleted from the owner, recalled or edited (16 bytes each), so other
 * devices learn which cached messages to drop or replace without a record per message. A record of its own per delete, keyed by the write's
 * `rev` right after the epoch's marker: the marker would otherwise grow with every delete of an epoch
 * (an epoch lasts until the next sync, forever for a user who never syncs) up to the item size limit.
 */
export function deletedIdsRecord(
  tableName: string,
  sync: SyncState,
  conversation: { chatType: ChatType; convId: string },
  write: { rev: number; now: number },
  ids: ChangedIds,
): TransactItem {
  const sets = Object.fromEntries(
    CHANGED_ID_KINDS.filter((kind) => (ids[kind]?.length ?? 0) > 0).map((kind) => [
      kind,
      new Set((ids[kind] ?? []).map(idToBytes)),
    ]),
  );
  return {
    Put: {
      TableName: tableName,
      Item: {
        pk: keys.changePk(sync.owner),
        sk: keys.deletedIdsSk(sync.epoch, conversation.chatType, conversation.convId, write.rev),
        chatType: conversation.chatType,
        convId: conversation.convId,
        ...sets,
        expiresAt: markerExpiry(write.now),
      },
    },
  };
}

/** What one write did to messages a device may have cached: deleted (for its owner), recalled, edited. */
export const CHANGED_ID_KINDS = ['deleted', 'recalled', 'edited'] as const;
export type ChangedIds = Partial<Record<(typeof CHANGED_ID_KINDS)[number], readonly string[]>>;

function idsOf(set: Set<Uint8Array> | undefined): string[] {
  return [...(set ?? [])].map(bytesToId).sort();
}

function markerExpiry(now: number): number {
  return ttlAfter(now, CHANGE_MARKER_DAYS);
}

/**
 * The sync head keeps when its recent epochs began, so a list page can hand out an epoch that began long
 * enough ago (functions/domain/list-sync-token.ts): a ring of slots, one per hour and a half by the
 * bumping instance's clock, each holding the last epoch begun in its slot and when. Sixteen slots span a
 * day: epochs begin only when a `?since=` finds changes, so they can be hours apart, and a shorter ring
 * would often hold no start old enough. Every slot ever written tells the truth (that epoch began at
 * about that time), so any of them is a safe answer for any later time; the ring only bounds the item's
 * size.
 */
export const EPOCH_START_SLOT_MS = 90 * 60 * 1000;
export const EPOCH_START_SLOTS = 16;

/** An epoch and when it began, by the clock of the instance whose `?since=` began it. */
export interface EpochStart {
  epoch: number;
  at: number;
}

/** The sync head as a list page reads it from the index: its epoch and the starts it keeps. */
export interface SyncHeadView {
  epoch: number;
  starts: EpochStart[];
}

const startAtAttribute = (slot: number) => `startAt${slot}`;
const startEpochAttribute = (slot: number) => `startEpoch${slot}`;

export function syncHeadViewOf(item: Record<string, unknown>): SyncHeadView {
  const starts: EpochStart[] = [];
  for (let slot = 0; slot < EPOCH_START_SLOTS; slot++) {
    const at = item[startAtAttribute(slot)];
    const epoch = item[startEpochAttribute(slot)];
    if (at !== undefined && epoch !== undefined) starts.push({ epoch: Number(epoch), at: Number(at) });
  }
  return { epoch: Number(item.epoch ?? 0), starts };
}

/**
 * Starts a new epoch and returns it: writes from now on carry it or a later one. Records in `now`'s slot
 * that it began now (`now` is read before the bump commits, so the record is early by at most the
 * request's duration).
 */
export async function bumpEpoch(db: Db, owner: string, now: number): Promise<number> {
  const slot = Math.floor(now / EPOCH_START_SLOT_MS) % EPOCH_START_SLOTS;
  const result = await send<{ Attributes?: { epoch?: number } }>(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.syncHead(owner),
      UpdateExpression:
        'SET listSk = :listSk, #epoch = if_not_exists(#epoch, :zero) + :one, ' +
        '#startAt = :now, #startEpoch = if_not_exists(#epoch, :zero) + :one',
      ExpressionAttributeNames: {
        '#epoch': 'epoch',
        '#startAt': startAtAttribute(slot),
        '#startEpoch': startEpochAttribute(slot),
      },
      ExpressionAttributeValues: { ':listSk': keys.syncHeadListSk, ':zero': 0, ':one': 1, ':now': now },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(result.Attributes?.epoch ?? 1);
}

/** Whether any change marker of epoch `from` or later exists: one strongly consistent Query of one key. */
export async function anyChangeSince(db: Db, owner: string, from: number): Promise<boolean> {
  const page = await send<{ Items?: unknown[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk >= :low',
      ExpressionAttributeValues: { ':pk': keys.changePk(owner), ':low': keys.changeEpochPrefix(from) },
      ProjectionExpression: 'sk',
      ConsistentRead: true,
      Limit: 1,
    }),
  );
  return (page.Items ?? []).length > 0;
}

export interface ChangeMarker {
  sk: string;
  chatType: ChatType;
  convId: string;
  /** Message ids the owner deleted in this epoch, if any. */
  deleted: string[];
  /** Message ids recalled in this epoch (by their sender or the group owner), if any. */
  recalled: string[];
  /** Message ids edited in this epoch, if any. */
  edited: string[];
  /** A resync marker (no conversation): when it was written; see putResyncMarker. */
  resyncAt?: number;
}

/**
 * Tells the owner's devices to fetch their list afresh: an erasure removed something of theirs whose
 * id it may not keep in a marker (their single chat with the erased user; functions/domain/erasure.ts).
 * Written like any change (in the epoch the head says, with a check that it still does), after the
 * change itself, so a `?since=` that reads it (and answers 410) comes after the change.
 */
export async function putResyncMarker(db: Db, owner: string, now: number): Promise<void> {
  for (let attempt = 0; attempt < db.retry.maxAttempts; attempt++) {
    const head = await send<{ Item?: Record<string, unknown> }>(
      db,
      new GetCommand({ TableName: db.tableName, Key: keys.syncHead(owner), ConsistentRead: true }),
    );
    const sync = syncStateOf(owner, head.Item);
    const outcome = await transactWrite(db, [
      epochCheck(db.tableName, sync),
      {
        Put: {
          TableName: db.tableName,
          Item: {
            pk: keys.changePk(owner),
            sk: keys.resyncSk(sync.epoch),
            resyncAt: now,
            expiresAt: markerExpiry(now),
          },
        },
      },
    ]);
    if (outcome.committed) return;
  }
  throw new StoreError(`Could not write a resync marker for ${owner}: its sync head kept moving`);
}

/**
 * Markers of epochs `from` to `below - 1`, in key order, after `afterSk` if given: one strongly
 * consistent Query. Those epochs are closed (a since call moved past them), so no marker is ever
 * added behind a page already read.
 */
export async function queryChanges(
  db: Db,
  owner: string,
  range: { from: number; below: number; afterSk?: string; limit: number },
): Promise<{ markers: ChangeMarker[]; more: boolean }> {
  const low = range.afterSk ?? keys.changeEpochPrefix(range.from);
  const high = keys.changeEpochPrefix(range.below);
  if (low >= high) return { markers: [], more: false };
  const page = await send<{
    Items?: (Omit<ChangeMarker, (typeof CHANGED_ID_KINDS)[number]> &
      Partial<Record<(typeof CHANGED_ID_KINDS)[number], Set<Uint8Array>>>)[];
  }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': keys.changePk(owner), ':low': low, ':high': high },
      ProjectionExpression: 'sk, chatType, convId, deleted, recalled, edited, resyncAt',
      ConsistentRead: true,
      // One more than asked, to know whether there is more; `afterSk` itself is excluded below.
      Limit: range.limit + 2,
    }),
  );
  const markers = (page.Items ?? [])
    .filter((m) => m.sk !== range.afterSk && m.sk < high)
    .map((m) => ({
      ...m,
      deleted: idsOf(m.deleted),
      recalled: idsOf(m.recalled),
      edited: idsOf(m.edited),
    }));
  return { markers: markers.slice(0, range.limit), more: markers.length > range.limit };
}
