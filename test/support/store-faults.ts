import type { Db, DocumentSender, RetryPolicy } from '../../functions/store/db.js';

/**
 * Overload and outages on the real DynamoDB client, the way DynamoDB shows them: a throttled request
 * fails with ThrottlingException; a throttled transaction is cancelled with a ThrottlingError reason
 * per action (TransactionCanceledException); a throttled batch comes back with everything unprocessed;
 * an unreachable store fails with ECONNREFUSED. A faulted command is never sent, so it changes nothing.
 */
export type FaultKind = 'throttle' | 'unreachable';

export interface StoreFaults {
  wrap(client: DocumentSender): DocumentSender;
  /** Every command from the `from`-th on (0-based, counted from now) fails, retries included. */
  failFrom(kind: FaultKind, from: number): void;
  /** Every command's first attempt is throttled, its retry goes through: overload that passes. */
  throttleFirstAttempts(): void;
  /** No more faults. */
  clear(): void;
  /** Commands sent (or refused) since the last arming. */
  readonly commands: number;
  /** Commands refused with a fault since the last arming. */
  readonly faults: number;
}

interface Command {
  constructor: { name: string };
  input: Record<string, unknown>;
}

export function storeFaults(): StoreFaults {
  let mode: { kind: 'none' } | { kind: FaultKind; from: number } | { kind: 'first attempts' } = {
    kind: 'none',
  };
  let commands = 0;
  let faults = 0;
  let seen = new Set<string>();
  const arm = (next: typeof mode) => {
    mode = next;
    commands = 0;
    faults = 0;
    seen = new Set();
  };
  return {
    wrap(client) {
      return {
        send: (async (command: Command) => {
          const index = commands++;
          // A retry may be a new command object with the same input (a transaction, a batch's rest).
          const attempt = `${command.constructor.name} ${JSON.stringify(command.input)}`;
          const fault =
            mode.kind === 'first attempts'
              ? seen.has(attempt)
                ? undefined
                : 'throttle'
              : mode.kind !== 'none' && index >= mode.from
                ? mode.kind
                : undefined;
          seen.add(attempt);
          if (fault !== undefined) {
            faults++;
            return refuse(fault, command);
          }
          return (client.send as (c: unknown) => Promise<unknown>)(command);
        }) as DocumentSender['send'],
      };
    },
    failFrom: (kind, from) => arm({ kind, from }),
    throttleFirstAttempts: () => arm({ kind: 'first attempts' }),
    clear: () => arm({ kind: 'none' }),
    get commands() {
      return commands;
    },
    get faults() {
      return faults;
    },
  };
}

/** What DynamoDB (or the network) answers instead of running `command`. */
function refuse(kind: FaultKind, command: Command): unknown {
  if (kind === 'unreachable') {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8000'), { code: 'ECONNREFUSED' });
  }
  const name = command.constructor.name;
  if (name === 'TransactWriteCommand') {
    const actions = (command.input.TransactItems as unknown[] | undefined) ?? [];
    throw Object.assign(
      new Error('Transaction cancelled, please refer cancellation reasons for specific reasons'),
      {
        name: 'TransactionCanceledException',
        CancellationReasons: actions.map(() => ({
          Code: 'ThrottlingError',
          Message: 'Throughput exceeds the current capacity',
        })),
      },
    );
  }
  if (name === 'BatchWriteCommand') {
    return Promise.resolve({ UnprocessedItems: command.input.RequestItems });
  }
  if (name === 'BatchGetCommand') {
    return Promise.resolve({ Responses: {}, UnprocessedKeys: command.input.RequestItems });
  }
  throw Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), {
    name: 'ThrottlingException',
  });
}

/**
 * The store's retry policy at a millisecond scale: the same number of attempts as in production (so a
 * fault outlasts them exactly as it would), without the seconds of backoff.
 */
export const FAST_RETRY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 1, maxDelayMs: 4 };

export function useFastRetries(db: Db): void {
  (db as { retry: RetryPolicy }).retry = FAST_RETRY;
}
