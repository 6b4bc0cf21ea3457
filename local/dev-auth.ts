import { createSecretKey, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { ADMIN_SCOPE, DEFAULT_USER_SCOPE } from '../functions/http/caller.js';
import { dataDirOf, secretOf } from './local-secrets.js';

/**
 * Local stand-in for API Gateway's JWT authorizer: HS256 tokens signed with ROAMING_JWT_SECRET, or
 * without it with a secret made for the data folder (local-secrets.ts), which `npm run token` reads. No
 * secret is published anywhere: a token for any user, admin included, is made only by someone who can
 * read that folder (its owner) or who was given the secret.
 */
export const DEV_ISSUER = 'roaming-local';
export const DEV_AUDIENCE = 'roaming';

/** The shortest secret `npm start` signs with when it listens beyond loopback (HS256's key: 256 bits). */
export const MIN_NETWORK_SECRET_BYTES = 32;

/** The local token secret and where it comes from (for `npm start`'s line about it). */
export interface LocalJwtSecret {
  secret: string;
  /** `ROAMING_JWT_SECRET`, or the file in the data folder that keeps the generated one. */
  source: string;
}

/** The scope of the user routes locally: ROAMING_USER_SCOPE, else DEFAULT_USER_SCOPE (`npm start` and `npm run token`). */
export function localUserScope(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROAMING_USER_SCOPE?.trim() || DEFAULT_USER_SCOPE;
}

/** ROAMING_JWT_SECRET if set; else the data folder's own (made on first use, 32 random bytes, 0600). */
export function localJwtSecret(env: NodeJS.ProcessEnv = process.env): LocalJwtSecret {
  if (env.ROAMING_JWT_SECRET) return { secret: env.ROAMING_JWT_SECRET, source: 'ROAMING_JWT_SECRET' };
  const dataDir = dataDirOf(env);
  return { secret: secretOf(dataDir, 'jwt-secret'), source: join(dataDir, 'jwt-secret') };
}

/**
 * A token the local server accepts. `expiresIn` is a span: a whole number followed by s, m, h, d or w
 * ('24h', '7d'); one longer than the server accepts (MAX_TOKEN_LIFETIME_SECONDS) is refused here with a
 * RangeError, rather than printed and then refused on every request. Issue and expiry come from one
 * reading of the clock, so '30d' is exactly 30 days.
 */
export async function signDevToken(
  userId: string,
  options: { admin?: boolean; secret: string; expiresIn?: string; userScope?: string },
): Promise<string> {
  const userScope = options.userScope ?? DEFAULT_USER_SCOPE;
  const scope = options.admin ? `${userScope} ${ADMIN_SCOPE}` : userScope;
  const lifetime = spanSeconds(options.expiresIn ?? '24h');
  const issuedAt = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(userId)
    .setIssuer(DEV_ISSUER)
    .setAudience(DEV_AUDIENCE)
    .setIssuedAt(issuedAt)
    .setExpirationTime(issuedAt + lifetime)
    .sign(new TextEncoder().encode(options.secret));
}

const SPAN_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

function spanSeconds(span: string): number {
  const match = /^(\d+)([smhdw])$/.exec(span);
  const seconds = match ? Number(match[1]) * (SPAN_UNITS[match[2] as string] as number) : Number.NaN;
  if (!(seconds > 0 && seconds <= MAX_TOKEN_LIFETIME_SECONDS)) {
    throw new RangeError(
      `expires must be a time span of at most 30 days (a whole number and s, m, h, d or w), got "${span}"`,
    );
  }
  return seconds;
}

/**
 * The secret as a key object, made once per secret: from raw bytes jose imports a key on every
 * verification, which was the largest cost of a refused request (a client ignoring Retry-After).
 */
const keys = new Map<string, KeyObject>();
function verificationKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, 'utf8'));
    keys.set(secret, key);
  }
  return key;
}

/**
 * Tokens verified already, until they expire: an app sends the same token with every request, and
 * verifying its signature again each time was most of what a refused request cost. Only the expiry
 * changes with time (issuer, audience, algorithm, signature and lifetime do not), so it is checked on
 * every use. Bounded: forgotten wholesale when full.
 */
const verifiedTokens = new Map<string, { secret: string; payload: JWTPayload }>();
const VERIFIED_TOKENS_MAX = 10_000;

/** A local token lives at most this long: one without `exp`, or with a later one, is refused. */
export const MAX_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600;

/**
 * The verified claims, or undefined for a missing, forged or expired token, or one that never expires
 * (no `exp`) or lives longer than 30 days from when it was issued or from now, whichever is earlier (an
 * `iat` in the future cannot stretch its life).
 */
export async function verifyDevToken(token: string, secret: string): Promise<JWTPayload | undefined> {
  const known = verifiedTokens.get(token);
  if (known && known.secret === secret && (known.payload.exp as number) > Date.now() / 1000) {
    return known.payload;
  }
  try {
    const { payload } = await jwtVerify(token, verificationKey(secret), {
      algorithms: ['HS256'],
      issuer: DEV_ISSUER,
      audience: DEV_AUDIENCE,
      // jose checks exp only when present; a token without one would never expire.
      requiredClaims: ['exp'],
    });
    const now = Math.floor(Date.now() / 1000);
    const issuedAt = Math.min(payload.iat ?? now, now);
    if ((payload.exp as number) - issuedAt > MAX_TOKEN_LIFETIME_SECONDS) return undefined;
    if (verifiedTokens.size >= VERIFIED_TOKENS_MAX) verifiedTokens.clear();
    verifiedTokens.set(token, { secret, payload });
    return payload;
  } catch {
    return undefined;
  }
}
