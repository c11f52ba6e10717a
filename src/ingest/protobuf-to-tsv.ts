import protobuf from 'protobufjs';
import { ApiCallTsvWriter } from '../store/index.ts';
import {
  OUTCOMES,
  RATE_LIMIT_DIMENSIONS,
  fingerprintKey,
  isOutcome,
  looksLikeSecret,
  normaliseResponse,
} from '../telemetry/index.ts';
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
import {
  CACHED_INPUT_TOKENS,
  CONSUMER,
  COST,
  ERROR_TYPE,
  EXPECTED_COST,
  EXPECTED_COUNT,
  EXPECTED_RESET_AT,
  EXPECTED_RETRY_AFTER,
  EXPECTED_STATUS_CODE,
  FIELDS,
  GATEWAY_NODE,
  HEADER_PREFIX,
  INPUT_TOKENS,
  KEY_ID,
  LEGACY_SYSTEM,
  MAX_STATUS_CODE,
  MISSING_KEY_ID,
  MISSING_POOL,
  MISSING_START_TIME,
  OPERATION,
  OUTCOME,
  OUTPUT_TOKENS,
  PARTITION,
  POOL,
  PROVIDER,
  RATE_LIMIT_FIELDS,
  REQUEST_MODEL,
  RESPONSE_MODEL,
  RETRY_AFTER,
  SERVER_ADDRESS,
  SERVICE_NAME,
  STATUS_CODE,
  STATUS_CODE_ERROR,
  headerText,
  invalidAttributeMessage,
  invalidOutcomeMessage,
  readCostUsd,
  readUInt,
} from './span-to-row.ts';

type Reader = protobuf.Reader;

/** What {@link encodeProtobufRequestRows} made of one request. */
export interface EncodedRequestRows {
  /** Every span in the request, accepted or not. */
  spanCount: number;
  /** Accepted spans, encoded in `chunk`. */
  rows: number;
  /** TabSeparated rows, as `encodeApiCallRows` would encode the accepted spans' rows. */
  chunk: Buffer;
  /** Spans rejected by the span contract. */
  rejectedSpans: number;
  /** `span <id>: <reason>` for the first `maxReported` rejected spans. */
  rejections: string[];
}

// ---------------------------------------------------------------------------------------------
// The fast path of protobuf ingest: one walk over the request bytes that checks each span against
// the span contract and writes its row as TabSeparated bytes. String attributes that are only copied
// into a column are never decoded into JavaScript strings: their UTF-8 bytes go from the request into
// the output. Everything must come out exactly as decodeExportRequestProtobuf → mapSpanToRow →
// encodeApiCallRows would produce it (a unit test compares the two byte for byte). To keep that
// simple, the walk is strict: anything unusual on the wire (a nested field running past its parent,
// a decoding error) throws, and the caller redoes the request on the generic path, which then decides
// exactly as it always has.
// ---------------------------------------------------------------------------------------------

/** Thrown when the fast path declines a request; never escapes {@link encodeProtobufRequestRows}' caller. */
class Unusual extends Error {}

function strictEnd(reader: Reader, end: number): void {
  if (reader.pos !== end) throw new Unusual('a field ran past the end of its message');
}

// String columns ("slots"). A slot holds either a JavaScript string or a byte range of the request.
const S_NAME = 0;
const S_SERVICE = 1;
const S_GATEWAY = 2;
const S_POOL = 3;
const S_KEY = 4;
const S_PARTITION = 5;
const S_CONSUMER = 6;
const S_PROVIDER = 7;
const S_LEGACY = 8;
const S_OPERATION = 9;
const S_REQUEST_MODEL = 10;
const S_RESPONSE_MODEL = 11;
const S_SERVER = 12;
const S_ERROR_TYPE = 13;
const S_OUTCOME = 14;
const SLOT_COUNT = 15;

const TEXT = 0;
/** Attribute string bytes: decoded by protobufjs' `utf8.read` on the generic path. */
const ATTRIBUTE_BYTES = 1;
/** Span name bytes: decoded by `Buffer#utf8Slice` (protobufjs' BufferReader) on the generic path. */
const NAME_BYTES = 2;

const slotKind = new Uint8Array(SLOT_COUNT);
const slotStart = new Int32Array(SLOT_COUNT);
const slotEnd = new Int32Array(SLOT_COUNT);
const slotText: string[] = new Array<string>(SLOT_COUNT).fill('');

/** Field id → slot, for the attributes copied as they are. */
const COPIED_SLOTS = new Map<number, number>([
  [SERVICE_NAME, S_SERVICE],
  [GATEWAY_NODE, S_GATEWAY],
  [CONSUMER, S_CONSUMER],
  [OUTCOME, S_OUTCOME],
  [PROVIDER, S_PROVIDER],
  [LEGACY_SYSTEM, S_LEGACY],
  [OPERATION, S_OPERATION],
  [REQUEST_MODEL, S_REQUEST_MODEL],
  [RESPONSE_MODEL, S_RESPONSE_MODEL],
  [SERVER_ADDRESS, S_SERVER],
  [ERROR_TYPE, S_ERROR_TYPE],
]);
const COPIED_SLOT_OF = new Int8Array(64).fill(-1);
for (const [id, slot] of COPIED_SLOTS) COPIED_SLOT_OF[id] = slot;

// Numeric columns.
let statusCode = 0;
let inputTokens = 0;
let outputTokens = 0;
let cachedInputTokens = 0;
let costUsd = 0;
let hasCostUsd = false;
let retryAfterMs = 0;
let hasRetryAfterMs = false;
/** dimension × (limit, remaining, reset_at_ms) */
const RATE_LIMIT_PARTS = 3;
const rateLimitValues = new Float64Array(RATE_LIMIT_DIMENSIONS.length * RATE_LIMIT_PARTS);
const rateLimitSet = new Uint8Array(RATE_LIMIT_DIMENSIONS.length * RATE_LIMIT_PARTS);

let error: string | undefined;
let headers: Record<string, string> | undefined;

// Span fields.
let traceStart = 0;
let traceEnd = 0;
let spanStart = 0;
let spanEnd = 0;
let startTimeMs = 0;
let endTimeMs = 0;
let spanStatusCode = 0;

const EMPTY = Buffer.alloc(0);
/** The request being encoded. */
let source: Buffer = EMPTY;

function resetSpan(): void {
  slotKind.fill(TEXT);
  slotText.fill('');
  statusCode = 0;
  inputTokens = 0;
  outputTokens = 0;
  cachedInputTokens = 0;
  hasCostUsd = false;
  hasRetryAfterMs = false;
  rateLimitSet.fill(0);
  error = undefined;
  headers = undefined;
  traceStart = traceEnd = spanStart = spanEnd = 0;
  startTimeMs = endTimeMs = 0;
  spanStatusCode = 0;
}

function slotString(slot: number): string {
  switch (slotKind[slot]) {
    case ATTRIBUTE_BYTES:
      return protobuf.util.utf8.read(source, slotStart[slot] as number, slotEnd[slot] as number);
    case NAME_BYTES:
      return source.toString('utf8', slotStart[slot], slotEnd[slot]);
    default:
      return slotText[slot] as string;
  }
}

function slotIsEmpty(slot: number): boolean {
  // A non-empty byte range never decodes to '' (invalid bytes become U+FFFD).
  return slotKind[slot] === TEXT ? slotText[slot] === '' : slotStart[slot] === slotEnd[slot];
}

function setText(slot: number, text: string): void {
  slotKind[slot] = TEXT;
  slotText[slot] = text;
}

function copySlot(to: number, from: number): void {
  slotKind[to] = slotKind[from] as number;
  slotStart[to] = slotStart[from] as number;
  slotEnd[to] = slotEnd[from] as number;
  slotText[to] = slotText[from] as string;
}

function writeSlot(writer: ApiCallTsvWriter, slot: number): void {
  if (slotKind[slot] === TEXT) writer.writeString(slotText[slot] as string);
  else if (!writer.writeUtf8(source, slotStart[slot] as number, slotEnd[slot] as number))
    writer.writeString(slotString(slot));
}

// The value of the attribute being applied: a string attribute's byte range, or any other value.
let valueIsBytes = false;
let valueStart = 0;
let valueEnd = 0;
let valueOther: AttributeValue | undefined;

function currentValue(): AttributeValue {
  return valueIsBytes
    ? protobuf.util.utf8.read(source, valueStart, valueEnd)
    : (valueOther as AttributeValue);
}

function fault(key: string, value: AttributeValue, expected: string): 0 {
  error ??= invalidAttributeMessage(key, value, expected);
  return 0;
}

function isAsciiNonSpace(byte: number): boolean {
  // String#trim removes ASCII TAB, LF, VT, FF, CR and SPACE, plus non-ASCII spaces.
  return byte < 0x80 && byte !== 0x20 && (byte < 0x09 || byte > 0x0d);
}

/** `String(value).trim()` into a slot, keeping the bytes when trimming cannot change them. */
function setTrimmed(slot: number): void {
  if (
    valueIsBytes &&
    valueEnd > valueStart &&
    isAsciiNonSpace(source[valueStart] as number) &&
    isAsciiNonSpace(source[valueEnd - 1] as number)
  ) {
    slotKind[slot] = ATTRIBUTE_BYTES;
    slotStart[slot] = valueStart;
    slotEnd[slot] = valueEnd;
  } else {
    setText(slot, String(currentValue()).trim());
  }
}

// Attribute ids beyond the FIELDS ids: rate-limit attributes and raw response headers.
const HEADER = 100;
const RATE_LIMIT_BASE = 101;
const RATE_LIMIT_KEYS = [...RATE_LIMIT_FIELDS.keys()];
const RATE_LIMIT_SLOT: number[] = [...RATE_LIMIT_FIELDS.values()].map(
  ({ dimension, field }) =>
    RATE_LIMIT_DIMENSIONS.indexOf(dimension) * RATE_LIMIT_PARTS +
    (field === 'limit' ? 0 : field === 'remaining' ? 1 : 2),
);
const KEY_NAMES = new Map<number, string>();

function attributeId(key: string): number {
  const field = FIELDS.get(key);
  if (field !== undefined) return field;
  const rateLimit = RATE_LIMIT_KEYS.indexOf(key);
  if (rateLimit >= 0) return RATE_LIMIT_BASE + rateLimit;
  return key.startsWith(HEADER_PREFIX) ? HEADER : 0;
}

function applyAttribute(id: number, key: string | undefined, keyStart: number, keyEnd: number): void {
  const copied = id < 64 ? (COPIED_SLOT_OF[id] as number) : -1;
  if (copied >= 0) {
    if (valueIsBytes) {
      slotKind[copied] = ATTRIBUTE_BYTES;
      slotStart[copied] = valueStart;
      slotEnd[copied] = valueEnd;
    } else {
      setText(copied, String(valueOther));
    }
    return;
  }
  switch (id) {
    case 0:
      return;
    case POOL:
      setTrimmed(S_POOL);
      return;
    case KEY_ID:
      setTrimmed(S_KEY);
      return;
    case PARTITION:
      setTrimmed(S_PARTITION);
      return;
    case STATUS_CODE: {
      const value = currentValue();
      statusCode = readUInt(value, MAX_STATUS_CODE) ?? fault(keyName(id), value, EXPECTED_STATUS_CODE);
      return;
    }
    case INPUT_TOKENS: {
      const value = currentValue();
      inputTokens = readUInt(value) ?? fault(keyName(id), value, EXPECTED_COUNT);
      return;
    }
    case OUTPUT_TOKENS: {
      const value = currentValue();
      outputTokens = readUInt(value) ?? fault(keyName(id), value, EXPECTED_COUNT);
      return;
    }
    case CACHED_INPUT_TOKENS: {
      const value = currentValue();
      cachedInputTokens = readUInt(value) ?? fault(keyName(id), value, EXPECTED_COUNT);
      return;
    }
    case RETRY_AFTER: {
      const value = currentValue();
      retryAfterMs = readUInt(value) ?? fault(keyName(id), value, EXPECTED_RETRY_AFTER);
      hasRetryAfterMs = true;
      return;
    }
    case COST: {
      const value = currentValue();
      const cost = readCostUsd(value);
      if (cost === undefined) {
        fault(keyName(id), value, EXPECTED_COST);
      } else {
        costUsd = cost;
        hasCostUsd = true;
      }
      return;
    }
    case HEADER: {
      const name = key ?? protobuf.util.utf8.read(source, keyStart, keyEnd);
      headers ??= {};
      headers[name.slice(HEADER_PREFIX.length)] = headerText(currentValue());
      return;
    }
  }
  const slot = RATE_LIMIT_SLOT[id - RATE_LIMIT_BASE] as number;
  const value = currentValue();
  const n = readUInt(value);
  if (n === undefined) {
    fault(keyName(id), value, slot % RATE_LIMIT_PARTS === 2 ? EXPECTED_RESET_AT : EXPECTED_COUNT);
    return;
  }
  rateLimitValues[slot] = n;
  rateLimitSet[slot] = 1;
}

function keyName(id: number): string {
  return KEY_NAMES.get(id) as string;
}

// Known attribute keys by byte length, matched against the request's key bytes without decoding them.
const KEYS_BY_LENGTH: Array<Array<{ bytes: Buffer; id: number }>> = [];
for (const key of [...FIELDS.keys(), ...RATE_LIMIT_KEYS]) {
  const id = attributeId(key);
  KEY_NAMES.set(id, key);
  (KEYS_BY_LENGTH[key.length] ??= []).push({ bytes: Buffer.from(key, 'latin1'), id });
}
const HEADER_PREFIX_BYTES = Buffer.from(HEADER_PREFIX, 'latin1');

/**
 * The attribute id of the key at `source[start, end)`. Known keys are ASCII, so their bytes match
 * exactly when the decoded key would equal them.
 */
function matchKey(start: number, end: number): number {
  const length = end - start;
  const candidates = KEYS_BY_LENGTH[length];
  if (candidates !== undefined) {
    for (let c = 0; c < candidates.length; c++) {
      const candidate = candidates[c] as { bytes: Buffer; id: number };
      const bytes = candidate.bytes;
      // Keys share prefixes (`keypool.`, `gen_ai.usage.`), so compare from the end.
      let i = length - 1;
      while (i >= 0 && bytes[i] === source[start + i]) i--;
      if (i < 0) return candidate.id;
    }
  }
  if (length < HEADER_PREFIX_BYTES.length) return 0;
  for (let i = 0; i < HEADER_PREFIX_BYTES.length; i++) {
    if (HEADER_PREFIX_BYTES[i] !== source[start + i]) return 0;
  }
  return HEADER;
}

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
        valueStart = start;
        valueEnd = start + length;
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
  valueIsBytes = isBytes;
  valueOther = isBytes ? undefined : flatten(other);
  return found && (isBytes || valueOther !== undefined);
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
      valueWasBytes = valueIsBytes;
      lastStart = valueStart;
      lastEnd = valueEnd;
      lastOther = valueOther;
    } else {
      reader.skipType(tag & 7);
    }
  }
  strictEnd(reader, end);
  if (!hasValue) return;
  valueIsBytes = valueWasBytes;
  valueStart = lastStart;
  valueEnd = lastEnd;
  valueOther = lastOther;
  applyAttribute(matchKey(keyStart, keyEnd), undefined, keyStart, keyEnd);
}

function scanStatus(reader: Reader, end: number): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED) reader.string();
    else if (tag >>> 3 === 3 && (tag & 7) === VARINT) spanStatusCode = reader.int32();
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

/** The request's resource attributes, with their ids resolved once. */
interface Resource {
  ids: number[];
  keys: string[];
  values: AttributeValue[];
}

const OUTCOME_BYTES = OUTCOMES.map((outcome) => Buffer.from(outcome, 'latin1'));

/** The outcome slot as one of the known outcomes, or undefined. */
function matchOutcome(): string | undefined {
  if (slotKind[S_OUTCOME] === TEXT) {
    const text = slotText[S_OUTCOME] as string;
    return isOutcome(text) ? text : undefined;
  }
  const start = slotStart[S_OUTCOME] as number;
  const length = (slotEnd[S_OUTCOME] as number) - start;
  for (let o = 0; o < OUTCOME_BYTES.length; o++) {
    const bytes = OUTCOME_BYTES[o] as Buffer;
    if (bytes.length !== length) continue;
    let i = 0;
    while (i < length && bytes[i] === source[start + i]) i++;
    if (i === length) return OUTCOMES[o];
  }
  return undefined;
}

interface RequestState {
  writer: ApiCallTsvWriter;
  digest: string;
  ingestedAt: string;
  spanIndex: number;
  rows: number;
  rejected: number;
  rejections: string[];
  maxReported: number;
}

function decodeSpan(reader: Reader, end: number, resource: Resource, request: RequestState): void {
  resetSpan();
  for (let i = 0; i < resource.ids.length; i++) {
    valueIsBytes = false;
    valueOther = resource.values[i];
    applyAttribute(resource.ids[i] as number, resource.keys[i], 0, 0);
  }
  while (reader.pos < end) {
    const tag = reader.uint32();
    const wireType = tag & 7;
    switch (tag >>> 3) {
      case 1:
        if (wireType !== LENGTH_DELIMITED) break;
        traceStart = skipBytes(reader);
        traceEnd = reader.pos;
        continue;
      case 2:
        if (wireType !== LENGTH_DELIMITED) break;
        spanStart = skipBytes(reader);
        spanEnd = reader.pos;
        continue;
      case 5: {
        if (wireType !== LENGTH_DELIMITED) break;
        const length = reader.size();
        const start = reader.pos;
        if (start + length > reader.len) throw new Unusual('name out of range');
        reader.pos = start + length;
        slotKind[S_NAME] = NAME_BYTES;
        slotStart[S_NAME] = start;
        slotEnd[S_NAME] = start + length;
        continue;
      }
      case 6:
        if (wireType !== VARINT) break;
        reader.int32();
        continue;
      case 7:
        if (wireType !== FIXED64) break;
        startTimeMs = fixed64NanosToMillis(reader);
        continue;
      case 8:
        if (wireType !== FIXED64) break;
        endTimeMs = fixed64NanosToMillis(reader);
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

  const index = request.spanIndex++;
  const rejection = finishSpan();
  if (rejection !== undefined) {
    request.rejected++;
    if (request.rejections.length < request.maxReported) {
      const spanId = source.toString('hex', spanStart, spanEnd);
      request.rejections.push(`span ${spanId === '' ? `#${index}` : spanId}: ${rejection}`);
    }
    return;
  }
  writeRow(request);
  request.rows++;
}

/** mapSpanToRow's checks and defaults on the slots; returns the rejection message, if any. */
function finishSpan(): string | undefined {
  if (error !== undefined) return error;
  if (slotIsEmpty(S_POOL)) return MISSING_POOL;
  if (slotIsEmpty(S_KEY)) return MISSING_KEY_ID;
  if (startTimeMs <= 0) return MISSING_START_TIME;
  if (!slotIsEmpty(S_OUTCOME)) {
    const outcome = matchOutcome();
    if (outcome === undefined) return invalidOutcomeMessage(slotString(S_OUTCOME));
    setText(S_OUTCOME, outcome);
  }
  // A string shorter than 20 characters never looks like a secret, and a UTF-8 string has at most as
  // many UTF-16 units as bytes.
  if (slotKind[S_KEY] === TEXT || (slotEnd[S_KEY] as number) - (slotStart[S_KEY] as number) >= 20) {
    const keyId = slotString(S_KEY);
    setText(S_KEY, looksLikeSecret(keyId) ? fingerprintKey(keyId) : keyId);
  }
  if (slotIsEmpty(S_PARTITION)) copySlot(S_PARTITION, S_KEY);
  if (slotIsEmpty(S_PROVIDER)) copySlot(S_PROVIDER, S_LEGACY);

  const outcomeMissing = slotIsEmpty(S_OUTCOME);
  if (outcomeMissing || headers !== undefined) {
    const errorTypeMissing = slotIsEmpty(S_ERROR_TYPE);
    const normalised = normaliseResponse({
      provider: slotString(S_PROVIDER),
      statusCode: statusCode === 0 ? undefined : statusCode,
      headers,
      errorType: errorTypeMissing ? undefined : slotString(S_ERROR_TYPE),
      nowMs: endTimeMs > 0 ? endTimeMs : startTimeMs,
    });
    if (outcomeMissing) {
      const silentSuccess = statusCode === 0 && errorTypeMissing && spanStatusCode !== STATUS_CODE_ERROR;
      setText(S_OUTCOME, silentSuccess ? 'ok' : normalised.outcome);
    }
    // Explicit keypool.ratelimit.* attributes win over values parsed from raw headers.
    for (let d = 0; d < RATE_LIMIT_DIMENSIONS.length; d++) {
      const parsed =
        normalised.rateLimits[RATE_LIMIT_DIMENSIONS[d] as (typeof RATE_LIMIT_DIMENSIONS)[number]];
      if (parsed === undefined) continue;
      const base = d * RATE_LIMIT_PARTS;
      mergeMissing(base, parsed.limit);
      mergeMissing(base + 1, parsed.remaining);
      mergeMissing(base + 2, parsed.resetAtMs);
    }
    if (!hasRetryAfterMs && normalised.retryAfterMs !== undefined) {
      retryAfterMs = normalised.retryAfterMs;
      hasRetryAfterMs = true;
    }
  }
  return undefined;
}

function mergeMissing(slot: number, parsed: number | undefined): void {
  if (rateLimitSet[slot] === 1 || parsed === undefined) return;
  rateLimitValues[slot] = parsed;
  rateLimitSet[slot] = 1;
}

/** The row in encodeApiCallRows' column order. */
function writeRow(request: RequestState): void {
  const w = request.writer;
  w.writeTime(startTimeMs);
  w.writeTab();
  w.writeAscii(request.ingestedAt);
  w.writeTab();
  w.writeNumber(endTimeMs > startTimeMs ? endTimeMs - startTimeMs : 0);
  w.writeTab();
  w.writeHex(source, traceStart, traceEnd);
  w.writeTab();
  w.writeHex(source, spanStart, spanEnd);
  w.writeTab();
  writeSlot(w, S_NAME);
  w.writeTab();
  writeSlot(w, S_SERVICE);
  w.writeTab();
  writeSlot(w, S_GATEWAY);
  w.writeTab();
  writeSlot(w, S_POOL);
  w.writeTab();
  writeSlot(w, S_KEY);
  w.writeTab();
  writeSlot(w, S_PARTITION);
  w.writeTab();
  writeSlot(w, S_CONSUMER);
  w.writeTab();
  writeSlot(w, S_PROVIDER);
  w.writeTab();
  writeSlot(w, S_OPERATION);
  w.writeTab();
  writeSlot(w, S_REQUEST_MODEL);
  w.writeTab();
  writeSlot(w, S_RESPONSE_MODEL);
  w.writeTab();
  writeSlot(w, S_SERVER);
  w.writeTab();
  w.writeNumber(statusCode);
  w.writeTab();
  writeSlot(w, S_ERROR_TYPE);
  w.writeTab();
  // Always one of the known outcomes here, which need no escaping.
  w.writeAscii(slotText[S_OUTCOME] as string);
  w.writeTab();
  w.writeNumber(inputTokens);
  w.writeTab();
  w.writeNumber(outputTokens);
  w.writeTab();
  w.writeNumber(cachedInputTokens);
  w.writeTab();
  if (hasCostUsd) w.writeNumber(costUsd);
  else w.writeNull();
  w.writeTab();
  if (hasRetryAfterMs) w.writeNumber(retryAfterMs);
  else w.writeNull();
  for (let slot = 0; slot < rateLimitSet.length; slot++) {
    w.writeTab();
    if (rateLimitSet[slot] === 0) w.writeNull();
    else if (slot % RATE_LIMIT_PARTS === 2) w.writeTime(rateLimitValues[slot] as number);
    else w.writeNumber(rateLimitValues[slot] as number);
  }
  w.writeTab();
  w.writeAscii(request.digest);
  w.writeNewline();
}

function decodeScopeSpans(reader: Reader, end: number, resource: Resource, request: RequestState): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED)
      decodeSpan(reader, messageEnd(reader), resource, request);
    else reader.skipType(tag & 7);
  }
  strictEnd(reader, end);
}

function decodeResourceSpans(reader: Reader, end: number, request: RequestState): void {
  // The resource may follow its spans on the wire, and its attributes apply before the span's own:
  // find it first. Last one wins, as on the generic path.
  const start = reader.pos;
  let resource: Resource = { ids: [], keys: [], values: [] };
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
      const resourceEnd = messageEnd(reader);
      const attributes = decodeResource(reader, resourceEnd);
      strictEnd(reader, resourceEnd);
      resource = { ids: attributes.keys.map(attributeId), keys: attributes.keys, values: attributes.values };
    } else {
      reader.skipType(tag & 7);
    }
  }
  strictEnd(reader, end);
  reader.pos = start;
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2 && (tag & 7) === LENGTH_DELIMITED)
      decodeScopeSpans(reader, messageEnd(reader), resource, request);
    else reader.skipType(tag & 7);
  }
}

const writer = new ApiCallTsvWriter();

/**
 * Decodes an OTLP protobuf `ExportTraceServiceRequest`, checks every span against the span contract
 * and encodes the accepted ones as `api_calls` TabSeparated rows, in one pass over the bytes.
 * Returns undefined when the request has anything unusual on the wire (including being malformed):
 * the caller then takes the generic path (decodeExportRequestProtobuf → mapSpanToRow →
 * encodeApiCallRows), whose output this matches byte for byte otherwise.
 */
export function encodeProtobufRequestRows(
  body: Buffer,
  requestDigest: string,
  receivedAtMs: number,
  maxReportedRejections: number,
): EncodedRequestRows | undefined {
  writer.reset();
  source = body;
  const request: RequestState = {
    writer,
    digest: requestDigest,
    ingestedAt: String(receivedAtMs / 1000),
    spanIndex: 0,
    rows: 0,
    rejected: 0,
    rejections: [],
    maxReported: maxReportedRejections,
  };
  try {
    const reader = protobuf.Reader.create(body);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag >>> 3 === 1 && (tag & 7) === LENGTH_DELIMITED) {
        const end = messageEnd(reader);
        decodeResourceSpans(reader, end, request);
        strictEnd(reader, end);
      } else {
        reader.skipType(tag & 7);
      }
    }
  } catch {
    writer.reset();
    return undefined;
  } finally {
    source = EMPTY;
  }
  return {
    spanCount: request.spanIndex,
    rows: request.rows,
    chunk: writer.takeBytes(),
    rejectedSpans: request.rejected,
    rejections: request.rejections,
  };
}
