import { existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOCK_FILE_NAME, type LockOwner } from '../local/data-dir-lock.js';
import { signDevToken } from '../local/dev-auth.js';
import { type EmbeddedDynamo, startEmbeddedDynamo } from '../local/embedded-dynamo.js';
import {
  dynamoDbLocalPidsOn,
  eventually,
  isRunning,
  type LocalProcess,
  lines,
  removeDir,
  runLocal,
  runNpmStart,
  stopLeftovers,
  tempDir,
} from './support/local-process.js';

/**
 * `npm start` as a new user meets it, run like `npm start` runs it: each failure is one line
 * on stderr with a documented exit code, and no DynamoDB Local is left running afterwards, checked by
 * pid (the Java pid it prints) and by every process whose command line names the test's data folder.
 */
const started: LocalProcess[] = [];
const dirs: string[] = [];
const stores: EmbeddedDynamo[] = [];
const servers: Server[] = [];
afterEach(async () => {
  stopLeftovers(started.splice(0), dirs);
  for (const store of stores.splice(0)) await store.stop();
  for (const server of servers.splice(0)) server.close();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function workspace(name: string): { cwd: string; dataDir: string } {
  const cwd = tempDir(name);
  dirs.push(cwd);
  return { cwd, dataDir: join(cwd, 'data') };
}

function start(cwd: string, env: NodeJS.ProcessEnv): LocalProcess {
  const local = runLocal('local/start.ts', { cwd, env: { PORT: '0', ...env } });
  started.push(local);
  return local;
}

function readLockFile(dataDir: string): LockOwner {
  return JSON.parse(readFileSync(join(dataDir, LOCK_FILE_NAME), 'utf8')) as LockOwner;
}

const STARTING = /Starting DynamoDB Local \(pid (\d+)\)/;
const READY = /Roaming API: (http:\/\/127\.0\.0\.1:\d+)/;

describe('npm start answers GET /health, and npm run seed fills the store it serves', () => {
  it('with the same ROAMING_DATA_DIR, seed says it uses the running npm start, and its data is served', async () => {
    // Prepare: npm start on a data folder of its own; /health answers 200 once it is ready.
    const { cwd, dataDir } = workspace('seed');
    const local = start(cwd, { ROAMING_DATA_DIR: dataDir });
    const api = (await local.waitFor(READY))[1] as string;
    const health = await fetch(`${api}/health`);
    expect([health.status, await health.text()]).toEqual([200, '{"status":"ok"}\n']);
    const owner = readLockFile(dataDir);
    // Act
    const seed = runLocal('local/seed.ts', {
      cwd,
      env: { ROAMING_DATA_DIR: dataDir },
      args: ['--users', '3', '--messages', '6', '--days', '1', '--groups', '0'],
    });
    started.push(seed);
    // Assess: it printed the running store, started none, and user-0001's conversations are served.
    expect(await seed.exited(120_000)).toEqual({ code: 0, signal: null });
    expect(seed.stdout()).toContain(`DynamoDB: ${owner.endpoint} (the running npm start, pid ${owner.pid})`);
    expect(seed.stdout()).not.toMatch(/DynamoDB Local/);
    // Nothing unexplained: no AWS SDK notice (or anything else) on stderr from either command.
    expect([local.stderr(), seed.stderr()]).toEqual(['', '']);
    // The README's way to a token: `npm run token` reads the secret npm start made in the data folder.
    const tokenCommand = runLocal('local/token.ts', {
      cwd,
      env: { ROAMING_DATA_DIR: dataDir },
      args: ['user-0001'],
    });
    started.push(tokenCommand);
    expect(await tokenCommand.exited()).toEqual({ code: 0, signal: null });
    const token = tokenCommand.stdout().trim();
    const listed = await fetch(`${api}/v1/conversations?limit=50`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await listed.json()) as { conversations: unknown[] }).conversations.length).toBeGreaterThan(0);
  }, 180_000);
});

describe('npm start fails clearly and leaves nothing behind', () => {
  it('port taken: one line naming the port and PORT=, exit 1, no DynamoDB Local started', async () => {
    const { cwd, dataDir } = workspace('port');
    const blocker = createServer();
    servers.push(blocker);
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;

    const local = start(cwd, { PORT: String(port), ROAMING_DATA_DIR: dataDir });
    expect(await local.exited()).toEqual({ code: 1, signal: null });
    expect(lines(local.stderr())).toEqual([
      `Port ${port} is already in use. Stop what uses it or choose another: PORT=${port + 1} npm start`,
    ]);
    expect(local.stdout()).not.toMatch(/DynamoDB Local/);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });

  it('no Java on the PATH: one line with the install hint and DYNAMODB_ENDPOINT, exit 1', async () => {
    const { cwd, dataDir } = workspace('nojava');
    // A PATH with node and nothing else: no java.
    const bin = join(cwd, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));

    const local = start(cwd, { PATH: bin, ROAMING_DATA_DIR: dataDir });
    expect(await local.exited()).toEqual({ code: 1, signal: null });
    expect(lines(local.stderr())).toEqual([
      'Java 17 or newer is needed for the embedded DynamoDB Local (install e.g. openjdk-17-jre-headless), ' +
        'or point to an existing DynamoDB endpoint: DYNAMODB_ENDPOINT=http://127.0.0.1:8000 npm start',
    ]);
    expect(local.stdout()).not.toMatch(/DynamoDB Local/);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
  });

  it('second instance on the same data folder: one line naming the owner pid, exit 1; the first serves on', async () => {
    const { cwd, dataDir } = workspace('second');
    const first = start(cwd, { ROAMING_DATA_DIR: dataDir });
    const [, api] = await first.waitFor(READY);
    const owner = readLockFile(dataDir);
    expect(owner).toMatchObject({ command: 'npm start', javaPid: expect.any(Number) });
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([owner.javaPid]);

    const second = start(cwd, { ROAMING_DATA_DIR: dataDir });
    expect(await second.exited()).toEqual({ code: 1, signal: null });
    expect(lines(second.stderr())).toEqual([
      `The data folder ${dataDir} is in use by another npm start (pid ${owner.pid}). Stop it first, or use ` +
        'another folder: ROAMING_DATA_DIR=.data/other npm start (or ROAMING_IN_MEMORY=1 npm start)',
    ]);
    expect(second.stdout()).not.toMatch(/DynamoDB Local/);
    // Still one DynamoDB Local on the folder, and the first instance still answers.
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([owner.javaPid]);
    expect((await fetch(`${api}/v1/conversations`)).status).toBe(401);
    // npm run sweep on that folder uses the running store instead of starting a second one.
    const sweep = runLocal('local/sweep.ts', { cwd, env: { ROAMING_DATA_DIR: dataDir } });
    started.push(sweep);
    expect(await sweep.exited()).toEqual({ code: 0, signal: null });
    expect(sweep.stdout()).toContain(`DynamoDB: ${owner.endpoint} (the running npm start, pid ${owner.pid})`);
    expect(sweep.stdout()).not.toMatch(/DynamoDB Local/);

    first.child.kill('SIGTERM');
    expect(await first.exited()).toEqual({ code: 0, signal: null });
    expect(isRunning(owner.javaPid as number)).toBe(false);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });

  it('SIGTERM during start-up: stops DynamoDB Local while it is still starting, exit 0', async () => {
    const { cwd, dataDir } = workspace('sigterm');
    const local = start(cwd, { ROAMING_DATA_DIR: dataDir });
    const javaPid = Number((await local.waitFor(STARTING))[1]);
    expect(isRunning(javaPid)).toBe(true);

    local.child.kill('SIGTERM');
    expect(await local.exited()).toEqual({ code: 0, signal: null });
    expect(local.stdout()).toMatch(/Stopping\.\.\./);
    expect(local.stdout()).not.toMatch(READY); // it really was stopped during start-up
    expect(lines(local.stderr())).toEqual([]);
    expect(isRunning(javaPid)).toBe(false);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });
});

describe('npm start stopped through npm', () => {
  it('SIGTERM to npm (which runs the script under sh): the script stops its DynamoDB Local', async () => {
    const { dataDir } = workspace('npm');
    const npm = runNpmStart({ env: { PORT: '0', ROAMING_DATA_DIR: dataDir } });
    started.push(npm);
    await npm.waitFor(READY);
    const owner = readLockFile(dataDir);
    expect(owner.pid).not.toBe(npm.child.pid); // npm → sh → node: the signal does not reach node directly

    npm.child.kill('SIGTERM');
    await npm.exited();
    await npm.waitFor(/Stopping\.\.\./);
    await eventually(() => !isRunning(owner.pid));
    expect(isRunning(owner.javaPid as number)).toBe(false);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });
});

describe('npm start killed outright', () => {
  it.runIf(process.platform === 'linux')(
    'SIGKILL: the kernel stops its DynamoDB Local; the next npm start takes over the stale lock',
    async () => {
      const { cwd, dataDir } = workspace('sigkill');
      const first = start(cwd, { ROAMING_DATA_DIR: dataDir });
      await first.waitFor(READY);
      const owner = readLockFile(dataDir);
      expect(owner.pid).toBe(first.child.pid);
      first.child.kill('SIGKILL'); // no handler of ours runs
      await first.exited();
      await eventually(() => !isRunning(owner.javaPid as number));
      expect(readLockFile(dataDir).pid).toBe(owner.pid); // left behind: stale

      const next = start(cwd, { ROAMING_DATA_DIR: dataDir });
      const javaPid = Number((await next.waitFor(STARTING))[1]);
      const taken = readLockFile(dataDir);
      expect(taken.pid).not.toBe(owner.pid);
      expect(taken.javaPid).toBe(javaPid);
      next.child.kill('SIGTERM');
      expect(await next.exited()).toEqual({ code: 0, signal: null });
      expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    },
  );
});

describe('npm start when its store dies', () => {
  it('store killed while serving: one line, exit 1, the lock released', async () => {
    const { cwd, dataDir } = workspace('killed');
    const local = start(cwd, { ROAMING_DATA_DIR: dataDir });
    const javaPid = Number((await local.waitFor(STARTING))[1]);
    await local.waitFor(READY);
    // The pid it printed is the process that runs DynamoDB Local on this folder (no wrapper in between).
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([javaPid]);

    process.kill(javaPid, 'SIGKILL');
    expect(await local.exited()).toEqual({ code: 1, signal: null });
    expect(lines(local.stderr())).toEqual([
      `DynamoDB Local (pid ${javaPid}) stopped unexpectedly (killed by SIGKILL), so Roaming stops too. ` +
        `The data in ${dataDir} is kept. Start again: npm start`,
    ]);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });

  it('an external store (DYNAMODB_ENDPOINT) that dies: requests get 503 with Retry-After, npm start serves on', async () => {
    const { cwd } = workspace('external');
    const store = await startEmbeddedDynamo();
    stores.push(store);
    const secret = 'external-store-secret';
    const local = start(cwd, { DYNAMODB_ENDPOINT: store.endpoint, ROAMING_JWT_SECRET: secret });
    const [, api] = await local.waitFor(READY);
    const headers = { authorization: `Bearer ${await signDevToken('alice', { secret })}` };
    expect((await fetch(`${api}/v1/conversations`, { headers })).status).toBe(200);

    process.kill(store.pid, 'SIGKILL');
    await store.exited;
    const before = performance.now();
    const response = await fetch(`${api}/v1/conversations`, { headers });
    expect(performance.now() - before).toBeLessThan(2500);
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await response.json()).toEqual({
      error: { code: 'unavailable', message: 'The store is unavailable; retry shortly' },
    });
    expect(local.child.exitCode).toBeNull();

    local.child.kill('SIGTERM');
    expect(await local.exited()).toEqual({ code: 0, signal: null });
  });
});

describe('npm run sweep leaves nothing behind', () => {
  it('a failed run (the store refuses the table) exits 1 and stops the DynamoDB Local it started', async () => {
    const { cwd, dataDir } = workspace('sweep');
    // DynamoDB refuses table names shorter than 3 characters: a failure after the store started.
    const sweep = runLocal('local/sweep.ts', { cwd, env: { ROAMING_DATA_DIR: dataDir, TABLE_NAME: 'x' } });
    started.push(sweep);
    const javaPid = Number((await sweep.waitFor(/DynamoDB Local: \S+ \(pid (\d+)/))[1]);
    expect(await sweep.exited()).toEqual({ code: 1, signal: null });
    expect(sweep.stderr()).toMatch(/ValidationException|TableName/);
    expect(isRunning(javaPid)).toBe(false);
    expect(dynamoDbLocalPidsOn(dataDir)).toEqual([]);
    expect(existsSync(join(dataDir, LOCK_FILE_NAME))).toBe(false);
  });
});
