import { SpanKind, context, diag, type Attributes } from '@opentelemetry/api';
import { normaliseResponse, type HeaderSource } from '../telemetry/index.ts';
import {
  ATTR_CONSUMER,
  ATTR_SPILLED_FROM,
  ATTR_COST_USD,
  ATTR_ERROR_TYPE,
  ATTR_KEY_ID,
  ATTR_OPERATION,
  ATTR_PARTITION,
  ATTR_POOL,
  ATTR_PROVIDER,
  ATTR_REQUEST_MODEL,
  ATTR_RESPONSE_MODEL,
  ATTR_SERVER_ADDRESS,
  ATTR_STATUS_CODE,
  errorTypeOfBody,
  getSdkTracer,
  markError,
  parseErrorBody,
  putNormalisedAttributes,
  putUsageAttributes,
  resolveKeyId,
  spanName,
} from './span-attributes.ts';
import type { TokenUsage } from './usage-collector.ts';

/** Everything a gateway knows about one upstream call it already made. */
export interface ApiCallFields {
  /** `keypool.pool`: the key pool the call was routed through. */
  pool: string;
  /** `keypool.key.id` when no `keyId` is given and `key` is (instead of the fingerprint). */
  alias?: string;
  /** `keypool.partition`: the org / project / workspace whose limits the key shares; default the key id. */
  partition?: string;
  /** `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `azure.ai.openai`, `gcp.gemini`. */
  provider: string;
  /** `gen_ai.operation.name`; default `chat`. */
  operation?: string;
  requestModel?: string;
  responseModel?: string;
  /** HTTP status of the response; leave undefined when the call got no response. */
  statusCode?: number;
  /** Response headers, a fetch `Headers` or a record (names matched case-insensitively). */
  headers?: HeaderSource;
  /** Error response body (parsed JSON or raw text), read to tell quota exhaustion from rate limits. */
  errorBody?: unknown;
  /** `error.type`, e.g. `timeout`, `ECONNRESET`; derived from the status and error body when absent. */
  errorType?: string;
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  costUsd?: number;
  /** `keypool.consumer`: the application or tenant that made the call. */
  consumer?: string;
  /** `keypool.spilled_from`: the pool whose advice spilled this call to `pool`. */
  spilledFrom?: string;
  serverAddress?: string;
  /** When the request was sent (epoch ms); default `endTimeMs`. */
  startTimeMs?: number;
  /** When the response (or the failure) arrived (epoch ms); default now. */
  endTimeMs?: number;
}

/**
 * Which key served the call: its id (alias), or the secret itself, which is only ever used to
 * derive its `fp_…` fingerprint and is never exported. An id that looks like a secret is
 * fingerprinted too.
 */
export type KeyIdentity = { keyId: string; key?: string } | { key: string; keyId?: string };

export type ApiCallRecord = ApiCallFields & KeyIdentity;

let missingKeyReported = false;

/**
 * Emits one span of headroom's contract for a call the caller already made (a gateway that holds
 * the response). Uses the global OpenTelemetry tracer, so it exports through `startTelemetry` or
 * any SDK the app configured. Never throws: invalid numbers are left out, not sent for ingest to
 * reject.
 */
export function recordApiCall(call: ApiCallRecord): void {
  try {
    emitApiCall(call);
  } catch (error) {
    diag.error('headroom-sdk: recordApiCall failed', error);
  }
}

let missingPoolReported = false;

function emitApiCall(call: ApiCallRecord): void {
  if (nonEmpty(call.pool) === undefined) {
    // headroom rejects a span without keypool.pool: say so once rather than export it.
    if (!missingPoolReported) diag.warn('headroom-sdk: recordApiCall without pool; the call is not recorded');
    missingPoolReported = true;
    return;
  }
  const nowMs = Date.now();
  const endTimeMs = readTimeMs(call.endTimeMs) ?? nowMs;
  const startTimeMs = Math.min(readTimeMs(call.startTimeMs) ?? endTimeMs, endTimeMs);
  const operation = nonEmpty(call.operation) ?? 'chat';
  const requestModel = nonEmpty(call.requestModel);
  let keyId = resolveKeyId(nonEmpty(call.keyId) ?? nonEmpty(call.alias), nonEmpty(call.key));
  if (keyId === undefined) {
    if (!missingKeyReported) diag.warn('headroom-sdk: recordApiCall without keyId or key; using "unknown"');
    missingKeyReported = true;
    keyId = 'unknown';
  }

  const attributes: Attributes = {
    [ATTR_PROVIDER]: call.provider,
    [ATTR_OPERATION]: operation,
    [ATTR_POOL]: call.pool.trim(),
    [ATTR_KEY_ID]: keyId,
  };
  // Without one, the partition is the key itself (the span contract's default).
  const partition = nonEmpty(call.partition)?.trim();
  if (partition !== undefined) attributes[ATTR_PARTITION] = partition;
  if (requestModel !== undefined) attributes[ATTR_REQUEST_MODEL] = requestModel;
  const responseModel = nonEmpty(call.responseModel);
  if (responseModel !== undefined) attributes[ATTR_RESPONSE_MODEL] = responseModel;
  const serverAddress = nonEmpty(call.serverAddress);
  if (serverAddress !== undefined) attributes[ATTR_SERVER_ADDRESS] = serverAddress;
  const consumer = nonEmpty(call.consumer);
  if (consumer !== undefined) attributes[ATTR_CONSUMER] = consumer;
  const spilledFrom = nonEmpty(call.spilledFrom);
  if (spilledFrom !== undefined) attributes[ATTR_SPILLED_FROM] = spilledFrom;
  if (typeof call.costUsd === 'number' && Number.isFinite(call.costUsd) && call.costUsd >= 0) {
    attributes[ATTR_COST_USD] = call.costUsd;
  }
  const errorBody = typeof call.errorBody === 'string' ? parseErrorBody(call.errorBody) : call.errorBody;
  const statusCode = readStatusCode(call.statusCode);
  if (statusCode !== undefined) attributes[ATTR_STATUS_CODE] = statusCode;
  const errorType =
    nonEmpty(call.errorType) ??
    (statusCode !== undefined && statusCode >= 400 ? errorTypeOfBody(errorBody, statusCode) : undefined);
  const normalised = normaliseResponse({
    provider: call.provider,
    statusCode,
    headers: call.headers,
    body: errorBody,
    errorType,
    nowMs: endTimeMs,
  });
  // Neither a status nor an error: the gateway saw the call succeed without telling the status
  // (the same rule ingest applies to spans without `keypool.outcome`).
  if (statusCode === undefined && errorType === undefined && errorBody === undefined) {
    normalised.outcome = 'ok';
  }
  if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;

  const span = getSdkTracer().startSpan(
    spanName(operation, requestModel),
    { kind: SpanKind.CLIENT, startTime: startTimeMs, attributes },
    context.active(),
  );
  const usage: TokenUsage = {};
  const input = readCount(call.inputTokens);
  if (input !== undefined) usage.inputTokens = input;
  const output = readCount(call.outputTokens);
  if (output !== undefined) usage.outputTokens = output;
  const cached = readCount(call.cachedInputTokens);
  if (cached !== undefined) usage.cachedInputTokens = cached;
  putUsageAttributes(span, usage);
  putNormalisedAttributes(span, normalised);
  if (errorType !== undefined || normalised.outcome !== 'ok') markError(span);
  span.end(endTimeMs);
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

function readCount(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
}

function readStatusCode(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 599
    ? value
    : undefined;
}

function readTimeMs(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}
