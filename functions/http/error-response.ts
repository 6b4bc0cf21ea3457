import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RetryableError, RoamingError } from '../core/errors.js';
import { jsonResponse } from './json-response.js';

/**
 * The one place errors become HTTP. Client errors show their message; so do retryable ones (429, 503),
 * which also carry `Retry-After`. Anything else is a 500 whose details are only logged, so internals
 * never reach the caller.
 */
export function errorResponse(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (error instanceof RetryableError) {
    if (error.status >= 500) logUnavailable(error);
    return withRetryAfter(
      jsonResponse(error.status, { error: { code: error.code, message: error.message } }),
      error.retryAfterSeconds,
    );
  }
  if (error instanceof RoamingError && error.status < 500) {
    return jsonResponse(error.status, { error: { code: error.code, message: error.message } });
  }
  logFailure('ERROR', 'request failed', error);
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

function logFailure(level: 'ERROR', message: string, error: unknown): void {
  console.error(JSON.stringify({ level, message, error: describe(error) }));
}

/** Expected while a store is down, so one short line per request, without stacks. */
function logUnavailable(error: RetryableError): void {
  const cause = error.cause instanceof Error ? error.cause.message : undefined;
  console.error(JSON.stringify({ level: 'WARN', message: 'answered 503', error: error.message, cause }));
}

function describe(error: unknown): unknown {
  if (!(error instanceof Error)) return String(error);
  return { name: error.name, message: error.message, stack: error.stack, cause: describe(error.cause) };
}
