import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { StartupError } from './cli.js';

/**
 * One process at a time on a data folder (created if missing): two DynamoDB Local processes on the same files corrupt each
 * other's view. The lock is `roaming.lock` in the data folder, a JSON object naming its owner:
 * `{"pid", "command", "startedAt"}`, and once started `"javaPid"` and `"endpoint"` of its DynamoDB
 * Local. It is created atomically (written aside, then hard-linked into place, which fails if a lock
 * exists) and removed when the owner exits. A lock whose owner pid is dead is stale and taken over; if
 * its DynamoDB Local is still running (the owner was killed outright), that orphan is stopped first.
 */
export const LOCK_FILE_NAME = 'roaming.lock';

export interface LockOwner {
  pid: number;
  command: string;
  startedAt: string;
  javaPid?: number;
  endpoint?: string;
}

export interface DataDirLock {
  readonly file: string;
  /** Adds fields to the lock (atomically: written aside, then renamed over it). */
  update(fields: Pick<LockOwner, 'javaPid' | 'endpoint'>): void;
  /** Removes the lock if it is still ours. Also runs when this process exits. */
  release(): void;
}

export async function lockDataDir(
  dataDir: string,
  command: string,
  log: (line: string) => void = (line) => console.log(line),
): Promise<DataDirLock> {
  try {
    keepPrivate(dataDir);
  } catch (error) {
    throw new StartupError(
      `Cannot use ${dataDir} as the data folder (${(error as Error).message}). Choose another: ` +
        `ROAMING_DATA_DIR=.data/other ${command} (or ROAMING_IN_MEMORY=1 ${command})`,
    );
  }
  const file = join(dataDir, LOCK_FILE_NAME);
  let owner: LockOwner = { pid: process.pid, command, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    if (createLock(file, owner)) {
      const release = () => releaseLock(file);
      process.on('exit', release);
      return {
        file,
        update(fields) {
          owner = { ...owner, ...fields };
          writeAside(file, owner, (aside) => renameSync(aside, file));
        },
        release() {
          process.off('exit', release);
          release();
        },
      };
    }
    const holder = readLock(file);
    if (holder && isAlive(holder.pid)) throw new StartupError(inUseMessage(dataDir, holder, command));
    await takeOverStaleLock(file, holder, log);
  }
  throw new StartupError(`Could not lock the data folder ${dataDir} (${file} keeps changing)`);
}

/**
 * The data folder is its owner's alone (0700), created so or made so: the database file is named after
 * the store's access key and holds every user's messages. Files an earlier version left readable by
 * others (the database, 0644 under the usual umask) become 0600; DynamoDB Local creates new ones with
 * umask 077 (embedded-dynamo.ts).
 */
const DATABASE_FILE = /\.db(-journal|-wal|-shm)?$/;

export function keepPrivate(dataDir: string): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return;
  chmodSync(dataDir, 0o700);
  for (const entry of readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile() && DATABASE_FILE.test(entry.name)) chmodSync(join(dataDir, entry.name), 0o600);
  }
}

/** The lock's owner, or undefined if there is no lock or it is not one of ours. */
export function readLock(file: string): LockOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof parsed.pid === 'number' ? (parsed as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

function inUseMessage(dataDir: string, holder: LockOwner, command: string): string {
  return (
    `The data folder ${dataDir} is in use by another ${holder.command || 'process'} (pid ${holder.pid}). ` +
    `Stop it first, or use another folder: ROAMING_DATA_DIR=.data/other ${command} ` +
    `(or ROAMING_IN_MEMORY=1 ${command})`
  );
}

/** True if this call created the lock; false if one exists. */
function createLock(file: string, owner: LockOwner): boolean {
  return writeAside(file, owner, (aside) => {
    try {
      linkSync(aside, file);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  });
}

/** Writes `owner` to a file next to the lock, hands it to `place`, and removes it afterwards. */
function writeAside<T>(file: string, owner: LockOwner, place: (aside: string) => T): T {
  const aside = `${file}.${process.pid}.tmp`;
  writeFileSync(aside, `${JSON.stringify(owner)}\n`, { mode: 0o600 });
  try {
    return place(aside);
  } finally {
    rmSync(aside, { force: true });
  }
}

/**
 * Moves a stale lock out of the way. The rename is atomic, so of two processes taking over one stale
 * lock only one moves it; if what we moved turns out to be a live owner's fresh lock (it was replaced
 * between our read and our rename), it goes back.
 */
async function takeOverStaleLock(
  file: string,
  stale: LockOwner | undefined,
  log: (line: string) => void,
): Promise<void> {
  const moved = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, moved);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else moved it: look again
    throw error;
  }
  const owner = readLock(moved);
  if (owner && isAlive(owner.pid)) {
    try {
      linkSync(moved, file);
    } catch {
      // Another process locked it meanwhile; the next attempt reads that lock.
    }
    rmSync(moved, { force: true });
    return;
  }
  rmSync(moved, { force: true });
  // The lock we moved, not the one read before: a taker in between may have left a store of its own.
  const orphaned = owner ?? stale;
  if (orphaned?.javaPid && isDynamoDbLocal(orphaned.javaPid)) {
    await stopOrphan(orphaned.javaPid);
    log(
      `Stopped DynamoDB Local (pid ${orphaned.javaPid}) that an earlier ${orphaned.command || 'run'} ` +
        `(pid ${orphaned.pid}) left running on this data folder`,
    );
  }
}

function releaseLock(file: string): void {
  if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
}

/** True if a process with this pid exists (EPERM: it exists, but belongs to someone else). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Checked before killing a recorded pid: after a reboot or a long time, the pid may be someone else's. */
function isDynamoDbLocal(pid: number): boolean {
  if (!isAlive(pid)) return false;
  const ps = spawnSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' });
  return ps.status === 0 && ps.stdout.includes('DynamoDBLocal');
}

/** SIGTERM to its process group (it leads one), then SIGKILL if it is still there after 5 s. */
async function stopOrphan(pid: number): Promise<void> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isAlive(pid)) signal(pid, 'SIGKILL');
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(-pid, name);
  } catch {
    try {
      process.kill(pid, name);
    } catch {
      // Gone already.
    }
  }
}
