import type { ApiCallRow } from '../store/index.ts';
import {
  RATE_LIMIT_DIMENSIONS,
  fingerprintKey,
  isOutcome,
  looksLikeSecret,
  normaliseResponse,
  type RateLimitBucket,
  type RateLimitDimension,
  type RateLimits,
} from '../telemetry/index.ts';
import type { AttributeValue, DecodedSpan } from './decoded-span.ts';

const HEADER_PREFIX = 'http.response.header.';
const RATE_LIMIT_PREFIX = 'keypool.ratelimit.';
const STATUS_CODE_ERROR = 2;

/**
 * Checks a decoded span against the span contract and maps it to an `api_calls` row.
 * Returns the row, or a message naming the attribute and what was expected when the span is rejected.
 */
export function mapSpanToRow(span: DecodedSpan, requestDigest: string, nowMs: number): ApiCallRow | string {
  const row: ApiCallRow = {
    timestampMs: span.startTimeMs,
    ingestedAtMs: nowMs,
    durationMs: span.endTimeMs > span.startTimeMs ? span.endTimeMs - span.startTimeMs : 0,
    traceId: span.traceId,
    spanId: span.spanId,
    spanName: span.name,
    serviceName: '',
    gatewayNode: '',
    pool: '',
    keyId: '',
    partition: '',
    consumer: '',
    provider: '',
    operation: '',
    requestModel: '',
    responseModel: '',
    serverAddress: '',
    statusCode: 0,
    errorType: '',
    outcome: '',
    inputTokens: 0,
    outputTokens: 0,
    cachedInputTokens: 0,
    costUsd: null,
    retryAfterMs: null,
    rateLimits: {},
    requestDigest,
  };
  let headers: Record<string, string> | undefined;
  let legacySystem = '';
  let error: string | undefined;

  const apply = (key: string, value: AttributeValue): void => {
    switch (key) {
      case 'service.name':
        row.serviceName = String(value);
        return;
      case 'service.instance.id':
        row.gatewayNode = String(value);
        return;
      case 'keypool.pool':
        row.pool = String(value).trim();
        return;
      case 'keypool.key.id':
        row.keyId = String(value).trim();
        return;
      case 'keypool.partition':
        row.partition = String(value).trim();
        return;
      case 'keypool.consumer':
        row.consumer = String(value);
        return;
      case 'keypool.outcome':
        row.outcome = String(value);
        return;
      case 'gen_ai.provider.name':
        row.provider = String(value);
        return;
      case 'gen_ai.system':
        legacySystem = String(value);
        return;
      case 'gen_ai.operation.name':
        row.operation = String(value);
        return;
      case 'gen_ai.request.model':
        row.requestModel = String(value);
        return;
      case 'gen_ai.response.model':
        row.responseModel = String(value);
        return;
      case 'server.address':
        row.serverAddress = String(value);
        return;
      case 'error.type':
        row.errorType = String(value);
        return;
      case 'http.response.status_code':
        row.statusCode = readUInt(value, key, 999) ?? fault(key, value, 'an HTTP status code from 0 to 999');
        return;
      case 'gen_ai.usage.input_tokens':
        row.inputTokens = readUInt(value, key) ?? fault(key, value, 'a non-negative integer');
        return;
      case 'gen_ai.usage.output_tokens':
        row.outputTokens = readUInt(value, key) ?? fault(key, value, 'a non-negative integer');
        return;
      case 'gen_ai.usage.cache_read.input_tokens':
        row.cachedInputTokens = readUInt(value, key) ?? fault(key, value, 'a non-negative integer');
        return;
      case 'keypool.retry_after_ms':
        row.retryAfterMs =
          readUInt(value, key) ?? fault(key, value, 'a non-negative integer of milliseconds');
        return;
      case 'keypool.cost_usd': {
        const cost = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
        if (typeof cost === 'number' && Number.isFinite(cost) && cost >= 0) row.costUsd = cost;
        else fault(key, value, 'a non-negative number of US dollars');
        return;
      }
    }
    if (key.startsWith(RATE_LIMIT_PREFIX)) {
      applyRateLimit(key, value);
    } else if (key.startsWith(HEADER_PREFIX)) {
      headers ??= {};
      headers[key.slice(HEADER_PREFIX.length)] = headerText(value);
    }
  };

  const applyRateLimit = (key: string, value: AttributeValue): void => {
    const rest = key.slice(RATE_LIMIT_PREFIX.length);
    const dot = rest.lastIndexOf('.');
    const dimension = rest.slice(0, dot) as RateLimitDimension;
    const part = rest.slice(dot + 1);
    if (!(RATE_LIMIT_DIMENSIONS as readonly string[]).includes(dimension)) return;
    const field: keyof RateLimitBucket | undefined =
      part === 'limit'
        ? 'limit'
        : part === 'remaining'
          ? 'remaining'
          : part === 'reset_at_ms'
            ? 'resetAtMs'
            : undefined;
    if (field === undefined) return;
    const n = readUInt(value, key);
    if (n === undefined) {
      fault(
        key,
        value,
        field === 'resetAtMs' ? 'epoch milliseconds as a non-negative integer' : 'a non-negative integer',
      );
      return;
    }
    (row.rateLimits[dimension] ??= {})[field] = n;
  };

  const fault = (key: string, value: AttributeValue, expected: string): 0 => {
    error ??= `${key}=${JSON.stringify(value)} is invalid: expected ${expected}`;
    return 0;
  };

  const resource = span.resource;
  for (let i = 0; i < resource.keys.length; i++)
    apply(resource.keys[i] as string, resource.values[i] as AttributeValue);
  const attributes = span.attributes;
  for (let i = 0; i < attributes.keys.length; i++) {
    apply(attributes.keys[i] as string, attributes.values[i] as AttributeValue);
  }

  if (error !== undefined) return error;
  if (row.pool === '')
    return 'missing required attribute keypool.pool (the key pool the call was routed through)';
  if (row.keyId === '') return 'missing required attribute keypool.key.id (key alias or fingerprint)';
  if (span.startTimeMs <= 0) return 'missing startTimeUnixNano';
  if (row.outcome !== '' && !isOutcome(row.outcome)) {
    return `keypool.outcome=${JSON.stringify(row.outcome)} is invalid: expected one of ok, rate_limited, quota_exhausted, overloaded, auth_error, client_error, upstream_error, timeout`;
  }
  if (looksLikeSecret(row.keyId)) row.keyId = fingerprintKey(row.keyId);
  if (row.partition === '') row.partition = row.keyId;
  if (row.provider === '') row.provider = legacySystem;

  if (row.outcome === '' || headers !== undefined) {
    const normalised = normaliseResponse({
      provider: row.provider,
      statusCode: row.statusCode === 0 ? undefined : row.statusCode,
      headers,
      errorType: row.errorType === '' ? undefined : row.errorType,
      nowMs: span.endTimeMs > 0 ? span.endTimeMs : span.startTimeMs,
    });
    if (row.outcome === '') {
      const silentSuccess =
        row.statusCode === 0 && row.errorType === '' && span.statusCode !== STATUS_CODE_ERROR;
      row.outcome = silentSuccess ? 'ok' : normalised.outcome;
    }
    mergeMissing(row.rateLimits, normalised.rateLimits);
    if (row.retryAfterMs === null && normalised.retryAfterMs !== undefined)
      row.retryAfterMs = normalised.retryAfterMs;
  }
  return row;
}

/** Explicit `keypool.ratelimit.*` attributes win over values parsed from raw headers. */
function mergeMissing(into: RateLimits, from: RateLimits): void {
  for (const dimension of RATE_LIMIT_DIMENSIONS) {
    const parsed = from[dimension];
    if (parsed === undefined) continue;
    const bucket = (into[dimension] ??= {});
    if (bucket.limit === undefined && parsed.limit !== undefined) bucket.limit = parsed.limit;
    if (bucket.remaining === undefined && parsed.remaining !== undefined) bucket.remaining = parsed.remaining;
    if (bucket.resetAtMs === undefined && parsed.resetAtMs !== undefined) bucket.resetAtMs = parsed.resetAtMs;
  }
}

const MAX_UINT = Number.MAX_SAFE_INTEGER;

function readUInt(value: AttributeValue, _key: string, max = MAX_UINT): number | undefined {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > max) return undefined;
  return Math.round(n);
}

/** Semantic conventions record headers as string arrays; arrays arrive here as JSON text. */
function headerText(value: AttributeValue): string {
  if (typeof value === 'string' && value.startsWith('[')) {
    try {
      const parsed: unknown = JSON.parse(value);
      if (Array.isArray(parsed)) return parsed.map(String).join(', ');
    } catch {
      // Not an array after all: keep the text.
    }
  }
  return String(value);
}
