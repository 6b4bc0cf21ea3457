import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { localJwtSecret, signDevToken } from '../local/dev-auth.js';
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
      expect((await owner.send(new ListTablesCommand({}))).TableNames).toEqual(['roaming', 'roaming-audit']);
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
  it('refuses a HOST off loopback with a ROAMING_JWT_SECRET under 32 bytes: one line, exit 1', async () => {
    const { local } = start('host-short-secret', { HOST: '0.0.0.0', ROAMING_JWT_SECRET: 'short-secret' });
    expect(await local.exited()).toEqual({ code: 1, signal: null });
    expect(lines(local.stderr())).toEqual([
      'HOST=0.0.0.0 would let the network in with tokens signed with a 12-byte secret. Set ' +
        'ROAMING_JWT_SECRET to at least 32 bytes, or unset it (npm start then uses a random one kept in ' +
        'the data folder), or leave HOST out (127.0.0.1).',
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

  it('listens there with the data folder’s own secret, and answers any host name (HOST set on purpose)', async () => {
    const { local, dataDir } = start('host-folder-secret', { HOST: '0.0.0.0', ROAMING_JWT_SECRET: '' });
    const [, , port] = await local.waitFor(READY);
    const token = await tokenFor('host-alice', dataDir);
    const answer = await requestAs(`http://127.0.0.1:${port}/v1/conversations`, 'roaming.lan:3000', token);
    expect(answer.status).toBe(200);
  });
});

describe('npm start against DNS rebinding', () => {
  /** The secret this repository once published as the default: anyone could sign tokens with it. */
  const ONCE_PUBLISHED_SECRET = 'roaming-local-dev-secret-change-me';

  it('refuses a request for another host name with 421 (a forged token, the docs too), and the once-published secret signs nothing', async () => {
    // Prepare: npm start as the README starts it (no HOST, no ROAMING_JWT_SECRET), a message to steal.
    const { local, dataDir } = start('rebinding', { ROAMING_JWT_SECRET: '' });
    const [, , port] = await local.waitFor(READY);
    const victim = await tokenFor('rebind-victim', dataDir);
    const own = `127.0.0.1:${port}`;
    const sent = await requestAs(`http://${own}/v1/messages`, own, victim, {
      to: 'rebind-friend',
      chatType: 'single',
      type: 'text',
      body: { text: 'private' },
    });
    expect(sent.status).toBe(201);
    const forged = await signDevToken('rebind-victim', { admin: true, secret: ONCE_PUBLISHED_SECRET });
    const history = `http://${own}/v1/conversations/single/rebind-friend/messages`;

    // Act: what a page on attacker.example sends once its name points at 127.0.0.1.
    const rebound = await requestAs(history, `attacker.example:${port}`, forged);
    const reboundAudit = await requestAs(`http://${own}/v1/admin/audit`, `attacker.example:${port}`, forged);
    const reboundDocs = await requestAs(`http://${own}/docs`, `attacker.example:${port}`);
    const reboundGenuine = await requestAs(history, `attacker.example:${port}`, victim);

    // Assess: refused before any route or page, whatever the token; the forged token fails on its own.
    for (const answer of [rebound, reboundAudit, reboundDocs, reboundGenuine]) {
      expect(answer.status).toBe(421);
      expect(JSON.parse(answer.text)).toMatchObject({ error: { code: 'misdirected_request' } });
      expect(answer.text).not.toContain('private');
    }
    expect((await requestAs(history, own, forged)).status).toBe(401);
    // The names of the machine itself still work.
    expect((await requestAs(history, `localhost:${port}`, victim)).status).toBe(200);
    expect((await requestAs(history, own, victim)).status).toBe(200);
  });
});

/** A token as `npm run token` makes it for a data folder (its secret, kept there by npm start). */
function tokenFor(userId: string, dataDir: string): Promise<string> {
  return signDevToken(userId, { secret: localJwtSecret({ ROAMING_DATA_DIR: dataDir }).secret });
}

/** A request with the Host header a browser would send for `host` (fetch cannot set it). */
function requestAs(
  url: string,
  host: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method: payload === undefined ? 'GET' : 'POST',
        headers: {
          host,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(payload ? { 'content-type': 'application/json' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
