import { constants } from 'node:os';
import { RetryableError } from '../functions/core/errors.js';

/**
 * How the local commands (`npm start`, `npm run sweep`, `npm run bench`) end: whatever ends them (done,
 * a failure, Ctrl-C, SIGTERM), the cleanups they registered run (stop DynamoDB Local, release the data
 * folder) before the process exits, and a failure the user can fix is one line, not a stack trace.
 */

/**
 * A failure the user can fix, told in one line (what is wrong and what to do): printed to stderr
 * without a stack trace, exit code 1. Anything else that escapes is a bug and keeps its stack.
 */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** Reads settings from the environment; a bad value is a one-line failure like every other. */
export function readConfig<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
}

/** A command-line number that must be whole and at least `min`; undefined when the flag was not given. */
export function wholeNumberArg(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) {
    throw new StartupError(`${flag} must be a whole number of at least ${min}, got "${value}"`);
  }
  return number;
}

export interface Lifetime {
  /** Runs when the command ends, whatever ends it; the last registered runs first. */
  onEnd(cleanup: () => Promise<void> | void): void;
  /** Runs the cleanups, then exits with `code`. Only the first call counts. */
  end(code: number): Promise<void>;
  /** True once the command is ending: failures after that are consequences, not news. */
  readonly ending: boolean;
}

/**
 * Runs a command. Its `main` returning does not end the process (a server goes on serving); `end` does.
 * On SIGINT (Ctrl-C), SIGTERM or SIGHUP (terminal closed), `onSignal` says the exit code (and may print
 * why). Without these handlers Node would exit at once without running 'exit' handlers, leaving
 * DynamoDB Local (its own process group) running. The same happens when the process that started this
 * one is gone: npm runs a script as `sh -c '...'`, and a SIGTERM to npm ends that shell, not us.
 */
export function runCommand(
  main: (lifetime: Lifetime) => Promise<void>,
  options: { onSignal(signal: NodeJS.Signals): number },
): void {
  const cleanups: (() => Promise<void> | void)[] = [];
  let ending = false;
  const lifetime: Lifetime = {
    onEnd: (cleanup) => cleanups.push(cleanup),
    get ending() {
      return ending;
    },
    async end(code) {
      if (ending) return;
      ending = true;
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          console.error(error);
        }
      }
      process.exit(code);
    },
  };
  const stopOn = (signal: NodeJS.Signals) => {
    // A second Ctrl-C while stopping changes nothing: stopping is bounded (SIGKILL after 5 s).
    if (!ending) void lifetime.end(options.onSignal(signal));
  };
  for (const signal of STOP_SIGNALS) process.on(signal, stopOn);
  whenParentIsGone(() => stopOn('SIGHUP'));
  main(lifetime).catch(function reportFailure(error: unknown) {
    if (ending) return;
    console.error(oneLineOrStack(error));
    void lifetime.end(1);
  });
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Polls the parent pid: once the parent exits, this process is re-parented and the pid changes. */
function whenParentIsGone(gone: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(function checkParent() {
    if (process.ppid !== parent) {
      clearInterval(timer);
      gone();
    }
  }, 500);
  timer.unref();
}

/** A StartupError, or a store that cannot be reached, is one line; a bug keeps its stack. */
function oneLineOrStack(error: unknown): unknown {
  if (error instanceof StartupError) return error.message;
  if (error instanceof RetryableError) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return error;
}

/** The conventional exit code of a process ended by `signal`: 128 + its number (SIGINT 130, SIGTERM 143). */
export function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + (constants.signals[signal] ?? 15);
}
