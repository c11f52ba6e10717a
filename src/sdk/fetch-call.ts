import { Buffer } from 'node:buffer';
import { diag, type Context, type Span } from '@opentelemetry/api';
import { normaliseResponse } from '../telemetry/index.ts';
import { EventStreamScanner } from './event-stream-scanner.ts';
import {
  forgetObserver,
  observeResponse,
  observeResponseStream,
  type ResponseObserver,
} from './observed-response.ts';
import {
  ATTR_ERROR_TYPE,
  ATTR_KEY_ID,
  ATTR_RESPONSE_MODEL,
  ATTR_STATUS_CODE,
  errorTypeOfBody,
  errorTypeOfException,
  markError,
  parseErrorBody,
  putNormalisedAttributes,
  putUsageAttributes,
} from './span-attributes.ts';
import { UsageCollector } from './usage-collector.ts';

/** Error bodies larger than this are not parsed (they are not provider error objects). */
const MAX_ERROR_BODY_BYTES = 256 * 1024;

type BodyKind = 'json' | 'events';

/** One instrumented call, from the request until its response body is done. */
export class FetchCall implements ResponseObserver {
  readonly context: Context;
  readonly #span: Span;
  readonly #provider: string;
  #statusCode = 0;
  #headers: Headers | undefined;
  #responseAtMs = 0;
  #bodyKind: BodyKind = 'json';
  #collector: UsageCollector | undefined;
  #scanner: EventStreamScanner | undefined;
  #chunks: Uint8Array[] | undefined;
  #ended = false;

  constructor(span: Span, provider: string, spanContext: Context) {
    this.#span = span;
    this.#provider = provider;
    this.context = spanContext;
  }

  /** Names the key the call went through once the response says which (a gateway's header). */
  nameKey(keyId: string): void {
    this.#span.setAttribute(ATTR_KEY_ID, keyId);
  }

  /** Hands the very response back to the caller, observing its body on the side. */
  observeResponse(response: Response): Response {
    this.#statusCode = response.status;
    this.#headers = response.headers;
    this.#responseAtMs = Date.now();
    if (response.body === null) {
      this.#end(undefined, undefined);
      return response;
    }
    if (response.status >= 400) {
      // Error bodies are read from a copy: SDKs may cancel them unread before retrying, and they
      // decide the outcome (insufficient_quota, RESOURCE_EXHAUSTED, overloaded_error).
      void response
        .clone()
        .arrayBuffer()
        .then(
          (buffer) => this.#endWithErrorBody(buffer),
          (error: unknown) => this.#end(undefined, error),
        );
      return response;
    }
    const contentType = response.headers.get('content-type') ?? '';
    let observed: boolean;
    if (contentType.includes('event-stream') || contentType.includes('ndjson')) {
      this.#bodyKind = 'events';
      observed = observeResponseStream(response, this);
    } else if (contentType.includes('json')) {
      observed = observeResponse(response, this);
    } else {
      // Audio, images, files: no usage in the body.
      observed = false;
    }
    if (!observed) this.#end(undefined, undefined);
    return response;
  }

  endWithoutResponse(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      const errorType = errorTypeOfException(error);
      const normalised = normaliseResponse({ provider: this.#provider, errorType, nowMs: Date.now() });
      this.#span.setAttribute(ATTR_ERROR_TYPE, errorType);
      putNormalisedAttributes(this.#span, normalised);
      markError(this.#span);
    } catch (internalError) {
      reportInternalError(internalError);
    }
    this.#span.end();
  }

  // Body observation never fails the caller's read: a failure here loses the usage, not the span.

  text(text: string): void {
    this.#endWithWholeBody((collector) => {
      if (this.#bodyKind === 'events') collector.scanText(text);
      else collector.scanDocument(text);
    });
  }

  document(value: unknown): void {
    this.#endWithWholeBody((collector) => collector.readDocument(value));
  }

  bytes(bytes: Uint8Array): void {
    this.#endWithWholeBody((collector) => {
      const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      if (this.#bodyKind === 'events') collector.scanText(buffer.toString('utf8'));
      else collector.scanDocumentBytes(buffer);
    });
  }

  /** The whole body was read: collects its usage with `read`, then ends the span. */
  #endWithWholeBody(read: (collector: UsageCollector) => void): void {
    try {
      read((this.#collector = new UsageCollector()));
    } catch (error) {
      this.#dropUsage(error);
    }
    this.#end(undefined, undefined);
  }

  chunk(bytes: Uint8Array): void {
    try {
      if (this.#bodyKind === 'json') {
        (this.#chunks ??= []).push(bytes);
        return;
      }
      if (this.#scanner === undefined) {
        this.#collector = new UsageCollector();
        this.#scanner = new EventStreamScanner(this.#collector);
      }
      this.#scanner.write(bytes);
    } catch (error) {
      this.#dropUsage(error);
    }
  }

  done(): void {
    try {
      if (this.#chunks !== undefined) {
        this.#collector = new UsageCollector();
        this.#collector.scanDocumentBytes(Buffer.concat(this.#chunks));
        this.#chunks = undefined;
      }
      this.#scanner?.end();
    } catch (error) {
      this.#dropUsage(error);
    }
    this.#end(undefined, undefined);
  }

  fail(error: unknown): void {
    this.#end(undefined, error);
  }

  cancel(): void {
    try {
      this.#scanner?.end();
    } catch (error) {
      this.#dropUsage(error);
    }
    this.#end(undefined, undefined);
  }

  abandon(): void {
    this.#end(undefined, undefined);
  }

  #dropUsage(error: unknown): void {
    this.#collector = undefined;
    this.#scanner = undefined;
    this.#chunks = undefined;
    reportInternalError(error);
  }

  #endWithErrorBody(buffer: ArrayBuffer): void {
    let errorBody: unknown;
    try {
      if (buffer.byteLength <= MAX_ERROR_BODY_BYTES) {
        errorBody = parseErrorBody(Buffer.from(buffer).toString('utf8'));
      }
    } catch (error) {
      reportInternalError(error);
    }
    this.#end(errorBody, undefined);
  }

  /**
   * Ends the span with everything known about the response. `bodyError` is a failure while the
   * body was being read: the call did not complete although a status arrived.
   */
  #end(errorBody: unknown, bodyError: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    forgetObserver(this);
    const span = this.#span;
    try {
      const statusCode = this.#statusCode;
      const collector = this.#collector;
      span.setAttribute(ATTR_STATUS_CODE, statusCode);
      if (collector !== undefined) {
        if (collector.responseModel !== undefined)
          span.setAttribute(ATTR_RESPONSE_MODEL, collector.responseModel);
        putUsageAttributes(span, collector.readUsage());
        // An error event inside a 200 stream (e.g. Anthropic's `overloaded_error`).
        errorBody ??= collector.errorBody;
      }
      let errorType: string | undefined;
      if (bodyError !== undefined) errorType = errorTypeOfException(bodyError);
      else if (statusCode >= 400 || errorBody !== undefined)
        errorType = errorTypeOfBody(errorBody, statusCode);
      const normalised = normaliseResponse({
        provider: this.#provider,
        // A body that broke off is a failed call whatever its status said.
        statusCode: bodyError === undefined ? statusCode : undefined,
        headers: this.#headers,
        body: errorBody,
        errorType,
        nowMs: this.#responseAtMs,
      });
      putNormalisedAttributes(span, normalised);
      if (errorType !== undefined) {
        span.setAttribute(ATTR_ERROR_TYPE, errorType);
        markError(span);
      }
    } catch (error) {
      reportInternalError(error);
    }
    this.#headers = undefined;
    span.end();
  }
}

let internalErrorsReported = 0;

/** Instrumentation bugs are logged through OpenTelemetry's diag logger, a few times at most. */
export function reportInternalError(error: unknown): void {
  if (internalErrorsReported >= 10) return;
  internalErrorsReported++;
  diag.error('headroom-sdk: instrumentation failed; the call itself is unaffected', error);
}
