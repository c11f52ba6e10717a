/**
 * Case-insensitive, lazy access to response headers, whatever shape the caller holds them in: a
 * fetch `Headers`, Node's `IncomingHttpHeaders`, or the `http.response.header.<name>` attributes
 * that OpenTelemetry HTTP instrumentation records (string arrays).
 */

/** Response headers as a fetch `Headers` or a plain record; names are matched case-insensitively. */
export type HeaderSource = Headers | Readonly<Record<string, string | readonly string[] | undefined>>;

export interface HeaderReader {
  /** Value of the header named `lowerName` (lower case), or undefined when absent. */
  get(lowerName: string): string | undefined;
}

type RecordSource = Readonly<Record<string, string | readonly string[] | undefined>>;
type RecordValue = string | readonly string[] | undefined;

const EMPTY_READER: HeaderReader = { get: () => undefined };

/** Wraps `source` without copying it; nothing is read until a parser asks for a header. */
export function createHeaderReader(source: HeaderSource | undefined): HeaderReader {
  if (source === undefined || source === null) return EMPTY_READER;
  if (isFetchHeaders(source)) return new FetchHeaderReader(source);
  return new RecordHeaderReader(source);
}

function isFetchHeaders(source: HeaderSource): source is Headers {
  return typeof (source as Partial<Headers>).get === 'function';
}

class FetchHeaderReader implements HeaderReader {
  readonly #headers: Headers;

  constructor(headers: Headers) {
    this.#headers = headers;
  }

  get(lowerName: string): string | undefined {
    // Headers.get is already case-insensitive and joins repeated fields with ", ".
    return this.#headers.get(lowerName) ?? undefined;
  }
}

class RecordHeaderReader implements HeaderReader {
  readonly #record: RecordSource;
  /**
   * Lower-cased copy of the record, built on the first miss and only when some key is not lower
   * case already (Node and OpenTelemetry both lower-case names, so usually it is never built).
   * `undefined`: not inspected yet; `null`: every key was already lower case.
   */
  #folded: Map<string, RecordValue> | null | undefined;

  constructor(record: RecordSource) {
    this.#record = record;
  }

  get(lowerName: string): string | undefined {
    const direct = Object.hasOwn(this.#record, lowerName) ? this.#record[lowerName] : undefined;
    if (direct !== undefined) return flattenValue(direct);
    if (this.#folded === undefined) this.#folded = foldKeys(this.#record);
    if (this.#folded === null) return undefined;
    return flattenValue(this.#folded.get(lowerName));
  }
}

function foldKeys(record: RecordSource): Map<string, RecordValue> | null {
  let folded: Map<string, RecordValue> | null = null;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    const lower = key.toLowerCase();
    if (lower === key) continue;
    folded ??= new Map();
    // Two spellings of the same field are one field (RFC 9110 §5.3): combine them.
    const previous = folded.get(lower) ?? (Object.hasOwn(record, lower) ? record[lower] : undefined);
    folded.set(lower, combineValues(previous, record[key]));
  }
  return folded;
}

function combineValues(a: RecordValue, b: RecordValue): RecordValue {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return [...(typeof a === 'string' ? [a] : a), ...(typeof b === 'string' ? [b] : b)];
}

/** Repeated fields are joined with ", " as RFC 9110 §5.3 allows; list-valued parsers split them again. */
function flattenValue(value: RecordValue): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (value.length === 0) return undefined;
  if (value.length === 1) return value[0];
  return value.join(', ');
}
