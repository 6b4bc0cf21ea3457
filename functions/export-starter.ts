import type { Deps } from './domain/deps.js';
import { type ExportRunOutcome, runExport } from './domain/export-job.js';
import type { ExportSink } from './domain/export-sink.js';
import { type AsyncInvoke, createAsyncInvoke } from './lambda-invoke.js';

/**
 * Gets an export worked on: on AWS by invoking the export worker function asynchronously (the start
 * route, and a worker out of time, which starts the next one), locally by running it in this process.
 */
export interface ExportStarter {
  start(exportId: string): Promise<void>;
}

/** The export worker function's event. */
export interface ExportWorkerEvent {
  source: 'roaming.export';
  exportId: string;
}

export function lambdaExportStarter(
  functionName: string,
  invoke: AsyncInvoke = createAsyncInvoke(),
): ExportStarter {
  return {
    async start(exportId) {
      const event: ExportWorkerEvent = { source: 'roaming.export', exportId };
      await invoke(functionName, event);
    },
  };
}

/**
 * EXPORT_FUNCTION_NAME names the worker (its `live` alias; the start route's environment), or, in the
 * worker itself, Lambda's own AWS_LAMBDA_FUNCTION_NAME with the alias: checked at cold start.
 */
export function exportStarterFromEnv(env: NodeJS.ProcessEnv = process.env): ExportStarter {
  const own = env.AWS_LAMBDA_FUNCTION_NAME ? `${env.AWS_LAMBDA_FUNCTION_NAME}:live` : undefined;
  const functionName = env.EXPORT_FUNCTION_NAME || own;
  if (!functionName) throw new Error('EXPORT_FUNCTION_NAME must be set');
  return lambdaExportStarter(functionName);
}

/** Tries of one invocation, as Lambda makes of an asynchronous event (the first and two retries). */
const LOCAL_TRIES = 3;

/**
 * Runs exports in this process, one after the other (npm start and the tests), each to its end: a
 * failed try is retried as Lambda retries an event (same invocation id, so it takes its lease back).
 * `idle()` resolves when every export started so far has ended.
 */
export function inProcessExportStarter(
  deps: Deps,
  sink: ExportSink,
  log: (line: string) => void = (line) => console.log(line),
): ExportStarter & { idle(): Promise<void> } {
  let queue: Promise<void> = Promise.resolve();
  return {
    async start(exportId) {
      queue = queue.then(async function exportInBackground() {
        const invocationId = deps.ids.next();
        for (let tryNumber = 1; tryNumber <= LOCAL_TRIES; tryNumber++) {
          try {
            let outcome: ExportRunOutcome;
            do outcome = await runExport(deps, sink, exportId, { invocationId });
            while (outcome === 'stopped');
            log(`Export ${exportId}: ${outcome}`);
            return;
          } catch (error) {
            log(
              `Export ${exportId} failed (try ${tryNumber}): ${error instanceof Error ? error.message : String(error)}`,
            );
          }
        }
      });
    },
    idle: () => queue,
  };
}
