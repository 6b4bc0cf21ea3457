import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * How Roaming signs what it sends to an app's backend (webhook deliveries and pre-send hook calls): an
 * HMAC-SHA256 of the raw body under the webhook secret, hex, as `sha256=<hex>` (docs/events.md).
 */
export const SIGNATURE_HEADER = 'x-roaming-signature';
export const EVENT_ID_HEADER = 'x-roaming-event-id';

export function signatureOf(secret: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(rawBody, 'utf8').digest('hex')}`;
}

/** What a receiver does: recompute the signature of the raw body and compare in constant time. */
export function hasValidSignature(secret: string, rawBody: string, header: string | undefined): boolean {
  if (header === undefined) return false;
  const expected = Buffer.from(signatureOf(secret, rawBody));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** The headers of a signed JSON POST. */
export function signedHeaders(secret: string, rawBody: string): Record<string, string> {
  return { 'content-type': 'application/json', [SIGNATURE_HEADER]: signatureOf(secret, rawBody) };
}
