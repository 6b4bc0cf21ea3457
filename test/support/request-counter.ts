import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import {
  CAPACITY_COMMANDS,
  consumedUnitsOf,
  operationNameOf,
} from '../../functions/telemetry/store-usage.js';
import { itemsOf, transactionUnits } from './transaction-capacity.js';

/**
 * Counts DynamoDB requests by command name, and the capacity units they consumed, with SDK middleware
 * on the real client. Capacity is asked for on every request (ReturnConsumedCapacity: INDEXES) and
 * summed from the answers, table and indexes together, as DynamoDB Local reports it: reads and writes
 * are not told apart by the API, so `writeUnits` sums the write commands and `readUnits` the reads.
 * Transactions are the exception: DynamoDB Local under-reports them, so with a `shadow` client (one
 * outside the count, same endpoint) their units are modelled as AWS bills them (transaction-capacity.ts).
 */
export interface RequestCounts {
  byCommand: Record<string, number>;
  readUnits: number;
  writeUnits: number;
  total(): number;
  reset(): void;
}

const WRITE_COMMANDS = new Set([
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
]);

export function countRequests(
  client: DynamoDBClient,
  options: { shadow?: DynamoDBClient } = {},
): RequestCounts {
  const counts: RequestCounts = {
    byCommand: {},
    readUnits: 0,
    writeUnits: 0,
    total: () => Object.values(counts.byCommand).reduce((a, b) => a + b, 0),
    reset: () => {
      counts.byCommand = {};
      counts.readUnits = 0;
      counts.writeUnits = 0;
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = operationNameOf(context);
      counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      if (CAPACITY_COMMANDS.has(name) && input.ReturnConsumedCapacity === undefined) {
        input.ReturnConsumedCapacity = 'INDEXES';
      }
      const actions = name === 'TransactWriteItems' && options.shadow ? transactionActions(input) : undefined;
      const before = actions && options.shadow ? await itemsOf(options.shadow, actions) : undefined;
      const result = await next(args);
      if (actions && before && options.shadow) {
        const modelled = transactionUnits(actions, before, await itemsOf(options.shadow, actions));
        counts.writeUnits += modelled.writeUnits;
        counts.readUnits += modelled.readUnits;
        return result;
      }
      const consumed = consumedUnitsOf(result.output);
      if (WRITE_COMMANDS.has(name)) counts.writeUnits += consumed;
      else counts.readUnits += consumed;
      return result;
    },
    { step: 'initialize', name: 'roamingRequestCounter' },
  );
  return counts;
}

/** The transaction's actions with their items and keys in DynamoDB's attribute-value form. */
function transactionActions(input: Record<string, unknown>) {
  const toAttributes = (value: unknown) =>
    value && typeof (value as { pk?: unknown }).pk === 'string'
      ? marshall(value as Record<string, unknown>, { removeUndefinedValues: true })
      : value;
  return (
    (input.TransactItems ?? []) as Record<string, { TableName?: string; Item?: unknown; Key?: unknown }>[]
  ).map((action) =>
    Object.fromEntries(
      Object.entries(action).map(([kind, part]) => [
        kind,
        {
          ...part,
          ...(part.Item ? { Item: toAttributes(part.Item) } : {}),
          ...(part.Key ? { Key: toAttributes(part.Key) } : {}),
        },
      ]),
    ),
  ) as Parameters<typeof transactionUnits>[0];
}
