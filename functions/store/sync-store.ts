import { QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DAY_MS } from '../core/clock.js';
import type { ChatType } from '../core/model.js';
import { type Db, send } from './db.js';
import { keys } from './keys.js';
import type { TransactItem } from './transactions.js';

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
  /** False until the user's first sync: the epoch is 0 then. */
  exists: boolean;
  epoch: number;
}

export function syncStateOf(owner: string, item: Record<string, unknown> | undefined): SyncState {
  return { owner, exists: item !== undefined, epoch: Number(item?.epoch ?? 0) };
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

/** The marker saying "this conversation changed in this epoch" (idempotent: one key per pair). */
export function changeMarker(
  tableName: string,
  sync: SyncState,
  conversation: { chatType: ChatType; convId: string },
  now: number,
): TransactItem {
  return {
    Put: {
      TableName: tableName,
      Item: {
        pk: keys.changePk(sync.owner),
        sk: keys.changeSk(sync.epoch, conversation.chatType, conversation.convId),
        chatType: conversation.chatType,
        convId: conversation.convId,
        expiresAt: Math.floor((now + CHANGE_MARKER_DAYS * DAY_MS) / 1000),
      },
    },
  };
}

/** Starts a new epoch and returns it: writes from now on carry it or a later one. */
export async function bumpEpoch(db: Db, owner: string): Promise<number> {
  const result = await send<{ Attributes?: { epoch?: number } }>(
    db,
    new UpdateCommand({
      TableName: db.tableName,
      Key: keys.syncHead(owner),
      UpdateExpression: 'SET listSk = :listSk ADD #epoch :one',
      ExpressionAttributeNames: { '#epoch': 'epoch' },
      ExpressionAttributeValues: { ':listSk': keys.syncHeadListSk, ':one': 1 },
      ReturnValues: 'UPDATED_NEW',
    }),
  );
  return Number(result.Attributes?.epoch ?? 1);
}

export interface ChangeMarker {
  sk: string;
  chatType: ChatType;
  convId: string;
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
  const page = await send<{ Items?: ChangeMarker[] }>(
    db,
    new QueryCommand({
      TableName: db.tableName,
      KeyConditionExpression: 'pk = :pk AND sk BETWEEN :low AND :high',
      ExpressionAttributeValues: { ':pk': keys.changePk(owner), ':low': low, ':high': high },
      ProjectionExpression: 'sk, chatType, convId',
      ConsistentRead: true,
      // One more than asked, to know whether there is more; `afterSk` itself is excluded below.
      Limit: range.limit + 2,
    }),
  );
  const markers = (page.Items ?? []).filter((m) => m.sk !== range.afterSk && m.sk < high);
  return { markers: markers.slice(0, range.limit), more: markers.length > range.limit };
}
