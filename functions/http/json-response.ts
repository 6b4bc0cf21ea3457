import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * A JSON answer. The body ends with a newline, so `curl` output does not run into the prompt; API
 * Gateway passes a Lambda's body through unchanged, so the answer is the same locally and on AWS, and
 * every JSON parser skips the trailing whitespace.
 */
export function jsonResponse(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: `${JSON.stringify(body)}\n`,
  };
}
