import { PURGE_ENTRY_ATTRIBUTES } from './conversation-item.js';

/**
 * The single table's definition: keys, indexes and TTL. The local bootstrap, the tests and the CDK stack
 * all build the table from this module so they cannot drift. See keys.ts for what each item looks like.
 */
export const TABLE_KEYS = { partitionKey: 'pk', sortKey: 'sk' } as const;

/** Items with `expiresAt` (epoch seconds) are removed by DynamoDB TTL: idempotency records, change markers, group log entries. */
export const TTL_ATTRIBUTE = 'expiresAt';

/** The table's stream carries each written item's new image: the event outbox's delivery reads it. */
export const TABLE_STREAM_VIEW = 'NEW_IMAGE';

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: string;
  readonly sortKey: string;
  /** Attributes copied into the index besides the keys; 'ALL' copies the whole item. */
  readonly projection: 'ALL' | readonly string[];
}

/**
 * A user's listed conversations, last arrival first. Sparse: only listed conversations, and the user's
 * sync head (listSk '~', above them all), so a first page also reads the head's epoch start times for its
 * sync token.
 */
export const LIST_INDEX: IndexDefinition = {
  indexName: 'byLatest',
  partitionKey: 'pk',
  sortKey: 'listSk',
  projection: 'ALL',
};

/** A user's pinned conversations, most recently pinned first. Sparse: only pinned conversations have `pinSk`. */
export const PINNED_INDEX: IndexDefinition = {
  indexName: 'byPinned',
  partitionKey: 'pk',
  sortKey: 'pinSk',
  projection: 'ALL',
};

/**
 * Conversations that may have message copies to delete, sharded, ordered by when they become due
 * (0 for a user's pending delete, else the oldest message's time). The sweep reads only this index,
 * so its cost follows what there is to delete rather than the number of users.
 */
export const PURGE_INDEX: IndexDefinition = {
  indexName: 'byPurge',
  partitionKey: 'purgeShard',
  sortKey: 'purgeSk',
  projection: PURGE_ENTRY_ATTRIBUTES,
};

export const TABLE_INDEXES: readonly IndexDefinition[] = [LIST_INDEX, PINNED_INDEX, PURGE_INDEX];

/** Every key attribute is a string. */
export const KEY_ATTRIBUTES: readonly string[] = [
  ...new Set([
    TABLE_KEYS.partitionKey,
    TABLE_KEYS.sortKey,
    ...TABLE_INDEXES.flatMap((i) => [i.partitionKey, i.sortKey]),
  ]),
];

/**
 * The audit trail's own table (audit-store.ts): the same key names, no indexes, no TTL. On AWS the stack
 * names it (AUDIT_TABLE_NAME); locally and in tests it is the main table's name with this suffix.
 */
export const AUDIT_TABLE_SUFFIX = '-audit';

export function auditTableNameOf(tableName: string): string {
  return `${tableName}${AUDIT_TABLE_SUFFIX}`;
}
