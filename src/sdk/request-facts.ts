import { Buffer } from 'node:buffer';
import { findStringValue } from './json-scan.ts';

const MODEL_KEY = '"model"';
const BYTES_AFTER_MODEL_KEY = 512;

/**
 * `gen_ai.request.model` from a request body: the first string-valued `"model"` key of a JSON
 * body (string or bytes, found without parsing the prompt), or the `model` field of a form
 * (audio transcriptions). Streams and blobs are not read: that would consume or delay the body.
 */
export function readRequestModel(body: unknown): string | undefined {
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return findStringValue(body, MODEL_KEY);
  if (body instanceof Uint8Array)
    return readModelFromBytes(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  if (body instanceof ArrayBuffer) return readModelFromBytes(Buffer.from(body));
  if (ArrayBuffer.isView(body))
    return readModelFromBytes(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  if (body instanceof URLSearchParams) return body.get('model') ?? undefined;
  if (body instanceof FormData) {
    const model = body.get('model');
    return typeof model === 'string' ? model : undefined;
  }
  return undefined;
}

function readModelFromBytes(bytes: Buffer): string | undefined {
  let at = bytes.indexOf(MODEL_KEY);
  while (at !== -1) {
    const model = findStringValue(bytes.toString('utf8', at, at + BYTES_AFTER_MODEL_KEY), MODEL_KEY);
    if (model !== undefined) return model;
    at = bytes.indexOf(MODEL_KEY, at + MODEL_KEY.length);
  }
  return undefined;
}

type HeadersLike =
  Pick<Headers, 'get'> | readonly (readonly [string, string])[] | Readonly<Record<string, unknown>>;

/** Request headers that carry an API key, in the order they are looked at. */
const SECRET_HEADERS = ['authorization', 'x-api-key', 'api-key', 'x-goog-api-key'] as const;

/**
 * The API key a request carries (`Authorization` credentials, `x-api-key` (Anthropic), `api-key`
 * (Azure OpenAI), `x-goog-api-key` (Gemini)), only ever used to derive a fingerprint.
 */
export function readRequestSecret(headers: unknown): string | undefined {
  if (headers === undefined || headers === null || typeof headers !== 'object') return undefined;
  for (const name of SECRET_HEADERS) {
    const value = readHeader(headers as HeadersLike, name);
    if (value === undefined) continue;
    const secret = name === 'authorization' ? credentialsOf(value) : value.trim();
    if (secret !== '') return secret;
  }
  return undefined;
}

function readHeader(headers: HeadersLike, lowerName: string): string | undefined {
  // Duck-typed: the fetch in use may bring its own Headers class.
  if (typeof (headers as Partial<Headers>).get === 'function') {
    return (headers as Pick<Headers, 'get'>).get(lowerName) ?? undefined;
  }
  if (Array.isArray(headers)) {
    for (const entry of headers as readonly (readonly [string, string])[]) {
      if (typeof entry[0] === 'string' && entry[0].toLowerCase() === lowerName) return String(entry[1]);
    }
    return undefined;
  }
  const record = headers as Readonly<Record<string, unknown>>;
  for (const key in record) {
    if (key.length === lowerName.length && key.toLowerCase() === lowerName) {
      const value = record[key];
      return typeof value === 'string' ? value : undefined;
    }
  }
  return undefined;
}

/** `Bearer sk-…` → `sk-…`: the credentials after the auth scheme. */
function credentialsOf(authorization: string): string {
  const value = authorization.trim();
  const space = value.indexOf(' ');
  return space === -1 ? value : value.slice(space + 1).trim();
}
