import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { jsonResponse } from '../http/json-response.js';
import { apiTelemetry, recordRequest, unmatchedPathForLog } from '../telemetry/api-telemetry.js';

/** API Gateway's `$default` route: any path or method we do not serve gets our JSON 404 (and a log line). */
export async function handler(
  event: APIGatewayProxyEventV2,
  context?: Context,
): Promise<APIGatewayProxyStructuredResultV2> {
  const started = performance.now();
  const { method } = event.requestContext.http;
  const response = jsonResponse(404, {
    error: { code: 'not_found', message: `No route for ${method} ${event.rawPath}` },
  });
  recordRequest(apiTelemetry(), {
    route: 'notFound',
    method,
    routeKey: event.routeKey ?? '$default',
    // No route matched, so no route key says what was asked for: the path, cut short, does.
    unmatchedPath: unmatchedPathForLog(event.rawPath),
    status: 404,
    latencyMs: performance.now() - started,
    requestId: event.requestContext.requestId ?? context?.awsRequestId ?? '',
    functionRequestId: context?.awsRequestId,
    errorCode: 'not_found',
  });
  return response;
}
