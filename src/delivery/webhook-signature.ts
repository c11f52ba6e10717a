import { createHmac, timingSafeEqual } from 'node:crypto';

/** Unix seconds at signing, sent with the signature so that a captured request cannot be replayed later. */
export const WEBHOOK_TIMESTAMP_HEADER = 'x-headroom-timestamp';
/** `sha256=` and the hex HMAC-SHA256 of `<timestamp>.<raw body>`. */
export const WEBHOOK_SIGNATURE_HEADER = 'x-headroom-signature';
/** How far a signed timestamp may be from a receiver's clock before the request counts as a replay. */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/** The signature of every webhook headroom sends (alerts and advice alike). */
export function signWebhookBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does with the two headers: recompute the HMAC over the raw body, compare in
 * constant time, and refuse a timestamp more than `toleranceSeconds` from its own clock.
 */
export function verifyWebhookSignature(
  secret: string,
  body: string,
  headers: { timestamp: string | undefined; signature: string | undefined },
  nowSeconds: number,
  toleranceSeconds = WEBHOOK_TOLERANCE_SECONDS,
): boolean {
  const { timestamp, signature } = headers;
  if (timestamp === undefined || signature === undefined || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhookBody(secret, timestamp, body), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
