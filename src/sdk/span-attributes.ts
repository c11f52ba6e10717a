import { SpanStatusCode, trace, type Span, type Tracer, type TracerProvider } from '@opentelemetry/api';
import packageJson from '../../package.json' with { type: 'json' };
import {
  RATE_LIMIT_DIMENSIONS,
  fingerprintKey,
  looksLikeSecret,
  type NormalisedResponse,
  type RateLimitDimension,
} from '../telemetry/index.ts';
import type { TokenUsage } from './usage-collector.ts';

/** Instrumentation scope of every span the SDK emits. */
export const TRACER_NAME = 'headroom-sdk';
export const SDK_VERSION: string = packageJson.version;

let cachedProvider: TracerProvider | undefined;
let cachedTracer: Tracer | undefined;

/**
 * The global tracer: whatever provider the app registered (startTelemetry's or its own).
 * Before one is registered this is OpenTelemetry's proxy tracer, which switches to the real one
 * once it is; a new global provider (after `trace.disable()`) is picked up too.
 */
export function getSdkTracer(): Tracer {
  const provider = trace.getTracerProvider();
  if (provider !== cachedProvider || cachedTracer === undefined) {
    cachedTracer = provider.getTracer(TRACER_NAME, SDK_VERSION);
    cachedProvider = provider;
  }
  return cachedTracer;
}

/** Span name per the GenAI conventions: `{gen_ai.operation.name} {gen_ai.request.model}`. */
export function spanName(operation: string, requestModel: string | undefined): string {
  return requestModel === undefined || requestModel === '' ? operation : `${operation} ${requestModel}`;
}

// Attribute names of the span contract (DESIGN.md, "Span contract").
export const ATTR_PROVIDER = 'gen_ai.provider.name';
export const ATTR_OPERATION = 'gen_ai.operation.name';
export const ATTR_REQUEST_MODEL = 'gen_ai.request.model';
export const ATTR_RESPONSE_MODEL = 'gen_ai.response.model';
export const ATTR_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
export const ATTR_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
export const ATTR_CACHED_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
export const ATTR_STATUS_CODE = 'http.response.status_code';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_POOL = 'keypool.pool';
export const ATTR_KEY_ID = 'keypool.key.id';
export const ATTR_PARTITION = 'keypool.partition';
export const ATTR_OUTCOME = 'keypool.outcome';
export const ATTR_RETRY_AFTER_MS = 'keypool.retry_after_ms';
export const ATTR_COST_USD = 'keypool.cost_usd';
export const ATTR_CONSUMER = 'keypool.consumer';
/** The pool whose advice sent the call to this (fallback) pool. */
export const ATTR_SPILLED_FROM = 'keypool.spilled_from';

const RATE_LIMIT_ATTRIBUTES: ReadonlyArray<
  readonly [RateLimitDimension, limit: string, remaining: string, resetAtMs: string]
> = RATE_LIMIT_DIMENSIONS.map((dimension) => [
  dimension,
  `keypool.ratelimit.${dimension}.limit`,
  `keypool.ratelimit.${dimension}.remaining`,
  `keypool.ratelimit.${dimension}.reset_at_ms`,
]);

/** Sets `keypool.outcome`, `keypool.ratelimit.*` and `keypool.retry_after_ms`. */
export function putNormalisedAttributes(span: Span, normalised: NormalisedResponse): void {
  span.setAttribute(ATTR_OUTCOME, normalised.outcome);
  const rateLimits = normalised.rateLimits;
  for (const [dimension, limitName, remainingName, resetName] of RATE_LIMIT_ATTRIBUTES) {
    const bucket = rateLimits[dimension];
    if (bucket === undefined) continue;
    if (bucket.limit !== undefined) span.setAttribute(limitName, bucket.limit);
    if (bucket.remaining !== undefined) span.setAttribute(remainingName, bucket.remaining);
    if (bucket.resetAtMs !== undefined) span.setAttribute(resetName, bucket.resetAtMs);
  }
  if (normalised.retryAfterMs !== undefined)
    span.setAttribute(ATTR_RETRY_AFTER_MS, Math.round(normalised.retryAfterMs));
}

/** Sets the `gen_ai.usage.*` attributes that are known. */
export function putUsageAttributes(span: Span, usage: TokenUsage): void {
  if (usage.inputTokens !== undefined) span.setAttribute(ATTR_INPUT_TOKENS, usage.inputTokens);
  if (usage.outputTokens !== undefined) span.setAttribute(ATTR_OUTPUT_TOKENS, usage.outputTokens);
  if (usage.cachedInputTokens !== undefined)
    span.setAttribute(ATTR_CACHED_INPUT_TOKENS, usage.cachedInputTokens);
}

/** Marks a failed call (HTTP status >= 400 or no response) as an error span, without any message. */
export function markError(span: Span): void {
  // No description: provider error messages can quote part of the key ("Incorrect API key provided: sk-ab***").
  span.setStatus({ code: SpanStatusCode.ERROR });
}

let lastSecret: string | undefined;
let lastFingerprint = '';

/** `fp_…` fingerprint of a secret; the last one is remembered so a steady key costs no hashing. */
export function fingerprintSecret(secret: string): string {
  if (secret !== lastSecret) {
    lastFingerprint = fingerprintKey(secret);
    lastSecret = secret;
  }
  return lastFingerprint;
}

/**
 * `keypool.key.id`: an explicit id or alias (fingerprinted if it looks like a secret), else the
 * fingerprint of the secret. Undefined when neither is known.
 */
export function resolveKeyId(keyId: string | undefined, secret: string | undefined): string | undefined {
  if (keyId !== undefined && keyId.trim() !== '') {
    const trimmed = keyId.trim();
    return looksLikeSecret(trimmed) ? fingerprintSecret(trimmed) : trimmed;
  }
  if (secret !== undefined && secret !== '') return fingerprintSecret(secret);
  return undefined;
}

const ERROR_CODE_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/**
 * Low-cardinality `error.type` for a failed HTTP call (GenAI conventions: the provider's error
 * code when there is one): OpenAI `error.code` or `error.type`, Anthropic `error.type`, Google RPC
 * `error.status`; otherwise the status code.
 */
export function errorTypeOfBody(body: unknown, statusCode: number): string {
  const parsed = typeof body === 'string' ? parseErrorBody(body) : body;
  let error: unknown = Array.isArray(parsed) ? (parsed as unknown[])[0] : parsed;
  if (typeof error === 'object' && error !== null) {
    const outer = error as Record<string, unknown>;
    error = typeof outer['error'] === 'object' && outer['error'] !== null ? outer['error'] : outer;
    const record = error as Record<string, unknown>;
    for (const candidate of [record['code'], record['type'], record['status']]) {
      if (
        typeof candidate === 'string' &&
        ERROR_CODE_PATTERN.test(candidate) &&
        !looksLikeSecret(candidate)
      ) {
        return candidate;
      }
    }
  }
  return String(statusCode);
}

/** An error body as text: its JSON value when it is JSON, else the text itself. */
export function parseErrorBody(text: string): unknown {
  const trimmed = text.trimStart();
  if (!trimmed.startsWith('{') && !trimmed.startsWith('[')) return text;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return text;
  }
}

/**
 * `error.type` for a call that got no response: the timeout / abort name, else the system error
 * code (`ECONNREFUSED`, `UND_ERR_CONNECT_TIMEOUT`, …), else the error's name.
 */
export function errorTypeOfException(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'Error';
  const record = error as { name?: unknown; code?: unknown; cause?: unknown };
  const name = typeof record.name === 'string' ? record.name : undefined;
  if (name === 'AbortError' || name === 'TimeoutError') return name;
  const cause = record.cause as { code?: unknown } | undefined;
  for (const code of [cause?.code, record.code]) {
    if (typeof code === 'string' && ERROR_CODE_PATTERN.test(code)) return code;
  }
  return name !== undefined && ERROR_CODE_PATTERN.test(name) ? name : 'Error';
}
