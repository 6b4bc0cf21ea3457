import { AsyncLocalStorage } from 'node:async_hooks';
import type { DocumentSender } from '../../functions/store/db.js';

/**
 * A deterministic scheduler for the simulation (FoundationDB-style): every DynamoDB command of every
 * simulated instance waits here, and exactly one is released at a time, chosen by a seeded PRNG among
 * those waiting once every operation has run as far as it can. DynamoDB Local then sees one command at a
 * time, in an order that only the seed decides, so a run replays exactly and a failing seed can be
 * debugged. A command may be failed on release (before it is sent, or after it was applied), as a crash
 * or a lost answer would; an operation whose process dies there fails every command after it too, and
 * never sends one again (a sweep invocation killed mid-run leaves its leases to lapse).
 */

export interface OperationTag {
  id: number;
  kind: string;
  /**
   * Fail this operation's n-th command (0-based), before it is sent or after it was applied; with
   * `dies`, every later command of the operation fails before it is sent (its process died).
   */
  fault?: { at: number; when: 'before' | 'after'; dies?: boolean };
  /** Its process died (see `fault.dies`): nothing more of it reaches the store. */
  dead?: boolean;
  /** Commands released so far. */
  commands: number;
  startStep: number;
  /** True time (ms) at which it started. */
  startedAt: number;
  /** The step of the operation's last released command (its effects stop there). */
  lastStep: number;
}

export class InjectedCrash extends Error {
  constructor(when: 'before' | 'after') {
    super(`injected crash ${when} a command`);
    this.name = 'InjectedCrash';
  }
}

interface Waiting {
  operation: OperationTag | undefined;
  run: (fail: 'before' | 'after' | undefined) => Promise<void>;
}

const operationContext = new AsyncLocalStorage<OperationTag>();

/**
 * The operation a command belongs to, for a client wrapped inside the scheduler's (which sends each
 * command in its operation's context), or inside `runAs`.
 */
export function currentOperation(): OperationTag | undefined {
  return operationContext.getStore();
}

/** Runs `body` as `tag`'s operation outside the scheduler (the oracle's own work on the true clock). */
export function runAs<T>(tag: OperationTag, body: () => Promise<T>): Promise<T> {
  return operationContext.run(tag, body);
}

export class Scheduler {
  private waiting: Waiting[] = [];
  private running = 0;
  private nextOperationId = 0;
  /** Released commands so far: the simulation's notion of time order. */
  step = 0;

  /** `now` is the true clock (operations note when they started). */
  constructor(
    private readonly random: () => number,
    private readonly now: () => number,
  ) {}

  /** The instance's view of the store: every command waits for its turn. */
  wrap(client: DocumentSender): DocumentSender {
    return {
      send: ((command: unknown) =>
        new Promise((resolve, reject) => {
          const operation = operationContext.getStore();
          this.waiting.push({
            operation,
            run: async (fail) => {
              if (fail === 'before') return reject(new InjectedCrash('before'));
              try {
                const sent = () => (client.send as (c: unknown) => Promise<unknown>)(command);
                const output = await (operation ? operationContext.run(operation, sent) : sent());
                if (fail === 'after') reject(new InjectedCrash('after'));
                else resolve(output as never);
              } catch (error) {
                reject(error);
              }
            },
          });
        })) as DocumentSender['send'],
    };
  }

  /** Starts an operation now; its commands are scheduled with everyone else's. */
  start<T>(
    kind: string,
    body: () => Promise<T>,
    fault?: OperationTag['fault'],
  ): { tag: OperationTag; done: Promise<T> } {
    const tag: OperationTag = {
      id: this.nextOperationId++,
      kind,
      fault,
      commands: 0,
      startStep: this.step,
      startedAt: this.now(),
      lastStep: this.step,
    };
    this.running++;
    const done = operationContext.run(tag, body).finally(() => {
      this.running--;
    });
    return { tag, done };
  }

  /** Releases commands one at a time until every started operation has finished. */
  async drain(): Promise<void> {
    for (;;) {
      await settle();
      if (this.waiting.length === 0) {
        if (this.running === 0) return;
        // An operation is between commands on something else (rare: a real timer); let it get here.
        await new Promise((resolve) => setTimeout(resolve, 1));
        continue;
      }
      const [next] = this.waiting.splice(Math.floor(this.random() * this.waiting.length), 1) as [Waiting];
      this.step++;
      const operation = next.operation;
      let fail: 'before' | 'after' | undefined;
      if (operation) {
        if (operation.dead) fail = 'before';
        else if (operation.fault && operation.fault.at === operation.commands) {
          fail = operation.fault.when;
          operation.dead = operation.fault.dies === true;
        }
        operation.commands++;
        operation.lastStep = this.step;
      }
      await next.run(fail);
    }
  }
}

/** Lets every continuation run until it waits on a command again (or finishes). */
async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
}
