import { classifyOutcome } from './classify-outcome.ts';
import { readErrorBody } from './error-body.ts';
import { applyGoogleRpcBody } from './google-rpc-body.ts';
import { createHeaderReader, type HeaderSource } from './header-reader.ts';
import type { Outcome, RateLimits } from './index.ts';
import { createParseState } from './parse-state.ts';
import { selectHeaderParsers } from './providers/registry.ts';
import { readRetryAfterMs } from './retry-after-headers.ts';

/** Everything known about one upstream call's response; see DESIGN.md, "Span contract". */
export interface ResponseFacts {
  /**
   * `gen_ai.provider.name` value, e.g. `openai`, `azure.ai.openai`, `anthropic`, `groq`,
   * `mistral_ai`, `gcp.gemini`, `gcp.vertex_ai`, `github`; legacy `gen_ai.system` spellings
   * (`az.ai.openai`, `gemini`, `vertex_ai`, ...) are accepted. Unknown or undefined: every header
   * family is tried.
   */
  provider?: string;
  /** HTTP status; undefined when the call never got a response. */
  statusCode?: number;
  /** Response headers; names are matched case-insensitively. */
  headers?: HeaderSource;
  /** Error response body: parsed JSON or the raw text. */
  body?: unknown;
  /** `error.type` of the span, if any (e.g. `timeout`, `AbortError`, `ETIMEDOUT`). */
  errorType?: string;
  /** Current epoch ms; relative resets are made absolute against it. The module never reads the clock. */
  nowMs: number;
}

export interface NormalisedResponse {
  outcome: Outcome;
  /** Provider-reported buckets; only dimensions with at least one known value are present. */
  rateLimits: RateLimits;
  /** How long the provider asked the caller to wait, in ms; absent when it did not say. */
  retryAfterMs?: number;
}

/**
 * Turns one provider response into headroom's normalised span attributes (`keypool.outcome`,
 * `keypool.ratelimit.<dim>.*`, `keypool.retry_after_ms`). Used by the SDK on the caller's path and
 * by ingest for spans that only carry raw `http.response.header.*` attributes, so it is pure,
 * allocation-light and never throws on garbled input: unknown values are left out, not guessed.
 */
export function normaliseResponse(facts: ResponseFacts): NormalisedResponse {
  const state = createParseState(createHeaderReader(facts.headers), facts.nowMs);
  if (facts.headers !== undefined && facts.headers !== null) {
    const selection = selectHeaderParsers(facts.provider);
    for (const parser of selection.parsers) parser.parse(state, selection);
    // Retry-After only asks for a wait on a failed call (RFC 9110 §10.2.3: 503 and 429); on a
    // success or a redirect it says nothing about rate limits.
    if (facts.statusCode === undefined || facts.statusCode >= 400) {
      state.retryAfterMs = readRetryAfterMs(state.headers, facts.nowMs);
    }
  }
  const body = facts.body === undefined ? undefined : readErrorBody(facts.body);
  if (body !== undefined) applyGoogleRpcBody(state, body);
  const outcome = classifyOutcome(facts.statusCode, facts.errorType, body, state);
  const result: NormalisedResponse = { outcome, rateLimits: state.rateLimits };
  if (state.retryAfterMs !== undefined) result.retryAfterMs = state.retryAfterMs;
  return result;
}
