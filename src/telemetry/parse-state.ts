import type { HeaderReader } from './header-reader.ts';
import type { RateLimitDimension, RateLimits } from './index.ts';

/** What the parsers of one response have found so far; filled in place to avoid allocations. */
export interface ParseState {
  readonly headers: HeaderReader;
  readonly nowMs: number;
  readonly rateLimits: RateLimits;
  /**
   * A parser saw a documented "out of quota until the window resets" signal (e.g. Mistral's
   * monthly token budget at 0, a Gemini per-day quota violation). Only turns a 4xx into
   * `quota_exhausted`; never changes the outcome of a successful call.
   */
  quotaExhausted: boolean;
  /**
   * The body says the credential itself was refused although the status is not 401/403 (the Gemini
   * API answers an invalid, deleted or expired key with 400 `API_KEY_INVALID`).
   */
  credentialRejected: boolean;
  retryAfterMs: number | undefined;
}

export function createParseState(headers: HeaderReader, nowMs: number): ParseState {
  return {
    headers,
    nowMs,
    rateLimits: {},
    quotaExhausted: false,
    credentialRejected: false,
    retryAfterMs: undefined,
  };
}

/**
 * Records one provider-reported bucket. The first parser to report a dimension wins, so a bucket
 * never mixes a limit from one header family with a remaining count from another. Fields that are
 * unknown (undefined or not finite) are left out; a bucket with no known field is not recorded.
 */
export function putBucket(
  state: ParseState,
  dimension: RateLimitDimension,
  limit: number | undefined,
  remaining: number | undefined,
  resetAtMs: number | undefined,
): void {
  if (state.rateLimits[dimension] !== undefined) return;
  const hasReset = resetAtMs !== undefined && Number.isFinite(resetAtMs);
  if (limit === undefined && remaining === undefined && !hasReset) return;
  const bucket: { limit?: number; remaining?: number; resetAtMs?: number } = {};
  if (limit !== undefined) bucket.limit = limit;
  if (remaining !== undefined) bucket.remaining = remaining;
  // Ceil: reporting a reset a fraction of a millisecond early would invite a premature retry.
  if (hasReset) bucket.resetAtMs = Math.ceil(resetAtMs);
  state.rateLimits[dimension] = bucket;
}

/** `nowMs + delayMs`, or undefined when the delay is unknown. */
export function resetAfter(state: ParseState, delayMs: number | undefined): number | undefined {
  return delayMs === undefined ? undefined : state.nowMs + delayMs;
}
