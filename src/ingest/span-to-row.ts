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

export const HEADER_PREFIX = 'http.response.header.';
const RATE_LIMIT_PREFIX = 'keypool.ratelimit.';
export const STATUS_CODE_ERROR = 2;

interface MapState {
  row: ApiCallRow;
  headers: Record<string, string> | undefined;
  legacySystem: string;
  /** The first invalid attribute, as the rejection message. */
  error: string | undefined;
}

// Field numbers of the attributes headroom reads. A map lookup finds them by key: a switch over
// strings compares each case in turn, and decoded keys are not V8-internalised, so every
// comparison would look at the characters.
export const SERVICE_NAME = 1;
export const GATEWAY_NODE = 2;
export const POOL = 3;
export const KEY_ID = 4;
export const PARTITION = 5;
export const CONSUMER = 6;
export const OUTCOME = 7;
export const PROVIDER = 8;
export const LEGACY_SYSTEM = 9;
export const OPERATION = 10;
export const REQUEST_MODEL = 11;
export const RESPONSE_MODEL = 12;
export const SERVER_ADDRESS = 13;
export const ERROR_TYPE = 14;
export const STATUS_CODE = 15;
export const INPUT_TOKENS = 16;
export const OUTPUT_TOKENS = 17;
export const CACHED_INPUT_TOKENS = 18;
export const RETRY_AFTER = 19;
export const COST = 20;

export const FIELDS: ReadonlyMap<string, number> = new Map<string, number>([
  ['service.name', SERVICE_NAME],
  ['service.instance.id', GATEWAY_NODE],
  ['keypool.pool', POOL],
  ['keypool.key.id', KEY_ID],
  ['keypool.partition', PARTITION],
  ['keypool.consumer', CONSUMER],
  ['keypool.outcome', OUTCOME],
  ['gen_ai.provider.name', PROVIDER],
  ['gen_ai.system', LEGACY_SYSTEM],
  ['gen_ai.operation.name', OPERATION],
  ['gen_ai.request.model', REQUEST_MODEL],
  ['gen_ai.response.model', RESPONSE_MODEL],
  ['server.address', SERVER_ADDRESS],
  ['error.type', ERROR_TYPE],
  ['http.response.status_code', STATUS_CODE],
  ['gen_ai.usage.input_tokens', INPUT_TOKENS],
  ['gen_ai.usage.output_tokens', OUTPUT_TOKENS],
  ['gen_ai.usage.cache_read.input_tokens', CACHED_INPUT_TOKENS],
  ['keypool.retry_after_ms', RETRY_AFTER],
  ['keypool.cost_usd', COST],
]);

/** `keypool.ratelimit.<dim>.<part>` → where it goes. */
export const RATE_LIMIT_FIELDS: ReadonlyMap<
  string,
  { dimension: RateLimitDimension; field: keyof RateLimitBucket }
> = new Map<string, { dimension: RateLimitDimension; field: keyof RateLimitBucket }>(
  RATE_LIMIT_DIMENSIONS.flatMap((dimension) =>
    (
      [
        ['limit', 'limit'],
        ['remaining', 'remaining'],
        ['reset_at_ms', 'resetAtMs'],
      ] as const
    ).map(([part, field]) => [`${RATE_LIMIT_PREFIX}${dimension}.${part}`, { dimension, field }] as const),
  ),
);

/** The rejection message for an attribute whose value does not fit its column. */
export function invalidAttributeMessage(key: string, value: AttributeValue, expected: string): string {
  return `${key}=${JSON.stringify(value)} is invalid: expected ${expected}`;
}

function fault(state: MapState, key: string, value: AttributeValue, expected: string): 0 {
  state.error ??= invalidAttributeMessage(key, value, expected);
  return 0;
}

export const EXPECTED_STATUS_CODE = 'an HTTP status code from 0 to 999';
export const EXPECTED_COUNT = 'a non-negative integer';
export const EXPECTED_RETRY_AFTER = 'a non-negative integer of milliseconds';
export const EXPECTED_COST = 'a non-negative number of US dollars';
export const EXPECTED_RESET_AT = 'epoch milliseconds as a non-negative integer';
export const MISSING_POOL =
  'missing required attribute keypool.pool (the key pool the call was routed through)';
export const MISSING_KEY_ID = 'missing required attribute keypool.key.id (key alias or fingerprint)';
export const MISSING_START_TIME = 'missing startTimeUnixNano';

export function invalidOutcomeMessage(outcome: string): string {
  return `keypool.outcome=${JSON.stringify(outcome)} is invalid: expected one of ok, rate_limited, quota_exhausted, overloaded, auth_error, client_error, upstream_error, timeout`;
}

/** `keypool.cost_usd` as a number, or undefined when it is not a non-negative number. */
export function readCostUsd(value: AttributeValue): number | undefined {
  const cost = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined;
}

function applyAttribute(state: MapState, key: string, value: AttributeValue): void {
  const row = state.row;
  switch (FIELDS.get(key)) {
    case undefined:
      break;
    case SERVICE_NAME:
      row.serviceName = String(value);
      return;
    case GATEWAY_NODE:
      row.gatewayNode = String(value);
      return;
    case POOL:
      row.pool = String(value).trim();
      return;
    case KEY_ID:
      row.keyId = String(value).trim();
      return;
    case PARTITION:
      row.partition = String(value).trim();
      return;
    case CONSUMER:
      row.consumer = String(value);
      return;
    case OUTCOME:
      row.outcome = String(value);
      return;
    case PROVIDER:
      row.provider = String(value);
      return;
    case LEGACY_SYSTEM:
      state.legacySystem = String(value);
      return;
    case OPERATION:
      row.operation = String(value);
      return;
    case REQUEST_MODEL:
      row.requestModel = String(value);
      return;
    case RESPONSE_MODEL:
      row.responseModel = String(value);
      return;
    case SERVER_ADDRESS:
      row.serverAddress = String(value);
      return;
    case ERROR_TYPE:
      row.errorType = String(value);
      return;
    case STATUS_CODE:
      row.statusCode = readUInt(value, MAX_STATUS_CODE) ?? fault(state, key, value, EXPECTED_STATUS_CODE);
      return;
    case INPUT_TOKENS:
      row.inputTokens = readUInt(value) ?? fault(state, key, value, EXPECTED_COUNT);
      return;
    case OUTPUT_TOKENS:
      row.outputTokens = readUInt(value) ?? fault(state, key, value, EXPECTED_COUNT);
      return;
    case CACHED_INPUT_TOKENS:
      row.cachedInputTokens = readUInt(value) ?? fault(state, key, value, EXPECTED_COUNT);
      return;
    case RETRY_AFTER:
      row.retryAfterMs = readUInt(value) ?? fault(state, key, value, EXPECTED_RETRY_AFTER);
      return;
    case COST: {
      const cost = readCostUsd(value);
      if (cost !== undefined) row.costUsd = cost;
      else fault(state, key, value, EXPECTED_COST);
      return;
    }
  }
  const rateLimit = RATE_LIMIT_FIELDS.get(key);
  if (rateLimit !== undefined) {
    const n = readUInt(value);
    if (n === undefined) {
      fault(state, key, value, rateLimit.field === 'resetAtMs' ? EXPECTED_RESET_AT : EXPECTED_COUNT);
      return;
    }
    (row.rateLimits[rateLimit.dimension] ??= {})[rateLimit.field] = n;
  } else if (key.startsWith(HEADER_PREFIX)) {
    state.headers ??= {};
    state.headers[key.slice(HEADER_PREFIX.length)] = headerText(value);
  }
}

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
  const state: MapState = { row, headers: undefined, legacySystem: '', error: undefined };
  const resource = span.resource;
  for (let i = 0; i < resource.keys.length; i++) {
    applyAttribute(state, resource.keys[i] as string, resource.values[i] as AttributeValue);
  }
  const attributes = span.attributes;
  for (let i = 0; i < attributes.keys.length; i++) {
    applyAttribute(state, attributes.keys[i] as string, attributes.values[i] as AttributeValue);
  }
  const { headers, legacySystem, error } = state;

  if (error !== undefined) return error;
  if (row.pool === '') return MISSING_POOL;
  if (row.keyId === '') return MISSING_KEY_ID;
  if (span.startTimeMs <= 0) return MISSING_START_TIME;
  if (row.outcome !== '' && !isOutcome(row.outcome)) return invalidOutcomeMessage(row.outcome);
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
/** The largest `http.response.status_code` accepted. */
export const MAX_STATUS_CODE = 999;

export function readUInt(value: AttributeValue, max = MAX_UINT): number | undefined {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > max) return undefined;
  return Math.round(n);
}

/** Semantic conventions record headers as string arrays; arrays arrive here as JSON text. */
export function headerText(value: AttributeValue): string {
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
