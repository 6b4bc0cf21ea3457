import { BatchGetCommand, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { Clock } from '../../functions/core/clock.js';
import type { DocumentSender } from '../../functions/store/db.js';
import { type IndexDefinition, LIST_INDEX, PINNED_INDEX, TABLE_KEYS } from '../../functions/store/table.js';
import { WRITE_COMMANDS } from './command-gate.js';

/**
 * Index lag on the real DynamoDB client, as AWS shows it and DynamoDB Local never does: a global
 * secondary index is eventually consistent and propagates every item on its own, so one Query of an
 * index may show one item's newest version next to another item's older one (or none yet, or one the
 * table has deleted). AWS says propagation usually takes under a second; it bounds it nowhere.
 *
 * The model lags index reads only. A Query of a modelled index, while some item lags, is answered from a
 * stale view: the engine's answer with each lagging item replaced by the version the index still shows
 * (a version the item really had; none if it did not exist then), in index order, with the Query's key
 * condition, direction, Limit and ExclusiveStartKey applied to that view. Every other read (GetItem,
 * BatchGetItem, base-table Queries: strongly consistent on AWS too) and every write go to the engine
 * untouched. Two ways to make an item lag:
 * - `hold(key)`: the indexes show the item as it is now until `release` (a test stages one case);
 * - `lagWrites({ms, clock})`: every write from then on reaches the indexes `ms` later on `clock`.
 * To know what the indexes still show, the model reads (strongly consistent, from the engine) an item
 * when it is held and the items a lagging write writes right before it: those reads, and the engine
 * Queries behind a stale answer, show in request counts while something lags. Only indexes that project
 * every attribute are modelled (LIST_INDEX and PINNED_INDEX by default); Queries of others pass through.
 */
export interface IndexLag {
  wrap(client: DocumentSender): DocumentSender;
  /** Until released, the indexes show the item with `key` as it is now (not at all, if it does not exist). */
  hold(key: ItemKey): Promise<void>;
  /** The held item (every held item, without a key) reaches the indexes now. */
  release(key?: ItemKey): void;
  /** From now on, every write to an item that `matches` reaches the indexes `ms` later on `clock`. */
  lagWrites(options: { ms: number; clock: Clock; matches?: (key: ItemKey) => boolean }): void;
  /** No more lag: holds released, writes propagated, `staleAnswers` back to 0. */
  clear(): void;
  /** Index Queries whose answer the lag changed since the last `clear` (so a test knows it met the lag). */
  readonly staleAnswers: number;
}

export interface ItemKey {
  pk: string;
  sk: string;
}

type Item = Record<string, unknown>;

interface Command {
  constructor: { name: string };
  input: Record<string, unknown>;
}

interface Written {
  table: string;
  key: ItemKey;
}

/** What the indexes show of a lagging item: `version` (undefined: nothing), read from `table`. */
interface Stale extends Written {
  version: Item | undefined;
}

/** A write the indexes have not seen yet, and the item as it was before it. */
interface PendingWrite {
  at: number;
  before: Item | undefined;
}

export function indexLag(indexes: readonly IndexDefinition[] = [LIST_INDEX, PINNED_INDEX]): IndexLag {
  for (const index of indexes) {
    if (index.projection !== 'ALL') {
      throw new Error(`the lag model shows whole items: ${index.indexName} does not project them all`);
    }
  }
  const modelled = new Map(indexes.map((index) => [index.indexName, index]));
  let inner: DocumentSender | undefined;
  /** The table of the commands seen (the harness makes one per test file). */
  let tableName: string | undefined;
  const held = new Map<string, Stale>();
  const pending = new Map<string, Written & { writes: PendingWrite[] }>();
  let writeLag: { ms: number; clock: Clock; matches: (key: ItemKey) => boolean } | undefined;
  let staleAnswers = 0;

  function send(command: unknown): Promise<unknown> {
    if (!inner) throw new Error('indexLag: wrap the client first');
    return (inner.send as (c: unknown) => Promise<unknown>)(command);
  }

  /** Every lagging item as the indexes show it now. */
  function staleItems(): Map<string, Stale> {
    const stale = new Map(held);
    const lag = writeLag;
    for (const [id, entry] of pending) {
      const waiting = lag ? entry.writes.filter((write) => write.at > lag.clock.now() - lag.ms) : [];
      if (waiting.length === 0) {
        pending.delete(id);
        continue;
      }
      entry.writes = waiting;
      // The oldest write not propagated yet: the indexes still show the item as it was before it.
      if (!stale.has(id)) stale.set(id, { ...entry, version: waiting[0]?.before });
    }
    return stale;
  }

  async function readItems(items: readonly Written[]): Promise<Map<string, Item>> {
    const found = new Map<string, Item>();
    const unique = [...new Map(items.map((item) => [idOf(item.key), item])).values()];
    for (let i = 0; i < unique.length; i += 100) {
      let request: Record<string, { Keys: ItemKey[]; ConsistentRead: true }> = {};
      for (const { table, key } of unique.slice(i, i + 100)) {
        request[table] ??= { Keys: [], ConsistentRead: true };
        request[table].Keys.push(key);
      }
      while (Object.keys(request).length > 0) {
        const answer = (await send(new BatchGetCommand({ RequestItems: request }))) as {
          Responses?: Record<string, Item[]>;
          UnprocessedKeys?: typeof request;
        };
        for (const item of Object.values(answer.Responses ?? {}).flat()) found.set(idOf(keyOf(item)), item);
        request = answer.UnprocessedKeys ?? {};
      }
    }
    return found;
  }

  async function write(command: Command): Promise<unknown> {
    const lag = writeLag;
    const written = lag ? writtenBy(command).filter((w) => lag.matches(w.key)) : [];
    if (!lag || written.length === 0) return send(command);
    const before = await readItems(written);
    const output = await send(command); // a write that fails changed nothing: nothing lags
    const at = lag.clock.now();
    for (const item of written) {
      const id = idOf(item.key);
      const entry = pending.get(id) ?? { ...item, writes: [] };
      entry.writes.push({ at, before: before.get(id) });
      pending.set(id, entry);
    }
    return output;
  }

  async function query(command: Command, index: IndexDefinition): Promise<unknown> {
    const stale = staleItems();
    if (stale.size === 0) return send(command);
    const input = command.input;
    for (const unsupported of ['FilterExpression', 'ProjectionExpression', 'Select', 'QueryFilter']) {
      if (input[unsupported] !== undefined) {
        throw new Error(`the lag model does not answer index Queries with ${unsupported}`);
      }
    }
    const matches = keyCondition(input, index);
    // The engine's whole answer to the key condition, without Limit or start key.
    const current: Item[] = [];
    let startKey: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = (await send(
        new QueryCommand({ ...input, Limit: undefined, ExclusiveStartKey: startKey } as QueryCommandInput),
      )) as { Items?: Item[]; LastEvaluatedKey?: QueryCommandInput['ExclusiveStartKey'] };
      current.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    // The stale view: each lagging item as the index still shows it.
    const view = current.filter((item) => !stale.has(idOf(keyOf(item))));
    for (const { version } of stale.values()) if (version && matches(version)) view.push(version);
    const forward = input.ScanIndexForward !== false;
    const order = (a: Item, b: Item) => (forward ? 1 : -1) * indexOrder(index, a, b);
    view.sort(order);
    if (JSON.stringify(view) !== JSON.stringify([...current].sort(order))) staleAnswers++;
    // The start key and Limit, applied to the view as the engine applies them to the index.
    const start = input.ExclusiveStartKey as Item | undefined;
    const rest = start ? view.filter((item) => order(item, start) > 0) : view;
    const limit = input.Limit as number | undefined;
    const items = limit === undefined ? rest : rest.slice(0, limit);
    const last = items.at(-1);
    const more = limit !== undefined && rest.length > limit && last !== undefined;
    return {
      Items: items,
      Count: items.length,
      ScannedCount: items.length,
      ...(more ? { LastEvaluatedKey: indexKeyOf(index, last) } : {}),
    };
  }

  return {
    wrap(client) {
      inner = client;
      return {
        send: (async (command: Command) => {
          tableName ??= tableOf(command);
          const index = modelled.get(command.input.IndexName as string);
          if (command.constructor.name === 'QueryCommand' && index) return query(command, index);
          if (WRITE_COMMANDS.has(command.constructor.name)) return write(command);
          return send(command);
        }) as DocumentSender['send'],
      };
    },
    async hold(key) {
      if (!tableName) throw new Error('indexLag: no command seen yet, so no table to read the item from');
      const table = tableName;
      const version = (await readItems([{ table, key }])).get(idOf(key));
      held.set(idOf(key), { table, key, version });
    },
    release(key) {
      if (key) held.delete(idOf(key));
      else held.clear();
    },
    lagWrites({ ms, clock, matches = () => true }) {
      writeLag = { ms, clock, matches };
    },
    clear() {
      held.clear();
      pending.clear();
      writeLag = undefined;
      staleAnswers = 0;
    },
    get staleAnswers() {
      return staleAnswers;
    },
  };
}

const idOf = (key: ItemKey) => JSON.stringify([key.pk, key.sk]);

function keyOf(item: Item): ItemKey {
  return { pk: item[TABLE_KEYS.partitionKey] as string, sk: item[TABLE_KEYS.sortKey] as string };
}

function tableOf(command: Command): string | undefined {
  if (typeof command.input.TableName === 'string') return command.input.TableName;
  const requests = command.input.RequestItems as Record<string, unknown> | undefined;
  if (requests) return Object.keys(requests)[0];
  const actions = command.input.TransactItems as Record<string, { TableName?: string }>[] | undefined;
  const first = actions?.[0];
  return first ? Object.values(first)[0]?.TableName : undefined;
}

/** The items a write command writes (a transaction's condition checks write nothing). */
function writtenBy(command: Command): Written[] {
  const input = command.input;
  switch (command.constructor.name) {
    case 'PutCommand':
      return [{ table: input.TableName as string, key: keyOf(input.Item as Item) }];
    case 'UpdateCommand':
    case 'DeleteCommand':
      return [{ table: input.TableName as string, key: input.Key as ItemKey }];
    case 'TransactWriteCommand':
      return (input.TransactItems as Record<string, Item>[]).flatMap((action) => {
        if (action.Put)
          return [{ table: action.Put.TableName as string, key: keyOf(action.Put.Item as Item) }];
        const change = action.Update ?? action.Delete;
        return change ? [{ table: change.TableName as string, key: change.Key as ItemKey }] : [];
      });
    case 'BatchWriteCommand':
      return Object.entries(input.RequestItems as Record<string, Item[]>).flatMap(([table, requests]) =>
        requests.map((request) => {
          const put = request.PutRequest as { Item: Item } | undefined;
          const remove = request.DeleteRequest as { Key: ItemKey } | undefined;
          return { table, key: put ? keyOf(put.Item) : (remove as { Key: ItemKey }).Key };
        }),
      );
    default:
      return [];
  }
}

/** Index order: the index's sort key, then the table's keys (items may share an index key). */
function indexOrder(index: IndexDefinition, a: Item, b: Item): number {
  return (
    compare(a[index.sortKey], b[index.sortKey]) ||
    compare(a[TABLE_KEYS.partitionKey], b[TABLE_KEYS.partitionKey]) ||
    compare(a[TABLE_KEYS.sortKey], b[TABLE_KEYS.sortKey])
  );
}

function indexKeyOf(index: IndexDefinition, item: Item): Item {
  const names = [TABLE_KEYS.partitionKey, TABLE_KEYS.sortKey, index.partitionKey, index.sortKey];
  return Object.fromEntries(names.map((name) => [name, item[name]]));
}

/** DynamoDB's order: strings by their UTF-8 bytes, numbers by value. */
function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return Buffer.compare(Buffer.from(String(a)), Buffer.from(String(b)));
}

/**
 * Whether an item is in the Query's range of the index: it has the index's keys, its partition key is
 * the one asked for, and its sort key meets the condition (=, <, <=, >, >=, BETWEEN, begins_with).
 */
function keyCondition(input: Record<string, unknown>, index: IndexDefinition): (item: Item) => boolean {
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
  const nameOf = (token: string) => (token.startsWith('#') ? names[token] : token);
  const expression = String(input.KeyConditionExpression);
  const partition = /^\s*(#?\w+)\s*=\s*(:\w+)\s*(?:AND\s+(.+?))?\s*$/is.exec(expression);
  if (!partition || nameOf(partition[1] as string) !== index.partitionKey) {
    throw new Error(
      `the lag model reads "partition key = :value [AND sort key condition]", not ${expression}`,
    );
  }
  const pk = values[partition[2] as string];
  const sortCondition = partition[3];
  const inRange =
    sortCondition === undefined ? () => true : sortKeyCondition(sortCondition, nameOf, values, index.sortKey);
  return (item) =>
    item[index.partitionKey] === pk && item[index.sortKey] !== undefined && inRange(item[index.sortKey]);
}

function sortKeyCondition(
  condition: string,
  nameOf: (token: string) => string | undefined,
  values: Record<string, unknown>,
  sortKey: string,
): (value: unknown) => boolean {
  const between = /^(#?\w+)\s+BETWEEN\s+(:\w+)\s+AND\s+(:\w+)$/i.exec(condition);
  const comparison = /^(#?\w+)\s*(<=|>=|<|>|=)\s*(:\w+)$/.exec(condition);
  const prefix = /^begins_with\s*\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)$/i.exec(condition);
  const parsed = between ?? comparison ?? prefix;
  if (!parsed || nameOf(parsed[1] as string) !== sortKey) {
    throw new Error(`the lag model cannot read the key condition ${condition}`);
  }
  if (between) {
    const [low, high] = [values[between[2] as string], values[between[3] as string]];
    return (value) => compare(value, low) >= 0 && compare(value, high) <= 0;
  }
  if (comparison) {
    const bound = values[comparison[3] as string];
    const holds: Record<string, (c: number) => boolean> = {
      '<': (c) => c < 0,
      '<=': (c) => c <= 0,
      '>': (c) => c > 0,
      '>=': (c) => c >= 0,
      '=': (c) => c === 0,
    };
    const operator = holds[comparison[2] as string] as (c: number) => boolean;
    return (value) => operator(compare(value, bound));
  }
  const start = String(values[(prefix as RegExpExecArray)[2] as string]);
  return (value) => String(value).startsWith(start);
}
