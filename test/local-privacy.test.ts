import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { localDynamoClient } from '../local/local-app.js';
import { storeCredentialsOf } from '../local/local-secrets.js';
import {
  type LocalProcess,
  lines,
  removeDir,
  runLocal,
  stopLeftovers,
  tempDir,
} from './support/local-process.js';

/**
 * Local development is private by default: the API listens on 127.0.0.1 (another HOST needs a secret
 * of one's own), DynamoDB Local on 127.0.0.1 when a JDK can build its launcher, and its data answers
 * only to the data folder's own access key whatever it listens on.
 */
const started: LocalProcess[] = [];
const dirs: string[] = [];
afterEach(() => {
  stopLeftovers(started.splice(0), dirs);
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function start(
  name: string,
  env: NodeJS.ProcessEnv,
  prepare: (dataDir: string) => void = () => undefined,
): { local: LocalProcess; dataDir: string } {
  const cwd = tempDir(name);
  dirs.push(cwd);
  const dataDir = join(cwd, 'data');
  prepare(dataDir);
  const local = runLocal('local/start.ts', { cwd, env: { PORT: '0', ROAMING_DATA_DIR: dataDir, ...env } });
  started.push(local);
  return { local, dataDir };
}

const STORE = /DynamoDB Local: http:\/\/127\.0\.0\.1:(\d+)/;
const READY = /Roaming API: http:\/\/([^\s:]+|\[[^\]]+\]):(\d+)/;
const hasJdk = spawnSync('javac', ['-version'], { stdio: 'ignore' }).status === 0;
const otherAddress = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

async function answersAt(url: string): Promise<boolean> {
  try {
    await fetch(url, { method: 'POST', signal: AbortSignal.timeout(2000) });
    return true;
  } catch {
    return false;
  }
}

describe('npm start keeps its store to itself', () => {
  it('DynamoDB Local listens on 127.0.0.1 only with a JDK (else says so), and its data answers to the folder’s key alone', async () => {
    const { local, dataDir } = start('private-store', {});
    const port = Number((await local.waitFor(STORE))[1]);
    await local.waitFor(READY);
    // Any other client, even on loopback, sees an empty store: the data answers to this folder's key.
    const stranger = localDynamoClient(`http://127.0.0.1:${port}`);
    const owner = localDynamoClient(`http://127.0.0.1:${port}`, storeCredentialsOf(dataDir));
    try {
      expect((await stranger.send(new ListTablesCommand({}))).TableNames).toEqual([]);
      expect((await owner.send(new ListTablesCommand({}))).TableNames).toEqual(['roaming']);
    } finally {
      stranger.destroy();
      owner.destroy();
    }
    if (hasJdk) {
      expect(local.stdout()).not.toMatch(/listens on every interface/);
      // From the machine's other address, nothing answers (when the machine has one).
      if (otherAddress) expect(await answersAt(`http://${otherAddress}:${port}`)).toBe(false);
    } else {
      expect(local.stdout()).toMatch(/DynamoDB Local listens on every interface \(install a JDK/);
    }
  });
});

describe('npm start keeps its files to itself', () => {
  const permissions = (path: string) => statSync(path).mode & 0o777;

  it('the data folder is 0700 and the database 0600 (DynamoDB Local runs with umask 077), also when an earlier run left them open', async () => {
    // Prepare: a data folder as an earlier version left it, open to every local user.
    const { local, dataDir } = start('private-files', {}, (dataDir) => {
      mkdirSync(dataDir, { recursive: true });
      chmodSync(dataDir, 0o755);
      writeFileSync(join(dataDir, 'earlier_local.db'), '');
      chmodSync(join(dataDir, 'earlier_local.db'), 0o644);
    });
    // Act
    await local.waitFor(READY);
    // Assess: the folder and every file in it are the owner's alone, the new database (named after
    // the folder's access key, which is what a reader of the name would learn) included.
    expect(permissions(dataDir).toString(8)).toBe('700');
    const files = readdirSync(dataDir);
    const databases = files.filter((name) => name.endsWith('.db'));
    expect(databases).toContain(`${storeCredentialsOf(dataDir).accessKeyId}_local.db`);
    expect(databases).toContain('earlier_local.db');
    for (const name of files) {
      expect((permissions(join(dataDir, name)) & 0o077).toString(8), name).toBe('0');
    }
  });
});

describe('npm start on another address', () => {
  it('refuses a HOST off loopback while tokens are signed with the development secret: one line, exit 1', async () => {
    const { local } = start('host-dev-secret', { HOST: '0.0.0.0', ROAMING_JWT_SECRET: '' });
    expect(await local.exited()).toEqual({ code: 1, signal: null });
    expect(lines(local.stderr())).toEqual([
      'HOST=0.0.0.0 would let the network in with tokens anyone can sign (the development secret). ' +
        'Set ROAMING_JWT_SECRET to a secret of your own first, or leave HOST out (127.0.0.1).',
    ]);
    expect(local.stdout()).not.toMatch(/DynamoDB Local/);
  });

  it('listens there with a secret of one’s own', async () => {
    const { local } = start('host-own-secret', {
      HOST: '0.0.0.0',
      ROAMING_JWT_SECRET: 'a-secret-of-our-own-for-this-test',
    });
    const [, host, port] = await local.waitFor(READY);
    expect(host).toBe('0.0.0.0');
    expect(await answersAt(`http://127.0.0.1:${port}/v1/conversations`)).toBe(true);
  });
});
