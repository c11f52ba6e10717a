/**
 * Provider rate-limit telemetry: one place that turns a provider response (status, headers, error
 * body) into headroom's normalised span attributes. Used by the SDK and by ingest.
 */

export { asRecord } from './error-body.ts';
export { fingerprintKey, looksLikeSecret } from './fingerprint-key.ts';
export type { HeaderSource } from './header-reader.ts';
export { normaliseResponse } from './normalise-response.ts';
export type { NormalisedResponse, ResponseFacts } from './normalise-response.ts';
export { parseGoDuration, parseRetryAfter } from './parse-values.ts';

/** `keypool.outcome` values, see DESIGN.md's span contract. */
export const OUTCOMES = [
  'ok',
  'rate_limited',
  'quota_exhausted',
  'overloaded',
  'auth_error',
  'client_error',
  'upstream_error',
  'timeout',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** `<dim>` of `keypool.ratelimit.<dim>.{limit,remaining,reset_at_ms}`. */
export const RATE_LIMIT_DIMENSIONS = ['requests', 'tokens', 'input_tokens', 'output_tokens'] as const;
export type RateLimitDimension = (typeof RATE_LIMIT_DIMENSIONS)[number];

/** One provider-reported bucket; every field is optional because providers report subsets. */
export interface RateLimitBucket {
  limit?: number;
  remaining?: number;
  /** Absolute epoch milliseconds at which the bucket is full again. */
  resetAtMs?: number;
}

export type RateLimits = Partial<Record<RateLimitDimension, RateLimitBucket>>;

export function isOutcome(value: unknown): value is Outcome {
  return typeof value === 'string' && (OUTCOMES as readonly string[]).includes(value);
}
