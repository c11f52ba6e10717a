/** Bearer-token checks, shared by the service and the gateway and kept free of their dependencies. */
import { timingSafeEqual } from 'node:crypto';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

/** True when `Authorization: Bearer <token>` carries one of `tokens`; compared in constant time. */
export function bearerMatches(header: string | undefined, tokens: readonly string[]): boolean {
  if (header === undefined || !header.toLowerCase().startsWith('bearer ')) return false;
  const presented = Buffer.from(header.slice(7).trim());
  let ok = false;
  for (const token of tokens) {
    const expected = Buffer.from(token);
    // Every token is compared, so the response time does not reveal which one matched.
    if (expected.length === presented.length && timingSafeEqual(expected, presented)) ok = true;
  }
  return ok;
}

/** Throws 401 unless the admin token (when one is configured) is presented. */
export function requireAdmin(header: string | undefined, adminToken: string | undefined): void {
  if (adminToken === undefined || bearerMatches(header, [adminToken])) return;
  throw new HeadroomError(
    ErrorCode.unauthorized,
    'missing or invalid admin token: send Authorization: Bearer <HEADROOM_ADMIN_TOKEN>',
    { statusCode: 401 },
  );
}
