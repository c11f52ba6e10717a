import { RATE_LIMIT_DIMENSIONS } from '../telemetry/index.ts';
import type { AttributeValue } from './decoded-span.ts';

// ---------------------------------------------------------------------------------------------
// The one table of what each span attribute feeds and what its `api_calls` column can hold
// (migrations/0001_api_calls.sql). Both ingest walkers (the protobuf fast path and the decoded-span
// path used for JSON and unusual protobuf) hand attributes to the row builder, which applies these
// rules; nothing else decides whether a value fits.
// ---------------------------------------------------------------------------------------------

/** String columns (LowCardinality(String)) and the span fields kept alongside them. */
export const S_NAME = 0;
export const S_SERVICE = 1;
export const S_GATEWAY = 2;
export const S_POOL = 3;
export const S_KEY = 4;
export const S_PARTITION = 5;
export const S_CONSUMER = 6;
export const S_PROVIDER = 7;
/** `gen_ai.system`: not a column, the provider when `gen_ai.provider.name` is absent. */
export const S_LEGACY_SYSTEM = 8;
export const S_OPERATION = 9;
export const S_REQUEST_MODEL = 10;
export const S_RESPONSE_MODEL = 11;
export const S_SERVER = 12;
export const S_ERROR_TYPE = 13;
export const S_OUTCOME = 14;
export const S_TRACE_ID = 15;
export const S_SPAN_ID = 16;
export const TEXT_SLOTS = 17;

/** Numeric columns. Those from N_COST on are Nullable: "not reported" stays distinguishable from 0. */
export const N_STATUS_CODE = 0;
export const N_INPUT_TOKENS = 1;
export const N_OUTPUT_TOKENS = 2;
export const N_CACHED_INPUT_TOKENS = 3;
export const N_COST_USD = 4;
export const N_RETRY_AFTER_MS = 5;
/** `rl_<dimension>_{limit,remaining,reset_at}` in RATE_LIMIT_DIMENSIONS order, three per dimension. */
export const N_RATE_LIMITS = 6;
export const RATE_LIMIT_PARTS = 3;
export const NUMBER_SLOTS = N_RATE_LIMITS + RATE_LIMIT_DIMENSIONS.length * RATE_LIMIT_PARTS;

/** Longest value of a LowCardinality(String) column, in UTF-16 code units: longer is a mistake, not a name. */
export const MAX_TEXT_CHARS = 1024;
/** Longest raw response header value read for rate-limit parsing. */
export const MAX_HEADER_CHARS = 8192;
/** OTLP ids are exactly this many bytes (or absent). */
export const TRACE_ID_BYTES = 16;
export const SPAN_ID_BYTES = 8;
/** Largest integer stored exactly in a UInt64 column from a JavaScript number. */
export const MAX_UINT = Number.MAX_SAFE_INTEGER;
/** `http.response.status_code` (UInt16) accepts three-digit HTTP codes. */
export const MAX_STATUS_CODE = 999;
/**
 * DateTime64(3) columns are written as epoch seconds with a fraction; ClickHouse reads a 10-digit
 * integer part as epoch seconds and misreads other lengths as calendar dates (or refuses them).
 */
export const MIN_EPOCH_MS = 1e12;
export const MAX_EPOCH_MS = 1e13 - 1;
/** How far ahead of the server clock a span may start: clock skew, not a unit mistake. */
export const MAX_FUTURE_SKEW_MS = 3_600_000;

export const RULE_TEXT = 0;
/** Text with surrounding white space removed (identifiers: pool, key id, partition). */
export const RULE_TRIMMED = 1;
/** A non-negative integer up to `max`. */
export const RULE_UINT = 2;
export const RULE_COST = 3;
/** Epoch milliseconds a DateTime64(3) column can hold. */
export const RULE_EPOCH_MS = 4;
export const RULE_HEADER = 5;

/** What one attribute feeds and the rule its value must satisfy. */
export interface AttributeRule {
  key: string;
  rule: number;
  /** S_* for text rules, N_* for numeric ones. */
  slot: number;
  /** Largest value (numeric rules) or length (text rules). */
  max: number;
  /** What was expected, for the rejection message. */
  expected: string;
}

export const EXPECTED_STATUS_CODE = 'an HTTP status code from 0 to 999';
export const EXPECTED_COUNT = 'a non-negative integer';
export const EXPECTED_RETRY_AFTER = 'a non-negative integer of milliseconds';
export const EXPECTED_COST = 'a non-negative number of US dollars';
export const EXPECTED_RESET_AT = 'epoch milliseconds (an integer from 1000000000000 to 9999999999999)';
const EXPECTED_TEXT = `at most ${MAX_TEXT_CHARS} characters`;

function text(key: string, slot: number, rule = RULE_TEXT): AttributeRule {
  return { key, rule, slot, max: MAX_TEXT_CHARS, expected: EXPECTED_TEXT };
}

function uint(key: string, slot: number, expected: string, max = MAX_UINT): AttributeRule {
  return { key, rule: RULE_UINT, slot, max, expected };
}

const RATE_LIMIT_PREFIX = 'keypool.ratelimit.';

/** Every attribute headroom reads, with the column it feeds. Resource attributes apply before the span's. */
export const ATTRIBUTE_RULES: readonly AttributeRule[] = [
  text('service.name', S_SERVICE),
  text('service.instance.id', S_GATEWAY),
  text('keypool.pool', S_POOL, RULE_TRIMMED),
  text('keypool.key.id', S_KEY, RULE_TRIMMED),
  text('keypool.partition', S_PARTITION, RULE_TRIMMED),
  text('keypool.consumer', S_CONSUMER),
  text('keypool.outcome', S_OUTCOME),
  text('gen_ai.provider.name', S_PROVIDER),
  text('gen_ai.system', S_LEGACY_SYSTEM),
  text('gen_ai.operation.name', S_OPERATION),
  text('gen_ai.request.model', S_REQUEST_MODEL),
  text('gen_ai.response.model', S_RESPONSE_MODEL),
  text('server.address', S_SERVER),
  text('error.type', S_ERROR_TYPE),
  uint('http.response.status_code', N_STATUS_CODE, EXPECTED_STATUS_CODE, MAX_STATUS_CODE),
  uint('gen_ai.usage.input_tokens', N_INPUT_TOKENS, EXPECTED_COUNT),
  uint('gen_ai.usage.output_tokens', N_OUTPUT_TOKENS, EXPECTED_COUNT),
  uint('gen_ai.usage.cache_read.input_tokens', N_CACHED_INPUT_TOKENS, EXPECTED_COUNT),
  uint('keypool.retry_after_ms', N_RETRY_AFTER_MS, EXPECTED_RETRY_AFTER),
  {
    key: 'keypool.cost_usd',
    rule: RULE_COST,
    slot: N_COST_USD,
    max: Number.MAX_VALUE,
    expected: EXPECTED_COST,
  },
  ...RATE_LIMIT_DIMENSIONS.flatMap((dimension, d) => {
    const base = N_RATE_LIMITS + d * RATE_LIMIT_PARTS;
    const prefix = `${RATE_LIMIT_PREFIX}${dimension}.`;
    return [
      uint(`${prefix}limit`, base, EXPECTED_COUNT),
      uint(`${prefix}remaining`, base + 1, EXPECTED_COUNT),
      {
        key: `${prefix}reset_at_ms`,
        rule: RULE_EPOCH_MS,
        slot: base + 2,
        max: MAX_EPOCH_MS,
        expected: EXPECTED_RESET_AT,
      },
    ];
  }),
];

/** Raw response headers captured by generic HTTP instrumentation, normalised at ingest. */
export const HEADER_PREFIX = 'http.response.header.';
/** The rule for any `http.response.header.*` attribute. */
export const HEADER_RULE: AttributeRule = {
  key: HEADER_PREFIX,
  rule: RULE_HEADER,
  slot: -1,
  max: MAX_HEADER_CHARS,
  expected: `at most ${MAX_HEADER_CHARS} characters`,
};

/** The rule of each numeric slot, for values derived from raw headers rather than attributes. */
export const NUMBER_RULES: readonly AttributeRule[] = (() => {
  const rules: AttributeRule[] = [];
  for (const rule of ATTRIBUTE_RULES)
    if (rule.rule !== RULE_TEXT && rule.rule !== RULE_TRIMMED) rules[rule.slot] = rule;
  return rules;
})();

/** A numeric attribute's column value, or undefined when it does not satisfy its rule. */
export function readNumber(rule: AttributeRule, value: AttributeValue | undefined): number | undefined {
  if (rule.rule === RULE_COST) {
    const cost = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    return typeof cost === 'number' && Number.isFinite(cost) && cost >= 0 ? cost : undefined;
  }
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0 || n > rule.max) return undefined;
  const rounded = Math.round(n);
  return rule.rule === RULE_EPOCH_MS && rounded < MIN_EPOCH_MS ? undefined : rounded;
}

const MAX_QUOTED_CHARS = 64;

/** The rejection message for an attribute whose value does not fit its column; long values are cut. */
export function invalidAttributeMessage(key: string, value: AttributeValue, expected: string): string {
  // JSON has no NaN or infinities; a number reads as JavaScript writes it.
  const quoted = typeof value === 'number' ? String(value) : JSON.stringify(value);
  const shown =
    quoted.length > MAX_QUOTED_CHARS
      ? `${quoted.slice(0, MAX_QUOTED_CHARS)}… (${quoted.length} characters)`
      : quoted;
  return `${key}=${shown} is invalid: expected ${expected}`;
}

export function tooLongMessage(key: string, length: number, max: number): string {
  return `${key} is ${length} characters long: expected at most ${max}`;
}

export const MISSING_POOL =
  'missing required attribute keypool.pool (the key pool the call was routed through)';
export const MISSING_KEY_ID = 'missing required attribute keypool.key.id (key alias or fingerprint)';
export const MISSING_START_TIME = 'missing startTimeUnixNano';

export function invalidOutcomeMessage(outcome: string): string {
  return invalidAttributeMessage(
    'keypool.outcome',
    outcome,
    'one of ok, rate_limited, quota_exhausted, overloaded, auth_error, client_error, upstream_error, timeout',
  );
}

export function invalidIdMessage(field: 'traceId' | 'spanId', bytes: number, expected: number): string {
  return `${field} is ${bytes} bytes long: expected ${expected} bytes (or none)`;
}

const UNIT_HINTS: ReadonlyArray<[number, string]> = [
  [1e3, 'microseconds sent as nanoseconds?'],
  [1e6, 'milliseconds sent as nanoseconds?'],
  [1e9, 'seconds sent as nanoseconds?'],
];

/**
 * Why a span time outside [earliestMs, latestMs] was refused, with the likely unit mistake when
 * scaling the value would have put it inside.
 */
export function timeOutOfRangeMessage(
  field: 'startTimeUnixNano' | 'endTimeUnixNano',
  ms: number,
  earliestMs: number,
  latestMs: number,
  retentionDays: number,
): string {
  const reads = ms >= -8.64e15 && ms <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms since the epoch`;
  const hint = UNIT_HINTS.find(([scale]) => ms * scale >= earliestMs && ms * scale <= latestMs)?.[1];
  return (
    `${field} reads as ${reads}: expected nanoseconds since the epoch within the last ${retentionDays} days ` +
    `(the retention) and at most ${MAX_FUTURE_SKEW_MS / 60_000} minutes ahead of the server clock` +
    (hint === undefined ? '' : ` (${hint})`)
  );
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
