import { describe, expect, it } from 'vitest';
import { decodeExportRequestJson } from '../../src/ingest/decode-json.ts';
import { decodeExportRequestProtobuf } from '../../src/ingest/decode-protobuf.ts';
import { MalformedPayloadError } from '../../src/ingest/decoded-span.ts';
import { ExportTraceServiceRequest } from '../../src/ingest/index.ts';
import { buildRequest, encodeJson, encodeProtobuf } from '../support/otlp.ts';

const request = buildRequest({ 'service.name': 'gateway', 'service.instance.id': 'node-7' }, [
  {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    name: 'chat gpt-4o',
    startMs: 1_763_700_000_123,
    durationMs: 250,
    attributes: {
      'keypool.pool': 'prod',
      'keypool.key.id': 'key-a',
      'gen_ai.usage.input_tokens': 1200,
      'keypool.cost_usd': 0.0125,
      'keypool.ratelimit.tokens.reset_at_ms': 1_763_700_060_000,
      flag: true,
    },
  },
]);

describe('OTLP decoding', () => {
  it('decodes protobuf and JSON encodings of the same request to the same spans', () => {
    const fromProtobuf = decodeExportRequestProtobuf(encodeProtobuf(request));
    const fromJson = decodeExportRequestJson(encodeJson(request));
    expect(fromProtobuf).toEqual(fromJson);
    const span = fromProtobuf[0];
    expect(span).toBeDefined();
    expect(span?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(span?.spanId).toBe('b7ad6b7169203331');
    expect(span?.kind).toBe(3);
    expect(span?.startTimeMs).toBeCloseTo(1_763_700_000_123, 3);
    expect(span?.endTimeMs).toBeCloseTo(1_763_700_000_373, 3);
    expect(span?.resource.keys).toEqual(['service.name', 'service.instance.id']);
    expect(
      Object.fromEntries(span?.attributes.keys.map((k, i) => [k, span.attributes.values[i]]) ?? []),
    ).toEqual({
      'keypool.pool': 'prod',
      'keypool.key.id': 'key-a',
      'gen_ai.usage.input_tokens': 1200,
      'keypool.cost_usd': 0.0125,
      'keypool.ratelimit.tokens.reset_at_ms': 1_763_700_060_000,
      flag: true,
    });
  });

  it('flattens arrays and key-value lists to JSON text', () => {
    const json = JSON.stringify({
      resourceSpans: [
        {
          scopeSpans: [
            {
              spans: [
                {
                  traceId: '',
                  spanId: '',
                  startTimeUnixNano: '1763700000000000000',
                  attributes: [
                    {
                      key: 'list',
                      value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: '2' }] } },
                    },
                    {
                      key: 'map',
                      value: { kvlistValue: { values: [{ key: 'x', value: { boolValue: false } }] } },
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
    const [span] = decodeExportRequestJson(json);
    expect(span?.attributes.values).toEqual(['["a",2]', '{"x":false}']);
    expect(span?.startTimeMs).toBe(1_763_700_000_000);
  });

  it('names the field and what was expected when JSON is malformed', () => {
    expect(() => decodeExportRequestJson('{"resourceSpans": [')).toThrow(/malformed JSON/);
    expect(() => decodeExportRequestJson('{"resourceSpans": {}}')).toThrow(
      'resourceSpans: expected an array, got object',
    );
    expect(() =>
      decodeExportRequestJson('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}'),
    ).toThrow('resourceSpans[0].scopeSpans[0].spans[0].traceId: expected hex digits, got "xyz"');
    expect(() =>
      decodeExportRequestJson(
        '{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"intValue":"1.5"}}]}]}]}]}',
      ),
    ).toThrow('resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: expected an integer');
  });

  it('rejects truncated and garbage protobuf with a MalformedPayloadError', () => {
    const bytes = encodeProtobuf(request);
    expect(() => decodeExportRequestProtobuf(bytes.subarray(0, bytes.length - 7))).toThrow(
      MalformedPayloadError,
    );
    expect(() => decodeExportRequestProtobuf(Buffer.from('this is not protobuf at all'))).toThrow(
      /malformed protobuf ExportTraceServiceRequest/,
    );
  });

  it('decodes an empty request to no spans', () => {
    expect(decodeExportRequestProtobuf(Buffer.alloc(0))).toEqual([]);
    expect(decodeExportRequestJson('{}')).toEqual([]);
  });
});

describe('OTLP protobuf integers', () => {
  it('reads small, large and negative int64 attribute values exactly', () => {
    const values = [0, 1, 127, 128, 300, 2 ** 31, 2 ** 48 + 5, 2 ** 53 - 1, -1, -4, -(2 ** 40)];
    const request = buildRequest(
      {},
      values.map((v) => ({ attributes: { v } })),
    );
    const decoded = decodeExportRequestProtobuf(encodeProtobuf(request)).map((s) => s.attributes.values[0]);
    expect(decoded).toEqual(values);
  });
});

describe('nested attribute values', () => {
  function nestedKvlist(depth: number): Record<string, unknown> {
    let value: Record<string, unknown> = { stringValue: 'bottom' };
    for (let i = 0; i < depth; i++) value = { kvlistValue: { values: [{ key: 'n', value }] } };
    return value;
  }
  const requestWith = (value: Record<string, unknown>): Record<string, unknown> => ({
    resourceSpans: [{ scopeSpans: [{ spans: [{ attributes: [{ key: 'deep', value }] }] }] }],
  });

  it('flattens nested key-value lists once, in linear time, the same in both encodings', () => {
    const request = requestWith(nestedKvlist(31));
    const expected = '{"n":'.repeat(31) + '"bottom"' + '}'.repeat(31);
    const fromJson = decodeExportRequestJson(JSON.stringify(request));
    const fromProtobuf = decodeExportRequestProtobuf(
      ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish(),
    );
    expect(fromJson[0]?.attributes.values).toEqual([expected]);
    expect(fromProtobuf[0]?.attributes.values).toEqual([expected]);
  });

  it('refuses values nested deeper than 32 levels', () => {
    let value: Record<string, unknown> = { stringValue: 'bottom' };
    for (let i = 0; i < 33; i++) value = { arrayValue: { values: [value] } };
    const request = requestWith(value);
    expect(() => decodeExportRequestJson(JSON.stringify(request))).toThrow(/nested deeper than 32 levels/);
    expect(() =>
      decodeExportRequestProtobuf(
        ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(request)).finish(),
      ),
    ).toThrow(/nested deeper than 32 levels/);
  });
});
