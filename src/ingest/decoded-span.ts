/** An attribute value as headroom keeps it: arrays and key-value lists become JSON text, bytes base64. */
export type AttributeValue = string | number | boolean;

/** Attributes as parallel arrays: cheaper to build and scan once than an object per span. */
export interface Attributes {
  keys: string[];
  values: AttributeValue[];
}

/** A span as decoded from either OTLP encoding, before it is checked against the span contract. */
export interface DecodedSpan {
  resource: Attributes;
  /** Lower-case hex, '' when absent. */
  traceId: string;
  spanId: string;
  name: string;
  kind: number;
  startTimeMs: number;
  endTimeMs: number;
  attributes: Attributes;
  statusCode: number;
  statusMessage: string;
}

/** Deepest nesting of arrays and key-value lists in one attribute value; deeper is refused with a 400. */
export const MAX_VALUE_DEPTH = 32;

/** Thrown by the decoders; the message says where and what was wrong, and becomes a 400. */
export class MalformedPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedPayloadError';
  }
}

/** A well-formed body with nothing of an OTLP trace request in it; `expected` names the missing field. */
export class NotTraceRequestError extends MalformedPayloadError {
  readonly expected: string;
  constructor(message: string, expected: string) {
    super(message);
    this.name = 'NotTraceRequestError';
    this.expected = expected;
  }
}

export function emptyAttributes(): Attributes {
  return { keys: [], values: [] };
}
