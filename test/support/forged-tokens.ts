import { type JWTPayload, SignJWT } from 'jose';
import { ADMIN_SCOPE, DEFAULT_USER_SCOPE } from '../../functions/http/caller.js';
import { DEV_AUDIENCE, DEV_ISSUER } from '../../local/dev-auth.js';

/**
 * Authorization headers that must never get in: each names what is wrong with it. They all claim the
 * admin scope, so an admin route that accepted one would hand a forger the keys. Times are real time
 * (the token check reads the wall clock, not the service's clock).
 */
export interface ForgedAuthorization {
  label: string;
  /** The Authorization header, or undefined to send none. */
  authorization?: string;
}

export type TokenCaseName =
  | 'no token'
  | 'malformed'
  | 'bad signature'
  | 'alg none'
  | 'expired'
  | 'not yet valid'
  | 'wrong issuer'
  | 'wrong audience'
  | 'no expiry'
  | 'wrong algorithm'
  | 'subject not a user id';

export const TOKEN_CASES: readonly TokenCaseName[] = [
  'no token',
  'malformed',
  'bad signature',
  'alg none',
  'expired',
  'not yet valid',
  'wrong issuer',
  'wrong audience',
  'no expiry',
  'wrong algorithm',
  'subject not a user id',
];

const HOUR_S = 3600;
const nowS = () => Math.floor(Date.now() / 1000);
const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const bearer = (token: string) => `Bearer ${token}`;

/** The claims a valid token for `sub` has (as signDevToken makes them), with the admin scope. */
function claimsOf(sub: string): JWTPayload {
  const iat = nowS();
  return {
    sub,
    iss: DEV_ISSUER,
    aud: DEV_AUDIENCE,
    iat,
    exp: iat + HOUR_S,
    scope: `${DEFAULT_USER_SCOPE} ${ADMIN_SCOPE}`,
  };
}

/** Signs exactly these claims (nothing added), HS256 unless told otherwise. */
export async function signClaims(claims: JWTPayload, secret: string, alg = 'HS256'): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT' }).sign(new TextEncoder().encode(secret));
}

function without(claims: JWTPayload, name: keyof JWTPayload): JWTPayload {
  const { [name]: _dropped, ...rest } = claims;
  return rest;
}

/** The forgeries of one case, for a caller named `sub` on a service that signs with `secret`. */
export async function forgedAuthorizations(
  name: TokenCaseName,
  options: { secret: string; sub: string; otherSub: string },
): Promise<ForgedAuthorization[]> {
  const { secret, sub } = options;
  const claims = claimsOf(sub);
  const valid = await signClaims(claims, secret);
  const [header, payload, signature] = valid.split('.') as [string, string, string];
  switch (name) {
    case 'no token':
      return [
        { label: 'no Authorization header' },
        { label: 'empty header', authorization: '' },
        { label: 'scheme only', authorization: 'Bearer' },
        { label: 'scheme and a space', authorization: 'Bearer ' },
      ];
    case 'malformed':
      return [
        { label: 'not a JWT', authorization: bearer('not-a-jwt') },
        { label: 'three empty-ish parts', authorization: bearer('a.b.c') },
        { label: 'signature part missing', authorization: bearer(`${header}.${payload}`) },
        { label: 'four parts', authorization: bearer(`${valid}.${signature}`) },
        { label: 'header not JSON', authorization: bearer(`bm90LWpzb24.${payload}.${signature}`) },
        { label: 'token without a scheme', authorization: valid },
        { label: 'Basic credentials', authorization: `Basic ${Buffer.from(`${sub}:pw`).toString('base64')}` },
        { label: 'token and trailing garbage', authorization: `${bearer(valid)} extra` },
      ];
    case 'bad signature':
      return [
        {
          label: 'signed with another secret',
          authorization: bearer(await signClaims(claims, `${secret}-x`)),
        },
        {
          label: 'signature altered',
          authorization: bearer(`${header}.${payload}.${signature.slice(0, -4)}${flip(signature.slice(-4))}`),
        },
        {
          // A valid token's signature over another user's claims: the classic identity swap.
          label: 'claims swapped to another user',
          authorization: bearer(`${header}.${b64(claimsOf(options.otherSub))}.${signature}`),
        },
        { label: 'empty signature', authorization: bearer(`${header}.${payload}.`) },
      ];
    case 'alg none':
      return ['none', 'None', 'NONE'].map((alg) => ({
        label: `alg ${alg}, unsigned`,
        authorization: bearer(`${b64({ alg, typ: 'JWT' })}.${payload}.`),
      }));
    case 'expired':
      return [
        {
          label: 'expired a minute ago',
          authorization: bearer(
            await signClaims({ ...claims, iat: nowS() - HOUR_S, exp: nowS() - 60 }, secret),
          ),
        },
      ];
    case 'not yet valid':
      return [
        {
          label: 'nbf in an hour',
          authorization: bearer(await signClaims({ ...claims, nbf: nowS() + HOUR_S }, secret)),
        },
      ];
    case 'wrong issuer':
      return [
        {
          label: 'another issuer',
          authorization: bearer(await signClaims({ ...claims, iss: 'evil' }, secret)),
        },
        { label: 'no issuer', authorization: bearer(await signClaims(without(claims, 'iss'), secret)) },
      ];
    case 'wrong audience':
      return [
        {
          label: 'another audience',
          authorization: bearer(await signClaims({ ...claims, aud: 'other' }, secret)),
        },
        { label: 'no audience', authorization: bearer(await signClaims(without(claims, 'aud'), secret)) },
        {
          label: 'audience list without ours',
          authorization: bearer(await signClaims({ ...claims, aud: ['a', 'b'] }, secret)),
        },
      ];
    case 'no expiry':
      return [
        { label: 'no exp claim', authorization: bearer(await signClaims(without(claims, 'exp'), secret)) },
      ];
    case 'wrong algorithm':
      return Promise.all(
        ['HS384', 'HS512'].map(async (alg) => ({
          label: `${alg} with the right secret`,
          authorization: bearer(await signClaims(claims, secret, alg)),
        })),
      );
    case 'subject not a user id': {
      // Correctly signed, so only the service's own check of `sub` stands between it and a forged key.
      const subjects: [string, JWTPayload][] = [
        ['a key separator', { ...claims, sub: `${options.otherSub}#C#single#${sub}` }],
        ['empty', { ...claims, sub: '' }],
        ['missing', without(claims, 'sub')],
        ['129 characters', { ...claims, sub: 'a'.repeat(129) }],
        ['a path', { ...claims, sub: `../${options.otherSub}` }],
      ];
      return Promise.all(
        subjects.map(async ([label, c]) => ({
          label: `sub ${label}`,
          authorization: bearer(await signClaims(c, secret)),
        })),
      );
    }
  }
}

/** The same characters, each replaced by a different base64url character. */
function flip(text: string): string {
  return [...text].map((c) => (c === 'A' ? 'B' : 'A')).join('');
}

/**
 * Correctly signed user tokens that must not open admin routes: no admin scope, or one that only looks
 * like it.
 */
export async function nonAdminAuthorizations(sub: string, secret: string): Promise<ForgedAuthorization[]> {
  const base = claimsOf(sub);
  const scopes: [string, unknown][] = [
    ['user scope only', 'roaming/user'],
    ['no scope claim', undefined],
    ['admin scope upper-cased', ADMIN_SCOPE.toUpperCase()],
    ['admin scope as a prefix', `${ADMIN_SCOPE}x`],
    ['admin scope in another claim', 'roaming/user'],
  ];
  return Promise.all(
    scopes.map(async ([label, scope], i) => {
      const claims: JWTPayload = { ...without(base, 'scope'), ...(scope === undefined ? {} : { scope }) };
      if (i === scopes.length - 1) claims.scp = [ADMIN_SCOPE];
      return { label, authorization: bearer(await signClaims(claims, secret)) };
    }),
  );
}

/**
 * Correctly signed tokens of the issuer that must not open user routes: minted for something else (an
 * ID token's scopes, another API's, none), or a scope that only looks like the user scope. The admin
 * scope alone opens only admin routes.
 */
export async function nonUserAuthorizations(sub: string, secret: string): Promise<ForgedAuthorization[]> {
  const base = without(claimsOf(sub), 'scope');
  const scopes: [string, string | undefined][] = [
    ['no scope claim', undefined],
    ['an ID token (openid email profile)', 'openid email profile'],
    ["another API's scope", 'billing/read'],
    ['user scope upper-cased', DEFAULT_USER_SCOPE.toUpperCase()],
    ['user scope as a prefix', `${DEFAULT_USER_SCOPE}x`],
    ['admin scope only', ADMIN_SCOPE],
  ];
  return Promise.all(
    scopes.map(async ([label, scope]) => ({
      label,
      authorization: bearer(await signClaims(scope === undefined ? base : { ...base, scope }, secret)),
    })),
  );
}
