import type { ErrorBodyFacts } from './error-body.ts';
import { asRecord, asString } from './error-body.ts';
import type { RateLimitDimension } from './index.ts';
import { nextPacificMidnightMs } from './pacific-time.ts';
import { putBucket, type ParseState } from './parse-state.ts';
import { parseGoDuration, parseNonNegativeInteger } from './parse-values.ts';

/**
 * Gemini API and Vertex AI send no rate-limit headers; a 429 carries `status: RESOURCE_EXHAUSTED`
 * and typed details instead (Google AIP-193 "Errors"; Gemini API "Rate limits",
 * ai.google.dev/gemini-api/docs/rate-limits):
 * - `type.googleapis.com/google.rpc.RetryInfo` with `retryDelay` (protobuf Duration JSON, `"38s"`);
 * - `type.googleapis.com/google.rpc.QuotaFailure` with `violations[]` of `quotaMetric`,
 *   `quotaId` (e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`) and `quotaValue`.
 * A violated per-day quota is spent until midnight Pacific time, when Gemini's daily quotas reset:
 * the call is `quota_exhausted` and the dimension gets remaining 0 with that reset. A per-minute
 * violation is an ordinary `rate_limited` with remaining 0 until the advertised retry delay.
 * A `type.googleapis.com/google.rpc.ErrorInfo` with reason `API_KEY_INVALID` (google.api.ErrorReason)
 * is the Gemini API's answer to an invalid, deleted or expired key, sent with status 400.
 */
export function applyGoogleRpcBody(state: ParseState, body: ErrorBodyFacts): void {
  const details = body.rpcDetails;
  if (details === undefined) return;
  let retryDelayMs: number | undefined;
  let violations: readonly unknown[] | undefined;
  for (const detail of details) {
    const record = asRecord(detail);
    const type = asString(record?.['@type']);
    if (record === undefined || type === undefined) continue;
    if (type.endsWith('google.rpc.RetryInfo')) retryDelayMs = parseProtobufDuration(record.retryDelay);
    else if (type.endsWith('google.rpc.QuotaFailure') && Array.isArray(record.violations)) {
      violations = record.violations as readonly unknown[];
    } else if (type.endsWith('google.rpc.ErrorInfo') && record.reason === 'API_KEY_INVALID') {
      state.credentialRejected = true;
    }
  }
  if (retryDelayMs !== undefined) state.retryAfterMs ??= Math.ceil(retryDelayMs);
  if (violations !== undefined) applyQuotaViolations(state, violations, retryDelayMs);
}

type QuotaWindow = 'day' | 'minute' | 'other';
const WINDOW_RANK: Readonly<Record<QuotaWindow, number>> = { day: 3, minute: 2, other: 1 };

interface Violation {
  window: QuotaWindow;
  quotaValue: number | undefined;
}

function applyQuotaViolations(
  state: ParseState,
  violations: readonly unknown[],
  retryDelayMs: number | undefined,
): void {
  // Several quotas can be violated at once (per minute and per day); per dimension the longest
  // window decides when calls flow again.
  const byDimension = new Map<RateLimitDimension, Violation>();
  for (const entry of violations) {
    const record = asRecord(entry);
    if (record === undefined) continue;
    const quotaId = asString(record.quotaId) ?? '';
    const quotaMetric = asString(record.quotaMetric) ?? '';
    const window = quotaWindow(quotaId, quotaMetric);
    if (window === 'day') state.quotaExhausted = true;
    const dimension = quotaDimension(quotaId, quotaMetric);
    if (dimension === undefined) continue;
    const previous = byDimension.get(dimension);
    if (previous !== undefined && WINDOW_RANK[previous.window] >= WINDOW_RANK[window]) continue;
    byDimension.set(dimension, { window, quotaValue: parseQuotaValue(record.quotaValue) });
  }
  for (const [dimension, violation] of byDimension) {
    let resetAtMs: number | undefined;
    if (violation.window === 'day') resetAtMs = nextPacificMidnightMs(state.nowMs);
    else if (retryDelayMs !== undefined) resetAtMs = state.nowMs + retryDelayMs;
    putBucket(state, dimension, violation.quotaValue, 0, resetAtMs);
  }
}

function quotaWindow(quotaId: string, quotaMetric: string): QuotaWindow {
  if (quotaId.includes('PerDay') || quotaMetric.includes('per_day')) return 'day';
  if (quotaId.includes('PerMinute') || quotaMetric.includes('per_minute')) return 'minute';
  return 'other';
}

function quotaDimension(quotaId: string, quotaMetric: string): RateLimitDimension | undefined {
  if (quotaId.includes('InputToken')) return 'input_tokens';
  if (quotaId.includes('OutputToken')) return 'output_tokens';
  if (quotaId.includes('Token')) return 'tokens';
  if (quotaId.includes('Request')) return 'requests';
  if (quotaMetric.includes('input_token')) return 'input_tokens';
  if (quotaMetric.includes('output_token')) return 'output_tokens';
  if (quotaMetric.includes('token')) return 'tokens';
  if (quotaMetric.includes('request')) return 'requests';
  return undefined;
}

// int64 quota values are JSON strings in proto3 JSON, but some gateways turn them into numbers.
function parseQuotaValue(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  return typeof value === 'string' ? parseNonNegativeInteger(value) : undefined;
}

/** google.protobuf.Duration as proto3 JSON (`"38s"`, `"0.5s"`) or as `{ seconds, nanos }`. */
function parseProtobufDuration(value: unknown): number | undefined {
  if (typeof value === 'string') return value.endsWith('s') ? parseGoDuration(value) : undefined;
  const record = asRecord(value);
  if (record === undefined) return undefined;
  const seconds =
    typeof record.seconds === 'number'
      ? record.seconds
      : parseNonNegativeInteger(asString(record.seconds) ?? '');
  const nanos = typeof record.nanos === 'number' ? record.nanos : 0;
  if (seconds === undefined || !Number.isFinite(seconds) || seconds < 0 || nanos < 0) return undefined;
  return seconds * 1000 + nanos / 1e6;
}
