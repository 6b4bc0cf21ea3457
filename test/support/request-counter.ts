import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Counts DynamoDB requests by command name, and the capacity units they consumed, with SDK middleware
 * on the real client. Capacity is asked for on every request (ReturnConsumedCapacity: INDEXES) and
 * summed from the answers, table and indexes together, as DynamoDB Local reports it: reads and writes
 * are not told apart by the API, so `writeUnits` sums the write commands and `readUnits` the reads.
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
const CAPACITY_COMMANDS = new Set([
  ...WRITE_COMMANDS,
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'TransactGetItems',
]);

interface Capacity {
  CapacityUnits?: number;
}

export function countRequests(client: DynamoDBClient): RequestCounts {
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
      const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
      const input = args.input as Record<string, unknown>;
      if (CAPACITY_COMMANDS.has(name) && input.ReturnConsumedCapacity === undefined) {
        input.ReturnConsumedCapacity = 'INDEXES';
      }
      const result = await next(args);
      const output = result.output as { ConsumedCapacity?: Capacity | Capacity[] };
      const consumed = [output.ConsumedCapacity ?? []]
        .flat()
        .reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
      if (WRITE_COMMANDS.has(name)) counts.writeUnits += consumed;
      else counts.readUnits += consumed;
      return result;
    },
    { step: 'initialize', name: 'roamingRequestCounter' },
  );
  return counts;
}
