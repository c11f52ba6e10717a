import protobuf from 'protobufjs';
import {
  FIXED64,
  LENGTH_DELIMITED,
  VARINT,
  decodeArrayValue,
  decodeKeyValueList,
  decodeResource,
  fixed64NanosToMillis,
  flatten,
  messageEnd,
  readInt64,
  type AnyValue,
} from './decode-protobuf.ts';
import type { AttributeValue } from './decoded-span.ts';
import type { AttributeRule } from './columns.ts';
import {
  applyAttribute,
  beginSpan,
  encodeRows,
  endSpan,
  ruleOf,
  ruleOfBytes,
  setEndTime,
  setNameBytes,
  setSpanIdBytes,
  setSpanStatusCode,
  setStartTime,
  setTraceIdBytes,
  setValue,
  setValueBytes,
  type EncodedRequestRows,
  type RowBatch,
  type RowContext,
} from './span-row.ts';

type Reader = protobuf.Reader;

// ---------------------------------------------------------------------------------------------
// The fast path of protobuf ingest: one walk over the request bytes that hands each span's fields
// and attributes to the row builder as byte ranges, so string columns are copied from the request
// into the output without becoming JavaScript strings. The walk is strict: anything unusual on the
// wire (a nested field running past its parent, a decoding error) throws, and the caller redoes the
// request through decodeExportRequestProtobuf, whose decoded spans go to the same row builder.
// ---------------------------------------------------------------------------------------------

/** Thrown when the fast path declines a request; never escapes {@link encodeProtobufRequestRows}. */
class Unusual extends Error {}

function strictEnd(reader: Reader, end: number): void {
  if (reader.pos !== end) throw new Unusual('a field ran past the end of its message');
}

// The attribute value found by scanAnyValue: a string's byte range, or any other value.
let foundBytes = false;
let foundStart = 0;
let foundEnd = 0;
let foundOther: AttributeValue | undefined;

/**
 * Walks an AnyValue as decodeAnyValue does (the last value field wins), but leaves a string value as
 * its byte range.
 */
function scanAnyValue(reader: Reader, end: number): boolean {
  let found = false;
  let isBytes = false;
  let other: AnyValue;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        if (wireType !== LENGTH_DELIMITED) break;
        const length = reader.uint32();
        const start = reader.pos;
        if (start + length > reader.len) throw new Unusual('string out of range');
        reader.pos = start + length;
        found = true;
        isBytes = true;
        foundStart = start;
        foundEnd = start + length;
        continue;
      }
      case 2:
        if (wireType !== VARINT) break;
        found = true;
        isBytes = false;
        other = reader.bool();
        continue;
      case 3:
        if (wireType !== VARINT) break;
        found = true;
        isBytes = false;
        other = readInt64(reader);
        continue;
      case 4:
        if (wireType !== FIXED64) break;
        found = true;
        isBytes = false;
        other = reader.double();
        continue;
      case 5:
        if (wireType !== LENGTH_DELIMITED) break;
        found = true;
        isBytes = false;
        other = decodeArrayValue(reader);
        continue;
      case 6:
        if (wireType !== LENGTH_DELIMITED) break;
        found = true;
        isBytes = false;
        other = decodeKeyValueList(reader);
        continue;
      case 7:
        if (wireType !== LENGTH_DELIMITED) break;
        found = true;
        isBytes = false;
        other = reader.bytes();
        continue;
    }
    reader.skipType(wireType);
  }
  strictEnd(reader, end);
  foundBytes = isBytes;
  foundOther = isBytes ? undefined : flatten(other);
  return found && (isBytes || foundOther !== undefined);
}

function scanKeyValue(reader: Reader, end: number): void {
  let keyStart = 0;
  let keyEnd = 0;
  let hasValue = false;
  let valueWasBytes = false;
  let lastStart = 0;
  let lastEnd = 0;
  let lastOther: AttributeValue | undefined;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
      const length = reader.uint32();
      keyStart = reader.pos;
      keyEnd = keyStart + length;
      if (keyEnd > reader.len) throw new Unusual('key out of range');
      reader.pos = keyEnd;
    } else if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED) {
      // As decodeKeyValue: the last value field wins, and an empty AnyValue clears the value.
      hasValue = scanAnyValue(reader, messageEnd(reader));
      valueWasBytes = foundBytes;
      lastStart = foundStart;
      lastEnd = foundEnd;
      lastOther = foundOther;
    } else {
      reader.skipType(tag & 7);
    }
  }
  strictEnd(reader, end);
  if (!hasValue) return;
  const rule = ruleOfBytes(keyStart, keyEnd);
  if (rule === undefined) return;
  if (valueWasBytes) setValueBytes(lastStart, lastEnd);
  else setValue(lastOther as AttributeValue);
  applyAttribute(rule, undefined, keyStart, keyEnd);
}

function scanStatus(reader: Reader, end: number): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED) reader.string();
    else if (tag >>> 3 === 3 && (tag & 7) === VARINT) setSpanStatusCode(reader.int32());
    else reader.skipType(tag & 7);
  }
  strictEnd(reader, end);
}

function skipBytes(reader: Reader): number {
  // reader.bytes() reads its length with size(), which rejects what uint32() would wrap around.
  const length = reader.size();
  const start = reader.pos;
  if (start + length > reader.len) throw new Unusual('bytes out of range');
  reader.pos = start + length;
  return start;
}

/** The request's resource attributes, with their rules resolved once. */
interface Resource {
  rules: AttributeRule[];
  keys: string[];
  values: AttributeValue[];
}

function decodeSpan(reader: Reader, end: number, resource: Resource, batch: RowBatch): void {
  beginSpan();
  for (let i = 0; i < resource.rules.length; i++) {
    setValue(resource.values[i] as AttributeValue);
    applyAttribute(resource.rules[i] as AttributeRule, resource.keys[i], 0, 0);
  }
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1: {
        if (wireType !== LENGTH_DELIMITED) break;
        const start = skipBytes(reader);
        setTraceIdBytes(start, reader.pos);
        continue;
      }
      case 2: {
        if (wireType !== LENGTH_DELIMITED) break;
        const start = skipBytes(reader);
        setSpanIdBytes(start, reader.pos);
        continue;
      }
      case 5: {
        if (wireType !== LENGTH_DELIMITED) break;
        const start = skipBytes(reader);
        setNameBytes(start, reader.pos);
        continue;
      }
      case 6:
        if (wireType !== VARINT) break;
        reader.int32();
        continue;
      case 7:
        if (wireType !== FIXED64) break;
        setStartTime(fixed64NanosToMillis(reader));
        continue;
      case 8:
        if (wireType !== FIXED64) break;
        setEndTime(fixed64NanosToMillis(reader));
        continue;
      case 9:
        if (wireType !== LENGTH_DELIMITED) break;
        scanKeyValue(reader, messageEnd(reader));
        continue;
      case 15:
        if (wireType !== LENGTH_DELIMITED) break;
        scanStatus(reader, messageEnd(reader));
        continue;
    }
    reader.skipType(wireType);
  }
  strictEnd(reader, end);
  endSpan(batch);
}

function decodeScopeSpans(reader: Reader, end: number, resource: Resource, batch: RowBatch): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED)
      decodeSpan(reader, messageEnd(reader), resource, batch);
    else reader.skipType(tag & 7);
  }
  strictEnd(reader, end);
}

function decodeResourceSpans(reader: Reader, end: number, batch: RowBatch): void {
  // The resource may follow its spans on the wire, and its attributes apply before the span's own:
  // find it first. Last one wins, as on the generic path.
  const start = reader.pos;
  let resource: Resource = { rules: [], keys: [], values: [] };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
      const resourceEnd = messageEnd(reader);
      const attributes = decodeResource(reader, resourceEnd);
      strictEnd(reader, resourceEnd);
      resource = { rules: [], keys: [], values: [] };
      attributes.keys.forEach((key, i) => {
        const rule = ruleOf(key);
        if (rule === undefined) return;
        resource.rules.push(rule);
        resource.keys.push(key);
        resource.values.push(attributes.values[i] as AttributeValue);
      });
    } else {
      reader.skipType(tag & 7);
    }
  }
  strictEnd(reader, end);
  reader.pos = start;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED)
      decodeScopeSpans(reader, messageEnd(reader), resource, batch);
    else reader.skipType(tag & 7);
  }
}

/**
 * Decodes an OTLP protobuf `ExportTraceServiceRequest` and encodes its spans as `api_calls` rows in
 * one pass over the bytes. Returns undefined when the request has anything unusual on the wire
 * (including being malformed): the caller then decodes it with decodeExportRequestProtobuf and feeds
 * the same row builder, which decides exactly as here.
 */
export function encodeProtobufRequestRows(body: Buffer, context: RowContext): EncodedRequestRows | undefined {
  try {
    return encodeRows(body, context, (batch) => {
      const reader = protobuf.Reader.create(body);
      while (reader.pos < reader.len) {
        const tag = reader.uint32();
        if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
          const end = messageEnd(reader);
          decodeResourceSpans(reader, end, batch);
          strictEnd(reader, end);
        } else {
          reader.skipType(tag & 7);
        }
      }
    });
  } catch {
    return undefined;
  }
}
