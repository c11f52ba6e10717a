import { isUtf8 } from 'node:buffer';
import { RATE_LIMIT_DIMENSIONS } from '../telemetry/index.ts';

/** Column order of the rows {@link ApiCallTsvWriter} builds; the insert names them explicitly so the table may gain columns. */
export const API_CALL_COLUMNS: readonly string[] = [
  'timestamp',
  'ingested_at',
  'duration_ms',
  'trace_id',
  'span_id',
  'span_name',
  'service_name',
  'gateway_node',
  'pool',
  'key_id',
  'partition',
  'consumer',
  'provider',
  'operation',
  'request_model',
  'response_model',
  'server_address',
  'status_code',
  'error_type',
  'outcome',
  'input_tokens',
  'output_tokens',
  'cached_input_tokens',
  'cost_usd',
  'retry_after_ms',
  ...RATE_LIMIT_DIMENSIONS.flatMap((d) => [`rl_${d}_limit`, `rl_${d}_remaining`, `rl_${d}_reset_at`]),
  'request_digest',
];

const NEEDS_ESCAPE = /[\t\n\r\\]/;

// TabSeparated is the cheapest text format for ClickHouse to parse and for V8 to build; only these
// four characters need escaping inside a field.
function tsvString(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\t\n\r\\]/g, (c) =>
    c === '\t' ? '\\t' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\\\',
  );
}

const TAB = 0x09;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BACKSLASH = 0x5c;
const HEX_DIGITS = '0123456789abcdef';

/**
 * Builds `api_calls` rows as TabSeparated bytes, field by field, straight into one growing buffer:
 * the protobuf ingest path copies UTF-8 string bytes from the request into it without creating
 * JavaScript strings. Callers write the fields in {@link API_CALL_COLUMNS} order.
 */
export class ApiCallTsvWriter {
  #buf: Buffer;
  #pos = 0;

  constructor(initialBytes = 1 << 16) {
    this.#buf = Buffer.allocUnsafe(initialBytes);
  }

  get length(): number {
    return this.#pos;
  }

  reset(): void {
    this.#pos = 0;
  }

  /** A copy of what was written; the writer keeps its buffer for the next request. */
  takeBytes(): Buffer {
    const out = Buffer.allocUnsafe(this.#pos);
    this.#buf.copy(out, 0, 0, this.#pos);
    this.#pos = 0;
    return out;
  }

  #ensure(bytes: number): Buffer {
    if (this.#pos + bytes > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + bytes));
      this.#buf.copy(grown, 0, 0, this.#pos);
      this.#buf = grown;
    }
    return this.#buf;
  }

  writeTab(): void {
    this.#ensure(1)[this.#pos++] = TAB;
  }

  writeNewline(): void {
    this.#ensure(1)[this.#pos++] = NEWLINE;
  }

  writeNull(): void {
    const buf = this.#ensure(2);
    buf[this.#pos++] = BACKSLASH;
    buf[this.#pos++] = 0x4e; // N
  }

  /** Text that needs no escaping and is ASCII (numbers, digests, outcomes). */
  writeAscii(text: string): void {
    const buf = this.#ensure(text.length);
    let pos = this.#pos;
    for (let i = 0; i < text.length; i++) buf[pos++] = text.charCodeAt(i);
    this.#pos = pos;
  }

  /** A string column: the bytes of `tsvString(value)` as UTF-8. */
  writeString(value: string): void {
    const text = tsvString(value);
    const buf = this.#ensure(text.length * 3);
    this.#pos += buf.write(text, this.#pos, 'utf8');
  }

  /** `String(value)`, with non-negative safe integers written digit by digit. */
  writeNumber(value: number): void {
    if (!(value >= 0 && value <= Number.MAX_SAFE_INTEGER && Math.floor(value) === value)) {
      this.writeAscii(String(value));
      return;
    }
    let digits = 1;
    for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) digits++;
    const buf = this.#ensure(digits);
    let pos = this.#pos + digits;
    this.#pos = pos;
    let rest = value;
    do {
      const next = Math.floor(rest / 10);
      buf[--pos] = 0x30 + (rest - next * 10);
      rest = next;
    } while (rest > 0);
  }

  /** A DateTime64 column from epoch milliseconds, as epoch seconds with a fraction. */
  writeTime(ms: number): void {
    this.writeAscii(String(ms / 1000));
  }

  /** Bytes as lower-case hex, as `Buffer.toString('hex')`. */
  writeHex(source: Uint8Array, start: number, end: number): void {
    const buf = this.#ensure((end - start) * 2);
    let pos = this.#pos;
    for (let i = start; i < end; i++) {
      const byte = source[i] as number;
      buf[pos++] = HEX_DIGITS.charCodeAt(byte >>> 4);
      buf[pos++] = HEX_DIGITS.charCodeAt(byte & 15);
    }
    this.#pos = pos;
  }

  /**
   * Copies UTF-8 bytes as a string column, escaping as `tsvString`. Returns false, having written
   * nothing, when the bytes are not valid UTF-8: decoding would replace them, so the caller writes
   * the decoded string instead.
   */
  writeUtf8(source: Uint8Array, start: number, end: number): boolean {
    const buf = this.#ensure((end - start) * 2);
    const begin = this.#pos;
    let pos = begin;
    let nonAscii = 0;
    for (let i = start; i < end; i++) {
      const byte = source[i] as number;
      nonAscii |= byte;
      if (byte === TAB) {
        buf[pos++] = BACKSLASH;
        buf[pos++] = 0x74; // t
      } else if (byte === NEWLINE) {
        buf[pos++] = BACKSLASH;
        buf[pos++] = 0x6e; // n
      } else if (byte === CARRIAGE_RETURN) {
        buf[pos++] = BACKSLASH;
        buf[pos++] = 0x72; // r
      } else if (byte === BACKSLASH) {
        buf[pos++] = BACKSLASH;
        buf[pos++] = BACKSLASH;
      } else {
        buf[pos++] = byte;
      }
    }
    // The escaped bytes are ASCII and never occur inside a multi-byte sequence, so validating the
    // source is the same as validating what was written.
    if (nonAscii >= 0x80 && !isUtf8(source.subarray(start, end))) return false;
    this.#pos = pos;
    return true;
  }
}
