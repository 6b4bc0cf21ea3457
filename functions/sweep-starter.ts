import type { Deps } from './domain/deps.js';
import { runSweep, type SweepSummary } from './domain/sweep.js';
import { type AsyncInvoke, createAsyncInvoke } from './lambda-invoke.js';

/**
 * Gets a sweep run worked on after POST /v1/admin/sweeps created (or joined) it: on AWS by invoking the
 * sweep function asynchronously, locally by running the sweep in this process in the background.
 */
export interface SweepStarter {
  start(runId: string): Promise<void>;
}

/** The sweep function's event when started by an admin: it works on that run only. */
export interface SweepStartEvent {
  source: 'roaming.admin';
  runId: string;
}

export function lambdaSweepStarter(
  functionName: string,
  invoke: AsyncInvoke = createAsyncInvoke(),
): SweepStarter {
  return {
    async start(runId) {
      const event: SweepStartEvent = { source: 'roaming.admin', runId };
      await invoke(functionName, event);
    },
  };
}

/** For the startSweep Lambda: SWEEP_FUNCTION_NAME names the sweep function (checked at cold start). */
export function sweepStarterFromEnv(env: NodeJS.ProcessEnv = process.env): SweepStarter {
  const functionName = env.SWEEP_FUNCTION_NAME;
  if (!functionName) throw new Error('SWEEP_FUNCTION_NAME must be set');
  return lambdaSweepStarter(functionName);
}

/**
 * Runs sweeps in this process, one after the other (npm start and the tests). `start` returns at once;
 * `idle()` resolves when every sweep started so far has ended.
 */
export function inProcessSweepStarter(
  deps: Deps,
  log: (line: string) => void = (line) => console.log(line),
): SweepStarter & { idle(): Promise<void> } {
  let queue: Promise<void> = Promise.resolve();
  return {
    async start(runId) {
      queue = queue.then(async function sweepInBackground() {
        try {
          log(describeSweep(await runSweep(deps, { trigger: 'local', runId })));
        } catch (error) {
          log(`Sweep ${runId} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
    },
    idle: () => queue,
  };
}

/** One line for a console: what a sweep invocation did. */
export function describeSweep(summary: SweepSummary): string {
  const { counts, runCounts } = summary;
  if (summary.outcome === 'idle') return `Sweep ${summary.runId ?? ''}: nothing to do (run already finished)`;
  return (
    `Sweep ${summary.runId}: ${summary.outcome} (${summary.shardsDone}/${summary.shardCount} shards done); ` +
    `this invocation: ${counts.messagesDeleted} copies deleted in ${counts.batches} batches, ` +
    `${counts.conversations} conversations, ${counts.users} users, ${counts.retries} retries, ` +
    `${Math.round(summary.durationMs)} ms; run total: ${runCounts.messagesDeleted} copies` +
    (summary.closedRun ? `; shared histories: ${summary.sharedHistories.copiesDeleted} copies` : '')
  );
}
