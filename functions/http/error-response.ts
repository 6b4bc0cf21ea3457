import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RateLimitedError, RetryableError, RoamingError } from '../core/errors.js';
import { jsonResponse } from './json-response.js';

/**
 * The one place errors become HTTP. Client errors show their message; so do retryable ones (429, 503),
 * which also carry `Retry-After`. Anything else is a 500 whose details are only logged (the request's
 * log line carries the error and its stack: see observe.ts), so internals never reach the caller.
 */
export function errorResponse(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (error instanceof RetryableError) {
    // A per-user limit says which one it is, for a client to tell "slow down" from "the store is busy".
    const limit = error instanceof RateLimitedError && error.limit ? { limit: error.limit } : {};
    return withRetryAfter(
      jsonResponse(error.status, { error: { code: error.code, message: error.message, ...limit } }),
      error.retryAfterSeconds,
    );
  }
  if (error instanceof RoamingError && error.status < 500) {
    return jsonResponse(error.status, { error: { code: error.code, message: error.message } });
  }
  return jsonResponse(500, { error: { code: 'internal', message: 'Internal error' } });
}

function withRetryAfter(
  response: APIGatewayProxyStructuredResultV2,
  seconds: number,
): APIGatewayProxyStructuredResultV2 {
  // Retry-After takes whole seconds; never 0, which some clients read as "hammer it now".
  const retryAfter = String(Math.max(1, Math.ceil(seconds)));
  return { ...response, headers: { ...response.headers, 'retry-after': retryAfter } };
}
