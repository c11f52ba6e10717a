import type { Attributes, AttributeValue, DecodedSpan } from './decoded-span.ts';
import {
  applyAttribute,
  beginSpan,
  encodeRows,
  endSpan,
  ruleOf,
  setNameText,
  setSpanIdHex,
  setSpanStatusCode,
  setTimes,
  setTraceIdHex,
  setValue,
  type EncodedRequestRows,
  type RowContext,
} from './span-row.ts';

function applyAttributes(attributes: Attributes): void {
  for (let i = 0; i < attributes.keys.length; i++) {
    const key = attributes.keys[i] as string;
    const rule = ruleOf(key);
    if (rule === undefined) continue;
    setValue(attributes.values[i] as AttributeValue);
    applyAttribute(rule, key, 0, 0);
  }
}

/**
 * Encodes decoded spans (OTLP/JSON, or protobuf the fast path declined) as `api_calls` rows through
 * the same row builder as the protobuf fast path.
 */
export function encodeDecodedSpans(spans: readonly DecodedSpan[], context: RowContext): EncodedRequestRows {
  return encodeRows(Buffer.alloc(0), context, (batch) => {
    for (const span of spans) {
      beginSpan();
      applyAttributes(span.resource);
      applyAttributes(span.attributes);
      setTraceIdHex(span.traceId);
      setSpanIdHex(span.spanId);
      setNameText(span.name);
      setTimes(span.startTimeMs, span.endTimeMs);
      setSpanStatusCode(span.statusCode);
      endSpan(batch);
    }
  });
}
