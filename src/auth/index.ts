/** Bearer-token checks, shared by the service and the gateway and kept free of their dependencies. */
import { timingSafeEqual } from 'node:crypto';

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
