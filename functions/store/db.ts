import { type AttributeValue, DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  BatchWriteCommand,
  type DeleteCommand,
  DynamoDBDocumentClient,
  type GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  type ScanCommand,
  type TransactWriteCommand,
  type UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { mapLimited } from '../core/concurrency.js';
import { RoamingError, ServiceUnavailableError, StoreError, ThrottledError } from '../core/errors.js';

/** The one method of the document client the store uses; fault-injection tests wrap it. */
export type DocumentSender = Pick<DynamoDBDocumentClient, 'send'>;

/** The commands the store sends. */
export type DocumentCommand =
  | BatchWriteCommand
  | BatchGetCommand
  | DeleteCommand
  | GetCommand
  | PutCommand
  | QueryCommand
  | ScanCommand
  | TransactWriteCommand
  | UpdateCommand;

/** The SDK types `send` as overloads per command; one untyped call site keeps the rest typed. */
function sendUntyped(client: DocumentSender, command: DocumentCommand): Promise<unknown> {
  return (client.send as (command: DocumentCommand) => Promise<unknown>).call(client, command);
}

/** Counts what the adapter had to retry: the sweep reports it per run. */
export interface RetryCounter {
  retries: number;
}

export interface RetryPolicy {
  /** Attempts per call before giving up with ThrottledError. @default 8 */
  maxAttempts: number;
  /** First backoff; doubles each attempt, with full jitter. @default 25 */
  baseDelayMs: number;
  /** @default 2000 */
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 25, maxDelayMs: 2000 };

/** Everything the store modules need: the client, the table, and how to retry. Built once per process. */
export interface Db {
  readonly client: DocumentSender;
  readonly tableName: string;
  /**
   * The audit trail's own table (audit-store.ts); undefined in a function that has no access to it (on
   * AWS only the admin functions are given AUDIT_TABLE_NAME).
   */
  readonly auditTableName?: string;
  readonly retry: RetryPolicy;
  readonly retryCounter: RetryCounter;
}

export function createDocumentClient(config: DynamoDBClientConfig = {}): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(new DynamoDBClient(config), {
    marshallOptions: { removeUndefinedValues: true },
  });
}

export function createDb(
  client: DocumentSender,
  tableName: string,
  retry: RetryPolicy = DEFAULT_RETRY,
  auditTableName?: string,
): Db {
  return { client, tableName, auditTableName, retry, retryCounter: { retries: 0 } };
}

const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

export function isThrottling(error: unknown): boolean {
  return error instanceof Error && THROTTLING_ERRORS.has(error.name);
}

/**
 * A single-item write of an item that a transaction in flight holds (AWS; DynamoDB Local never says it):
 * the transaction finishes in milliseconds, so it is retried like throttling.
 */
function isTransactionConflict(error: unknown): boolean {
  return error instanceof Error && error.name === 'TransactionConflictException';
}

/** A cancelled or still-running transaction: transactions.ts interprets it. */
function isTransactionOutcome(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'TransactionCanceledException' || error.name === 'TransactionInProgressException')
  );
}

/** Connection-level failures: the request never got an answer from the store. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

/**
 * True when the store could not be reached at all (stopped, restarting, network down), as opposed to a
 * store that answered with an error. The SDK (v3, Node HTTP handler) surfaces these as the Node socket
 * error with its `code` (ECONNREFUSED...), or as `TimeoutError` (connection or request timeout; a
 * "socket hang up" also arrives as TimeoutError with code ECONNRESET), sometimes wrapped in `cause`.
 */
export function isStoreUnreachable(error: unknown, depth = 0): boolean {
  if (!(error instanceof Error) || depth > 3) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && UNREACHABLE_CODES.has(code)) return true;
  if (error.name === 'TimeoutError' || error.message === 'socket hang up') return true;
  return isStoreUnreachable(error.cause, depth + 1);
}

export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === 'ConditionalCheckFailedException';
}

/**
 * The item a failed conditional write returned (ReturnValuesOnConditionCheckFailure: ALL_OLD). The
 * document client does not unmarshall error payloads, so it is done here.
 */
export function itemOfConditionFailure(error: unknown): Record<string, unknown> | undefined {
  const item = (error as { Item?: Record<string, AttributeValue> }).Item;
  return item ? unmarshall(item) : undefined;
}

export function backoffDelay(retry: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** attempt);
  return Math.random() * ceiling;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends one command, retrying throttling and transaction conflicts with exponential backoff and jitter.
 * SDK errors become domain errors here, at the adapter: handlers never see AWS error types. An
 * unreachable store is not retried here (the SDK already retried the connection): it becomes a 503 at
 * once. A failed condition is rethrown as is for the caller to interpret (it means something different
 * for every write).
 */
export async function send<T>(db: Db, command: DocumentCommand): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return (await sendUntyped(db.client, command)) as T;
    } catch (error) {
      if (isConditionFailure(error) || isTransactionOutcome(error) || error instanceof RoamingError)
        throw error;
      if (isStoreUnreachable(error)) {
        throw new ServiceUnavailableError('The store is unavailable; retry shortly', { cause: error });
      }
      if (!isThrottling(error) && !isTransactionConflict(error)) {
        throw new StoreError('DynamoDB request failed', { cause: error });
      }
      if (attempt + 1 >= db.retry.maxAttempts) {
        throw new ThrottledError('The store is busy; retry shortly', { cause: error });
      }
      db.retryCounter.retries++;
      await sleep(backoffDelay(db.retry, attempt));
    }
  }
}

/**
 * Sends a conditional write; false when its condition failed (what that means is the caller's to say),
 * true when it applied.
 */
export async function sendConditional(db: Db, command: DocumentCommand): Promise<boolean> {
  try {
    await send(db, command);
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/**
 * Writes `item` unless an item with its key exists (conditional put). Returns undefined when this call
 * created it, else the item that was already there, read in the same round trip (ALL_OLD on failure).
 */
export async function putIfAbsent(
  db: Db,
  item: Record<string, unknown>,
): Promise<Record<string, unknown> | undefined> {
  try {
    await send(
      db,
      new PutCommand({
        TableName: db.tableName,
        Item: item,
        ConditionExpression: 'attribute_not_exists(pk)',
        ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      }),
    );
    return undefined;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const existing = itemOfConditionFailure(error);
    if (!existing)
      throw new StoreError('A conditional put failed without returning the existing item', { cause: error });
    return existing;
  }
}

/** Every item a Query matches, page after page: for small partitions read whole (a group, the policies). */
export async function queryAll<T>(db: Db, input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<T[]> {
  const items: T[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await send<{ Items?: T[]; LastEvaluatedKey?: Record<string, unknown> }>(
      db,
      new QueryCommand({ ...input, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** How many items a Query matches (Select COUNT: one request per 1 MB of them, no items returned). */
export async function countAll(
  db: Db,
  input: Omit<QueryCommandInput, 'ExclusiveStartKey' | 'Select' | 'ProjectionExpression'>,
): Promise<number> {
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await send<{ Count?: number; LastEvaluatedKey?: Record<string, unknown> }>(
      db,
      new QueryCommand({ ...input, Select: 'COUNT', ExclusiveStartKey: startKey }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return count;
}

export type WriteRequest =
  | { PutRequest: { Item: object } }
  | { DeleteRequest: { Key: Record<string, string> } };

/** BatchWriteItem takes at most 25 requests. */
export const BATCH_WRITE_LIMIT = 25;

/**
 * A large write sends at most this many calls at once: all of them at once opened a connection each,
 * and on a loaded machine such a burst of connects outlasted the client's connect timeout.
 */
const BATCH_WRITES_IN_FLIGHT = 8;

/**
 * Writes all requests in BatchWriteItem calls of 25, retrying UnprocessedItems with backoff until done.
 * Nothing is dropped silently: if the store keeps refusing, ThrottledError says so.
 */
export async function batchWriteAll(db: Db, requests: readonly WriteRequest[]): Promise<number> {
  const chunks = batchWriteChunks(requests);
  const calls = await mapLimited(chunks, BATCH_WRITES_IN_FLIGHT, (chunk) => writeChunkUntilDone(db, chunk));
  return calls.reduce((a, b) => a + b, 0);
}

/** The requests cut into BatchWriteItem calls of at most 25, in order. */
export function batchWriteChunks(requests: readonly WriteRequest[]): WriteRequest[][] {
  const chunks: WriteRequest[][] = [];
  for (let i = 0; i < requests.length; i += BATCH_WRITE_LIMIT) {
    chunks.push(requests.slice(i, i + BATCH_WRITE_LIMIT));
  }
  return chunks;
}

/** One BatchWriteItem call of at most 25, re-sending UnprocessedItems with backoff; the calls it took. */
export async function writeChunkUntilDone(db: Db, chunk: WriteRequest[]): Promise<number> {
  let pending = chunk;
  for (let attempt = 0; ; attempt++) {
    const result = await send<{ UnprocessedItems?: Record<string, WriteRequest[]> }>(
      db,
      new BatchWriteCommand({ RequestItems: { [db.tableName]: pending } }),
    );
    const unprocessed = result.UnprocessedItems?.[db.tableName] ?? [];
    if (unprocessed.length === 0) return attempt + 1;
    if (attempt + 1 >= db.retry.maxAttempts) {
      throw new ThrottledError(
        `${unprocessed.length} writes stayed unprocessed after ${attempt + 1} attempts`,
      );
    }
    db.retryCounter.retries++;
    pending = unprocessed;
    await sleep(backoffDelay(db.retry, attempt));
  }
}

export type Key = { pk: string; sk: string };

/** BatchGetItem takes at most 100 keys. */
const BATCH_GET_LIMIT = 100;

/**
 * Reads items by key, strongly consistent (every read that decides a write is), in BatchGetItem calls of
 * 100, retrying UnprocessedKeys. Returns the items found, by `pk|sk`; absent keys are absent.
 */
export async function batchGet(db: Db, keys: readonly Key[]): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>();
  const unique = [...new Map(keys.map((key) => [keyString(key), key])).values()];
  const chunks: Key[][] = [];
  for (let i = 0; i < unique.length; i += BATCH_GET_LIMIT) chunks.push(unique.slice(i, i + BATCH_GET_LIMIT));
  await Promise.all(
    chunks.map(async function readChunk(chunk) {
      let pending: Key[] = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        const result = await send<{
          Responses?: Record<string, Record<string, unknown>[]>;
          UnprocessedKeys?: Record<string, { Keys?: Key[] }>;
        }>(
          db,
          new BatchGetCommand({
            RequestItems: { [db.tableName]: { Keys: pending, ConsistentRead: true } },
          }),
        );
        for (const item of result.Responses?.[db.tableName] ?? []) found.set(keyString(item as Key), item);
        pending = result.UnprocessedKeys?.[db.tableName]?.Keys ?? [];
        if (pending.length === 0) return;
        if (attempt + 1 >= db.retry.maxAttempts) {
          throw new ThrottledError(
            `${pending.length} reads stayed unprocessed after ${attempt + 1} attempts`,
          );
        }
        db.retryCounter.retries++;
        await sleep(backoffDelay(db.retry, attempt));
      }
    }),
  );
  return found;
}

export function keyString(key: Key): string {
  return `${key.pk}|${key.sk}`;
}
