import { RATE_LIMIT_DIMENSIONS, type RateLimits } from '../telemetry/index.ts';

/** One upstream API call as stored in `api_calls`. Strings default to '' and counts to 0 when not reported. */
export interface ApiCallRow {
  timestampMs: number;
  ingestedAtMs: number;
  durationMs: number;
  traceId: string;
  spanId: string;
  spanName: string;
  serviceName: string;
  gatewayNode: string;
  pool: string;
  keyId: string;
  partition: string;
  consumer: string;
  provider: string;
  operation: string;
  requestModel: string;
  responseModel: string;
  serverAddress: string;
  statusCode: number;
  errorType: string;
  outcome: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  costUsd: number | null;
  retryAfterMs: number | null;
  rateLimits: RateLimits;
  requestDigest: string;
}

/** Column order of {@link encodeApiCallRows}; the insert names them explicitly so the table may gain columns. */
export const API_CALL_COLUMNS: readonly string[] = [
  'timestamp',
  'ingested_at',
  'duration_ms',
  'trace_id',
  'span_id',
  'span_name',
  'service_name',
  'gateway_node',
  'pool',
  'key_id',
  'partition',
  'consumer',
  'provider',
  'operation',
  'request_model',
  'response_model',
  'server_address',
  'status_code',
  'error_type',
  'outcome',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cost_usd',
  'retry_after_ms',
  ...RATE_LIMIT_DIMENSIONS.flatMap((d) => [`rl_${d}_limit`, `rl_${d}_remaining`, `rl_${d}_reset_at`]),
  'request_digest',
];

const NULL = '\\N';
const NEEDS_ESCAPE = /[\t\n\r\\]/;

// TabSeparated is the cheapest text format for ClickHouse to parse and for V8 to build; only these
// four characters need escaping inside a field.
function tsvString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\t\n\r\\]/g, (c) =>
    c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\',
  );
}

function tsvTime(ms: number): string {
  return String(ms / 1000);
}

function tsvOptionalUInt(value: number | null | undefined): string {
  return value === null || value === undefined ? NULL : String(value);
}

function tsvOptionalTime(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? NULL : tsvTime(ms);
}

/**
 * Encodes rows as TabSeparated text in {@link API_CALL_COLUMNS} order. Callers guarantee numbers are
 * finite and non-negative where the column is unsigned (ingest validates every attribute).
 */
export function encodeApiCallRows(rows: readonly ApiCallRow[]): string {
  let out = '';
  for (const r of rows) {
    let line =
      tsvTime(r.timestampMs) +
      '\t' +
      tsvTime(r.ingestedAtMs) +
      '\t' +
      String(r.durationMs) +
      '\t' +
      r.traceId +
      '\t' +
      r.spanId +
      '\t' +
      tsvString(r.spanName) +
      '\t' +
      tsvString(r.serviceName) +
      '\t' +
      tsvString(r.gatewayNode) +
      '\t' +
      tsvString(r.pool) +
      '\t' +
      tsvString(r.keyId) +
      '\t' +
      tsvString(r.partition) +
      '\t' +
      tsvString(r.consumer) +
      '\t' +
      tsvString(r.provider) +
      '\t' +
      tsvString(r.operation) +
      '\t' +
      tsvString(r.requestModel) +
      '\t' +
      tsvString(r.responseModel) +
      '\t' +
      tsvString(r.serverAddress) +
      '\t' +
      String(r.statusCode) +
      '\t' +
      tsvString(r.errorType) +
      '\t' +
      r.outcome +
      '\t' +
      String(r.inputTokens) +
      '\t' +
      String(r.outputTokens) +
      '\t' +
      String(r.cachedInputTokens) +
      '\t' +
      (r.costUsd === null ? NULL : String(r.costUsd)) +
      '\t' +
      tsvOptionalUInt(r.retryAfterMs);
    for (const dimension of RATE_LIMIT_DIMENSIONS) {
      const bucket = r.rateLimits[dimension];
      line +=
        '\t' +
        tsvOptionalUInt(bucket?.limit) +
        '\t' +
        tsvOptionalUInt(bucket?.remaining) +
        '\t' +
        tsvOptionalTime(bucket?.resetAtMs);
    }
    out += line + '\t' + r.requestDigest + '\n';
  }
  return out;
}
