import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { RoamingError } from '../core/errors.js';
import { jsonResponse } from './json-response.js';

/**
 * The one place errors become HTTP. Client errors show their message; anything else is a 500 whose
 * details are only logged, so internals never reach the caller.
 */
export function errorResponse(error: unknown): APIGatewayProxyStructuredResultV2 {
  if (error instanceof RoamingError && error.status < 500) {
    return jsonResponse(error.status, { error: { code: error.code, message: error.message } });
  }
  console.error(JSON.stringify({ level: 'ERROR', message: 'request failed', error: describe(error) }));
  return jsonResponse(500, { error: { code: 'internal', message: 'Internal error' } });
}

function describe(error: unknown): unknown {
  if (!(error instanceof Error)) return String(error);
  return { name: error.name, message: error.message, stack: error.stack, cause: describe(error.cause) };
}
