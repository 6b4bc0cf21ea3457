import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { ServiceUnavailableError } from '../core/errors.js';
import type { Deps } from '../domain/deps.js';
import { errorResponse } from '../http/error-response.js';
import { jsonResponse } from '../http/json-response.js';
import { requestIdOf } from '../http/observe.js';
import { HEALTH_ROUTE } from '../routes.js';
import { probeStore } from '../store/health-probe.js';
import { apiTelemetry, recordRequest } from '../telemetry/api-telemetry.js';

export type HealthHandler = (
  event: APIGatewayProxyEventV2,
  context?: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

/** Seconds a caller waits before asking again when the store does not answer. */
const RETRY_AFTER_SECONDS = 5;

/**
 * GET /health, without a token (no authorizer): 200 `{"status": "ok"}` when the store answers, 503
 * `unavailable` with Retry-After when it does not. It answers nothing else: no version, no table name,
 * no error detail (that goes to the request's log line).
 */
export function makeHealthHandler(deps: Pick<Deps, 'db'>): HealthHandler {
  return async function handleHealth(event, context) {
    const started = performance.now();
    let response: APIGatewayProxyStructuredResultV2;
    let failure: unknown;
    try {
      await probeStore(deps.db);
      response = jsonResponse(200, { status: 'ok' });
    } catch (error) {
      failure = error;
      response = errorResponse(
        new ServiceUnavailableError('The store does not answer; retry shortly', {
          retryAfterSeconds: RETRY_AFTER_SECONDS,
          cause: error,
        }),
      );
    }
    const status = response.statusCode ?? 500;
    recordRequest(
      apiTelemetry(),
      {
        route: HEALTH_ROUTE.name,
        method: event.requestContext?.http?.method ?? HEALTH_ROUTE.method,
        routeKey: `${HEALTH_ROUTE.method} ${HEALTH_ROUTE.path}`,
        status,
        latencyMs: performance.now() - started,
        requestId: requestIdOf(event, context),
        functionRequestId: context?.awsRequestId,
        errorCode: status >= 400 ? 'unavailable' : undefined,
      },
      failure,
    );
    return response;
  };
}
