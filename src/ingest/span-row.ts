import protobuf from 'protobufjs';
import { ApiCallTsvWriter } from '../store/index.ts';
import {
  OUTCOMES,
  RATE_LIMIT_DIMENSIONS,
  fingerprintKey,
  looksLikeSecret,
  normaliseResponse,
} from '../telemetry/index.ts';
import {
  ATTRIBUTE_RULES,
  HEADER_PREFIX,
  HEADER_RULE,
  MAX_TEXT_CHARS,
  MISSING_KEY_ID,
  MISSING_POOL,
  MISSING_START_TIME,
  NUMBER_RULES,
  NUMBER_SLOTS,
  N_CACHED_INPUT_TOKENS,
  N_COST_USD,
  N_INPUT_TOKENS,
  N_OUTPUT_TOKENS,
  N_RATE_LIMITS,
  N_RETRY_AFTER_MS,
  N_STATUS_CODE,
  RATE_LIMIT_PARTS,
  RULE_HEADER,
  RULE_TEXT,
  RULE_TRIMMED,
  SPAN_ID_BYTES,
  S_CONSUMER,
  S_ERROR_TYPE,
  S_GATEWAY,
  S_KEY,
  S_LEGACY_SYSTEM,
  S_NAME,
  S_OPERATION,
  S_OUTCOME,
  S_PARTITION,
  S_POOL,
  S_PROVIDER,
  S_REQUEST_MODEL,
  S_RESPONSE_MODEL,
  S_SERVER,
  S_SERVICE,
  S_SPAN_ID,
  S_TRACE_ID,
  TEXT_SLOTS,
  TRACE_ID_BYTES,
  headerText,
  invalidAttributeMessage,
  invalidIdMessage,
  invalidOutcomeMessage,
  readNumber,
  timeOutOfRangeMessage,
  tooLongMessage,
  type AttributeRule,
} from './columns.ts';
import type { AttributeValue } from './decoded-span.ts';

// ---------------------------------------------------------------------------------------------
// The row builder: one span at a time, both ingest walkers set its fields and attributes, then
// `endSpan` checks the span against the span contract and the column rules (columns.ts), applies
// defaults and raw-header normalisation, and writes the row as TabSeparated bytes in
// API_CALL_COLUMNS order. The protobuf fast path hands it byte ranges of the request so string
// columns are copied without being decoded; the decoded-span path hands it JavaScript values.
// State is module-level: ingest encodes one request at a time, synchronously.
// ---------------------------------------------------------------------------------------------

const TEXT = 0;
/** Attribute string bytes of `source`: decoded as protobufjs' `utf8.read` would. */
const ATTRIBUTE_BYTES = 1;
/** Span name bytes of `source`: decoded as `Buffer#utf8Slice` (protobufjs' BufferReader) would. */
const NAME_BYTES = 2;
/** Id bytes of `source`, written as lower-case hex. */
const HEX_BYTES = 3;

const slotKind = new Uint8Array(TEXT_SLOTS);
const slotStart = new Int32Array(TEXT_SLOTS);
const slotEnd = new Int32Array(TEXT_SLOTS);
const slotText: string[] = new Array<string>(TEXT_SLOTS).fill('');

const numbers = new Float64Array(NUMBER_SLOTS);
const numberSet = new Uint8Array(NUMBER_SLOTS);

let error: string | undefined;
let headers: Record<string, string> | undefined;
let startTimeMs = 0;
let endTimeMs = 0;
let spanStatusCode = 0;

const EMPTY = Buffer.alloc(0);
/** The request whose byte ranges the slots refer to. */
let source: Buffer = EMPTY;

/** One request being encoded: where rows go and what was rejected. */
export interface RowBatch {
  writer: ApiCallTsvWriter;
  digest: string;
  /** `ingested_at` as written (epoch seconds). */
  ingestedAt: string;
  /** Span times outside [earliestMs, latestMs] are refused. */
  earliestMs: number;
  latestMs: number;
  retentionDays: number;
  spanIndex: number;
  rows: number;
  rejected: number;
  /** `span <id>: <reason>` for the first `maxReported` rejected spans. */
  rejections: string[];
  maxReported: number;
}

/** Starts a request whose byte ranges (if any) are in `body`. */
export function beginRequest(body: Buffer): void {
  source = body;
}

export function endRequest(): void {
  source = EMPTY;
}

export function beginSpan(): void {
  slotKind.fill(TEXT);
  slotText.fill('');
  numberSet.fill(0);
  error = undefined;
  headers = undefined;
  startTimeMs = endTimeMs = 0;
  spanStatusCode = 0;
}

function setText(slot: number, text: string): void {
  slotKind[slot] = TEXT;
  slotText[slot] = text;
}

function setRange(slot: number, kind: number, start: number, end: number): void {
  slotKind[slot] = kind;
  slotStart[slot] = start;
  slotEnd[slot] = end;
}

/** Ids as bytes of the request (protobuf) or as lower-case hex (decoded spans). */
export function setTraceIdBytes(start: number, end: number): void {
  setRange(S_TRACE_ID, HEX_BYTES, start, end);
}
export function setTraceIdHex(hex: string): void {
  setText(S_TRACE_ID, hex);
}
export function setSpanIdBytes(start: number, end: number): void {
  setRange(S_SPAN_ID, HEX_BYTES, start, end);
}
export function setSpanIdHex(hex: string): void {
  setText(S_SPAN_ID, hex);
}
export function setNameBytes(start: number, end: number): void {
  setRange(S_NAME, NAME_BYTES, start, end);
}
export function setNameText(name: string): void {
  setText(S_NAME, name);
}
export function setTimes(startMs: number, endMs: number): void {
  startTimeMs = startMs;
  endTimeMs = endMs;
}
export function setStartTime(ms: number): void {
  startTimeMs = ms;
}
export function setEndTime(ms: number): void {
  endTimeMs = ms;
}
export function setSpanStatusCode(code: number): void {
  spanStatusCode = code;
}

function slotString(slot: number): string {
  switch (slotKind[slot]) {
    case ATTRIBUTE_BYTES:
      return protobuf.util.utf8.read(source, slotStart[slot] as number, slotEnd[slot] as number);
    case NAME_BYTES:
      return source.toString('utf8', slotStart[slot], slotEnd[slot]);
    case HEX_BYTES:
      return source.toString('hex', slotStart[slot], slotEnd[slot]);
    default:
      return slotText[slot] as string;
  }
}

function slotIsEmpty(slot: number): boolean {
  // A non-empty byte range never decodes to '' (invalid bytes become U+FFFD).
  return slotKind[slot] === TEXT ? slotText[slot] === '' : slotStart[slot] === slotEnd[slot];
}

/** The slot's length in UTF-16 code units when it exceeds `max`, else -1. */
function slotOverflow(slot: number, max: number): number {
  if (slotKind[slot] === TEXT) {
    const length = (slotText[slot] as string).length;
    return length > max ? length : -1;
  }
  // Decoding yields at most one UTF-16 unit per byte, so a short range needs no decoding.
  if ((slotEnd[slot] as number) - (slotStart[slot] as number) <= max) return -1;
  const length = slotString(slot).length;
  return length > max ? length : -1;
}

/** Id length in bytes. */
function idBytes(slot: number): number {
  return slotKind[slot] === TEXT
    ? (slotText[slot] as string).length / 2
    : (slotEnd[slot] as number) - (slotStart[slot] as number);
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

function writeId(writer: ApiCallTsvWriter, slot: number): void {
  if (slotKind[slot] === TEXT) writer.writeAscii(slotText[slot] as string);
  else writer.writeHex(source, slotStart[slot] as number, slotEnd[slot] as number);
}

// The value of the attribute being applied: a string attribute's byte range, or any other value.
let valueIsBytes = false;
let valueStart = 0;
let valueEnd = 0;
let valueOther: AttributeValue | undefined;

/** The next attribute's value is the UTF-8 string at `source[start, end)`. */
export function setValueBytes(start: number, end: number): void {
  valueIsBytes = true;
  valueStart = start;
  valueEnd = end;
}

/** The next attribute's value, already decoded. */
export function setValue(value: AttributeValue): void {
  valueIsBytes = false;
  valueOther = value;
}

function currentValue(): AttributeValue {
  return valueIsBytes
    ? protobuf.util.utf8.read(source, valueStart, valueEnd)
    : (valueOther as AttributeValue);
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
    setRange(slot, ATTRIBUTE_BYTES, valueStart, valueEnd);
  } else {
    setText(slot, String(currentValue()).trim());
  }
}

const RULES_BY_KEY = new Map<string, AttributeRule>(ATTRIBUTE_RULES.map((rule) => [rule.key, rule]));

/** The rule of an attribute key, or undefined when headroom does not read it. */
export function ruleOf(key: string): AttributeRule | undefined {
  return RULES_BY_KEY.get(key) ?? (key.startsWith(HEADER_PREFIX) ? HEADER_RULE : undefined);
}

// Known attribute keys by byte length, matched against the request's key bytes without decoding them.
const RULES_BY_LENGTH: AttributeRule[][] = [];
const KEY_BYTES = new Map<AttributeRule, Buffer>();
for (const rule of ATTRIBUTE_RULES) {
  (RULES_BY_LENGTH[rule.key.length] ??= []).push(rule);
  KEY_BYTES.set(rule, Buffer.from(rule.key, 'latin1'));
}
const HEADER_PREFIX_BYTES = Buffer.from(HEADER_PREFIX, 'latin1');

/**
 * The rule of the key at `source[start, end)`. Known keys are ASCII, so their bytes match exactly
 * when the decoded key would equal them.
 */
export function ruleOfBytes(start: number, end: number): AttributeRule | undefined {
  const length = end - start;
  const candidates = RULES_BY_LENGTH[length];
  if (candidates !== undefined) {
    for (let c = 0; c < candidates.length; c++) {
      const candidate = candidates[c] as AttributeRule;
      const bytes = KEY_BYTES.get(candidate) as Buffer;
      // Keys share prefixes (`keypool.`, `gen_ai.usage.`), so compare from the end.
      let i = length - 1;
      while (i >= 0 && bytes[i] === source[start + i]) i--;
      if (i < 0) return candidate;
    }
  }
  if (length < HEADER_PREFIX_BYTES.length) return undefined;
  for (let i = 0; i < HEADER_PREFIX_BYTES.length; i++) {
    if (HEADER_PREFIX_BYTES[i] !== source[start + i]) return undefined;
  }
  return HEADER_RULE;
}

function fault(message: string): void {
  error ??= message;
}

/**
 * Applies the value set by {@link setValueBytes} or {@link setValue} to the column `rule` feeds.
 * A header's name is `key`, or the bytes `source[keyStart, keyEnd)` when `key` is undefined.
 */
export function applyAttribute(
  rule: AttributeRule,
  key: string | undefined,
  keyStart: number,
  keyEnd: number,
): void {
  const kind = rule.rule;
  if (kind === RULE_TEXT || kind === RULE_TRIMMED) {
    const slot = rule.slot;
    if (kind === RULE_TRIMMED) setTrimmed(slot);
    else if (valueIsBytes) setRange(slot, ATTRIBUTE_BYTES, valueStart, valueEnd);
    else setText(slot, String(valueOther));
    const overflow = slotOverflow(slot, rule.max);
    if (overflow >= 0) fault(tooLongMessage(rule.key, overflow, rule.max));
    return;
  }
  const value = currentValue();
  if (kind === RULE_HEADER) {
    const name = key ?? protobuf.util.utf8.read(source, keyStart, keyEnd);
    const text = headerText(value);
    if (text.length > rule.max) {
      fault(tooLongMessage(name, text.length, rule.max));
      return;
    }
    headers ??= {};
    headers[name.slice(HEADER_PREFIX.length)] = text;
    return;
  }
  const n = readNumber(rule, value);
  if (n === undefined) {
    fault(invalidAttributeMessage(rule.key, value, rule.expected));
    return;
  }
  numbers[rule.slot] = n;
  numberSet[rule.slot] = 1;
}

const OUTCOME_BYTES = OUTCOMES.map((outcome) => Buffer.from(outcome, 'latin1'));

/** The outcome slot as one of the known outcomes, or undefined. */
function matchOutcome(): string | undefined {
  if (slotKind[S_OUTCOME] === TEXT) {
    const text = slotText[S_OUTCOME] as string;
    return (OUTCOMES as readonly string[]).includes(text) ? text : undefined;
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

/** OTLP `Status.code` ERROR. */
const STATUS_CODE_ERROR = 2;

/** Checks the span and applies defaults; returns the rejection message, if any. */
function finishSpan(batch: RowBatch): string | undefined {
  if (error !== undefined) return error;
  if (slotIsEmpty(S_POOL)) return MISSING_POOL;
  if (slotIsEmpty(S_KEY)) return MISSING_KEY_ID;
  if (startTimeMs <= 0) return MISSING_START_TIME;
  const { earliestMs, latestMs } = batch;
  if (!(startTimeMs >= earliestMs && startTimeMs <= latestMs)) {
    return timeOutOfRangeMessage('startTimeUnixNano', startTimeMs, earliestMs, latestMs, batch.retentionDays);
  }
  // An absent end time is tolerated (duration 0); a present one follows the same rule as the start.
  if (endTimeMs !== 0 && !(endTimeMs >= earliestMs && endTimeMs <= latestMs)) {
    return timeOutOfRangeMessage('endTimeUnixNano', endTimeMs, earliestMs, latestMs, batch.retentionDays);
  }
  const traceIdBytes = idBytes(S_TRACE_ID);
  if (traceIdBytes !== 0 && traceIdBytes !== TRACE_ID_BYTES)
    return invalidIdMessage('traceId', traceIdBytes, TRACE_ID_BYTES);
  const spanIdBytes = idBytes(S_SPAN_ID);
  if (spanIdBytes !== 0 && spanIdBytes !== SPAN_ID_BYTES)
    return invalidIdMessage('spanId', spanIdBytes, SPAN_ID_BYTES);
  const nameOverflow = slotOverflow(S_NAME, MAX_TEXT_CHARS);
  if (nameOverflow >= 0) return tooLongMessage('name', nameOverflow, MAX_TEXT_CHARS);
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
  if (slotIsEmpty(S_PROVIDER)) copySlot(S_PROVIDER, S_LEGACY_SYSTEM);

  const statusCode = numberSet[N_STATUS_CODE] === 1 ? (numbers[N_STATUS_CODE] as number) : 0;
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
      const base = N_RATE_LIMITS + d * RATE_LIMIT_PARTS;
      mergeMissing(base, parsed.limit);
      mergeMissing(base + 1, parsed.remaining);
      mergeMissing(base + 2, parsed.resetAtMs);
    }
    mergeMissing(N_RETRY_AFTER_MS, normalised.retryAfterMs);
  }
  return undefined;
}

/**
 * A value parsed from a raw header fills a column the attributes left empty, when it fits the
 * column; one that does not is dropped rather than rejecting the span, whose own data is fine.
 */
function mergeMissing(slot: number, parsed: number | undefined): void {
  if (numberSet[slot] === 1 || parsed === undefined) return;
  const value = readNumber(NUMBER_RULES[slot] as AttributeRule, parsed);
  if (value === undefined) return;
  numbers[slot] = value;
  numberSet[slot] = 1;
}

function writeCount(w: ApiCallTsvWriter, slot: number): void {
  w.writeNumber(numberSet[slot] === 1 ? (numbers[slot] as number) : 0);
}

function writeNullable(w: ApiCallTsvWriter, slot: number): void {
  if (numberSet[slot] === 0) w.writeNull();
  else w.writeNumber(numbers[slot] as number);
}

/** The row in API_CALL_COLUMNS order. */
function writeRow(batch: RowBatch): void {
  const w = batch.writer;
  w.writeTime(startTimeMs);
  w.writeTab();
  w.writeAscii(batch.ingestedAt);
  w.writeTab();
  w.writeNumber(endTimeMs > startTimeMs ? endTimeMs - startTimeMs : 0);
  w.writeTab();
  writeId(w, S_TRACE_ID);
  w.writeTab();
  writeId(w, S_SPAN_ID);
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
  writeCount(w, N_STATUS_CODE);
  w.writeTab();
  writeSlot(w, S_ERROR_TYPE);
  w.writeTab();
  // Always one of the known outcomes here, which need no escaping.
  w.writeAscii(slotText[S_OUTCOME] as string);
  w.writeTab();
  writeCount(w, N_INPUT_TOKENS);
  w.writeTab();
  writeCount(w, N_OUTPUT_TOKENS);
  w.writeTab();
  writeCount(w, N_CACHED_INPUT_TOKENS);
  w.writeTab();
  writeNullable(w, N_COST_USD);
  w.writeTab();
  writeNullable(w, N_RETRY_AFTER_MS);
  for (let slot = N_RATE_LIMITS; slot < NUMBER_SLOTS; slot++) {
    w.writeTab();
    if (numberSet[slot] === 0) w.writeNull();
    else if ((slot - N_RATE_LIMITS) % RATE_LIMIT_PARTS === 2) w.writeTime(numbers[slot] as number);
    else w.writeNumber(numbers[slot] as number);
  }
  w.writeTab();
  w.writeAscii(batch.digest);
  w.writeNewline();
}

/** Ends the span: writes its row, or counts and describes its rejection. */
export function endSpan(batch: RowBatch): void {
  const index = batch.spanIndex++;
  const rejection = finishSpan(batch);
  if (rejection === undefined) {
    writeRow(batch);
    batch.rows++;
    return;
  }
  batch.rejected++;
  if (batch.rejections.length < batch.maxReported) {
    const spanId = idBytes(S_SPAN_ID) === SPAN_ID_BYTES ? slotString(S_SPAN_ID) : '';
    batch.rejections.push(`span ${spanId === '' ? `#${index}` : spanId}: ${rejection}`);
  }
}

/** What one request's spans became: TabSeparated rows for the accepted, reasons for the rejected. */
export interface EncodedRequestRows {
  /** Every span in the request, accepted or not. */
  spanCount: number;
  /** Accepted spans, encoded in `chunk`. */
  rows: number;
  /** TabSeparated rows in API_CALL_COLUMNS order. */
  chunk: Buffer;
  /** Spans rejected by the span contract or the column rules. */
  rejectedSpans: number;
  /** `span <id>: <reason>` for the first `maxReported` rejected spans. */
  rejections: string[];
}

/** When a request is encoded and which span times it accepts. */
export interface RowContext {
  digest: string;
  receivedAtMs: number;
  earliestMs: number;
  latestMs: number;
  retentionDays: number;
  maxReported: number;
}

const writer = new ApiCallTsvWriter();

/** Runs `walk` (one of the two walkers) over a fresh batch and returns what it encoded. */
export function encodeRows(
  body: Buffer,
  context: RowContext,
  walk: (batch: RowBatch) => void,
): EncodedRequestRows {
  writer.reset();
  beginRequest(body);
  const batch: RowBatch = {
    writer,
    digest: context.digest,
    ingestedAt: String(context.receivedAtMs / 1000),
    earliestMs: context.earliestMs,
    latestMs: context.latestMs,
    retentionDays: context.retentionDays,
    spanIndex: 0,
    rows: 0,
    rejected: 0,
    rejections: [],
    maxReported: context.maxReported,
  };
  try {
    walk(batch);
  } catch (error) {
    writer.reset();
    throw error;
  } finally {
    endRequest();
  }
  return {
    spanCount: batch.spanIndex,
    rows: batch.rows,
    chunk: writer.takeBytes(),
    rejectedSpans: batch.rejected,
    rejections: batch.rejections,
  };
}
