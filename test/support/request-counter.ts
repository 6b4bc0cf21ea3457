import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** Counts DynamoDB requests by command name, with an SDK middleware on the real client. */
export interface RequestCounts {
  byCommand: Record<string, number>;
  total(): number;
  reset(): void;
}

export function countRequests(client: DynamoDBClient): RequestCounts {
  const counts: RequestCounts = {
    byCommand: {},
    total: () => Object.values(counts.byCommand).reduce((a, b) => a + b, 0),
    reset: () => {
      counts.byCommand = {};
    },
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts.byCommand[name] = (counts.byCommand[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'roamingRequestCounter' },
  );
  return counts;
}
