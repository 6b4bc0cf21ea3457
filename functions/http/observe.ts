import type { MiddlewareObj, Request } from '@middy/core';
import type {
  Context,
  APIGatewayProxyEventV2WithJWTAuthorizer as HttpEvent,
  APIGatewayProxyStructuredResultV2 as HttpResult,
} from 'aws-lambda';
import { ROUTES } from '../routes.js';
import { apiTelemetry, recordRequest } from '../telemetry/api-telemetry.js';
import { storeUsageInScope } from '../telemetry/store-usage.js';
import type { Caller } from './caller.js';

type Event = HttpEvent & { roaming?: { caller?: Caller } };

const ROUTE_NAMES = new Map<string, string>(
  ROUTES.map((route) => [`${route.method} ${route.path}`, route.name]),
);

/**
 * The first middleware of every endpoint: after the response is settled (also an error response), one
 * log line and one set of metrics for the request, with the DynamoDB requests it made.
 */
export function observe(): MiddlewareObj<Event, HttpResult> {
  const startedAt = new WeakMap<object, number>();
  const finish = (request: Request<Event, HttpResult>) => {
    const { event, context } = request;
    const status = request.response?.statusCode ?? 500;
    recordRequest(
      apiTelemetry(),
      {
        route: routeNameOf(event),
        method: event.requestContext?.http?.method ?? '',
        // The route key, not rawPath: the path would log whose conversation or which group (README: logs).
        routeKey: event.routeKey ?? 'unknown',
        caller: event.roaming?.caller?.userId ?? subjectOf(event),
        status,
        latencyMs: performance.now() - (startedAt.get(request) ?? performance.now()),
        requestId: requestIdOf(event, context),
        functionRequestId: context?.awsRequestId,
        errorCode: status >= 400 ? errorCodeOf(request.response ?? undefined) : undefined,
        store: storeUsageInScope(),
      },
      request.error ?? undefined,
    );
  };
  return {
    before: async function startClock(request) {
      startedAt.set(request, performance.now());
    },
    after: async function logRequest(request) {
      finish(request);
    },
    onError: async function logFailedRequest(request) {
      finish(request);
    },
  };
}

/** The request's id: API Gateway's (the local server makes one the same way), else the invocation's. */
export function requestIdOf(
  event: { requestContext?: { requestId?: string } },
  context: Context | undefined,
): string {
  return event.requestContext?.requestId ?? context?.awsRequestId ?? '';
}

/** The route's name from the route key API Gateway matched (the local server sets it the same way). */
export function routeNameOf(event: Pick<HttpEvent, 'routeKey'>): string {
  return ROUTE_NAMES.get(event.routeKey) ?? event.routeKey ?? 'unknown';
}

/** The verified subject, for requests refused before the caller was read (a bad subject, a missing scope). */
function subjectOf(event: HttpEvent): string | undefined {
  const sub = event.requestContext?.authorizer?.jwt?.claims?.sub;
  return typeof sub === 'string' ? sub.slice(0, 128) : undefined;
}

function errorCodeOf(response: HttpResult | undefined): string | undefined {
  try {
    return (JSON.parse(response?.body ?? '{}') as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}
