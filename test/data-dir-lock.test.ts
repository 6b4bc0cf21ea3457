import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StartupError } from '../local/cli.js';
import { isAlive, LOCK_FILE_NAME, lockDataDir, readLock } from '../local/data-dir-lock.js';
import { javaNeeded, parseJavaMajor } from '../local/java-check.js';
import { removeDir, tempDir } from './support/local-process.js';

/** The data folder lock on its own, with stand-in processes (no Java needed, so these are fast). */
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function dataDir(): string {
  const dir = tempDir('lock');
  dirs.push(dir);
  return dir;
}

/** A live process whose command line says what `label` says (e.g. that it is DynamoDB Local). */
async function idleProcess(label: string, options: { detached?: boolean } = {}): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', label], {
    stdio: 'ignore',
    detached: options.detached,
  });
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
  return child;
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

function writeLock(dir: string, owner: object): void {
  writeFileSync(join(dir, LOCK_FILE_NAME), JSON.stringify(owner));
}

describe('the data folder lock', () => {
  it('is created with the owner pid, updated atomically, and removed on release', async () => {
    const dir = dataDir();
    const lock = await lockDataDir(dir, 'npm start');
    expect(readLock(lock.file)).toMatchObject({ pid: process.pid, command: 'npm start' });
    lock.update({ javaPid: 1234, endpoint: 'http://127.0.0.1:1' });
    expect(readLock(lock.file)).toMatchObject({
      pid: process.pid,
      javaPid: 1234,
      endpoint: 'http://127.0.0.1:1',
    });
    lock.release();
    expect(existsSync(lock.file)).toBe(false);
  });

  it('held by a live process: refused with one line naming its pid and the ways out', async () => {
    const dir = dataDir();
    const owner = await idleProcess('roaming-owner');
    writeLock(dir, { pid: owner.pid, command: 'npm start', startedAt: new Date().toISOString() });
    const attempt = lockDataDir(dir, 'npm run sweep');
    await expect(attempt).rejects.toBeInstanceOf(StartupError);
    await expect(attempt).rejects.toThrow(
      `The data folder ${dir} is in use by another npm start (pid ${owner.pid}). Stop it first, or use ` +
        'another folder: ROAMING_DATA_DIR=.data/other npm run sweep (or ROAMING_IN_MEMORY=1 npm run sweep)',
    );
    expect(readLock(join(dir, LOCK_FILE_NAME))?.pid).toBe(owner.pid);
  });

  it('stale (its owner pid is dead): taken over, and the DynamoDB Local it left running is stopped', async () => {
    const dir = dataDir();
    const ownerPid = await deadPid();
    const orphan = await idleProcess('DynamoDBLocal.jar', { detached: true });
    const orphanExit = new Promise((resolve) => orphan.once('exit', (_, signal) => resolve(signal)));
    writeLock(dir, {
      pid: ownerPid,
      command: 'npm start',
      startedAt: '2026-01-01T00:00:00Z',
      javaPid: orphan.pid,
    });
    const logged: string[] = [];

    const lock = await lockDataDir(dir, 'npm start', (line) => logged.push(line));
    expect(readLock(lock.file)?.pid).toBe(process.pid);
    expect(await orphanExit).toBe('SIGTERM');
    expect(logged).toEqual([
      `Stopped DynamoDB Local (pid ${orphan.pid}) that an earlier npm start (pid ${ownerPid}) left running on this data folder`,
    ]);
    lock.release();
  });

  it('stale, but its recorded Java pid now belongs to another program: that program is left alone', async () => {
    const dir = dataDir();
    const bystander = await idleProcess('not-a-database');
    writeLock(dir, { pid: await deadPid(), command: 'npm start', startedAt: '', javaPid: bystander.pid });
    const lock = await lockDataDir(dir, 'npm start', () => undefined);
    expect(isAlive(bystander.pid as number)).toBe(true);
    expect(bystander.exitCode).toBeNull();
    lock.release();
  });

  it('unreadable (not a lock of ours): taken over', async () => {
    const dir = dataDir();
    writeFileSync(join(dir, LOCK_FILE_NAME), 'garbage');
    const lock = await lockDataDir(dir, 'npm start');
    expect(readLock(lock.file)?.pid).toBe(process.pid);
    lock.release();
  });
});

describe('the Java check', () => {
  it('reads the major version of old and new version strings', () => {
    expect(parseJavaMajor('openjdk version "17.0.15" 2025-04-15')).toBe(17);
    expect(parseJavaMajor('openjdk version "21" 2023-09-19')).toBe(21);
    expect(parseJavaMajor('java version "1.8.0_392"')).toBe(8);
    expect(parseJavaMajor('something else')).toBeUndefined();
  });

  it('says what was found when Java is too old, and offers DYNAMODB_ENDPOINT only where it works', () => {
    expect(javaNeeded('npm start', 11)).toBe(
      'Java 17 or newer is needed for the embedded DynamoDB Local (found Java 11) (install e.g. ' +
        'openjdk-17-jre-headless), or point to an existing DynamoDB endpoint: ' +
        'DYNAMODB_ENDPOINT=http://127.0.0.1:8000 npm start',
    );
    expect(javaNeeded()).toBe(
      'Java 17 or newer is needed for the embedded DynamoDB Local (install e.g. openjdk-17-jre-headless)',
    );
  });
});
