/**
 * Ingest fuzzing, shared by `npm run fuzz:ingest` (bench/fuzz-ingest.ts) and the bounded slice in
 * `npm test` (test/integration/ingest-fuzz.test.ts): seeded, structure-aware mutations of valid OTLP
 * protobuf and JSON requests, sent to a real `headroom serve` on loopback with valid requests
 * interleaved, and the invariants a client relies on checked at the end.
 */
import { gzipSync } from 'node:zlib';
import { loadConfig } from '../../src/config/index.ts';
import { createRandom, type Random } from '../../src/forecast/index.ts';
import { createStore } from '../../src/store/index.ts';
import { freePort, makeDataDir, readMemoryMb, spawnServe, waitForExit } from './service.ts';

// ---------------------------------------------------------------------------------------------
// A small protobuf writer that can lie: wrong wire types, wrong lengths, unknown and repeated fields.
// ---------------------------------------------------------------------------------------------

const VARINT = 0;
const FIXED64 = 1;
const LENGTH_DELIMITED = 2;

function varint(value: bigint): Buffer {
  let v = BigInt.asUintN(64, value);
  const bytes: number[] = [];
  while (v >= 0x80n) {
    bytes.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  bytes.push(Number(v));
  return Buffer.from(bytes);
}

/** Encoding choices: with `chaos` > 0, each field may come out wrong in one of several ways. */
interface Writer {
  random: Random;
  chaos: number;
}

function field(w: Writer, id: number, wireType: number, payload: Buffer): Buffer {
  let type = wireType;
  let body = payload;
  const parts: Buffer[] = [];
  if (w.chaos > 0 && w.random() < w.chaos) {
    switch (Math.floor(w.random() * 6)) {
      case 0:
        type = (wireType + 1 + Math.floor(w.random() * 5)) % 8; // wrong wire type, same bytes
        break;
      case 1:
        return Buffer.alloc(0); // dropped
      case 2:
        parts.push(field({ ...w, chaos: 0 }, id, wireType, payload)); // repeated
        break;
      case 3:
        parts.push(field({ ...w, chaos: 0 }, 100 + Math.floor(w.random() * 900), VARINT, varint(7n)));
        break;
      case 4:
        if (wireType === LENGTH_DELIMITED) {
          // A length that lies by a few bytes either way.
          const lie = Math.floor(w.random() * 9) - 4;
          return Buffer.concat([
            varint(BigInt((id << 3) | type)),
            varint(BigInt(Math.max(0, payload.length + lie))),
            payload,
          ]);
        }
        break;
      default:
        type = 3 + Math.floor(w.random() * 2); // a deprecated group start or end
        body = Buffer.alloc(0);
    }
  }
  parts.push(varint(BigInt((id << 3) | type)));
  if (type === LENGTH_DELIMITED && wireType === LENGTH_DELIMITED) parts.push(varint(BigInt(body.length)));
  parts.push(body);
  return Buffer.concat(parts);
}

const ld = (w: Writer, id: number, payload: Buffer): Buffer => field(w, id, LENGTH_DELIMITED, payload);
const str = (w: Writer, id: number, value: string | Buffer): Buffer =>
  ld(w, id, typeof value === 'string' ? Buffer.from(value, 'utf8') : value);

function fixed64(w: Writer, id: number, value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, value));
  return field(w, id, FIXED64, b);
}

function double(w: Writer, id: number, value: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(value);
  return field(w, id, FIXED64, b);
}

// ---------------------------------------------------------------------------------------------
// OTLP requests as plain values, encodable as protobuf or as JSON (camelCase or proto names).
// ---------------------------------------------------------------------------------------------

type Value =
  | { s: string | Buffer }
  | { b: boolean }
  | { i: bigint }
  | { d: number }
  | { a: Value[] }
  | { kv: Attribute[] }
  | { bytes: Buffer }
  /** An AnyValue already encoded both ways (values too deep to build recursively). */
  | { raw: Buffer; rawJson: string };

interface Attribute {
  key: string;
  value: Value;
}

interface Span {
  traceId: Buffer;
  spanId: Buffer;
  name: string | Buffer;
  kind: number;
  startNs: bigint;
  endNs: bigint;
  attributes: Attribute[];
  statusCode: number;
}

interface Request {
  resource: Attribute[];
  spans: Span[];
}

function encodeValue(w: Writer, value: Value): Buffer {
  if ('raw' in value) return value.raw;
  if ('s' in value) return str(w, 1, value.s);
  if ('b' in value) return field(w, 2, VARINT, varint(value.b ? 1n : 0n));
  if ('i' in value) return field(w, 3, VARINT, varint(value.i));
  if ('d' in value) return double(w, 4, value.d);
  if ('a' in value) return ld(w, 5, Buffer.concat(value.a.map((v) => ld(w, 1, encodeValue(w, v)))));
  if ('kv' in value) return ld(w, 6, Buffer.concat(value.kv.map((a) => ld(w, 1, encodeAttribute(w, a)))));
  return ld(w, 7, value.bytes);
}

function encodeAttribute(w: Writer, attribute: Attribute): Buffer {
  return Buffer.concat([str(w, 1, attribute.key), ld(w, 2, encodeValue(w, attribute.value))]);
}

function encodeSpan(w: Writer, span: Span): Buffer {
  return Buffer.concat([
    ld(w, 1, span.traceId),
    ld(w, 2, span.spanId),
    str(w, 5, span.name),
    field(w, 6, VARINT, varint(BigInt(span.kind))),
    fixed64(w, 7, span.startNs),
    fixed64(w, 8, span.endNs),
    ...span.attributes.map((a) => ld(w, 9, encodeAttribute(w, a))),
    ld(w, 15, field(w, 3, VARINT, varint(BigInt(span.statusCode)))),
  ]);
}

function encodeProtobuf(w: Writer, request: Request): Buffer {
  const resource = ld(w, 1, Buffer.concat(request.resource.map((a) => ld(w, 1, encodeAttribute(w, a)))));
  const scopeSpans = ld(w, 2, Buffer.concat(request.spans.map((s) => ld(w, 2, encodeSpan(w, s)))));
  return ld(w, 1, Buffer.concat([resource, scopeSpans]));
}

/** JSON naming: OTLP's lowerCamelCase or the proto field names, as the JSON mapping allows both. */
function name(snake: boolean, camel: string): string {
  return snake ? camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) : camel;
}

/** Stands for a raw JSON value until the document is serialised. */
const RAW_JSON = '\u0000raw\u0000';

function jsonValue(value: Value, snake: boolean): unknown {
  if ('raw' in value) return RAW_JSON + value.rawJson;
  if ('s' in value) return { [name(snake, 'stringValue')]: value.s.toString() };
  if ('b' in value) return { [name(snake, 'boolValue')]: value.b };
  if ('i' in value) return { [name(snake, 'intValue')]: value.i.toString() };
  if ('d' in value) {
    const d = Number.isFinite(value.d) ? value.d : String(value.d);
    return { [name(snake, 'doubleValue')]: d };
  }
  if ('a' in value)
    return { [name(snake, 'arrayValue')]: { values: value.a.map((v) => jsonValue(v, snake)) } };
  if ('kv' in value)
    return { [name(snake, 'kvlistValue')]: { values: value.kv.map((a) => jsonAttribute(a, snake)) } };
  return { [name(snake, 'bytesValue')]: value.bytes.toString('base64') };
}

function jsonAttribute(attribute: Attribute, snake: boolean): unknown {
  return { key: attribute.key, value: jsonValue(attribute.value, snake) };
}

function jsonRequest(request: Request, snake: boolean, numbersAsNumbers: boolean): Record<string, unknown> {
  const n = (v: bigint): unknown => (numbersAsNumbers ? Number(v) : v.toString());
  return {
    [name(snake, 'resourceSpans')]: [
      {
        resource: { attributes: request.resource.map((a) => jsonAttribute(a, snake)) },
        [name(snake, 'scopeSpans')]: [
          {
            scope: { name: 'fuzz' },
            spans: request.spans.map((s) => ({
              [name(snake, 'traceId')]: s.traceId.toString('hex'),
              [name(snake, 'spanId')]: s.spanId.toString('hex'),
              name: s.name.toString(),
              kind: snake ? 'SPAN_KIND_CLIENT' : s.kind,
              [name(snake, 'startTimeUnixNano')]: n(s.startNs),
              [name(snake, 'endTimeUnixNano')]: n(s.endNs),
              attributes: s.attributes.map((a) => jsonAttribute(a, snake)),
              status: { code: s.statusCode },
            })),
          },
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Values of every shape and magnitude.
// ---------------------------------------------------------------------------------------------

const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (random: Random, max: number): number => Math.floor(random() * max);

function timeMagnitudes(nowNs: bigint): bigint[] {
  return [
    0n,
    1n,
    1000n,
    nowNs / 1_000_000n, // milliseconds as nanoseconds
    nowNs / 1000n, // microseconds
    nowNs / 1_000_000_000n, // seconds
    12_345_000_000_000n, // 1970
    946_684_800_000_000_000n, // 2000
    nowNs - 40n * 86_400_000_000_000n, // beyond the retention
    nowNs - 86_400_000_000_000n,
    nowNs,
    nowNs + 7_200_000_000_000n, // two hours ahead
    nowNs * 10n,
    2n ** 62n,
    2n ** 63n - 1n,
    2n ** 63n,
    2n ** 64n - 1n,
    -1n,
  ];
}

const INT_MAGNITUDES = [
  0n,
  1n,
  -1n,
  127n,
  128n,
  999n,
  1000n,
  65_535n,
  65_536n,
  2n ** 31n,
  2n ** 32n,
  2n ** 49n,
  2n ** 53n - 1n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  1_763_700_060_000n,
  1_763_700_060n,
  10n ** 13n,
];

const DOUBLE_MAGNITUDES = [
  0,
  -0,
  0.5,
  -1,
  1e-300,
  5e-324,
  1.7976931348623157e308,
  1e15,
  2 ** 53 + 2,
  NaN,
  Infinity,
  -Infinity,
  1_763_700_060_000.5,
  12.6,
];

function invalidUtf8(random: Random): Buffer {
  const pieces = [
    [0xff],
    [0xc3],
    [0xe2, 0x82],
    [0xed, 0xa0, 0x80],
    [0xf4, 0x90, 0x80, 0x80],
    [0x80],
    [0xc0, 0xaf],
  ];
  return Buffer.concat([
    Buffer.from('k'),
    ...Array.from({ length: 1 + int(random, 4) }, () => Buffer.from(pick(random, pieces))),
  ]);
}

function oddString(random: Random): string | Buffer {
  switch (int(random, 8)) {
    case 0:
      return '';
    case 1:
      return '  \t ';
    case 2:
      return 'tab\there\nnew\\line\r';
    case 3:
      return 'ünïcødé-🙂-\u2028';
    case 4:
      return invalidUtf8(random);
    case 5:
      return 'x'.repeat(1000 + int(random, 2000));
    case 6:
      return '\u0000nul';
    default:
      return 'sk-proj-' + 'Ab9'.repeat(16);
  }
}

function oddValue(random: Random, nowNs: bigint): Value {
  switch (int(random, 9)) {
    case 0:
      return { i: pick(random, INT_MAGNITUDES) };
    case 1:
      return { d: pick(random, DOUBLE_MAGNITUDES) };
    case 2:
      return { s: pick(random, [' 12 ', '1e3', '-0', 'NaN', '18446744073709551616', 'abc', '']) };
    case 3:
      return { s: oddString(random) };
    case 4:
      return { b: random() < 0.5 };
    case 5:
      return { a: [{ s: '1' }, { i: 2n }] };
    case 6:
      return { kv: [{ key: 'x', value: { d: NaN } }] };
    case 7:
      return { bytes: Buffer.from([0, 1, 2, 255]) };
    default:
      return { i: pick(random, timeMagnitudes(nowNs)) / 1_000_000n };
  }
}

const READ_KEYS = [
  'keypool.pool',
  'keypool.key.id',
  'keypool.partition',
  'keypool.consumer',
  'keypool.outcome',
  'gen_ai.provider.name',
  'gen_ai.system',
  'gen_ai.operation.name',
  'gen_ai.request.model',
  'gen_ai.response.model',
  'server.address',
  'error.type',
  'http.response.status_code',
  'gen_ai.usage.input_tokens',
  'gen_ai.usage.output_tokens',
  'gen_ai.usage.cache_read.input_tokens',
  'keypool.retry_after_ms',
  'keypool.cost_usd',
  'keypool.ratelimit.requests.limit',
  'keypool.ratelimit.requests.remaining',
  'keypool.ratelimit.requests.reset_at_ms',
  'keypool.ratelimit.tokens.reset_at_ms',
  'http.response.header.retry-after',
  'http.response.header.x-ratelimit-reset-requests',
  'http.response.header.x-ratelimit-limit-tokens',
  'http.response.header.anthropic-ratelimit-requests-reset',
  'service.name',
  'service.instance.id',
];

function varintLength(n: number): number {
  let length = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    length++;
  }
  return length;
}

/**
 * An AnyValue nested `depth` levels deep in arrays or key-value lists, built from the inside out
 * without recursion, in both encodings.
 */
function nested(depth: number, kv: boolean): Value {
  const bottom = Buffer.concat([Buffer.from([0x0a, 6]), Buffer.from('bottom')]);
  const prefixes: Buffer[] = [];
  let length = bottom.length;
  for (let i = 0; i < depth; i++) {
    if (kv) {
      // AnyValue{kvlistValue: KeyValueList{values: [KeyValue{key: "n", value}]}}
      const keyValue = 3 + 1 + varintLength(length) + length;
      const list = 1 + varintLength(keyValue) + keyValue;
      prefixes.push(
        Buffer.concat([
          Buffer.from([0x32]),
          varint(BigInt(list)),
          Buffer.from([0x0a]),
          varint(BigInt(keyValue)),
          Buffer.from([0x0a, 1, 0x6e, 0x12]),
          varint(BigInt(length)),
        ]),
      );
      length = 1 + varintLength(list) + list;
    } else {
      // AnyValue{arrayValue: ArrayValue{values: [value]}}
      const array = 1 + varintLength(length) + length;
      prefixes.push(
        Buffer.concat([
          Buffer.from([0x2a]),
          varint(BigInt(array)),
          Buffer.from([0x0a]),
          varint(BigInt(length)),
        ]),
      );
      length = 1 + varintLength(array) + array;
    }
  }
  const open = kv ? '{"kvlistValue":{"values":[{"key":"n","value":' : '{"arrayValue":{"values":[';
  const close = kv ? '}]}}' : ']}}';
  return {
    raw: Buffer.concat([...prefixes.reverse(), bottom]),
    rawJson: open.repeat(depth) + '{"stringValue":"bottom"}' + close.repeat(depth),
  };
}

/** JSON text of a document whose raw values are spliced in as they are. */
function stringify(document: unknown): string {
  return JSON.stringify(document).replace(
    /"\\u0000raw\\u0000((?:[^"\\]|\\.)*)"/g,
    (_m, escaped: string) => JSON.parse(`"${escaped}"`) as string,
  );
}

/** A span with the attributes a gateway sends, in the given pool. */
function wellFormedSpan(random: Random, pool: string, spanId: Buffer, nowNs: bigint): Span {
  const limited = random() < 0.1;
  const startNs = nowNs - BigInt(int(random, 60_000)) * 1_000_000n;
  return {
    traceId: Buffer.from(Array.from({ length: 16 }, () => int(random, 256))),
    spanId,
    name: 'chat gpt-4o-mini',
    kind: 3,
    startNs,
    endNs: startNs + BigInt(50 + int(random, 3000)) * 1_000_000n,
    statusCode: limited ? 2 : 0,
    attributes: [
      { key: 'keypool.pool', value: { s: pool } },
      { key: 'keypool.key.id', value: { s: `key-${int(random, 8)}` } },
      { key: 'keypool.partition', value: { s: `org-${int(random, 3)}` } },
      { key: 'gen_ai.provider.name', value: { s: 'openai' } },
      { key: 'gen_ai.operation.name', value: { s: 'chat' } },
      { key: 'gen_ai.request.model', value: { s: 'gpt-4o-mini' } },
      { key: 'http.response.status_code', value: { i: limited ? 429n : 200n } },
      { key: 'keypool.outcome', value: { s: limited ? 'rate_limited' : 'ok' } },
      { key: 'gen_ai.usage.input_tokens', value: { i: BigInt(int(random, 5000)) } },
      { key: 'gen_ai.usage.output_tokens', value: { i: BigInt(int(random, 900)) } },
      { key: 'keypool.cost_usd', value: { d: random() / 100 } },
      { key: 'keypool.ratelimit.requests.limit', value: { i: 10_000n } },
      { key: 'keypool.ratelimit.requests.remaining', value: { i: BigInt(int(random, 10_000)) } },
      { key: 'keypool.ratelimit.requests.reset_at_ms', value: { i: nowNs / 1_000_000n + 60_000n } },
      { key: 'http.response.header.x-ratelimit-remaining-tokens', value: { a: [{ s: '1000' }] } },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------------------------

export const CATEGORIES = [
  'valid',
  'retry',
  'truncated',
  'bit-flips',
  'wire-chaos',
  'invalid-utf8',
  'deep-nesting',
  'huge-values',
  'magnitudes',
  'json-shape',
  'gzip',
  'garbage',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface FuzzCase {
  category: Category;
  body: Buffer;
  headers: Record<string, string>;
  /** For valid requests: the span ids (hex) that must be stored exactly once once acknowledged. */
  validSpanIds?: string[];
}

const PROTOBUF = { 'content-type': 'application/x-protobuf' };
/** Eight megabytes of zeros in eight kilobytes: twice the fuzzed service's body limit once inflated. */
const GZIP_BOMB = gzipSync(Buffer.alloc(8 * 1024 * 1024));
const JSON_TYPE = { 'content-type': 'application/json' };
export const VALID_POOL = 'fuzz-valid';
const MUTATED_POOL = 'fuzz-mut';

/** Case generator: deterministic for a seed (times are relative to the clock at construction). */
export function createCaseGenerator(seed: number): () => FuzzCase {
  const random = createRandom(seed);
  const nowNs = BigInt(Date.now()) * 1_000_000n;
  let validCounter = 0;
  const sentValid: FuzzCase[] = [];
  const calm: Writer = { random, chaos: 0 };

  function validCase(): FuzzCase {
    const spans = Array.from({ length: 1 + int(random, 20) }, () => {
      const id = Buffer.alloc(8);
      id.writeUInt32BE(seed >>> 0, 0);
      id.writeUInt32BE(validCounter++, 4);
      return wellFormedSpan(random, VALID_POOL, id, nowNs);
    });
    const request: Request = { resource: [{ key: 'service.name', value: { s: 'fuzz-gateway' } }], spans };
    const asJson = random() < 0.4;
    let body = asJson
      ? Buffer.from(stringify(jsonRequest(request, random() < 0.5, random() < 0.3)))
      : encodeProtobuf(calm, request);
    const headers: Record<string, string> = { ...(asJson ? JSON_TYPE : PROTOBUF) };
    if (random() < 0.3) {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    const c: FuzzCase = {
      category: 'valid',
      body,
      headers,
      validSpanIds: spans.map((s) => s.spanId.toString('hex')),
    };
    sentValid.push(c);
    if (sentValid.length > 64) sentValid.shift();
    return c;
  }

  function mutatedRequest(spanCount = 1 + int(random, 6)): Request {
    return {
      resource: [{ key: 'service.name', value: { s: 'fuzz-mutant' } }],
      spans: Array.from({ length: spanCount }, () =>
        wellFormedSpan(
          random,
          MUTATED_POOL,
          Buffer.from(Array.from({ length: 8 }, () => int(random, 256))),
          nowNs,
        ),
      ),
    };
  }

  function either(
    request: Request,
    writer: Writer = calm,
  ): { body: Buffer; headers: Record<string, string> } {
    if (random() < 0.5) return { body: encodeProtobuf(writer, request), headers: PROTOBUF };
    return {
      body: Buffer.from(stringify(jsonRequest(request, random() < 0.5, random() < 0.5))),
      headers: JSON_TYPE,
    };
  }

  function mutate(category: Category): FuzzCase {
    switch (category) {
      case 'truncated': {
        const { body, headers } = either(mutatedRequest());
        return { category, body: body.subarray(0, int(random, body.length)), headers };
      }
      case 'bit-flips': {
        const { body, headers } = either(mutatedRequest());
        const flipped = Buffer.from(body);
        for (let i = 1 + int(random, 8); i > 0; i--) {
          const at = int(random, flipped.length);
          flipped[at] = (flipped[at] as number) ^ (1 << int(random, 8));
        }
        return { category, body: flipped, headers };
      }
      case 'wire-chaos':
        return {
          category,
          body: encodeProtobuf({ random, chaos: 0.05 + random() * 0.2 }, mutatedRequest()),
          headers: PROTOBUF,
        };
      case 'invalid-utf8': {
        const request = mutatedRequest();
        for (const span of request.spans) {
          const attribute = pick(random, span.attributes);
          attribute.value = { s: invalidUtf8(random) };
          if (random() < 0.3) span.name = invalidUtf8(random);
          if (random() < 0.3) attribute.key = invalidUtf8(random).toString('latin1');
        }
        if (random() < 0.5) return { category, body: encodeProtobuf(calm, request), headers: PROTOBUF };
        // Invalid UTF-8 bytes inside a JSON string.
        const json = Buffer.from(stringify(jsonRequest(request, false, false)));
        const at = json.indexOf('fuzz-mut');
        return {
          category,
          body: at < 0 ? json : Buffer.concat([json.subarray(0, at), invalidUtf8(random), json.subarray(at)]),
          headers: JSON_TYPE,
        };
      }
      case 'deep-nesting': {
        const request = mutatedRequest(1);
        const depth = pick(random, [8, 31, 32, 33, 100, 1000, 20_000]);
        (request.spans[0] as Span).attributes.push({ key: 'deep', value: nested(depth, random() < 0.5) });
        if (depth > 1000 && random() < 0.5) {
          // Deep JSON outside any attribute value.
          return { category, body: Buffer.from('['.repeat(depth) + ']'.repeat(depth)), headers: JSON_TYPE };
        }
        return { category, ...either(request) };
      }
      case 'huge-values': {
        const request = mutatedRequest(1);
        const size = pick(random, [70_000, 300_000, 1_500_000]);
        (request.spans[0] as Span).attributes.push({
          key: pick(random, [
            'gen_ai.request.model',
            'keypool.pool',
            'http.response.header.retry-after',
            'unrelated',
            'keypool.key.id',
          ]),
          value: { s: 'y'.repeat(size) },
        });
        if (random() < 0.3)
          (request.spans[0] as Span).attributes.push({
            key: 'many',
            value: { a: Array.from({ length: 20_000 }, (_, i) => ({ i: BigInt(i) })) },
          });
        return { category, ...either(request) };
      }
      case 'magnitudes': {
        const request = mutatedRequest();
        const times = timeMagnitudes(nowNs);
        for (const span of request.spans) {
          if (random() < 0.5) span.startNs = pick(random, times);
          if (random() < 0.3) span.endNs = pick(random, times);
          if (random() < 0.2) span.kind = Number(pick(random, INT_MAGNITUDES) % 2n ** 31n);
          if (random() < 0.2) span.statusCode = pick(random, [0, 1, 2, 3, -1, 2 ** 31 - 1]);
          for (let i = int(random, 4); i >= 0; i--) {
            span.attributes.push({ key: pick(random, READ_KEYS), value: oddValue(random, nowNs) });
          }
          if (random() < 0.2) span.traceId = Buffer.alloc(pick(random, [0, 1, 15, 17, 64]));
          if (random() < 0.2) span.spanId = Buffer.alloc(pick(random, [0, 4, 9, 32]), 7);
        }
        return { category, ...either(request) };
      }
      case 'json-shape':
        return { category, body: Buffer.from(jsonShape()), headers: JSON_TYPE };
      case 'gzip':
        return gzipCase();
      default: {
        const bytes = Buffer.from(Array.from({ length: int(random, 512) }, () => int(random, 256)));
        const headers = pick(random, [
          PROTOBUF,
          JSON_TYPE,
          { 'content-type': 'text/plain' },
          { 'content-type': 'application/json; charset=latin1' },
        ]);
        if (random() < 0.3) {
          // The other encoding's body under this content type.
          const { body } = either(mutatedRequest());
          return { category: 'garbage', body, headers };
        }
        return { category: 'garbage', body: bytes, headers };
      }
    }
  }

  /** JSON whose shape is wrong somewhere: a node of another type, unknown fields, other naming. */
  function jsonShape(): string {
    const document = jsonRequest(mutatedRequest(), random() < 0.5, random() < 0.5);
    const replacements: unknown[] = [
      1,
      -1,
      'x',
      '',
      null,
      true,
      [],
      {},
      [{}],
      { foo: 1 },
      Number.MAX_VALUE * 2,
      '0x10',
      'SPAN_KIND_NOPE',
    ];
    // Walk to a random node and replace it.
    let node: unknown = document;
    let parent: Record<string, unknown> | unknown[] | undefined;
    let key: string | number | undefined;
    for (let depth = 0; depth < 1 + int(random, 9); depth++) {
      if (node === null || typeof node !== 'object') break;
      const keys: Array<string | number> = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
      if (keys.length === 0) break;
      parent = node as Record<string, unknown>;
      key = pick(random, keys);
      node = (parent as Record<string | number, unknown>)[key];
    }
    if (parent !== undefined && key !== undefined) {
      const container = parent as Record<string | number, unknown>;
      switch (int(random, 3)) {
        case 0:
          container[key] = pick(random, replacements);
          break;
        case 1:
          if (!Array.isArray(parent)) delete container[key];
          break;
        default:
          if (!Array.isArray(parent)) container[`${String(key)}Unknown`] = 1;
      }
    }
    const shapes = [
      () => stringify(document),
      () => '{"foo":1}',
      () => '{"resourceMetrics":[{}]}',
      () => '{"resource_spans":[{"scope_spans":[{"spans":[{}]}]}]}',
      () => '[]',
      () => '"resourceSpans"',
      () => 'null',
      () => '{}',
      () =>
        `{"resourceSpans":[{"scopeSpans":[{"spans":[{"startTimeUnixNano":${pick(random, ['1e30', '-5', '"abc"', '1.5', '"18446744073709551616"'])}}]}]}]}`,
    ];
    return pick(random, shapes)();
  }

  function gzipCase(): FuzzCase {
    const { body, headers } = either(mutatedRequest());
    const zipped = gzipSync(body);
    const gz = { ...headers, 'content-encoding': 'gzip' };
    switch (int(random, 8)) {
      case 0:
        return { category: 'gzip', body: zipped.subarray(0, int(random, zipped.length)), headers: gz };
      case 1:
        return {
          category: 'gzip',
          body: Buffer.concat([zipped, Buffer.from('trailing garbage')]),
          headers: gz,
        };
      case 2:
        return { category: 'gzip', body: Buffer.concat([zipped, gzipSync(body)]), headers: gz };
      case 3:
        return { category: 'gzip', body: gzipSync(Buffer.alloc(0)), headers: gz };
      case 4:
        return { category: 'gzip', body, headers: gz }; // says gzip, is not
      case 5:
        return { category: 'gzip', body: gzipSync(zipped), headers: gz }; // twice
      case 6:
        // Decompresses past the body limit.
        return { category: 'gzip', body: GZIP_BOMB, headers: gz };
      default:
        return {
          category: 'gzip',
          body: zipped,
          headers: {
            ...headers,
            'content-encoding': pick(random, ['GZIP', ' gzip ', 'deflate', 'br', 'x-gzip']),
          },
        };
    }
  }

  return () => {
    const roll = random();
    if (roll < 0.16) return validCase();
    if (roll < 0.2 && sentValid.length > 0) {
      // The same request again: a retry after a lost response, which must not count twice.
      const again = pick(random, sentValid);
      return { ...again, category: 'retry' };
    }
    const categories = CATEGORIES.slice(2);
    // Huge values cost the most time: one case in a hundred.
    let category = pick(random, categories);
    if (category === 'huge-values' && random() < 0.85) category = 'magnitudes';
    return mutate(category);
  };
}

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

export interface FuzzOptions {
  seed: number;
  cases: number;
  concurrency?: number;
  /** Called now and then with a progress line. */
  progress?: (line: string) => void;
}

export interface FuzzReport {
  seed: number;
  cases: number;
  seconds: number;
  requestsPerSecond: number;
  byCategory: Record<string, { cases: number; statuses: Record<string, number> }>;
  validRequests: number;
  validSpansAcknowledged: number;
  retriesSent: number;
  overloaded503: number;
  storedValidSpans: number;
  missingSpans: number;
  duplicatedSpans: number;
  unexpectedSpans: number;
  crashes: number;
  serverErrorsOther: number;
  rssStartMb: number;
  rssPeakMb: number;
  rssEndMb: number;
  serverExitCode: number | null;
  /** Every broken invariant, described; empty when the run passed. */
  violations: string[];
}

const rssMb = (pid: number): number => readMemoryMb(pid).rss;

const BODY_LIMIT_BYTES = 4 * 1024 * 1024;
const ALLOWED_STATUSES = new Set([200, 400, 413, 415, 503]);
const MAX_VALID_ATTEMPTS = 20;

/** Starts `headroom serve` on a fresh data directory, sends the cases, stops it and checks the store. */
export async function runIngestFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { seed, cases } = options;
  const concurrency = options.concurrency ?? 64;
  const data = await makeDataDir('headroom-fuzz-');
  const port = await freePort();
  const server = await spawnServe({
    HEADROOM_DATA_DIR: data.dir,
    HEADROOM_PORT: String(port),
    HEADROOM_LOG_LEVEL: 'warn',
    HEADROOM_ROLE: 'ingest',
    HEADROOM_INGEST_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES),
  });
  const pid = server.child.pid as number;
  let crashed = false;
  server.child.once('exit', () => (crashed = true));

  const violations: string[] = [];
  const violate = (message: string): void => {
    if (violations.length < 50) violations.push(message);
  };
  const byCategory: FuzzReport['byCategory'] = {};
  const acknowledged = new Set<string>();
  let validRequests = 0;
  let retriesSent = 0;
  let overloaded = 0;
  let serverErrorsOther = 0;
  const rssStartMb = rssMb(pid);
  let rssPeakMb = rssStartMb;

  const next = createCaseGenerator(seed);
  let issued = 0;
  const started = performance.now();

  async function send(c: FuzzCase): Promise<{ status: number; body: string }> {
    const response = await fetch(`${server.url}/v1/traces`, {
      method: 'POST',
      body: c.body,
      headers: c.headers,
    });
    return { status: response.status, body: await response.text() };
  }

  async function runCase(c: FuzzCase): Promise<void> {
    const stats = (byCategory[c.category] ??= { cases: 0, statuses: {} });
    stats.cases++;
    if (c.category === 'retry') retriesSent++;
    if (c.category === 'valid') validRequests++;
    for (let attempt = 1; ; attempt++) {
      let result: { status: number; body: string };
      try {
        result = await send(c);
      } catch (error) {
        violate(
          `${c.category}: request failed (${(error as Error).message})${crashed ? ' — the server exited' : ''}`,
        );
        return;
      }
      stats.statuses[result.status] = (stats.statuses[result.status] ?? 0) + 1;
      if (!ALLOWED_STATUSES.has(result.status)) {
        if (result.status >= 500) serverErrorsOther++;
        violate(`${c.category}: HTTP ${result.status} ${result.body.slice(0, 300)}`);
        return;
      }
      if (result.status === 503) overloaded++;
      if (c.validSpanIds === undefined) return;
      if (result.status === 503 && attempt < MAX_VALID_ATTEMPTS) {
        await new Promise((r) => setTimeout(r, 50 * attempt));
        continue;
      }
      if (result.status !== 200) {
        violate(`${c.category} request answered ${result.status}: ${result.body.slice(0, 300)}`);
        return;
      }
      if (/rejected/i.test(result.body)) {
        violate(`${c.category} request had spans rejected: ${result.body.slice(0, 300)}`);
        return;
      }
      for (const id of c.validSpanIds) acknowledged.add(id);
      return;
    }
  }

  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < cases && !crashed) {
        issued++;
        if (issued % 500 === 0) {
          rssPeakMb = Math.max(rssPeakMb, rssMb(pid));
          if (issued % 10_000 === 0) {
            options.progress?.(
              `${issued} cases, ${((performance.now() - started) / 1000).toFixed(0)} s, rss ${rssMb(pid).toFixed(0)} MB`,
            );
          }
        }
        await runCase(next());
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const rssEndMb = rssMb(pid);
  rssPeakMb = Math.max(rssPeakMb, rssEndMb);
  const crashedDuringRun = crashed;
  if (crashedDuringRun) violate(`the server exited during the run:\n${server.output().slice(-2000)}`);

  server.child.kill('SIGTERM');
  const serverExitCode = await waitForExit(server.child);
  if (serverExitCode !== 0 && !crashedDuringRun) {
    violate(`the server exited with ${serverExitCode} on SIGTERM:\n${server.output().slice(-2000)}`);
  }

  // The store, read after the service has flushed and let go of the data directory.
  const store = createStore(
    loadConfig({ env: { HEADROOM_LOG_LEVEL: 'silent' }, overrides: { dataDir: data.dir } }),
  );
  const stored = await store.queryRows<{ id: string; n: string }>(
    `SELECT span_id AS id, toString(count()) AS n FROM ${store.database}.api_calls WHERE pool = {pool:String} GROUP BY span_id`,
    { pool: VALID_POOL },
  );
  await store.close();
  await data.remove();

  const counts = new Map(stored.map((r) => [r.id, Number(r.n)]));
  let missing = 0;
  let duplicated = 0;
  let unexpected = 0;
  for (const id of acknowledged) {
    const n = counts.get(id) ?? 0;
    if (n === 0) missing++;
    if (n > 1) duplicated++;
  }
  for (const id of counts.keys()) if (!acknowledged.has(id)) unexpected++;
  if (missing > 0) violate(`${missing} acknowledged valid spans are not stored`);
  if (duplicated > 0) violate(`${duplicated} valid spans are stored more than once`);
  if (unexpected > 0) violate(`${unexpected} stored valid spans were never acknowledged`);

  return {
    seed,
    cases: issued,
    seconds,
    requestsPerSecond: issued / seconds,
    byCategory,
    validRequests,
    validSpansAcknowledged: acknowledged.size,
    retriesSent,
    overloaded503: overloaded,
    storedValidSpans: stored.length,
    missingSpans: missing,
    duplicatedSpans: duplicated,
    unexpectedSpans: unexpected,
    crashes: crashedDuringRun ? 1 : 0,
    serverErrorsOther,
    rssStartMb,
    rssPeakMb,
    rssEndMb,
    serverExitCode,
    violations,
  };
}
