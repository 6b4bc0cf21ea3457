import { AsyncLocalStorage } from 'node:async_hooks';
import type { DocumentSender } from '../../functions/store/db.js';
import { TABLE_INDEXES, TABLE_KEYS } from '../../functions/store/table.js';

/**
 * What each function asks of DynamoDB, as IAM sees it: the action (a transaction's Put, Update, Delete and
 * ConditionCheck are each their item's own action), the table (the main one or the audit trail's), the
 * index of a Query, and the partition key values of every item it names (`dynamodb:LeadingKeys`). It
 * wraps the real client; the function a command belongs to is the one whose work is running
 * (`as(name, work)`, an AsyncLocalStorage scope), so concurrent requests are told apart.
 */
export interface RecordedAccess {
  fn: string;
  action: string;
  table: 'table' | 'audit';
  /** The index a Query read, or undefined for the table itself. */
  index?: string;
  /** The partition key values named (a Query's key condition value; each item's `pk`). */
  partitions: string[];
}

export interface AccessRecorder {
  wrap(client: DocumentSender): DocumentSender;
  /** Runs `work` as function `fn`: every command it sends is recorded under that name. */
  as<T>(fn: string, work: () => T): T;
  readonly accesses: RecordedAccess[];
  /** Commands sent outside any `as` (test setup): not recorded. */
  unattributed: number;
}

export function accessRecorder(tables: { table: string; audit: string }): AccessRecorder {
  const current = new AsyncLocalStorage<string>();
  const recorder: AccessRecorder = {
    accesses: [],
    unattributed: 0,
    as: (fn, work) => current.run(fn, work),
    wrap(client) {
      return {
        send: ((command: { constructor: { name: string }; input: Record<string, unknown> }) => {
          const fn = current.getStore();
          if (fn === undefined) recorder.unattributed++;
          else for (const access of accessesOf(command)) recorder.accesses.push({ fn, ...access });
          return (client.send as (c: unknown) => Promise<unknown>)(command);
        }) as DocumentSender['send'],
      };
    },
  };

  function tableOf(name: unknown): 'table' | 'audit' {
    if (name === tables.table) return 'table';
    if (name === tables.audit) return 'audit';
    throw new Error(`A command for an unknown table: ${String(name)}`);
  }

  const pkOf = (item: unknown) =>
    String((item as Record<string, unknown> | undefined)?.[TABLE_KEYS.partitionKey]);

  function accessesOf(command: {
    constructor: { name: string };
    input: Record<string, unknown>;
  }): Omit<RecordedAccess, 'fn'>[] {
    const input = command.input;
    switch (command.constructor.name) {
      case 'GetCommand':
        return [{ action: 'GetItem', table: tableOf(input.TableName), partitions: [pkOf(input.Key)] }];
      case 'PutCommand':
        return [{ action: 'PutItem', table: tableOf(input.TableName), partitions: [pkOf(input.Item)] }];
      case 'UpdateCommand':
        return [{ action: 'UpdateItem', table: tableOf(input.TableName), partitions: [pkOf(input.Key)] }];
      case 'DeleteCommand':
        return [{ action: 'DeleteItem', table: tableOf(input.TableName), partitions: [pkOf(input.Key)] }];
      case 'QueryCommand':
        return [queryAccess(input)];
      // A Scan names no partition: IAM cannot limit it by LeadingKeys (store-access.ts, `scan`).
      case 'ScanCommand':
        return [{ action: 'Scan', table: tableOf(input.TableName), partitions: [] }];
      case 'BatchGetCommand':
        return Object.entries(input.RequestItems as Record<string, { Keys: unknown[] }>).map(
          ([name, request]) => ({
            action: 'BatchGetItem',
            table: tableOf(name),
            partitions: request.Keys.map(pkOf),
          }),
        );
      case 'BatchWriteCommand':
        return Object.entries(
          input.RequestItems as Record<
            string,
            { PutRequest?: { Item: unknown }; DeleteRequest?: { Key: unknown } }[]
          >,
        ).map(([name, requests]) => ({
          action: 'BatchWriteItem',
          table: tableOf(name),
          partitions: requests.map((r) => pkOf(r.PutRequest?.Item ?? r.DeleteRequest?.Key)),
        }));
      case 'TransactWriteCommand':
        return (input.TransactItems as Record<string, Record<string, unknown>>[]).map((item) => {
          const [kind, action] = Object.entries(item)[0] as [string, Record<string, unknown>];
          const name = {
            Put: 'PutItem',
            Update: 'UpdateItem',
            Delete: 'DeleteItem',
            ConditionCheck: 'ConditionCheckItem',
          }[kind];
          if (!name) throw new Error(`A transaction action of an unknown kind: ${kind}`);
          return {
            action: name,
            table: tableOf(action.TableName),
            partitions: [pkOf(action.Item ?? action.Key)],
          };
        });
      default:
        throw new Error(`The recorder does not know ${command.constructor.name}`);
    }
  }

  /** A Query's partition: the value its key condition sets the table's or index's partition key to. */
  function queryAccess(input: Record<string, unknown>): Omit<RecordedAccess, 'fn'> {
    const index = input.IndexName as string | undefined;
    const keyName = index
      ? TABLE_INDEXES.find((candidate) => candidate.indexName === index)?.partitionKey
      : TABLE_KEYS.partitionKey;
    if (!keyName) throw new Error(`A Query of an unknown index: ${index}`);
    const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    const condition = String(input.KeyConditionExpression);
    const match = /([#\w]+)\s*=\s*(:\w+)/g;
    for (const [, name, placeholder] of condition.matchAll(match)) {
      const attribute = name?.startsWith('#') ? names[name] : name;
      if (attribute === keyName) {
        return {
          action: 'Query',
          table: tableOf(input.TableName),
          index,
          partitions: [String(values[placeholder as string])],
        };
      }
    }
    throw new Error(`A Query whose partition the recorder cannot read: ${condition}`);
  }

  return recorder;
}
