import type { ErrorBodyFacts } from './error-body.ts';
import type { Outcome } from './index.ts';
import type { ParseState } from './parse-state.ts';

/**
 * Error codes that mean "no more calls until someone pays or the billing period resets", as
 * opposed to a temporary rate limit. Matched against `error.code`, `error.type` and Anthropic's
 * `error.details.error_code`.
 */
const QUOTA_EXHAUSTED_CODES: ReadonlySet<string> = new Set([
  // OpenAI "Error codes" guide (429 section) and help article "Troubleshooting API rate limits
  // and 429 errors": billing errors keep type `insufficient_quota`, the cause is in `code`.
  'insufficient_quota',
  'credit_balance_exhausted',
  'organization_usage_limit_exceeded',
  // OpenAI "Spend limits" guide: hard spend limits answer 429 with these codes.
  'organization_spend_limit_exceeded',
  'project_spend_limit_exceeded',
  // OpenAI Images API answers 400 `billing_hard_limit_reached` ("Billing hard limit has been
  // reached") for the legacy hard usage limit; seen in API responses quoted in public issues.
  'billing_hard_limit_reached',
  // Claude API docs "Errors": 429 `rate_limit_error` with details.error_code
  // `enforced_spend_limit_reached` when the monthly tier cap is hit (no retry-after: resumes on
  // the 1st, 00:00 UTC); 402 `billing_error` for billing problems.
  'enforced_spend_limit_reached',
  'billing_error',
]);

/**
 * Claude API docs "Errors": spend limits the organization or workspace set, and an empty credit
 * balance, come back as 400 `invalid_request_error` told apart only by the message.
 */
const QUOTA_EXHAUSTED_MESSAGE_PREFIXES: readonly string[] = [
  'Your credit balance is too low',
  'You have reached your specified API usage limits',
  'You have reached your specified workspace API usage limits',
];

export function classifyOutcome(
  statusCode: number | undefined,
  errorType: string | undefined,
  body: ErrorBodyFacts | undefined,
  state: ParseState,
): Outcome {
  // Claude API docs "Errors": an `overloaded_error` can also arrive as an SSE error event after a
  // 200 has started streaming, so the body outranks the status here.
  if (body?.type === 'overloaded_error') return 'overloaded';
  const status = isHttpStatus(statusCode) ? statusCode : undefined;
  if (status === undefined) return isTimeoutErrorType(errorType) ? 'timeout' : 'upstream_error';
  if (status < 400) return 'ok';
  if (status < 500 && (status === 402 || state.quotaExhausted || signalsQuotaExhausted(body))) {
    return 'quota_exhausted';
  }
  // 529 is Anthropic's "overloaded" (Claude API docs "Errors"); 503 is everyone's.
  if (status === 529 || status === 503) return 'overloaded';
  if (status === 429) return 'rate_limited';
  if (status === 400 && state.credentialRejected) return 'auth_error';
  if (status === 401 || status === 403) {
    // GitHub Docs "Rate limits for the REST API": exceeding a primary or secondary rate limit can
    // answer 403 with x-ratelimit-remaining 0 or a retry-after header.
    return status === 403 && (state.rateLimits.requests?.remaining === 0 || state.retryAfterMs !== undefined)
      ? 'rate_limited'
      : 'auth_error';
  }
  return status < 500 ? 'client_error' : 'upstream_error';
}

function isHttpStatus(statusCode: number | undefined): statusCode is number {
  return statusCode !== undefined && Number.isInteger(statusCode) && statusCode >= 100 && statusCode <= 599;
}

function signalsQuotaExhausted(body: ErrorBodyFacts | undefined): boolean {
  if (body === undefined) return false;
  if (body.code !== undefined && QUOTA_EXHAUSTED_CODES.has(body.code)) return true;
  if (body.type !== undefined && QUOTA_EXHAUSTED_CODES.has(body.type)) return true;
  if (body.detailCode !== undefined && QUOTA_EXHAUSTED_CODES.has(body.detailCode)) return true;
  const message = body.message;
  return (
    message !== undefined && QUOTA_EXHAUSTED_MESSAGE_PREFIXES.some((prefix) => message.startsWith(prefix))
  );
}

/**
 * Error names and codes that mean the call gave up waiting: `timeout` (OpenTelemetry
 * `error.type`), `TimeoutError` and `AbortError` (fetch / AbortSignal.timeout), `ABORT_ERR`,
 * `ETIMEDOUT` / `ESOCKETTIMEDOUT` (Node sockets), `UND_ERR_*_TIMEOUT` (undici).
 */
export function isTimeoutErrorType(errorType: string | undefined): boolean {
  if (errorType === undefined) return false;
  const lower = errorType.toLowerCase();
  return (
    lower.includes('timeout') || lower.includes('timedout') || lower === 'aborterror' || lower === 'abort_err'
  );
}
