import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Deps } from '../functions/domain/deps.js';
import { runSweep } from '../functions/domain/sweep.js';
import { describeSweep } from '../functions/sweep-starter.js';

/**
 * The laptop stand-in for the sweep's schedule, and how `npm run sweep` finds the DynamoDB endpoint of
 * a running `npm start`: on a data folder, from the folder's lock (data-dir-lock.ts); in memory or
 * with DYNAMODB_ENDPOINT, from the endpoint file.
 */

/** Where `npm start` without a data folder writes its DynamoDB endpoint (relative to the working directory). */
export const ENDPOINT_FILE = '.data/endpoint';

/** The endpoint, and the access key id its data answers to (readable by the owner only). */
export function writeEndpointFile(endpoint: string, accessKeyId: string, file = ENDPOINT_FILE): void {
  mkdirSync(dirname(resolve(file)), { recursive: true });
  writeFileSync(file, `${endpoint}\n${accessKeyId}\n`, { mode: 0o600 });
}

export function removeEndpointFile(file = ENDPOINT_FILE): void {
  rmSync(file, { force: true });
}

/** The endpoint (and access key id) a running `npm start` wrote, if the file exists and the endpoint answers. */
export async function runningEndpoint(
  file = ENDPOINT_FILE,
): Promise<{ endpoint: string; accessKeyId: string } | undefined> {
  if (!existsSync(file)) return undefined;
  const [endpoint = '', accessKeyId = 'local'] = readFileSync(file, 'utf8').trim().split('\n');
  // If it does not answer, the file is stale: from a process that did not exit cleanly.
  return (await answers(endpoint)) ? { endpoint, accessKeyId } : undefined;
}

/** True if a DynamoDB endpoint answers HTTP at all (it rejects this unsigned request with 400). */
export async function answers(endpoint: string): Promise<boolean> {
  try {
    await fetch(endpoint, { method: 'POST', signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

/** ROAMING_SWEEP_INTERVAL_MS: how often `npm start` sweeps; 0 turns the timer off. @default 1 hour */
export function sweepIntervalMs(env: NodeJS.ProcessEnv): number {
  const raw = env.ROAMING_SWEEP_INTERVAL_MS;
  if (raw === undefined || raw === '') return 3_600_000;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`ROAMING_SWEEP_INTERVAL_MS must be a non-negative number, got "${raw}"`);
  }
  return value;
}

/** Runs a sweep every `intervalMs` in this process (never two at once). Returns a function that stops it. */
export function startSweepTimer(deps: Deps, intervalMs: number, log: (line: string) => void): () => void {
  if (intervalMs <= 0) return () => undefined;
  let running = false;
  const timer = setInterval(function sweepOnSchedule() {
    if (running) return;
    running = true;
    runSweep(deps, { trigger: 'local' })
      .then((summary) => log(describeSweep(summary)))
      .catch((error: unknown) =>
        log(`Sweep failed: ${error instanceof Error ? error.message : String(error)}`),
      )
      .finally(() => {
        running = false;
      });
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
