import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * Headers on every answer of the API: its JSON is data, never a page. A browser sniffs no other type
 * (`nosniff`), runs and loads nothing from it (`default-src 'none'`), and no page may frame it
 * (`frame-ancestors 'none'`, and X-Frame-Options for browsers without CSP level 2).
 */
export const API_SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
} as const;

/**
 * A JSON answer. The body ends with a newline, so `curl` output does not run into the prompt; API
 * Gateway passes a Lambda's body through unchanged, so the answer is the same locally and on AWS, and
 * every JSON parser skips the trailing whitespace.
 */
export function jsonResponse(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', ...API_SECURITY_HEADERS },
    body: `${JSON.stringify(body)}\n`,
  };
}
