import type { DocumentSender } from '../../functions/store/db.js';

/**
 * DynamoDB's transaction conflicts, which DynamoDB Local (one request at a time) never shows. On AWS a
 * TransactWriteItems takes tens of milliseconds (two-phase, across partitions), and while it runs:
 * - another TransactWriteItems that touches one of its items (a ConditionCheck counts) is cancelled, with
 *   `TransactionConflict` as the reason of the actions on those items;
 * - a PutItem, UpdateItem or DeleteItem of one of its items fails with TransactionConflictException.
 * ("Transaction conflict handling", Amazon DynamoDB developer guide.) This wraps the real client: each
 * transaction holds its items for `holdMs` before it is sent, and whatever touches them meanwhile is
 * refused the way DynamoDB refuses it, without being sent. Counts what it refused.
 */
export interface TransactionConflicts {
  wrap(client: DocumentSender): DocumentSender;
  readonly transactions: number;
  /** Transactions cancelled for a conflict. */
  readonly cancelled: number;
  /** Single-item writes refused with TransactionConflictException. */
  readonly refusedWrites: number;
  reset(): void;
}

interface Command {
  constructor: { name: string };
  input: Record<string, unknown>;
}

type Key = Record<string, unknown>;
type Action = { [kind: string]: { TableName?: string; Key?: Key; Item?: Key } };

const SINGLE_WRITES = new Set(['PutCommand', 'UpdateCommand', 'DeleteCommand']);

export function transactionConflicts(options: { holdMs: number }): TransactionConflicts {
  /** Items held by transactions in flight, as `table pk sk`, with how many hold each. */
  const held = new Map<string, number>();
  const counts = { transactions: 0, cancelled: 0, refusedWrites: 0 };
  const itemId = (table: unknown, key: Key) => `${String(table)} ${String(key.pk)} ${String(key.sk)}`;
  const actionItem = (action: Action) => {
    const [body] = Object.values(action);
    return itemId(body?.TableName, (body?.Key ?? { pk: body?.Item?.pk, sk: body?.Item?.sk }) as Key);
  };
  return {
    wrap(client) {
      const send = (command: unknown) => (client.send as (c: unknown) => Promise<unknown>)(command);
      return {
        send: (async (command: Command) => {
          const name = command.constructor.name;
          if (SINGLE_WRITES.has(name)) {
            const item = itemId(command.input.TableName, (command.input.Key ?? command.input.Item) as Key);
            if (held.has(item)) {
              counts.refusedWrites++;
              throw Object.assign(new Error('Transaction is ongoing for the item'), {
                name: 'TransactionConflictException',
              });
            }
            return send(command);
          }
          if (name !== 'TransactWriteCommand') return send(command);
          counts.transactions++;
          const items = ((command.input.TransactItems as Action[] | undefined) ?? []).map(actionItem);
          if (items.some((item) => held.has(item))) {
            counts.cancelled++;
            throw Object.assign(
              new Error('Transaction cancelled, please refer cancellation reasons for specific reasons'),
              {
                name: 'TransactionCanceledException',
                CancellationReasons: items.map((item) =>
                  held.has(item)
                    ? { Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }
                    : { Code: 'None' },
                ),
              },
            );
          }
          for (const item of items) held.set(item, (held.get(item) ?? 0) + 1);
          try {
            await new Promise((resolve) => setTimeout(resolve, options.holdMs));
            return await send(command);
          } finally {
            for (const item of items) {
              const left = (held.get(item) ?? 1) - 1;
              if (left === 0) held.delete(item);
              else held.set(item, left);
            }
          }
        }) as DocumentSender['send'],
      };
    },
    get transactions() {
      return counts.transactions;
    },
    get cancelled() {
      return counts.cancelled;
    },
    get refusedWrites() {
      return counts.refusedWrites;
    },
    reset() {
      counts.transactions = 0;
      counts.cancelled = 0;
      counts.refusedWrites = 0;
    },
  };
}
