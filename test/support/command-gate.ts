import type { DocumentSender } from '../../functions/store/db.js';

/**
 * Stages races on the real DynamoDB client: a hook runs right before a matching command is sent, or
 * right after it completed (before the caller sees the result), while the operation that sent it
 * waits. Each armed hook fires once. Fault injection (a command that fails) is a hook that throws.
 */
export interface SentCommand {
  constructor: { name: string };
  input: Record<string, unknown>;
}

export type CommandMatcher = (command: SentCommand) => boolean;
type Hook = (command: SentCommand) => Promise<void> | void;

export interface CommandGate {
  wrap(client: DocumentSender): DocumentSender;
  /** `hook` runs before the next command that matches is sent; if it throws, the command is not sent. */
  before(matches: CommandMatcher, hook: Hook): void;
  /** `hook` runs after the next command that matches completed; if it throws, the caller gets that error. */
  after(matches: CommandMatcher, hook: Hook): void;
  /** Drops every armed hook. */
  reset(): void;
}

export function commandGate(): CommandGate {
  let armed: { when: 'before' | 'after'; matches: CommandMatcher; hook: Hook }[] = [];
  function take(when: 'before' | 'after', command: SentCommand): Hook | undefined {
    const index = armed.findIndex((entry) => entry.when === when && entry.matches(command));
    if (index === -1) return undefined;
    const [entry] = armed.splice(index, 1);
    return entry?.hook;
  }
  return {
    wrap(client) {
      return {
        send: (async (command: SentCommand) => {
          await take('before', command)?.(command);
          const output = await (client.send as (c: unknown) => Promise<unknown>)(command);
          await take('after', command)?.(command);
          return output;
        }) as DocumentSender['send'],
      };
    },
    before(matches, hook) {
      armed.push({ when: 'before', matches, hook });
    },
    after(matches, hook) {
      armed.push({ when: 'after', matches, hook });
    },
    reset() {
      armed = [];
    },
  };
}

/** Every Update inside a command (an UpdateItem, or the Update actions of a transaction). */
function updatesOf(command: SentCommand): Record<string, unknown>[] {
  if (command.constructor.name === 'UpdateCommand') return [command.input];
  if (command.constructor.name !== 'TransactWriteCommand') return [];
  const items = (command.input.TransactItems ?? []) as { Update?: Record<string, unknown> }[];
  return items.flatMap((item) => (item.Update ? [item.Update] : []));
}

/** A transaction (or update) that writes `attribute` of an item whose key has `pk` and `sk`, if given. */
export function writes(attribute: string, key: { pk?: string; sk?: string } = {}): CommandMatcher {
  return (command) =>
    updatesOf(command).some((update) => {
      const names = Object.values((update.ExpressionAttributeNames ?? {}) as Record<string, string>);
      const updateKey = update.Key as { pk?: string; sk?: string };
      return (
        names.includes(attribute) &&
        (key.pk === undefined || updateKey.pk === key.pk) &&
        (key.sk === undefined || updateKey.sk === key.sk)
      );
    });
}

export const isCommand =
  (name: string): CommandMatcher =>
  (command) =>
    command.constructor.name === name;

/** A hook's way to fail the operation as a crash would. */
export class InjectedFault extends Error {
  constructor(message = 'injected fault') {
    super(message);
    this.name = 'InjectedFault';
  }
}

/** The commands that write (what a test asserts a read-only request never sends). */
export const WRITE_COMMANDS: ReadonlySet<string> = new Set([
  'PutCommand',
  'UpdateCommand',
  'DeleteCommand',
  'TransactWriteCommand',
  'BatchWriteCommand',
]);

/** Wraps the client so that every command it sends is also appended to `sent`. */
export function recordingInto(sent: SentCommand[], client: DocumentSender): DocumentSender {
  return {
    send: ((command: SentCommand) => {
      sent.push(command);
      return (client.send as (c: unknown) => Promise<unknown>)(command);
    }) as DocumentSender['send'],
  };
}
