import protobuf from 'protobufjs';
import {
  MAX_VALUE_DEPTH,
  MalformedPayloadError,
  emptyAttributes,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
} from './decoded-span.ts';

type Reader = protobuf.Reader;

// Wire types (protobuf encoding spec).
export const VARINT = 0;
export const FIXED64 = 1;
export const LENGTH_DELIMITED = 2;

/**
 * Decodes an OTLP `ExportTraceServiceRequest` straight into {@link DecodedSpan}s with protobufjs'
 * `Reader`, without building the full message tree: ingest is the hot path and most of a span's
 * bytes are attributes that are read once.
 */
export function decodeExportRequestProtobuf(buffer: Uint8Array): DecodedSpan[] {
  const reader = protobuf.Reader.create(buffer);
  const spans: DecodedSpan[] = [];
  try {
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
        decodeResourceSpans(reader, messageEnd(reader), spans);
      } else {
        reader.skipType(tag & 7);
      }
    }
  } catch (error) {
    if (error instanceof MalformedPayloadError) throw error;
    throw new MalformedPayloadError(
      `malformed protobuf ExportTraceServiceRequest at byte ${reader.pos}: ${(error as Error).message}`,
    );
  }
  return spans;
}

export function messageEnd(reader: Reader): number {
  const length = reader.uint32();
  const end = reader.pos + length;
  if (end > reader.len) {
    throw new MalformedPayloadError(
      `malformed protobuf ExportTraceServiceRequest: a field at byte ${reader.pos} claims ${length} bytes but only ${reader.len - reader.pos} remain`,
    );
  }
  return end;
}

function decodeResourceSpans(reader: Reader, end: number, out: DecodedSpan[]): void {
  let resource = emptyAttributes();
  const first = out.length;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 1 && (tag & 7) === LENGTH_DELIMITED) {
      resource = decodeResource(reader, messageEnd(reader));
    } else if (field === 2 && (tag & 7) === LENGTH_DELIMITED) {
      decodeScopeSpans(reader, messageEnd(reader), out);
    } else {
      reader.skipType(tag & 7);
    }
  }
  // The resource may follow its spans on the wire, so it is attached once the message is read.
  for (let i = first; i < out.length; i++) (out[i] as DecodedSpan).resource = resource;
}

export function decodeResource(reader: Reader, end: number): Attributes {
  const attributes = emptyAttributes();
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED)
      decodeKeyValue(reader, messageEnd(reader), attributes);
    else reader.skipType(tag & 7);
  }
  return attributes;
}

function decodeScopeSpans(reader: Reader, end: number, out: DecodedSpan[]): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED) out.push(decodeSpan(reader, messageEnd(reader)));
    else reader.skipType(tag & 7);
  }
}

// Placeholder until the enclosing ResourceSpans has been read; replaced before the span leaves the decoder.
const NO_ATTRIBUTES: Attributes = { keys: [], values: [] };

function decodeSpan(reader: Reader, end: number): DecodedSpan {
  const span: DecodedSpan = {
    resource: NO_ATTRIBUTES,
    traceId: '',
    spanId: '',
    name: '',
    kind: 0,
    startTimeMs: 0,
    endTimeMs: 0,
    attributes: emptyAttributes(),
    statusCode: 0,
    statusMessage: '',
  };
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wireType !== LENGTH_DELIMITED) break;
        span.traceId = hex(reader);
        continue;
      case 2:
        if (wireType !== LENGTH_DELIMITED) break;
        span.spanId = hex(reader);
        continue;
      case 5:
        if (wireType !== LENGTH_DELIMITED) break;
        span.name = reader.string();
        continue;
      case 6:
        if (wireType !== VARINT) break;
        span.kind = reader.int32();
        continue;
      case 7:
        if (wireType !== FIXED64) break;
        span.startTimeMs = fixed64NanosToMillis(reader);
        continue;
      case 8:
        if (wireType !== FIXED64) break;
        span.endTimeMs = fixed64NanosToMillis(reader);
        continue;
      case 9:
        if (wireType !== LENGTH_DELIMITED) break;
        decodeKeyValue(reader, messageEnd(reader), span.attributes);
        continue;
      case 15:
        if (wireType !== LENGTH_DELIMITED) break;
        decodeStatus(reader, messageEnd(reader), span);
        continue;
    }
    reader.skipType(wireType);
  }
  return span;
}

function decodeStatus(reader: Reader, end: number, span: DecodedSpan): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED) span.statusMessage = reader.string();
    else if (tag >>> 3 === 3 && (tag & 7) === VARINT) span.statusCode = reader.int32();
    else reader.skipType(tag & 7);
  }
}

function decodeKeyValue(reader: Reader, end: number, into: Attributes): void {
  const { key, value } = decodeKeyAndValue(reader, end);
  const flat = flatten(value);
  if (flat !== undefined) {
    into.keys.push(key);
    into.values.push(flat);
  }
}

/**
 * A KeyValue's key and value, the value kept as it is: nested values are flattened once, at the
 * attribute, so that their JSON text is not escaped again at every level.
 */
function decodeKeyAndValue(reader: Reader, end: number): { key: string; value: AnyValue } {
  let key = '';
  let value: AnyValue;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) key = readInterned(reader);
    else if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED)
      value = decodeAnyValue(reader, messageEnd(reader));
    else reader.skipType(tag & 7);
  }
  return { key, value };
}

export type AnyValue = AttributeValue | Uint8Array | AnyValue[] | { [key: string]: AnyValue } | undefined;

function decodeAnyValue(reader: Reader, end: number): AnyValue {
  let value: AnyValue;
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wireType !== LENGTH_DELIMITED) break;
        value = readInterned(reader);
        continue;
      case 2:
        if (wireType !== VARINT) break;
        value = reader.bool();
        continue;
      case 3: {
        if (wireType !== VARINT) break;
        value = readInt64(reader);
        continue;
      }
      case 4:
        if (wireType !== FIXED64) break;
        value = reader.double();
        continue;
      case 5:
        if (wireType !== LENGTH_DELIMITED) break;
        value = decodeArrayValue(reader);
        continue;
      case 6:
        if (wireType !== LENGTH_DELIMITED) break;
        value = decodeKeyValueList(reader);
        continue;
      case 7:
        if (wireType !== LENGTH_DELIMITED) break;
        value = reader.bytes();
        continue;
    }
    reader.skipType(wireType);
  }
  return value;
}

/** An `ArrayValue` (length-prefixed) as an array of values. */
export function decodeArrayValue(reader: Reader): AnyValue[] {
  enterValue();
  try {
    const arrayEnd = messageEnd(reader);
    const items: AnyValue[] = [];
    while (reader.pos < arrayEnd) {
      const inner = reader.uint32();
      if (inner >>> 3 === 1 && (inner & 7) === LENGTH_DELIMITED)
        items.push(decodeAnyValue(reader, messageEnd(reader)));
      else reader.skipType(inner & 7);
    }
    return items;
  } finally {
    valueDepth--;
  }
}

/** How deep the array or key-value list being decoded is nested. */
let valueDepth = 0;

function enterValue(): void {
  if (++valueDepth > MAX_VALUE_DEPTH) {
    valueDepth--;
    throw new MalformedPayloadError(
      `malformed protobuf ExportTraceServiceRequest: an attribute value is nested deeper than ${MAX_VALUE_DEPTH} levels`,
    );
  }
}

/** A `KeyValueList` (length-prefixed) as an object; a repeated key keeps its last value. */
export function decodeKeyValueList(reader: Reader): Record<string, AnyValue> {
  enterValue();
  try {
    const listEnd = messageEnd(reader);
    const object: Record<string, AnyValue> = {};
    while (reader.pos < listEnd) {
      const inner = reader.uint32();
      if (inner >>> 3 === 1 && (inner & 7) === LENGTH_DELIMITED) {
        const { key, value } = decodeKeyAndValue(reader, messageEnd(reader));
        if (value !== undefined) object[key] = value;
      } else {
        reader.skipType(inner & 7);
      }
    }
    return object;
  } finally {
    valueDepth--;
  }
}

/** Scalars stay as they are; arrays and maps become JSON text and bytes base64, so every value fits a column. */
export function flatten(value: AnyValue): AttributeValue | undefined {
  if (value === undefined || typeof value !== 'object') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return JSON.stringify(value, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
  );
}

// Attribute keys and most values (pool, key id, model, provider, …) repeat in every span. Looking them
// up by a hash of their bytes returns the same string without decoding or allocating it again, which
// is most of the decoding cost of a span.
const INTERN_MAX_BYTES = 96;
const INTERN_MAX_ENTRIES = 16_384;
const interned = new Map<number, string>();

function readInterned(reader: Reader): string {
  const length = reader.uint32();
  const start = reader.pos;
  const end = start + length;
  if (length > INTERN_MAX_BYTES || end > reader.len) return readStringAt(reader, start, length);
  const buf = reader.buf;
  // FNV-1a over the bytes picks the candidate; the comparison below proves it.
  let hash = 0x811c9dc5 ^ length;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (buf[i] as number), 0x01000193);
  const candidate = interned.get(hash);
  if (candidate !== undefined && candidate.length === length) {
    let i = 0;
    while (i < length && candidate.charCodeAt(i) === buf[start + i]) i++;
    if (i === length) {
      reader.pos = end;
      return candidate;
    }
  }
  const value = readStringAt(reader, start, length);
  if (interned.size >= INTERN_MAX_ENTRIES) interned.clear();
  interned.set(hash, value);
  return value;
}

function readStringAt(reader: Reader, start: number, length: number): string {
  reader.pos = start;
  // Reader.string() re-reads the length prefix, so decode the bytes directly.
  if (start + length > reader.len)
    throw new RangeError(`index out of range: ${start} + ${length} > ${reader.len}`);
  reader.pos = start + length;
  return protobuf.util.utf8.read(reader.buf, start, start + length);
}

/**
 * An int64 varint as a number. Up to 7 bytes (49 bits, every realistic count) it is read here without
 * the Long object protobufjs allocates; longer ones (large or negative values) go through protobufjs.
 */
export function readInt64(reader: Reader): number {
  const buf = reader.buf;
  const start = reader.pos;
  let result = 0;
  let scale = 1;
  for (let pos = start; pos < reader.len && pos < start + 7; pos++) {
    const byte = buf[pos] as number;
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      reader.pos = pos + 1;
      return result;
    }
    scale *= 128;
  }
  const long = reader.int64() as unknown as number | { toNumber(): number };
  return typeof long === 'number' ? long : long.toNumber();
}

function hex(reader: Reader): string {
  const bytes = reader.bytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fixed64NanosToMillis(reader: Reader): number {
  const low = reader.fixed32();
  const high = reader.fixed32();
  // The float sum is off by at most a few hundred nanoseconds; rounding to the microsecond makes the
  // result exact for every timestamp a span can carry.
  return Math.round((high * 4294967296 + low) / 1000) / 1000;
}
