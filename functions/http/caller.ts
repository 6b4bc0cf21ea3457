import type { APIGatewayProxyEventV2WithJWTAuthorizer } from 'aws-lambda';
import { ForbiddenError, UnauthorizedError } from '../core/errors.js';
import { ID_PATTERN } from './schemas.js';

export const ADMIN_SCOPE = 'roaming/admin';

/**
 * The scope every user route needs (API Gateway's route authorization scopes; the local server checks
 * it the same way), so a token of the issuer minted for something else (a Cognito ID token, another
 * app's access token) reaches no route. Configurable per deployment (stage `api.userScope`, local
 * ROAMING_USER_SCOPE); this is the default.
 */
export const DEFAULT_USER_SCOPE = 'roaming/user';

export interface Caller {
  userId: string;
  scopes: readonly string[];
}

export type Access = 'user' | 'admin';

/**
 * The caller, from the claims API Gateway's JWT authorizer verified (the local server puts them in the
 * same place). Identity comes only from `sub`; no route takes a user id that widens access.
 */
export function callerOf(event: APIGatewayProxyEventV2WithJWTAuthorizer, access: Access): Caller {
  const jwt = event.requestContext?.authorizer?.jwt;
  const sub = jwt?.claims?.sub;
  if (typeof sub !== 'string' || sub.length === 0)
    throw new UnauthorizedError('A valid bearer token is required');
  if (!ID_PATTERN.test(sub)) throw new UnauthorizedError('The token subject is not a usable user id');
  const scopeClaim = jwt?.claims?.scope;
  const scopes = new Set([
    ...(jwt?.scopes ?? []),
    ...(typeof scopeClaim === 'string' ? scopeClaim.split(' ') : Array.isArray(scopeClaim) ? scopeClaim : []),
  ]);
  if (access === 'admin' && !scopes.has(ADMIN_SCOPE)) {
    throw new ForbiddenError(`This route needs the ${ADMIN_SCOPE} scope`);
  }
  return { userId: sub, scopes: [...scopes] };
}
