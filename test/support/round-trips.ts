import type { DocumentSender } from '../../functions/store/db.js';

/**
 * How long an operation waits on the store, in round trips: wraps the real client and gives each
 * request a depth, 1 + the deepest request that had answered when it was sent (it may have depended on
 * any of them). Requests sent together are one round trip; a request sent after another's answer is
 * one more. `roundTrips` is the deepest chain since the last reset, `requests` how many were sent.
 */
export interface RoundTripCounter {
  wrap(client: DocumentSender): DocumentSender;
  readonly roundTrips: number;
  readonly requests: number;
  /** DynamoDB operations in the order they were sent, each with its depth. */
  readonly sent: readonly { command: string; depth: number }[];
  reset(): void;
}

/** The DynamoDB operation a document client command sends (GetCommand: GetItem). */
const OPERATIONS: Record<string, string> = {
  Get: 'GetItem',
  Put: 'PutItem',
  Update: 'UpdateItem',
  Delete: 'DeleteItem',
  BatchGet: 'BatchGetItem',
  BatchWrite: 'BatchWriteItem',
  TransactWrite: 'TransactWriteItems',
  TransactGet: 'TransactGetItems',
};

function operationOf(command: { constructor: { name: string } }): string {
  const name = command.constructor.name.replace(/Command$/, '');
  return OPERATIONS[name] ?? name;
}

export function roundTripCounter(): RoundTripCounter {
  let answeredDepth = 0;
  let deepest = 0;
  let sent: { command: string; depth: number }[] = [];
  return {
    wrap(client) {
      return {
        send: (async (command: { constructor: { name: string } }) => {
          const depth = answeredDepth + 1;
          deepest = Math.max(deepest, depth);
          sent.push({ command: operationOf(command), depth });
          try {
            return await (client.send as (c: unknown) => Promise<unknown>)(command);
          } finally {
            answeredDepth = Math.max(answeredDepth, depth);
          }
        }) as DocumentSender['send'],
      };
    },
    get roundTrips() {
      return deepest;
    },
    get requests() {
      return sent.length;
    },
    get sent() {
      return sent;
    },
    reset() {
      answeredDepth = 0;
      deepest = 0;
      sent = [];
    },
  };
}
