import type { Deps } from './domain/deps.js';
import { runErasure } from './domain/erasure.js';
import { type AsyncInvoke, createAsyncInvoke } from './lambda-invoke.js';

/**
 * Gets an erasure job worked on after POST /v1/admin/erasures created it: on AWS by invoking the erasure
 * function asynchronously (which invokes itself again until the job is over), locally by running the job
 * in this process in the background.
 */
export interface ErasureStarter {
  start(erasureId: string): Promise<void>;
}

/** The erasure function's event: the job to work on. */
export interface ErasureEvent {
  source: 'roaming.erasure';
  erasureId: string;
}

export function lambdaErasureStarter(
  functionName: string,
  invoke: AsyncInvoke = createAsyncInvoke(),
): ErasureStarter {
  return {
    async start(erasureId) {
      const event: ErasureEvent = { source: 'roaming.erasure', erasureId };
      await invoke(functionName, event);
    },
  };
}

/** For the startErasure Lambda: ERASURE_FUNCTION_NAME names the erasure function (checked at cold start). */
export function erasureStarterFromEnv(env: NodeJS.ProcessEnv = process.env): ErasureStarter {
  const functionName = env.ERASURE_FUNCTION_NAME;
  if (!functionName) throw new Error('ERASURE_FUNCTION_NAME must be set');
  return lambdaErasureStarter(functionName);
}

/**
 * Runs erasures in this process, one after the other (npm start and the tests). `start` returns at once;
 * `idle()` resolves when every job started so far has stopped.
 */
export function inProcessErasureStarter(
  deps: Deps,
  log: (line: string) => void = (line) => console.log(line),
): ErasureStarter & { idle(): Promise<void> } {
  let queue: Promise<void> = Promise.resolve();
  return {
    async start(erasureId) {
      queue = queue.then(async function eraseInBackground() {
        try {
          const { outcome, view } = await runErasure(deps, erasureId);
          log(`Erasure ${erasureId}: ${outcome}${view ? ` (${JSON.stringify(view.counts)})` : ''}`);
        } catch (error) {
          log(`Erasure ${erasureId} failed: ${error instanceof Error ? error.message : String(error)}`);
        }
      });
    },
    idle: () => queue,
  };
}
