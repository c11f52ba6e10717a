import { SpanKind, context, trace, type Attributes } from '@opentelemetry/api';
import { ErrorCode, HeadroomError } from '../errors/index.ts';
import { FetchCall, reportInternalError } from './fetch-call.ts';
import { readRequestModel, readRequestSecret } from './request-facts.ts';
import { readRequestTarget, type RequestTarget } from './request-target.ts';
import {
  ATTR_CONSUMER,
  ATTR_KEY_ID,
  ATTR_OPERATION,
  ATTR_PARTITION,
  ATTR_POOL,
  ATTR_PROVIDER,
  ATTR_REQUEST_MODEL,
  ATTR_SERVER_ADDRESS,
  getSdkTracer,
  resolveKeyId,
  spanName,
} from './span-attributes.ts';

/** The `fetch` signature the official OpenAI and Anthropic clients accept as their `fetch` option. */
export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface InstrumentFetchOptions {
  /** `keypool.pool`: the key pool the calls go through. */
  pool: string;
  /** `gen_ai.provider.name`, e.g. `openai`, `anthropic`, `azure.ai.openai`, `gcp.gemini`, `groq`. */
  provider: string;
  /** `keypool.key.id`: the key's alias. An id that looks like a secret is fingerprinted. */
  keyId?: string;
  /**
   * The API key itself, only used to derive its `fp_…` fingerprint when no `keyId` is given.
   * Without either, the fingerprint of the key found on each request (`Authorization`,
   * `x-api-key`, `api-key`, `x-goog-api-key`, `?key=`) is used.
   */
  key?: string;
  /** `keypool.partition`: the org / project / workspace whose limits the key shares; default the key id. */
  partition?: string;
  /** `keypool.consumer`: the application or tenant making the calls. */
  consumer?: string;
  /**
   * A response header naming the key that served the call, for calls through a gateway that picks
   * the key (e.g. `x-served-by` set by HAProxy's `http-response set-header X-Served-By %s`). When
   * the response carries it, its value is the span's `keypool.key.id` (fingerprinted if it looks
   * like a secret); otherwise the key id is chosen as without this option.
   */
  keyIdFromResponseHeader?: string;
}

/** Key id when neither the options nor the request name a key. */
const UNKNOWN_KEY_ID = 'unknown';

interface CallSettings {
  readonly pool: string;
  readonly provider: string;
  readonly keyId: string | undefined;
  readonly partition: string | undefined;
  readonly consumer: string | undefined;
  readonly keyIdHeader: string | undefined;
}

/**
 * Wraps `fetch` so every call emits one span of headroom's contract (kind CLIENT, named
 * `{operation} {model}`) through the global OpenTelemetry tracer. Works as the `fetch` option of
 * the official `openai` and `@anthropic-ai/sdk` clients, or anywhere a fetch is taken.
 *
 * The caller's path stays cheap: the request is read with string searches (no URL or JSON
 * parsing), the very response fetch returned is handed back at once, and its body is observed
 * where the caller reads it, without a copy (see observed-response.ts): `json()` / `text()` hand
 * over the text, a streamed (SSE) body shows each chunk as the caller receives it, with no
 * buffering or read-ahead. Error bodies (status >= 400) are read from a clone, since clients may
 * cancel them unread before a retry. The span ends when the body ends, fails, is cancelled, or is
 * garbage collected unread; parsing happens then, off the request path. Failures of the call
 * itself are recorded and rethrown unchanged; failures of the instrumentation never reach the
 * caller. Secrets never become attributes: only their fingerprints do.
 */
export function instrumentFetch(
  fetchFunction: FetchFunction,
  options: InstrumentFetchOptions,
): FetchFunction {
  if (typeof fetchFunction !== 'function') {
    throw new HeadroomError(
      ErrorCode.config,
      `instrumentFetch: the first argument must be a fetch function, got ${typeof fetchFunction}`,
    );
  }
  const settings: CallSettings = {
    pool: requireText(options.pool, 'pool'),
    provider: requireText(options.provider, 'provider'),
    keyId: resolveKeyId(optionalText(options.keyId, 'keyId'), optionalText(options.key, 'key')),
    partition: optionalText(options.partition, 'partition')?.trim(),
    consumer: optionalText(options.consumer, 'consumer'),
    keyIdHeader: headerName(options.keyIdFromResponseHeader),
  };
  let lastUrl: string | undefined;
  let lastTarget: RequestTarget | undefined;

  const targetOf = (url: string): RequestTarget => {
    if (url !== lastUrl || lastTarget === undefined) {
      lastTarget = readRequestTarget(url);
      lastUrl = url;
    }
    return lastTarget;
  };

  return async function instrumentedFetch(
    input: string | URL | Request,
    init?: RequestInit,
  ): Promise<Response> {
    let call: FetchCall | undefined;
    try {
      call = startCall(settings, targetOf, input, init);
    } catch (error) {
      reportInternalError(error);
    }
    if (call === undefined) return fetchFunction(input, init);
    let response: Response;
    try {
      response = await context.with(call.context, fetchFunction, undefined, input, init);
    } catch (error) {
      call.endWithoutResponse(error);
      throw error;
    }
    try {
      if (settings.keyIdHeader !== undefined) {
        const served = resolveKeyId(response.headers.get(settings.keyIdHeader) ?? undefined, undefined);
        if (served !== undefined) call.nameKey(served);
      }
      return call.observeResponse(response);
    } catch (error) {
      reportInternalError(error);
      return response;
    }
  };
}

function startCall(
  settings: CallSettings,
  targetOf: (url: string) => RequestTarget,
  input: string | URL | Request,
  init: RequestInit | undefined,
): FetchCall | undefined {
  const request = typeof input === 'string' || input instanceof URL ? undefined : input;
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  const target = targetOf(url);
  const requestModel = readRequestModel(init?.body) ?? target.pathModel;
  let keyId = settings.keyId;
  if (keyId === undefined) {
    const secret =
      readRequestSecret(init?.headers) ?? readRequestSecret(request?.headers) ?? target.querySecret;
    keyId = resolveKeyId(undefined, secret) ?? UNKNOWN_KEY_ID;
  }

  const attributes: Attributes = {
    [ATTR_PROVIDER]: settings.provider,
    [ATTR_OPERATION]: target.operation,
    [ATTR_POOL]: settings.pool,
    [ATTR_KEY_ID]: keyId,
  };
  // Without one, the partition is the key itself (the span contract's default).
  if (settings.partition !== undefined) attributes[ATTR_PARTITION] = settings.partition;
  if (requestModel !== undefined) attributes[ATTR_REQUEST_MODEL] = requestModel;
  if (target.serverAddress !== undefined) attributes[ATTR_SERVER_ADDRESS] = target.serverAddress;
  if (settings.consumer !== undefined) attributes[ATTR_CONSUMER] = settings.consumer;

  const parent = context.active();
  const span = getSdkTracer().startSpan(
    spanName(target.operation, requestModel),
    { kind: SpanKind.CLIENT, attributes },
    parent,
  );
  if (!span.isRecording()) return undefined;
  return new FetchCall(span, settings.provider, trace.setSpan(parent, span));
}

function requireText(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') {
    throw invalidOption(name, value, 'a non-empty string');
  }
  return value.trim();
}

function optionalText(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw invalidOption(name, value, 'a string');
  return value;
}

function headerName(value: unknown): string | undefined {
  const text = optionalText(value, 'keyIdFromResponseHeader');
  if (text === undefined) return undefined;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(text)) {
    throw invalidOption('keyIdFromResponseHeader', value, 'an HTTP header name such as x-served-by');
  }
  return text.toLowerCase();
}

function invalidOption(name: string, value: unknown, expected: string): HeadroomError {
  const shown =
    name === 'key' ? '(hidden)' : typeof value === 'string' ? JSON.stringify(value) : typeof value;
  return new HeadroomError(
    ErrorCode.config,
    `instrumentFetch: options.${name} is invalid: got ${shown}, expected ${expected}`,
    { details: { field: name } },
  );
}
