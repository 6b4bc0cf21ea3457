import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Runs a local command as its npm script does (`node --import tsx local/start.ts`), in a temporary
 * working directory (so its `.data/endpoint` file is its own), and watches its output, its exit and the
 * DynamoDB Local processes it started. The spawned pid is the script's own.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The working directory is elsewhere, so tsx is named by its file, not by its package name.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface LocalProcess {
  readonly child: ChildProcess;
  readonly cwd: string;
  stdout(): string;
  /** Everything the process wrote on stderr. */
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout+stderr; rejects if the process exits first. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `roaming-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function runLocal(
  script: 'local/start.ts' | 'local/sweep.ts' | 'local/token.ts' | 'local/seed.ts',
  options: { env?: NodeJS.ProcessEnv; cwd: string; args?: string[] },
): LocalProcess {
  const args = ['--import', TSX_LOADER, join(ROOT, script), ...(options.args ?? [])];
  return watch(spawn(process.execPath, args, spawnOptions(options.cwd, options.env)), options.cwd);
}

/** `npm start` itself, in the repository (npm runs the script there): npm, then sh, then node. */
export function runNpmStart(options: { env?: NodeJS.ProcessEnv }): LocalProcess {
  return watch(spawn('npm', ['start'], spawnOptions(ROOT, options.env)), ROOT);
}

function spawnOptions(cwd: string, env: NodeJS.ProcessEnv | undefined) {
  // Without the test run's own switch for the AWS SDK's Node-version notice: each local command must
  // turn it off itself (local/quiet-warnings.ts), as it does for a user.
  const { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: _notice, ...inherited } = process.env;
  return {
    cwd,
    env: { ...inherited, ROAMING_SWEEP_INTERVAL_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
}

function watch(child: ChildProcess, cwd: string): LocalProcess {
  let out = '';
  let err = '';
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const check of waiters) check();
  };
  child.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    changed();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
    changed();
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolveExit) => {
    child.once('close', (code, signal) => {
      resolveExit({ code, signal });
      changed();
    });
  });
  return {
    child,
    cwd,
    stdout: () => out,
    stderr: () => err,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolveMatch, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; output:\n${out}\n${err}`));
        }, timeoutMs);
        function check() {
          const match = pattern.exec(`${out}\n${err}`);
          if (match) {
            clearTimeout(timer);
            waiters.delete(check);
            resolveMatch(match);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(new Error(`exited before ${pattern}; output:\n${out}\n${err}`));
          }
        }
        waiters.add(check);
        check();
      });
    },
    exited(timeoutMs = 30_000) {
      return Promise.race([
        exit,
        new Promise<never>((_, reject) =>
          setTimeout(() => reject(new Error(`did not exit; output:\n${out}\n${err}`)), timeoutMs).unref(),
        ),
      ]);
    },
  };
}

/** The non-empty lines of `text`. */
export function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

/** True while `pid` is a live process (a zombie, which holds no port or file, counts as gone). */
export function isRunning(pid: number): boolean {
  const ps = spawnSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' });
  const state = ps.stdout.trim();
  return ps.status === 0 && state !== '' && !state.startsWith('Z');
}

/** Pids of the live DynamoDB Local processes whose command line names `dataDir`. */
export function dynamoDbLocalPidsOn(dataDir: string): number[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,stat=,args='], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .filter(
      ([, , stat, args]) =>
        !stat?.startsWith('Z') && args?.includes('DynamoDBLocal') && args.includes(dataDir),
    )
    .map(([, pid]) => Number(pid));
}

/** Waits until `check` is true (polling), or fails after `timeoutMs`. */
export async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolveWait) => setTimeout(resolveWait, 50));
  }
}

/**
 * Test cleanup: what a failed test left running is stopped, by pid: each command with SIGTERM (it
 * stops its store), any DynamoDB Local on the folders with SIGKILL.
 */
export function stopLeftovers(processes: LocalProcess[], dataDirs: string[]): void {
  const signal = (pid: number | undefined, name: NodeJS.Signals) => {
    if (pid === undefined) return;
    try {
      process.kill(pid, name);
    } catch {
      // Gone already.
    }
  };
  for (const local of processes) if (local.child.exitCode === null) signal(local.child.pid, 'SIGTERM');
  for (const dir of dataDirs) for (const pid of dynamoDbLocalPidsOn(dir)) signal(pid, 'SIGKILL');
}
