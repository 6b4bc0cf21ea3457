import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { jsonResponse } from '../http/json-response.js';

/** API Gateway's `$default` route: any path or method we do not serve gets our JSON 404. */
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return jsonResponse(404, {
    error: {
      code: 'not_found',
      message: `No route for ${event.requestContext.http.method} ${event.rawPath}`,
    },
  });
}
