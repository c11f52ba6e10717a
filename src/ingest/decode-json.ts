import { flatten } from './decode-protobuf.ts';
import {
  MAX_VALUE_DEPTH,
  MalformedPayloadError,
  NotTraceRequestError,
  emptyAttributes,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
} from './decoded-span.ts';

type Json = unknown;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (protobuf JSON mapping: lowerCamelCase names or
 * the original proto field names, hex trace and span ids, 64-bit integers as strings or numbers,
 * enums as names or numbers). Unknown fields are ignored, as OTLP requires; but a body in which
 * nothing is part of a trace request (`{"foo":1}`, OTLP metrics or logs) is refused with
 * {@link NotTraceRequestError} naming the field that was expected, rather than read as no spans.
 */
export function decodeExportRequestJson(text: string): DecodedSpan[] {
  let document: Json;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new MalformedPayloadError(`malformed JSON: ${(error as Error).message}`);
  }
  const root = asObject(document, '$');
  const resourceSpansValue = field(root, 'resourceSpans', 'resource_spans');
  if (resourceSpansValue === undefined) {
    const keys = Object.keys(root);
    if (keys.length > 0) throw notTraces('the top level', 'resourceSpans', keys);
  }
  const spans: DecodedSpan[] = [];
  /** The first object whose fields were all unknown: reported when the request holds no span. */
  let unknownShape: NotTraceRequestError | undefined;
  asArray(resourceSpansValue, 'resourceSpans').forEach((rs, i) => {
    const rsPath = `resourceSpans[${i}]`;
    const resourceSpans = asObject(rs, rsPath);
    const resourceValue = field(resourceSpans, 'resource');
    const scopeSpansValue = field(resourceSpans, 'scopeSpans', 'scope_spans');
    if (scopeSpansValue === undefined && resourceValue === undefined) {
      unknownShape ??= unknownFields(resourceSpans, rsPath, 'scopeSpans', RESOURCE_SPANS_FIELDS);
    }
    const resource =
      resourceValue === undefined || resourceValue === null
        ? emptyAttributes()
        : decodeAttributes(
            asObject(resourceValue, `${rsPath}.resource`).attributes,
            `${rsPath}.resource.attributes`,
          );
    asArray(scopeSpansValue, `${rsPath}.scopeSpans`).forEach((ss, j) => {
      const ssPath = `${rsPath}.scopeSpans[${j}]`;
      const scopeSpans = asObject(ss, ssPath);
      const spansValue = field(scopeSpans, 'spans');
      if (spansValue === undefined && field(scopeSpans, 'scope') === undefined) {
        unknownShape ??= unknownFields(scopeSpans, ssPath, 'spans', SCOPE_SPANS_FIELDS);
      }
      asArray(spansValue, `${ssPath}.spans`).forEach((s, k) => {
        spans.push(decodeSpan(asObject(s, `${ssPath}.spans[${k}]`), resource, `${ssPath}.spans[${k}]`));
      });
    });
  });
  if (spans.length === 0 && unknownShape !== undefined) throw unknownShape;
  return spans;
}

const RESOURCE_SPANS_FIELDS = new Set(['schemaUrl', 'schema_url']);
const SCOPE_SPANS_FIELDS = new Set(['schemaUrl', 'schema_url']);

/** Other OTLP signals posted to the traces endpoint by mistake. */
const OTHER_SIGNALS: Record<string, string> = {
  resourceMetrics: 'metrics',
  resource_metrics: 'metrics',
  resourceLogs: 'logs',
  resource_logs: 'logs',
  resourceProfiles: 'profiles',
  resource_profiles: 'profiles',
};

function notTraces(where: string, expected: string, keys: readonly string[]): NotTraceRequestError {
  const signal = keys.map((k) => OTHER_SIGNALS[k]).find((s) => s !== undefined);
  const found = keys.slice(0, 5).map((k) => JSON.stringify(k.slice(0, 64)));
  const snake = expected.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return new NotTraceRequestError(
    signal !== undefined
      ? `this is an OTLP ${signal} request; POST /v1/traces takes an OTLP trace request (field ${expected} or ${snake} at ${where})`
      : `not an OTLP trace request: expected field ${expected} (or ${snake}) at ${where}, found ${found.join(', ')}${keys.length > 5 ? ', …' : ''}`,
    expected,
  );
}

function unknownFields(
  object: Record<string, Json>,
  path: string,
  expected: string,
  alsoKnown: ReadonlySet<string>,
): NotTraceRequestError | undefined {
  const keys = Object.keys(object);
  return keys.length > 0 && keys.every((k) => !alsoKnown.has(k))
    ? notTraces(path, expected, keys)
    : undefined;
}

function decodeSpan(span: Record<string, Json>, resource: Attributes, path: string): DecodedSpan {
  const statusValue = field(span, 'status');
  const status =
    statusValue === undefined || statusValue === null ? {} : asObject(statusValue, `${path}.status`);
  return {
    resource,
    traceId: asId(field(span, 'traceId', 'trace_id'), `${path}.traceId`),
    spanId: asId(field(span, 'spanId', 'span_id'), `${path}.spanId`),
    name: asString(field(span, 'name'), `${path}.name`),
    kind: asEnum(field(span, 'kind'), `${path}.kind`, SPAN_KINDS),
    startTimeMs: asNanosToMillis(
      field(span, 'startTimeUnixNano', 'start_time_unix_nano'),
      `${path}.startTimeUnixNano`,
    ),
    endTimeMs: asNanosToMillis(
      field(span, 'endTimeUnixNano', 'end_time_unix_nano'),
      `${path}.endTimeUnixNano`,
    ),
    attributes: decodeAttributes(field(span, 'attributes'), `${path}.attributes`),
    statusCode: asEnum(field(status, 'code'), `${path}.status.code`, STATUS_CODES),
    statusMessage: asString(field(status, 'message'), `${path}.status.message`),
  };
}

const SPAN_KINDS: Record<string, number> = {
  SPAN_KIND_UNSPECIFIED: 0,
  SPAN_KIND_INTERNAL: 1,
  SPAN_KIND_SERVER: 2,
  SPAN_KIND_CLIENT: 3,
  SPAN_KIND_PRODUCER: 4,
  SPAN_KIND_CONSUMER: 5,
};
const STATUS_CODES: Record<string, number> = {
  STATUS_CODE_UNSET: 0,
  STATUS_CODE_OK: 1,
  STATUS_CODE_ERROR: 2,
};

function decodeAttributes(value: Json, path: string): Attributes {
  const attributes = emptyAttributes();
  for (const [key, decoded] of decodeKeyValues(value, path, 0)) {
    const flat = flatten(decoded);
    if (flat !== undefined) {
      attributes.keys.push(key);
      attributes.values.push(flat);
    }
  }
  return attributes;
}

/** KeyValues with their values as they are: nested values are flattened once, at the attribute. */
function decodeKeyValues(value: Json, path: string, depth: number): Array<[string, AnyValue]> {
  if (value === undefined || value === null) return [];
  return asArray(value, path).map((kv, i) => {
    const entry = asObject(kv, `${path}[${i}]`);
    const key = asString(entry.key, `${path}[${i}].key`);
    const decoded =
      entry.value === undefined || entry.value === null
        ? undefined
        : anyValue(entry.value, `${path}[${i}].value`, depth);
    return [key, decoded];
  });
}

type AnyValue = AttributeValue | Uint8Array | AnyValue[] | { [key: string]: AnyValue } | undefined;

function anyValue(value: Json, path: string, depth: number): AnyValue {
  if (depth >= MAX_VALUE_DEPTH) {
    throw new MalformedPayloadError(`${path}: attribute value nested deeper than ${MAX_VALUE_DEPTH} levels`);
  }
  const object = asObject(value, path);
  if ('stringValue' in object || 'string_value' in object) {
    return asString(field(object, 'stringValue', 'string_value'), `${path}.stringValue`);
  }
  if ('boolValue' in object || 'bool_value' in object) {
    const b = field(object, 'boolValue', 'bool_value');
    if (typeof b !== 'boolean') throw new MalformedPayloadError(`${path}.boolValue: expected true or false`);
    return b;
  }
  if ('intValue' in object || 'int_value' in object) {
    const n = field(object, 'intValue', 'int_value');
    const parsed = typeof n === 'string' && /^-?\d+$/.test(n) ? Number(n) : n;
    if (typeof parsed !== 'number' || !Number.isInteger(parsed)) {
      throw new MalformedPayloadError(`${path}.intValue: expected an integer (number or decimal string)`);
    }
    return parsed;
  }
  if ('doubleValue' in object || 'double_value' in object) {
    const d = field(object, 'doubleValue', 'double_value');
    // The JSON mapping writes NaN and the infinities as strings; the column rules judge them later.
    const parsed = d === 'NaN' ? NaN : typeof d === 'string' && d.trim() !== '' ? Number(d) : d;
    if (typeof parsed !== 'number' || (Number.isNaN(parsed) && d !== 'NaN')) {
      throw new MalformedPayloadError(
        `${path}.doubleValue: expected a number (or "NaN", "Infinity", "-Infinity")`,
      );
    }
    return parsed;
  }
  if ('arrayValue' in object || 'array_value' in object) {
    const array = asObject(field(object, 'arrayValue', 'array_value'), `${path}.arrayValue`);
    const values = array.values === undefined ? [] : asArray(array.values, `${path}.arrayValue.values`);
    return values.map((v, i) => anyValue(v, `${path}.arrayValue.values[${i}]`, depth + 1));
  }
  if ('kvlistValue' in object || 'kvlist_value' in object) {
    const list = asObject(field(object, 'kvlistValue', 'kvlist_value'), `${path}.kvlistValue`);
    const result: Record<string, AnyValue> = {};
    for (const [key, nested] of decodeKeyValues(list.values, `${path}.kvlistValue.values`, depth + 1)) {
      if (nested !== undefined) result[key] = nested;
    }
    return result;
  }
  if ('bytesValue' in object || 'bytes_value' in object) {
    const b = asString(field(object, 'bytesValue', 'bytes_value'), `${path}.bytesValue`);
    return Buffer.from(b, 'base64');
  }
  return undefined;
}

function field(object: Record<string, Json>, name: string, alternative?: string): Json {
  const value = object[name];
  return value === undefined && alternative !== undefined ? object[alternative] : value;
}

function asObject(value: Json, path: string): Record<string, Json> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new MalformedPayloadError(`${path}: expected an object, got ${describe(value)}`);
  }
  return value as Record<string, Json>;
}

function asArray(value: Json, path: string): Json[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value))
    throw new MalformedPayloadError(`${path}: expected an array, got ${describe(value)}`);
  return value;
}

function asString(value: Json, path: string): string {
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string')
    throw new MalformedPayloadError(`${path}: expected a string, got ${describe(value)}`);
  return value;
}

function asEnum(value: Json, path: string, names: Record<string, number>): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && names[value] !== undefined) return names[value];
  throw new MalformedPayloadError(
    `${path}: expected an enum number or one of ${Object.keys(names).join(', ')}`,
  );
}

const HEX_ID = /^(?:[0-9a-fA-F]{2})*$/;

function asId(value: Json, path: string): string {
  const text = asString(value, path);
  if (!HEX_ID.test(text))
    throw new MalformedPayloadError(`${path}: expected hex digits, got ${JSON.stringify(text)}`);
  return text.toLowerCase();
}

function asNanosToMillis(value: Json, path: string): number {
  if (value === undefined || value === null) return 0;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0)
    return Math.round(value / 1000) / 1000;
  if (typeof value === 'string' && /^\d+$/.test(value)) {
    // Split so that nanosecond strings beyond 2^53 keep millisecond precision.
    return value.length <= 6
      ? Math.round(Number(value) / 1000) / 1000
      : Number(value.slice(0, -6)) + Math.round(Number(value.slice(-6)) / 1000) / 1000;
  }
  throw new MalformedPayloadError(
    `${path}: expected unsigned nanoseconds since the epoch (number or decimal string)`,
  );
}

function describe(value: Json): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'string' ? `a string` : `${typeof value}`;
}
