import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * DynamoDB requests made on behalf of one API request (or one sweep invocation), counted by an SDK
 * middleware on the client. The count is scoped with AsyncLocalStorage, so concurrent requests in one
 * process (npm start) each get their own. Inside a scope the middleware also asks DynamoDB for the
 * consumed capacity (ReturnConsumedCapacity: TOTAL): free of charge, a few bytes more per answer.
 */
export interface StoreUsage {
  requests: number;
  byCommand: Record<string, number>;
  /** Read and write capacity units together, as DynamoDB reported them. */
  capacityUnits: number;
  /** The part of capacityUnits that reads consumed (what the request budget charges). */
  readUnits: number;
}

const scope = new AsyncLocalStorage<StoreUsage>();

/** Commands that accept ReturnConsumedCapacity (those the store sends). */
export const CAPACITY_COMMANDS = new Set([
  'GetItem',
  'BatchGetItem',
  'Query',
  'Scan',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'BatchWriteItem',
  'TransactWriteItems',
  'TransactGetItems',
]);

/** The commands that read (DynamoDB reports one number per answer; the command says what it was). */
export const READ_COMMANDS = new Set(['GetItem', 'BatchGetItem', 'Query', 'Scan', 'TransactGetItems']);

export function newStoreUsage(): StoreUsage {
  return { requests: 0, byCommand: {}, capacityUnits: 0, readUnits: 0 };
}

/** Runs `work` with `usage` counting every DynamoDB request it makes. */
export function measureStoreUsage<T>(usage: StoreUsage, work: () => T): T {
  return scope.run(usage, work);
}

interface Capacity {
  CapacityUnits?: number;
}

/** The DynamoDB operation a middleware sees (`QueryCommand` → `Query`). */
export function operationNameOf(context: { commandName?: string }): string {
  return String(context.commandName ?? 'unknown').replace(/Command$/, '');
}

/** The capacity units an answer reports (one entry, or one per table and index). */
export function consumedUnitsOf(output: unknown): number {
  const consumed = (output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity;
  return [consumed ?? []].flat().reduce((sum, c) => sum + (c.CapacityUnits ?? 0), 0);
}

type Handler = (args: { input: object }) => Promise<{ output: unknown }>;
type Middleware = (next: Handler, context: { commandName?: string }) => Handler;

/** What the middleware needs of a client: its middleware stack (the document client shares its client's). */
export interface MiddlewareClient {
  middlewareStack: {
    add(middleware: never, options: { step: 'initialize'; name: string; override: boolean }): void;
  };
}

/** Adds the counting middleware to a client (idempotent: a second call replaces the first). */
export function countStoreUsage(client: MiddlewareClient): void {
  const count: Middleware = (next, context) =>
    async function countRequest(args) {
      const usage = scope.getStore();
      if (!usage) return next(args);
      const name = operationNameOf(context);
      usage.requests++;
      usage.byCommand[name] = (usage.byCommand[name] ?? 0) + 1;
      const input = args.input as { ReturnConsumedCapacity?: string };
      if (CAPACITY_COMMANDS.has(name) && input.ReturnConsumedCapacity === undefined) {
        input.ReturnConsumedCapacity = 'TOTAL';
      }
      const result = await next(args);
      const units = consumedUnitsOf(result.output);
      usage.capacityUnits += units;
      if (READ_COMMANDS.has(name)) usage.readUnits += units;
      return result;
    };
  client.middlewareStack.add(count as never, {
    step: 'initialize',
    name: 'roamingStoreUsage',
    override: true,
  });
}

/** True if `client` has a middleware stack (a wrapper used by fault-injection tests may not). */
export function hasMiddlewareStack(client: unknown): client is MiddlewareClient {
  return typeof (client as { middlewareStack?: { add?: unknown } }).middlewareStack?.add === 'function';
}

/** The usage counted for the work running now, if it is measured. */
export function storeUsageInScope(): StoreUsage | undefined {
  return scope.getStore();
}
