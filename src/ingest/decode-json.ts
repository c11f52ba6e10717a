import { flatten } from './decode-protobuf.ts';
import {
  MalformedPayloadError,
  emptyAttributes,
  type AttributeValue,
  type Attributes,
  type DecodedSpan,
} from './decoded-span.ts';

type Json = unknown;

/**
 * Decodes an OTLP/JSON `ExportTraceServiceRequest` (protobuf JSON mapping: lowerCamelCase names,
 * hex trace and span ids, 64-bit integers as strings or numbers). The proto field names
 * (snake_case) are accepted too, as protobuf JSON parsers do.
 */
export function decodeExportRequestJson(text: string): DecodedSpan[] {
  let document: Json;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new MalformedPayloadError(`malformed JSON: ${(error as Error).message}`);
  }
  const root = asObject(document, '$');
  const spans: DecodedSpan[] = [];
  asArray(field(root, 'resourceSpans', 'resource_spans'), 'resourceSpans').forEach((rs, i) => {
    const rsPath = `resourceSpans[${i}]`;
    const resourceSpans = asObject(rs, rsPath);
    const resourceValue = field(resourceSpans, 'resource');
    const resource =
      resourceValue === undefined || resourceValue === null
        ? emptyAttributes()
        : decodeAttributes(
            asObject(resourceValue, `${rsPath}.resource`).attributes,
            `${rsPath}.resource.attributes`,
          );
    asArray(field(resourceSpans, 'scopeSpans', 'scope_spans'), `${rsPath}.scopeSpans`).forEach((ss, j) => {
      const ssPath = `${rsPath}.scopeSpans[${j}]`;
      asArray(field(asObject(ss, ssPath), 'spans'), `${ssPath}.spans`).forEach((s, k) => {
        spans.push(decodeSpan(asObject(s, `${ssPath}.spans[${k}]`), resource, `${ssPath}.spans[${k}]`));
      });
    });
  });
  return spans;
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
  if (value === undefined || value === null) return attributes;
  asArray(value, path).forEach((kv, i) => {
    const entry = asObject(kv, `${path}[${i}]`);
    const key = asString(entry.key, `${path}[${i}].key`);
    const decoded =
      entry.value === undefined || entry.value === null
        ? undefined
        : anyValue(entry.value, `${path}[${i}].value`);
    const flat = flatten(decoded);
    if (flat !== undefined) {
      attributes.keys.push(key);
      attributes.values.push(flat);
    }
  });
  return attributes;
}

type AnyValue = AttributeValue | Uint8Array | AnyValue[] | { [key: string]: AnyValue } | undefined;

function anyValue(value: Json, path: string): AnyValue {
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
    const parsed = typeof d === 'string' && d.trim() !== '' ? Number(d) : d;
    if (typeof parsed !== 'number' || Number.isNaN(parsed)) {
      throw new MalformedPayloadError(`${path}.doubleValue: expected a number`);
    }
    return parsed;
  }
  if ('arrayValue' in object || 'array_value' in object) {
    const array = asObject(field(object, 'arrayValue', 'array_value'), `${path}.arrayValue`);
    const values = array.values === undefined ? [] : asArray(array.values, `${path}.arrayValue.values`);
    return values.map((v, i) => anyValue(v, `${path}.arrayValue.values[${i}]`));
  }
  if ('kvlistValue' in object || 'kvlist_value' in object) {
    const list = asObject(field(object, 'kvlistValue', 'kvlist_value'), `${path}.kvlistValue`);
    const nested = decodeAttributes(list.values, `${path}.kvlistValue.values`);
    const result: Record<string, AnyValue> = {};
    nested.keys.forEach((k, i) => (result[k] = nested.values[i]));
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
