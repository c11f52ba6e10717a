import { randomBytes } from 'node:crypto';
import { ExportTraceServiceRequest } from '../../src/ingest/index.ts';

export type AttrInput = string | number | boolean;

function anyValue(value: AttrInput): Record<string, unknown> {
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  return Number.isInteger(value) ? { intValue: value } : { doubleValue: value };
}

export interface SpanInput {
  traceId?: string;
  spanId?: string;
  name?: string;
  startMs?: number;
  durationMs?: number;
  attributes: Record<string, AttrInput>;
}

/** Builds an ExportTraceServiceRequest as a plain object in protobufjs' field naming. */
export function buildRequest(
  resource: Record<string, AttrInput>,
  spans: SpanInput[],
): Record<string, unknown> {
  return {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(resource).map(([key, v]) => ({ key, value: anyValue(v) })) },
        scopeSpans: [
          {
            scope: { name: 'headroom-test' },
            spans: spans.map((s) => {
              const start = s.startMs ?? Date.now();
              return {
                traceId: Buffer.from(s.traceId ?? randomBytes(16).toString('hex'), 'hex'),
                spanId: Buffer.from(s.spanId ?? randomBytes(8).toString('hex'), 'hex'),
                name: s.name ?? 'chat gpt-4o',
                kind: 3,
                startTimeUnixNano: BigInt(Math.round(start)) * 1_000_000n,
                endTimeUnixNano: BigInt(Math.round(start + (s.durationMs ?? 120))) * 1_000_000n,
                attributes: Object.entries(s.attributes).map(([key, v]) => ({ key, value: anyValue(v) })),
              };
            }),
          },
        ],
      },
    ],
  };
}

/** Encodes a request object as OTLP protobuf (64-bit nanos passed to protobufjs as decimal strings). */
export function encodeProtobuf(request: Record<string, unknown>): Buffer {
  const message = ExportTraceServiceRequest.fromObject(bigintsToStrings(request) as Record<string, unknown>);
  return Buffer.from(ExportTraceServiceRequest.encode(message).finish());
}

function bigintsToStrings(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(bigintsToStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, bigintsToStrings(v)]));
  }
  return value;
}

/** Encodes a request object as OTLP/JSON (hex ids, nanos as decimal strings). */
export function encodeJson(request: Record<string, unknown>): string {
  return JSON.stringify(request, (_k, v: unknown) => {
    if (typeof v === 'bigint') return v.toString();
    if (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer') {
      return Buffer.from((v as { data: number[] }).data).toString('hex');
    }
    return v;
  });
}
