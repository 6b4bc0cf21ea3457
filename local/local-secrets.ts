import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * Secrets `npm start` makes for itself, kept in its data folder (readable by its owner only) or, in
 * memory, for the life of the process:
 * - the access key id it uses with DynamoDB Local: DynamoDB Local keeps one database per access key, and
 *   it cannot be told to listen on loopback only (its server binds every interface), so a client from
 *   another address, without this key, finds an empty store of its own, not ours;
 * - the key of the idempotency records' HMAC (Lambda gets one from the stack's secret);
 * - the HS256 secret of local tokens (dev-auth.ts), unless ROAMING_JWT_SECRET is set: `npm run token`
 *   reads it from the same folder, and nobody else can sign a token `npm start` accepts.
 */
export type SecretName = 'dynamodb-access-key' | 'idempotency-key' | 'jwt-secret';

/** The data folder of a local command: ROAMING_DATA_DIR, else `.data/dynamodb` under the working directory. */
export function dataDirOf(env: NodeJS.ProcessEnv): string {
  return resolve(env.ROAMING_DATA_DIR ?? '.data/dynamodb');
}

export interface StoreCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

/** For tests and for DYNAMODB_ENDPOINT: a store whose access the user arranged themselves. */
export const LOCAL_CREDENTIALS: StoreCredentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function secretOf(dataDir: string | undefined, name: SecretName): string {
  if (!dataDir) return randomBytes(32).toString('hex');
  const file = join(dataDir, name);
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    try {
      // 'wx': of two processes creating it at once, one wins and the other reads the winner's.
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  }
  return readFileSync(file, 'utf8').trim();
}

/** The credentials for the embedded store of `dataDir` (a fresh key for an in-memory store). */
export function storeCredentialsOf(dataDir: string | undefined): StoreCredentials {
  return { accessKeyId: secretOf(dataDir, 'dynamodb-access-key'), secretAccessKey: 'local' };
}
