/**
 * Reads the few fields of a provider error body that classification needs, whatever the provider:
 * - OpenAI: `{ error: { message, type, param, code } }` (OpenAI "Error codes" guide);
 * - Anthropic: `{ type: "error", error: { type, message, details?: { error_code } } }`
 *   (Claude API docs "Errors");
 * - Google RPC (Gemini API, Vertex AI): `{ error: { code, message, status, details: [...] } }`,
 *   sometimes wrapped in a one-element array by the streaming endpoints.
 * SDKs often hand over the inner error object alone, so a body without `error` is read as one.
 */

export interface ErrorBodyFacts {
  /** `error.type` (OpenAI, Anthropic), e.g. `insufficient_quota`, `overloaded_error`. */
  readonly type: string | undefined;
  /** `error.code` when it is a string (OpenAI), e.g. `project_spend_limit_exceeded`. */
  readonly code: string | undefined;
  /** `error.details.error_code` (Anthropic), e.g. `enforced_spend_limit_reached`. */
  readonly detailCode: string | undefined;
  readonly message: string | undefined;
  /** `error.status` (Google RPC), e.g. `RESOURCE_EXHAUSTED`. */
  readonly rpcStatus: string | undefined;
  /** `error.details` when it is a list of typed Google RPC detail messages. */
  readonly rpcDetails: readonly unknown[] | undefined;
}

// Error bodies are small; refuse to parse anything that is clearly not one.
const MAX_JSON_TEXT_LENGTH = 256 * 1024;

export function readErrorBody(body: unknown): ErrorBodyFacts | undefined {
  let value = typeof body === 'string' ? parseJsonText(body) : body;
  if (Array.isArray(value)) value = value[0];
  const outer = asRecord(value);
  if (outer === undefined) return undefined;
  const inner = asRecord(outer.error) ?? outer;
  const details = inner.details;
  return {
    type: asString(inner.type),
    code: asString(inner.code),
    detailCode: asString(asRecord(details)?.error_code),
    message: asString(inner.message),
    rpcStatus: asString(inner.status),
    rpcDetails: Array.isArray(details) ? (details as readonly unknown[]) : undefined,
  };
}

function parseJsonText(text: string): unknown {
  if (text.length > MAX_JSON_TEXT_LENGTH) return undefined;
  const trimmed = text.trimStart();
  const first = trimmed.charCodeAt(0);
  if (first !== 123 /* { */ && first !== 91 /* [ */) return undefined;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    return undefined;
  }
}

export function asRecord(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Readonly<Record<string, unknown>>)
    : undefined;
}

export function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
