import type { HeaderReader } from './header-reader.ts';
import { parseNonNegativeDecimal, parseRetryAfter } from './parse-values.ts';

/**
 * How long the provider asks the caller to wait, in ms, from the most precise header present:
 * `retry-after-ms` (OpenAI and Azure OpenAI; the official SDKs honour it first), Azure's
 * `x-ms-retry-after-ms`, then the standard `Retry-After` (RFC 9110 §10.2.3; Anthropic, Groq,
 * Mistral, GitHub secondary limits, IETF RateLimit draft). Sources: Microsoft Learn "Azure OpenAI
 * quotas and limits"; openai-node `retry-after-ms` handling; Claude API docs "Rate limits".
 */
export function readRetryAfterMs(headers: HeaderReader, nowMs: number): number | undefined {
  const millis =
    parseNonNegativeDecimal(headers.get('retry-after-ms')) ??
    parseNonNegativeDecimal(headers.get('x-ms-retry-after-ms'));
  if (millis !== undefined) return Math.ceil(millis);
  const retryAfter = headers.get('retry-after');
  return retryAfter === undefined ? undefined : parseRetryAfter(retryAfter, nowMs);
}
