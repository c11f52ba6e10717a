/**
 * Errors that cross a module boundary carry a stable `code`, the HTTP status they map to, and
 * their `cause`. One handler in `http/` turns them into JSON bodies.
 */
export class HeadroomError extends Error {
  readonly code: string;
  readonly statusCode: number;
  /** Extra fields copied into the JSON error body (e.g. the offending field name). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: string,
    message: string,
    options: { statusCode?: number; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HeadroomError';
    this.code = code;
    this.statusCode = options.statusCode ?? 500;
    this.details = options.details;
  }
}

/** Stable error codes. Clients and operators match on these, so they never change meaning. */
export const ErrorCode = {
  config: 'HEADROOM_ERR_CONFIG',
  migrationEdited: 'HEADROOM_ERR_MIGRATION_EDITED',
  migrationFailed: 'HEADROOM_ERR_MIGRATION_FAILED',
  storeUnavailable: 'HEADROOM_ERR_STORE_UNAVAILABLE',
  storeQuery: 'HEADROOM_ERR_STORE_QUERY',
  /** ClickHouse refused an insert because of the values in some of its rows. */
  storeRefusedRows: 'HEADROOM_ERR_STORE_REFUSED_ROWS',
  unauthorized: 'HEADROOM_ERR_UNAUTHORIZED',
  badRequest: 'HEADROOM_ERR_BAD_REQUEST',
  malformedPayload: 'HEADROOM_ERR_MALFORMED_PAYLOAD',
  /** A well-formed body that holds no OTLP trace request (e.g. `{"foo":1}`, or OTLP metrics). */
  notTraceRequest: 'HEADROOM_ERR_NOT_OTLP_TRACES',
  unsupportedMediaType: 'HEADROOM_ERR_UNSUPPORTED_MEDIA_TYPE',
  payloadTooLarge: 'HEADROOM_ERR_PAYLOAD_TOO_LARGE',
  overloaded: 'HEADROOM_ERR_OVERLOADED',
  notFound: 'HEADROOM_ERR_NOT_FOUND',
  notReady: 'HEADROOM_ERR_NOT_READY',
  shuttingDown: 'HEADROOM_ERR_SHUTTING_DOWN',
  /**
   * A receiver of a delivery (alert channel, gateway admin API, webhook) refused it: a 4xx, or an
   * error text from HAProxy's Runtime API. Repeating it cannot help.
   */
  deliveryRejected: 'HEADROOM_ERR_DELIVERY_REJECTED',
  /** A receiver could not be reached or failed (5xx, 429, timeout, connection refused): worth retrying. */
  deliveryUnavailable: 'HEADROOM_ERR_DELIVERY_UNAVAILABLE',
  internal: 'HEADROOM_ERR_INTERNAL',
  /** A CLI command could not reach the running service it talks to. */
  serviceUnreachable: 'HEADROOM_ERR_SERVICE_UNREACHABLE',
  keysExhausted: 'HEADROOM_ERR_KEYS_EXHAUSTED',
  upstreamUnavailable: 'HEADROOM_ERR_UPSTREAM_UNAVAILABLE',
  upstreamTimeout: 'HEADROOM_ERR_UPSTREAM_TIMEOUT',
  adminDisabled: 'HEADROOM_ERR_ADMIN_DISABLED',
  strategyMismatch: 'HEADROOM_ERR_STRATEGY_MISMATCH',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Outcome of an I/O step whose failure is expected and handled (a batch insert, a Slack post, a push). */
export type IoResult<T> =
  | { kind: 'success'; value: T }
  | { kind: 'retryable'; error: Error; retryAfterMillis?: number }
  | { kind: 'failure'; error: Error };
